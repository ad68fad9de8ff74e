//! The Kubernetes runtime: a StatefulSet and a headless Service per workload, through the API
//! server (kube-rs), never `kubectl`.
//!
//! It owns, in one namespace, the objects labelled with this gateway's id (see [`naming`]), and
//! must not touch anything else: before changing or deleting an object with one of its names it
//! checks the labels, and it refuses (with words) to take over a StatefulSet someone else made.
//!
//! Where things are: [`naming`] (names, labels, selectors), [`manifest`] (the objects, in one
//! pure function each), `pods` (the pod watch and what pods say), `client` (config and API
//! errors in words). Objects are applied with server-side apply (field manager
//! [`naming::FIELD_MANAGER`], forced), so every apply sends the whole desired object and fields
//! left out of it — an env var removed by a PUT — are removed from the cluster.
//!
//! State kept here: the pod cache (a watch) and the replica count last applied per workload.
//! The API server is the truth; both are only there so the proxy's endpoint refresh costs no
//! API call.

mod client;
pub mod manifest;
pub mod naming;
mod pods;
mod stdio;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;

use crate::{
    Attachment, Endpoint, LOG_FOLLOW_BUFFER, LogFollow, ManagedWorkload, ReplicaStatus, Runtime,
    RuntimeError, WorkloadId, WorkloadSpec, WorkloadStatus,
};
pub use manifest::{PodSettings, Resources};

/// How long `endpoints` waits for the pod watch's first listing before reporting it.
const FIRST_SYNC: Duration = Duration::from_secs(5);

/// How the gateway reaches replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Pod DNS through the headless Service:
    /// `<pod>.<service>.<namespace>.svc.<cluster_domain>`; for a gateway running in the cluster.
    Dns { cluster_domain: String },
    /// The pod IP: for a gateway that can route to pod IPs without cluster DNS.
    PodIp,
}

/// Everything [`KubernetesRuntime::connect`] needs.
#[derive(Clone, Debug)]
pub struct KubernetesOptions {
    /// A kubeconfig file; `None`: `KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context; `None`: the current one.
    pub context: Option<String>,
    /// The namespace of every object (it must exist).
    pub namespace: String,
    /// This gateway's id, written into every label and used in every query.
    pub gateway_id: String,
    pub reach: Reach,
    pub pods: PodSettings,
}

/// The Kubernetes implementation of [`Runtime`].
pub struct KubernetesRuntime {
    client: Client,
    /// The API server and where its config came from (for messages).
    server: String,
    namespace: String,
    gateway_id: String,
    reach: Reach,
    settings: PodSettings,
    cache: pods::PodCache,
    /// Replica count last applied per workload (pods above it are on their way out).
    desired: Mutex<HashMap<WorkloadId, u32>>,
}

impl KubernetesRuntime {
    /// Loads the client config, checks that the API server answers and starts the pod watch.
    pub async fn connect(options: KubernetesOptions) -> Result<KubernetesRuntime, RuntimeError> {
        let (client, server) =
            client::connect(options.kubeconfig.as_deref(), options.context.as_deref()).await?;
        let version = client::call(
            &format!("connecting to the Kubernetes API server at {server}"),
            client.apiserver_version(),
        )
        .await?;
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), &options.namespace);
        let cache = pods::PodCache::start(pod_api, &naming::gateway_selector(&options.gateway_id));
        tracing::info!(
            %server,
            namespace = %options.namespace,
            version = %version.git_version,
            "connected to the Kubernetes API server"
        );
        Ok(KubernetesRuntime {
            client,
            server,
            namespace: options.namespace,
            gateway_id: options.gateway_id,
            reach: options.reach,
            settings: options.pods,
            cache,
            desired: Mutex::new(HashMap::new()),
        })
    }

    /// The API server in use and where its config came from (for messages).
    pub fn server(&self) -> &str {
        &self.server
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn desired_replicas(&self, id: &WorkloadId) -> Option<u32> {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
    }

    /// The object named `name`, if it exists; an error if it exists but is not this
    /// workload's (see [`naming::check_owner`]).
    async fn get_owned<K>(
        &self,
        id: &WorkloadId,
        name: &str,
        kind_word: &str,
    ) -> Result<Option<K>, RuntimeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let api: Api<K> = self.api();
        let context = format!("{id}: cannot read {kind_word}/{name}");
        let Some(object) = client::call(&context, api.get_opt(name)).await? else {
            return Ok(None);
        };
        naming::check_owner(
            &self.gateway_id,
            id,
            &format!("{kind_word}/{name}"),
            &self.namespace,
            object.meta().labels.as_ref(),
        )
        .map_err(RuntimeError::Failed)?;
        Ok(Some(object))
    }

    /// Deletes `name` if it is this workload's, guarded by its uid so a same-named object
    /// created in between is never deleted.
    async fn delete_owned<K>(
        &self,
        id: &WorkloadId,
        name: &str,
        kind_word: &str,
    ) -> Result<(), RuntimeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let Some(object) = self.get_owned::<K>(id, name, kind_word).await? else {
            return Ok(());
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: object.meta().uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        let api: Api<K> = self.api();
        let context = format!("{id}: cannot delete {kind_word}/{name}");
        match client::call(&context, api.delete(name, &params)).await {
            Ok(_) => Ok(()),
            Err(err) if client::is_not_found(&err) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// The URL of a pod's server, or `None` while it has no address. A stdio server's is
    /// `stdio://<pod name>`: the gateway attaches to it (see [`Runtime::attach`]).
    fn base_url(&self, id: &WorkloadId, pod: &Pod, fallback_port: Option<u16>) -> Option<String> {
        if stdio::has_stdin(pod) {
            return Some(format!("stdio://{}", pod.metadata.name.as_deref()?));
        }
        let port = pods::container_port(pod).or(fallback_port)?;
        let host = match &self.reach {
            Reach::PodIp => pods::ip_host(pod)?,
            Reach::Dns { cluster_domain } => format!(
                "{}.{}.{}.svc.{cluster_domain}",
                pod.metadata.name.as_deref()?,
                naming::service_name(id),
                self.namespace
            ),
        };
        Some(format!("http://{host}:{port}"))
    }
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn deploys_images(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        client::call(
            &format!("the Kubernetes API server at {}", self.server),
            self.client.apiserver_version(),
        )
        .await
        .map(|_| ())
    }

    async fn apply(&self, spec: &WorkloadSpec) -> Result<(), RuntimeError> {
        let id = &spec.id;
        naming::check_names(id).map_err(RuntimeError::Failed)?;
        let statefulset = naming::statefulset_name(id);
        let service = naming::service_name(id);
        // Refuse to take over objects that are not this workload's before changing anything.
        self.get_owned::<StatefulSet>(id, &statefulset, "statefulset")
            .await?;
        self.get_owned::<Service>(id, &service, "service").await?;

        let params = PatchParams::apply(naming::FIELD_MANAGER).force();
        let services: Api<Service> = self.api();
        client::call(
            &format!("{id}: cannot apply service/{service}"),
            services.patch(
                &service,
                &params,
                &Patch::Apply(manifest::service(spec, &self.gateway_id)),
            ),
        )
        .await?;
        let statefulsets: Api<StatefulSet> = self.api();
        client::call(
            &format!("{id}: cannot apply statefulset/{statefulset}"),
            statefulsets.patch(
                &statefulset,
                &params,
                &Patch::Apply(manifest::stateful_set(
                    spec,
                    &self.gateway_id,
                    &self.settings,
                )),
            ),
        )
        .await?;
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), spec.replicas);
        Ok(())
    }

    async fn remove(&self, id: &WorkloadId) -> Result<(), RuntimeError> {
        // The StatefulSet first: its pods go with it (background cascading deletion).
        self.delete_owned::<StatefulSet>(id, &naming::statefulset_name(id), "statefulset")
            .await?;
        self.delete_owned::<Service>(id, &naming::service_name(id), "service")
            .await?;
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    async fn status(&self, id: &WorkloadId) -> Result<WorkloadStatus, RuntimeError> {
        let name = naming::statefulset_name(id);
        let Some(statefulset) = self
            .get_owned::<StatefulSet>(id, &name, "statefulset")
            .await?
        else {
            return Err(RuntimeError::NotFound(format!(
                "{id} has no StatefulSet in namespace \"{}\"",
                self.namespace
            )));
        };
        let spec = &statefulset.spec;
        let desired = spec
            .replicas
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1);
        let image = spec
            .template
            .spec
            .as_ref()
            .and_then(|p| p.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        // The controller's count, once it has seen the current spec.
        let controller = statefulset
            .status
            .as_ref()
            .filter(|status| status.observed_generation >= statefulset.metadata.generation);
        let updated = controller
            .and_then(|s| s.updated_replicas)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        let watch_problem = self.cache.synced(FIRST_SYNC).await.err();
        let pods = self.cache.pods(id, &name);
        let mut status = WorkloadStatus {
            desired_replicas: desired,
            updated_replicas: updated.min(desired),
            image,
            message: watch_problem.map(|err| err.to_string()),
            ..WorkloadStatus::default()
        };
        for instance in 0..desired {
            let replica = match pods.get(&instance) {
                Some(pod) => {
                    if status.message.is_none() {
                        status.message = pods::problem(pod);
                    }
                    ReplicaStatus {
                        instance,
                        state: pods::state_words(pod),
                        ready: pods::is_ready(pod),
                    }
                }
                None => ReplicaStatus {
                    instance,
                    state: "not created yet".into(),
                    ready: false,
                },
            };
            status.ready_replicas += u32::from(replica.ready);
            status.replicas.push(replica);
        }
        // No minReadySeconds: a ready pod is an available one.
        status.available_replicas = status.ready_replicas;
        Ok(status)
    }

    async fn logs(
        &self,
        id: &WorkloadId,
        instance: u32,
        tail: u32,
    ) -> Result<String, RuntimeError> {
        let (pod_name, stdio) = match self.log_source(id, instance).await? {
            LogSource::Pod { name, stdio } => (name, stdio),
            LogSource::NotStarted(note) => return Ok(note),
        };
        let context = format!("{id}: cannot read the logs of pod {pod_name}");
        if stdio {
            let request = stdio::stderr_log_request(&self.namespace, &pod_name, false)?;
            let text = stderr_call(&context, self.client.request_text(request)).await?;
            return Ok(stdio::last_lines(&text, tail));
        }
        let pods: Api<Pod> = self.api();
        client::call(&context, pods.logs(&pod_name, &log_params(tail, false))).await
    }

    async fn follow_logs(
        &self,
        id: &WorkloadId,
        instance: u32,
        tail: u32,
    ) -> Result<LogFollow, RuntimeError> {
        let (sender, receiver) = mpsc::channel(LOG_FOLLOW_BUFFER);
        let (pod_name, stdio) = match self.log_source(id, instance).await? {
            LogSource::Pod { name, stdio } => (name, stdio),
            LogSource::NotStarted(note) => {
                // The pod has no output yet: say so, and end (the reader asks again later).
                let _ = sender.try_send(Ok(note.into_bytes()));
                return Ok(receiver);
            }
        };
        let context = format!("{id}: cannot follow the logs of pod {pod_name}");
        let lines = if stdio {
            // stderr only; the API takes no tail with it, so this follows all of it.
            let request = stdio::stderr_log_request(&self.namespace, &pod_name, true)?;
            stderr_call(&context, self.client.request_stream(request))
                .await?
                .lines()
                .boxed()
        } else {
            let pods: Api<Pod> = self.api();
            client::call(
                &context,
                pods.log_stream(&pod_name, &log_params(tail, true)),
            )
            .await?
            .lines()
            .boxed()
        };
        tokio::spawn(async move {
            let reader_gone = sender.clone();
            let lines = lines.take_until(async move { reader_gone.closed().await });
            let mut lines = std::pin::pin!(lines);
            while let Some(line) = lines.next().await {
                let chunk = line
                    .map(|line| format!("{line}\n").into_bytes())
                    .map_err(|err| RuntimeError::Unavailable(format!("{context}: {err}")));
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(receiver)
    }

    async fn attach(&self, id: &WorkloadId, instance: u32) -> Result<Attachment, RuntimeError> {
        let (pod_name, pod) = self.replica_pod(id, instance).await?;
        if !stdio::has_stdin(&pod) {
            return Err(RuntimeError::Failed(format!(
                "{id}: pod {pod_name} was not created for a stdio server (its container has no \
                 `stdin: true`); it serves MCP on a port"
            )));
        }
        let context = format!("{id}: cannot attach to pod {pod_name}");
        let pods: Api<Pod> = self.api();
        let process =
            client::call(&context, pods.attach(&pod_name, &stdio::attach_params())).await?;
        stdio::attachment(process, &context)
    }

    /// The pod's uid and its server container's restart count (see
    /// `stdio::process_identity`); `None` while no process runs.
    async fn process_identity(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<Option<String>, RuntimeError> {
        let pod_name = naming::pod_name(id, instance);
        let pod = self.get_owned::<Pod>(id, &pod_name, "pod").await?;
        Ok(pod.as_ref().and_then(stdio::process_identity))
    }

    async fn endpoints(&self, id: &WorkloadId) -> Result<Vec<Endpoint>, RuntimeError> {
        self.cache.synced(FIRST_SYNC).await?;
        let name = naming::statefulset_name(id);
        let pods = self.cache.pods(id, &name);
        let desired = self.desired_replicas(id);
        Ok(pods
            .iter()
            // Pods above the replica count are being scaled away.
            .filter(|(instance, _)| desired.is_none_or(|d| **instance < d))
            .filter_map(|(instance, pod)| {
                Some(Endpoint {
                    instance: *instance,
                    base_url: self.base_url(id, pod, None)?,
                    ready: pods::is_ready(pod),
                })
            })
            .collect())
    }

    async fn list_managed(&self) -> Result<Vec<ManagedWorkload>, RuntimeError> {
        let selector = ListParams::default().labels(&naming::gateway_selector(&self.gateway_id));
        let statefulsets: Api<StatefulSet> = self.api();
        let services: Api<Service> = self.api();
        let context = format!(
            "cannot list this gateway's objects in namespace \"{}\"",
            self.namespace
        );
        let (statefulsets, services) = tokio::try_join!(
            client::call(&context, statefulsets.list(&selector)),
            client::call(&context, services.list(&selector)),
        )?;
        let mut workloads: BTreeMap<WorkloadId, BTreeSet<String>> = BTreeMap::new();
        for statefulset in &statefulsets.items {
            if let Some(id) = naming::read_labels(statefulset.labels()) {
                let hashes = workloads.entry(id).or_default();
                if let Some(hash) = statefulset.annotations().get(naming::ANNOTATION_SPEC_HASH) {
                    hashes.insert(hash.clone());
                }
            }
        }
        // A Service alone (its StatefulSet already deleted) is still ours to reap.
        for service in &services.items {
            if let Some(id) = naming::read_labels(service.labels()) {
                workloads.entry(id).or_default();
            }
        }
        Ok(workloads
            .into_iter()
            .map(|(id, hashes)| ManagedWorkload {
                id,
                spec_hashes: hashes.into_iter().collect(),
            })
            .collect())
    }
}

/// Where a replica's logs come from.
enum LogSource {
    /// The pod's server container; `stdio`: its stdout is MCP traffic, so only stderr is read.
    Pod { name: String, stdio: bool },
    /// The pod exists but its server has not started: a note saying so instead of logs.
    NotStarted(String),
}

impl KubernetesRuntime {
    /// Replica `instance`'s pod and its name; [`RuntimeError::NotFound`] in words when there is
    /// none of this gateway's.
    async fn replica_pod(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<(String, Pod), RuntimeError> {
        let pod_name = naming::pod_name(id, instance);
        let pod = self
            .get_owned::<Pod>(id, &pod_name, "pod")
            .await?
            .ok_or_else(|| {
                RuntimeError::NotFound(format!(
                    "{id} has no pod {pod_name} in namespace \"{}\" (it may not be deployed \
                     yet; see its status)",
                    self.namespace
                ))
            })?;
        Ok((pod_name, pod))
    }

    async fn log_source(&self, id: &WorkloadId, instance: u32) -> Result<LogSource, RuntimeError> {
        let (pod_name, pod) = self.replica_pod(id, instance).await?;
        Ok(match pods::not_started(&pod) {
            Some(state) => LogSource::NotStarted(format!(
                "[pod {pod_name} has not started its server yet: {state}; no logs yet]\n"
            )),
            None => LogSource::Pod {
                stdio: stdio::has_stdin(&pod),
                name: pod_name,
            },
        })
    }
}

/// Runs a stderr-only log call (see `stdio`); when the API server refuses the request itself
/// (400, 422), the error says which feature the cluster may lack.
async fn stderr_call<T>(
    context: &str,
    future: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, RuntimeError> {
    let hinted = async {
        future.await.map_err(|err| match err {
            kube::Error::Api(mut status) if matches!(status.code, 400 | 422) => {
                status.message = format!("{}; {}", status.message, stdio::STREAM_HINT);
                kube::Error::Api(status)
            }
            other => other,
        })
    };
    client::call(context, hinted).await
}

fn log_params(tail: u32, follow: bool) -> LogParams {
    LogParams {
        container: Some(naming::CONTAINER.to_string()),
        tail_lines: Some(i64::from(tail)),
        follow,
        ..LogParams::default()
    }
}
