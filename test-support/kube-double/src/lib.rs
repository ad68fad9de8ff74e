//! kube-double: a Kubernetes API-server double for mcp-gateway's tests. **It is not Kubernetes.**
//!
//! No real kube-apiserver can run on the machines these tests run on, so this crate serves, on
//! 127.0.0.1, the subset of the Kubernetes REST API that the gateway's Kubernetes runtime uses
//! (see `api`), keeps objects in memory (`store`), and runs small controllers (`kubelet`): a
//! StatefulSet controller that creates pods `<name>-0..N-1`, and a "kubelet" that runs each pod's
//! container as a local process of a binary the test maps the image to, on its own loopback
//! address (127.0.0.N) as pod IP. So the whole path — REST API → Kubernetes runtime → API
//! server → pods → proxy and router → MCP client — runs in CI.
//!
//! What it does model: server-side apply with per-manager field ownership (fields a manager
//! stops sending are removed), StatefulSet spec immutability, resourceVersions, LIST/WATCH with
//! label selectors and resumable watches (410 Gone when too old), uid preconditions on DELETE,
//! graceful pod deletion (marked, then removed once the process is gone), background cascading
//! deletion of pods, `Parallel`/`OrderedReady` pod creation, rolling replacement from the
//! highest ordinal, readiness from the TCP readiness probe, restarts with back-off, pod logs
//! (with the `stream` option), a container's `command`/`args`, and `stdin: true` containers
//! attached through `pods/attach` over a WebSocket with the real channel protocol.
//!
//! What it does NOT prove: admission (validation webhooks, PodSecurity, quotas, LimitRanges),
//! defaulting (no default fields are filled in), the real API's full validation (the body is
//! only checked against the k8s-openapi types), real SSA conflict rules and associative-list
//! merging, RBAC and authentication (every request is allowed), scheduling, images (nothing is
//! pulled: unknown images fail with ErrImagePull), container isolation (securityContext,
//! resources, service accounts are not enforced), cluster DNS and Service networking (pod DNS
//! names do not resolve; use pod IPs), graceful termination (processes are SIGKILLed), or
//! `exec`, `portforward`, TTYs and attaching to stderr.
//! The opt-in real-cluster test (`MCP_GATEWAY_K8S_E2E=1`) covers what this cannot.

mod api;
mod attach;
mod kubelet;
mod logs;
mod selector;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use api::RecordedRequest;
use kubelet::{Controls, Kubelet, Processes};
pub use store::Kind;

/// What the double serves and runs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Image reference (`mcp-example:1.0.0`, exactly as in the pod spec) → local binary.
    pub images: HashMap<String, PathBuf>,
    /// Namespaces that exist (applying into any other answers 404, as a real cluster does).
    pub namespaces: Vec<String>,
}

/// A running double. Dropping it stops the server and kills every pod process.
pub struct KubeDouble {
    url: String,
    store: Arc<store::Store>,
    controls: Arc<Controls>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    processes: Processes,
    server: JoinHandle<()>,
    kubelet: JoinHandle<()>,
}

impl KubeDouble {
    /// Starts the API server on an ephemeral 127.0.0.1 port and the controllers.
    pub async fn start(options: Options) -> std::io::Result<KubeDouble> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let store = Arc::new(store::Store::new(&options.namespaces));
        let controls = Arc::new(Controls::default());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let processes = Processes::default();
        let logs = logs::LogBook::default();
        let terminals = attach::Terminals::default();
        let app = api::router(api::ApiState {
            store: store.clone(),
            logs: logs.clone(),
            terminals: terminals.clone(),
            requests: requests.clone(),
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let kubelet = Kubelet::new(
            store.clone(),
            options.images,
            controls.clone(),
            logs,
            terminals,
            processes.clone(),
        );
        let kubelet = tokio::spawn(kubelet.run());
        Ok(KubeDouble {
            url,
            store,
            controls,
            requests,
            processes,
            server,
            kubelet,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig (YAML) whose current context points at the double, without TLS or
    /// credentials, with `namespace` as the context's namespace.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n    server: {}\n\
             users:\n- name: kube-double\n  user: {{}}\ncontexts:\n- name: kube-double\n  context:\n    \
             cluster: kube-double\n    user: kube-double\n    namespace: {namespace}\n\
             current-context: kube-double\n",
            self.url
        )
    }

    /// One object, as the API would return it.
    pub fn object(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.store.get(kind, namespace, name)
    }

    /// Every object of a kind in a namespace.
    pub fn objects(&self, kind: Kind, namespace: &str) -> Vec<Value> {
        self.store
            .list(kind, Some(namespace), &selector::Selector::default())
            .0
    }

    /// Keeps the kubelet from starting pod `name` (new or recreated) until [`Self::release`].
    pub fn hold(&self, namespace: &str, name: &str) {
        set(&self.controls.held, namespace, name, true);
    }

    pub fn release(&self, namespace: &str, name: &str) {
        set(&self.controls.held, namespace, name, false);
    }

    /// Makes pod `name`'s readiness probe fail (`true`) while its process keeps running, or
    /// probes it normally again (`false`).
    pub fn fail_readiness(&self, namespace: &str, name: &str, failing: bool) {
        set(&self.controls.unready, namespace, name, failing);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn set(
    set: &Mutex<std::collections::HashSet<(String, String)>>,
    namespace: &str,
    name: &str,
    on: bool,
) {
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    let key = (namespace.to_string(), name.to_string());
    if on {
        set.insert(key);
    } else {
        set.remove(&key);
    }
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        self.server.abort();
        self.kubelet.abort();
        for pid in self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            if let Ok(pid) = libc::pid_t::try_from(*pid) {
                // SAFETY: kill(2) with a pid this double spawned and has not seen exit.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
