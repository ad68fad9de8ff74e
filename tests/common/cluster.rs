//! The cluster the Kubernetes runtime's tests run against: the kube-double by default, or a real
//! cluster when `MCP_GATEWAY_K8S_E2E=1` (the same scenarios, through the same kube client).
//!
//! Tests read and disturb objects through the Kubernetes API (kube-rs), as an operator with
//! kubectl would, never through the gateway's own runtime code. Controls only a double can offer
//! (hold a pod, fail its readiness, count requests) are behind [`Cluster::double`]. The
//! gateway-side helpers at the end (resources, status polling, sessions) serve the scenarios in
//! tests/kubernetes.rs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kube_double::{KubeDouble, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::upstream::sample_binary;
use super::{Gateway, client, eventually, mcp};

/// `1` runs the scenarios against the cluster of the current kubeconfig.
pub const E2E_ENV: &str = "MCP_GATEWAY_K8S_E2E";
/// Long enough for a rollout on a busy 2-core machine (or a pull in a real cluster).
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(90);
/// The label every object of every mcp-gateway carries.
pub const MANAGED: &str = "app.kubernetes.io/managed-by=mcp-gateway";
/// The `User-Agent` of the tests' own Kubernetes client, so what the gateway's runtime sent can
/// be told from what the tests did (the runtime's client sends none).
pub const TEST_CLIENT_AGENT: &str = "mcp-gateway-tests";

/// The tests' client for `config`, marked with [`TEST_CLIENT_AGENT`].
fn test_client(mut config: Config) -> Client {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(TEST_CLIENT_AGENT),
    ));
    Client::try_from(config).expect("client")
}

/// Where the tests deploy.
pub struct Cluster {
    /// `Some` for the double; `None` for a real cluster.
    pub double: Option<KubeDouble>,
    pub namespace: String,
    /// The kubeconfig written for the double (the gateway and the test client read it).
    pub kubeconfig: Option<PathBuf>,
    /// `runtime.image_registry` for the gateway (real clusters may need one).
    pub image_registry: String,
    pub client: Client,
}

impl Cluster {
    /// Starts a double with the sample servers as images and writes its kubeconfig into `dir`.
    pub async fn double(dir: &Path) -> Cluster {
        mcp_gateway::infra::http_client::install_crypto_provider();
        let namespace = "mcp-test".to_string();
        let images = HashMap::from([
            (
                "mcp-example:1.0.0".to_string(),
                sample_binary("mcp-example"),
            ),
            (
                "tool-example:1.0.0".to_string(),
                sample_binary("tool-example"),
            ),
        ]);
        let double = KubeDouble::start(Options {
            images,
            namespaces: vec![namespace.clone()],
        })
        .await
        .expect("start the kube-double");
        let kubeconfig = dir.join("kubeconfig.yaml");
        std::fs::write(&kubeconfig, double.kubeconfig(&namespace)).expect("write kubeconfig");
        let file = Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
        let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
        Cluster {
            double: Some(double),
            namespace,
            kubeconfig: Some(kubeconfig),
            image_registry: String::new(),
            client: test_client(config),
        }
    }

    /// The cluster of the current kubeconfig when `MCP_GATEWAY_K8S_E2E=1`; `None` after
    /// printing why the test skips.
    pub async fn real(test: &str) -> Option<Cluster> {
        if std::env::var(E2E_ENV).as_deref() != Ok("1") {
            eprintln!(
                "skipping {test}: set {E2E_ENV}=1 (plus KUBECONFIG, and optionally \
                 MCP_GATEWAY_K8S_CONTEXT, MCP_GATEWAY_K8S_NAMESPACE, MCP_GATEWAY_K8S_REGISTRY) to \
                 run it against a real cluster; see README \"Kubernetes runtime\""
            );
            return None;
        }
        mcp_gateway::infra::http_client::install_crypto_provider();
        let options = KubeConfigOptions {
            context: std::env::var("MCP_GATEWAY_K8S_CONTEXT").ok(),
            ..KubeConfigOptions::default()
        };
        let config = Config::from_kubeconfig(&options)
            .await
            .expect("a kubeconfig (KUBECONFIG or ~/.kube/config)");
        Some(Cluster {
            double: None,
            namespace: std::env::var("MCP_GATEWAY_K8S_NAMESPACE")
                .unwrap_or_else(|_| "mcp-gateway-e2e".into()),
            kubeconfig: None,
            image_registry: std::env::var("MCP_GATEWAY_K8S_REGISTRY").unwrap_or_default(),
            client: test_client(config),
        })
    }

    /// A gateway config using this cluster: pod IPs, reconciling every second, no auth.
    pub fn gateway_config(&self, dir: &Path) -> String {
        let kubeconfig = self
            .kubeconfig
            .as_ref()
            .map(|path| format!("kubeconfig = \"{}\"\n", path.display()))
            .unwrap_or_default();
        let context = std::env::var("MCP_GATEWAY_K8S_CONTEXT")
            .ok()
            .filter(|_| self.double.is_none())
            .map(|c| format!("context = \"{c}\"\n"))
            .unwrap_or_default();
        format!(
            "[store]\npath = \"{}\"\n[runtime]\nkind = \"kubernetes\"\nreconcile_interval_secs = 1\n\
             image_registry = \"{}\"\n[runtime.kubernetes]\nnamespace = \"{}\"\nendpoints = \"pod_ip\"\n\
             {kubeconfig}{context}[auth]\nmode = \"none\"\n",
            dir.join("gw.db").display(),
            self.image_registry,
            self.namespace
        )
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn statefulset(&self, name: &str) -> Option<StatefulSet> {
        self.api::<StatefulSet>()
            .get_opt(name)
            .await
            .expect("GET statefulset")
    }

    pub async fn service(&self, name: &str) -> Option<Service> {
        self.api::<Service>()
            .get_opt(name)
            .await
            .expect("GET service")
    }

    /// The pods of StatefulSet `name` (by the runtime's name label), sorted by name.
    pub async fn pods(&self, name: &str) -> Vec<Pod> {
        let list = self
            .api::<Pod>()
            .list(&ListParams::default().labels(&format!("{MANAGED},adapter/name={name}")))
            .await
            .expect("LIST pods");
        let mut pods = list.items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        pods
    }

    /// Names of the StatefulSets and Services of every mcp-gateway in the namespace.
    pub async fn managed_names(&self) -> (Vec<String>, Vec<String>) {
        let params = ListParams::default().labels(MANAGED);
        let names = |items: Vec<Option<String>>| {
            let mut names: Vec<String> = items.into_iter().flatten().collect();
            names.sort();
            names
        };
        let sets = self.api::<StatefulSet>().list(&params).await.expect("LIST");
        let services = self.api::<Service>().list(&params).await.expect("LIST");
        (
            names(sets.items.into_iter().map(|s| s.metadata.name).collect()),
            names(
                services
                    .items
                    .into_iter()
                    .map(|s| s.metadata.name)
                    .collect(),
            ),
        )
    }

    /// `kubectl delete pod NAME`.
    pub async fn delete_pod(&self, name: &str) {
        self.api::<Pod>()
            .delete(name, &DeleteParams::default())
            .await
            .expect("DELETE pod");
    }
}

impl Drop for Cluster {
    /// On a real cluster, deletes what the tests' gateways left (a failed test included).
    fn drop(&mut self) {
        if self.double.is_some() {
            return;
        }
        let client = self.client.clone();
        let namespace = self.namespace.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let params = ListParams::default().labels(MANAGED);
                let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
                let services: Api<Service> = Api::namespaced(client, &namespace);
                let _ = sets
                    .delete_collection(&DeleteParams::background(), &params)
                    .await;
                let _ = services
                    .delete_collection(&DeleteParams::background(), &params)
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

// Gateway-side helpers of the scenarios: resources, status, sessions.

pub fn adapter(name: &str, replicas: u32, env: Value) -> Value {
    json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0",
           "replicaCount": replicas, "environmentVariables": env})
}

pub fn weather_tool(name: &str) -> Value {
    json!({"name": name, "imageName": "tool-example", "imageVersion": "1.0.0",
        "toolDefinition": {"tool": {"name": name, "description": "Current weather",
            "inputSchema": {"type": "object", "required": ["location"],
                            "properties": {"location": {"type": "string"}}}},
            "port": 8000, "path": "/score"}})
}

pub async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> StatusCode {
    let mut request = client().request(method, gw.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request").status()
}

pub async fn status(gw: &Gateway, collection: &str, name: &str) -> Value {
    client()
        .get(gw.url(&format!("/{collection}/{name}/status")))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON")
}

/// Polls the status until `check` accepts it; returns it.
pub async fn status_until(
    gw: &Gateway,
    collection: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, DEPLOY_TIMEOUT, || async {
        let status = status(gw, collection, name).await;
        check(&status).then_some(status)
    })
    .await
}

pub async fn healthy(gw: &Gateway, collection: &str, name: &str, replicas: u32) -> Value {
    status_until(
        gw,
        collection,
        name,
        &format!("{name} Healthy with {replicas}"),
        |s| {
            s["replicaStatus"] == "Healthy"
                && s["readyReplicas"] == replicas
                && s["replicas"]
                    .as_array()
                    .is_some_and(|r| r.len() == replicas as usize)
        },
    )
    .await
}

/// The pod (hostname) that served a new session, or the error.
pub async fn new_session_pod(url: &str) -> Result<String, String> {
    let session = mcp::connect(url).await?;
    let result = mcp::call(&session, "whoami", Value::Null).await;
    let _ = session.cancel().await;
    let identity = result?
        .structured_content
        .ok_or("whoami is not structured")?;
    Ok(identity["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// The pods serving `count` new sessions; an error if one fails (while endpoints change, a
/// session may start on a replica that is going away).
pub async fn spread(url: &str, count: usize) -> Result<BTreeSet<String>, String> {
    let mut pods = BTreeSet::new();
    for _ in 0..count {
        pods.insert(new_session_pod(url).await?);
    }
    Ok(pods)
}

/// Waits until `count` new sessions in a row land exactly on `pods`.
pub async fn settle_on(url: &str, count: usize, pods: &BTreeSet<String>, what: &str) {
    eventually(what, DEPLOY_TIMEOUT, || async {
        spread(url, count).await.ok().filter(|seen| seen == pods)
    })
    .await;
}

pub fn container_env(sts: &k8s_openapi::api::apps::v1::StatefulSet) -> Vec<String> {
    let containers = sts
        .spec
        .template
        .spec
        .as_ref()
        .map(|p| p.containers.clone())
        .unwrap_or_default();
    containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

pub fn registry_prefix(cluster: &Cluster) -> String {
    match cluster.image_registry.trim_end_matches('/') {
        "" => String::new(),
        registry => format!("{registry}/"),
    }
}
