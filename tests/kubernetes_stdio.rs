//! Stdio servers on Kubernetes: the Kubernetes runtime deploys a workload whose server speaks
//! on stdin/stdout, and attaches to it through `pods/attach` with kube-rs's own WebSocket client.
//!
//! The API server is the kube-double (test-support/kube-double: **a double, not Kubernetes**),
//! whose kubelet runs the pod as a local process and serves `pods/attach` with the real channel
//! protocol. The process is a small line-oriented JSON-RPC responder written in POSIX `sh`,
//! given as the container's `command` and `args` (Kubernetes semantics: they replace the image's
//! entrypoint and arguments): it counts the requests it has answered (state that only the same
//! process keeps), writes a line to stderr for each, answers on stdout, and exits with code 3
//! when asked to.

#![cfg(feature = "kubernetes")]

mod common;

use std::collections::BTreeMap;

use common::cluster::{Cluster, DEPLOY_TIMEOUT, healthy, send};
use common::upstream::python_client;
use common::{Gateway, client, eventually, mcp, raw, rbac};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use mcp_gateway_runtimes::kubernetes::{KubernetesOptions, KubernetesRuntime, PodSettings, Reach};
use mcp_gateway_runtimes::{
    Attachment, Runtime, RuntimeError, WorkloadId, WorkloadKind, WorkloadSpec,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The stdio server: `$1` (from `args`) and `$TARGET` (from the env) go into every answer.
const RESPONDER: &str = r##"echo "responder starting" >&2
n=0
while IFS= read -r line; do
  n=$((n + 1))
  id=${line#*\"id\":}
  id=${id%%,*}
  echo "request $n (id $id)" >&2
  case $line in
    *'"method":"exit"'*) echo "exiting on request" >&2; exit 3 ;;
  esac
  printf '{"jsonrpc":"2.0","id":%s,"result":{"calls":%s,"arg":"%s","env":"%s"}}\n' "$id" "$n" "$1" "$TARGET"
done
"##;

const GATEWAY_ID: &str = "gw-stdio";

fn stdio_spec(name: &str) -> WorkloadSpec {
    WorkloadSpec {
        id: WorkloadId::new(WorkloadKind::Adapter, name),
        // The image is pulled (the double knows it) but its entrypoint is replaced by `command`.
        image: "mcp-example:1.0.0".into(),
        env: BTreeMap::from([("TARGET".to_string(), "from-env".to_string())]),
        replicas: 1,
        port: 8000,
        use_workload_identity: false,
        command: vec!["sh".into(), "-c".into()],
        args: vec![RESPONDER.into(), "responder".into(), "from-args".into()],
        stdio: true,
    }
}

async fn connect(cluster: &Cluster) -> KubernetesRuntime {
    KubernetesRuntime::connect(KubernetesOptions {
        kubeconfig: cluster.kubeconfig.clone(),
        context: None,
        namespace: cluster.namespace.clone(),
        gateway_id: GATEWAY_ID.into(),
        reach: Reach::PodIp,
        pods: PodSettings::default(),
    })
    .await
    .expect("the runtime connects to the double")
}

/// Waits until replica 0 runs and is ready, with `restarts` restarts behind it.
async fn running(runtime: &KubernetesRuntime, id: &WorkloadId, restarts: &str) {
    eventually(
        &format!("{id} running, ready ({restarts})"),
        DEPLOY_TIMEOUT,
        || async {
            let status = runtime.status(id).await.ok()?;
            let replica = status.replicas.first()?;
            (replica.ready
                && replica.state.starts_with("running")
                && replica.state.contains(restarts))
            .then_some(())
        },
    )
    .await;
}

/// An attachment split for line-oriented JSON-RPC.
struct Line {
    stdin: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    stdout: BufReader<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
}

impl Line {
    fn new(attachment: Attachment) -> Line {
        Line {
            stdin: attachment.stdin,
            stdout: BufReader::new(attachment.stdout),
        }
    }

    async fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the pod's stdin");
        self.stdin.flush().await.expect("flush stdin");
    }

    /// The next line on stdout; `None` at its end. Bounded only so a broken attach cannot hang
    /// the suite (not a timing assertion).
    async fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(DEPLOY_TIMEOUT, self.stdout.read_line(&mut line))
            .await
            .expect("stdout answers or ends")
            .expect("read stdout");
        (read > 0).then_some(line)
    }

    /// One request and its answer, which must be the very next line on stdout (so nothing the
    /// server wrote to stderr came in between).
    async fn call(&mut self, id: u64, method: &str) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method}))
            .await;
        let line = self.next().await.expect("an answer before stdout ends");
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("stdout carried a non-JSON-RPC line {line:?}: {err}"));
        assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
        assert_eq!(answer["id"], id, "the answer to request {id}: {answer}");
        answer["result"].clone()
    }
}

async fn attach(runtime: &KubernetesRuntime, id: &WorkloadId) -> Line {
    Line::new(runtime.attach(id, 0).await.expect("attach to replica 0"))
}

/// Attach, call, detach, re-attach to the same process, logs without the protocol traffic,
/// a process that exits is restarted, and the Role grants what attaching needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_pod_is_attached_detached_reattached_and_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let runtime = connect(&cluster).await;
    let spec = stdio_spec("stdio-demo");
    let id = spec.id.clone();
    runtime
        .apply(&spec)
        .await
        .expect("apply the stdio workload");
    running(&runtime, &id, "").await;

    // The pod as the API server has it: stdin open, no TTY, no port, no probe.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pod = pods.get("stdio-demo-0").await.expect("GET the pod");
    let container = &pod.spec.as_ref().expect("a spec").containers[0];
    assert_eq!(container.stdin, Some(true));
    assert_eq!(container.stdin_once, Some(false));
    assert_eq!(container.tty, Some(false));
    assert_eq!(container.command.as_deref(), Some(&spec.command[..]));
    assert!(container.ports.is_none() && container.readiness_probe.is_none());
    // Its endpoint names the pod to attach to; ready once the process runs.
    let endpoints = runtime.endpoints(&id).await.expect("endpoints");
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0].base_url, "stdio://stdio-demo-0");
    assert!(endpoints[0].ready);
    let process = runtime
        .process_identity(&id, 0)
        .await
        .expect("the process")
        .expect("one runs");

    // Attach and call: command and args (and the env) reached the process.
    let mut first = attach(&runtime, &id).await;
    let answer = first.call(7, "ping").await;
    assert_eq!(
        answer,
        json!({"calls": 1, "arg": "from-args", "env": "from-env"})
    );
    assert_eq!(first.call(8, "ping").await["calls"], 2);

    // Detach; the next attachment reaches the same process (it remembers two calls).
    drop(first);
    let mut second = attach(&runtime, &id).await;
    assert_eq!(second.call(9, "ping").await["calls"], 3);
    assert_eq!(
        runtime.process_identity(&id, 0).await.expect("the process"),
        Some(process.clone()),
        "the same process after a detach"
    );
    // And again, while the second is still attached: one process, one stdin, and (as in
    // Kubernetes) its stdout goes to every attachment, so a bridge attaches once per replica.
    let mut third = attach(&runtime, &id).await;
    assert_eq!(third.call(10, "ping").await["calls"], 4);
    let seen: Value = serde_json::from_str(&second.next().await.expect("a line")).expect("JSON");
    assert_eq!(
        seen["id"], 10,
        "the other attachment sees the same answer: {seen}"
    );
    drop(third);
    assert_eq!(second.call(11, "ping").await["calls"], 5);

    // Logs are stderr only: the server's own lines, never the protocol's.
    let logs = eventually("the fifth request in the logs", DEPLOY_TIMEOUT, || async {
        let logs = runtime.logs(&id, 0, 100).await.ok()?;
        logs.contains("request 5 (id 11)").then_some(logs)
    })
    .await;
    assert!(logs.starts_with("responder starting\n"), "{logs}");
    assert!(
        !logs.contains("jsonrpc"),
        "protocol traffic in the logs: {logs}"
    );
    assert_eq!(
        runtime.logs(&id, 0, 2).await.expect("a tail"),
        "request 4 (id 10)\nrequest 5 (id 11)\n"
    );
    // The pod's whole log (stream=All, what `kubectl logs` shows) does carry the answers, as a
    // real container runtime's would: leaving them out is the runtime's choice of stream.
    let all = pods
        .logs("stdio-demo-0", &LogParams::default())
        .await
        .expect("GET the pod's log");
    assert!(all.contains(r#""calls":5"#), "{all}");

    // The process exits: the attachment's stdout ends, the kubelet restarts the container, and a
    // new attachment reaches the new process (its count starts again).
    second
        .send(&json!({"jsonrpc": "2.0", "id": 12, "method": "exit"}))
        .await;
    assert_eq!(second.next().await, None, "stdout ends with the process");
    running(&runtime, &id, "restarted 1 times").await;
    let restarted = runtime.process_identity(&id, 0).await.expect("the process");
    assert!(
        restarted.as_ref().is_some_and(|now| *now != process),
        "a restarted process has a new identity: {process} then {restarted:?}"
    );
    let mut after = attach(&runtime, &id).await;
    assert_eq!(after.call(13, "ping").await["calls"], 1);
    eventually("the restart in the logs", DEPLOY_TIMEOUT, || async {
        let logs = runtime.logs(&id, 0, 100).await.ok()?;
        logs.contains("exiting on request\nresponder starting\n")
            .then_some(())
    })
    .await;
    drop(after);

    // Least privilege: attaching needed exactly `get` and `create` on pods/attach, both granted.
    let double = cluster.double.as_ref().expect("double");
    let used = rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
    assert!(
        rbac::stdio_only().is_subset(&used),
        "attaching used {used:?}"
    );
    runtime.remove(&id).await.expect("remove");
}

/// Attaching where there is nothing to attach to says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_to_a_missing_or_port_serving_replica_is_refused_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let runtime = connect(&cluster).await;
    let missing = WorkloadId::new(WorkloadKind::Adapter, "nothing-here");
    match runtime.attach(&missing, 0).await {
        Err(RuntimeError::NotFound(message)) => {
            assert!(message.contains("no pod nothing-here-0"), "{message}")
        }
        other => panic!("attaching to a missing pod: {other:?}"),
    }

    // A server on a port (the pod exists; whether it is ready does not matter here).
    let mut on_a_port = stdio_spec("on-a-port");
    on_a_port.stdio = false;
    runtime.apply(&on_a_port).await.expect("apply");
    eventually("pod on-a-port-0", DEPLOY_TIMEOUT, || async {
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        pods.get_opt("on-a-port-0").await.ok().flatten()
    })
    .await;
    match runtime.attach(&on_a_port.id, 0).await {
        Err(RuntimeError::Failed(message)) => {
            assert!(
                message.contains("not created for a stdio server"),
                "{message}"
            )
        }
        other => panic!("attaching to a port-serving pod: {other:?}"),
    }
    runtime.remove(&on_a_port.id).await.expect("remove");
}

/// The gateway end to end on Kubernetes (the double): `mcp-example --stdio` created through the
/// REST API as a `transport: "stdio"` adapter, deployed as a pod, attached by the gateway's
/// stdio bridge and called through `/adapters/{name}/mcp` by rmcp and the Python SDKs (1.x, and
/// 2.x in auto mode); its logs through the API are stderr only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_example_over_stdio_on_kubernetes_serves_rmcp_and_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let gw = Gateway::start(dir.path(), &cluster.gateway_config(dir.path()));
    let body = json!({"name": "k8s-stdio", "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "transport": "stdio", "args": ["--stdio"]});
    assert_eq!(
        send(&gw, reqwest::Method::POST, "/adapters", Some(&body)).await,
        reqwest::StatusCode::CREATED
    );
    healthy(&gw, "adapters", "k8s-stdio", 1).await;

    // The pod the runtime made: stdin open, the image's entrypoint with `--stdio`.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pod = pods.get("k8s-stdio-0").await.expect("GET the pod");
    let container = &pod.spec.as_ref().expect("a spec").containers[0];
    assert_eq!(container.stdin, Some(true));
    assert_eq!(
        container.args.as_deref(),
        Some(&["--stdio".to_string()][..])
    );
    assert!(container.command.is_none());

    let url = gw.url("/adapters/k8s-stdio/mcp");
    // rmcp: the answer comes from the pod (the double sets HOSTNAME to the pod's name).
    // (The bridge learns of the ready replica at the gateway's next endpoint refresh.)
    let session = eventually("rmcp connects", DEPLOY_TIMEOUT, || async {
        mcp::connect(&url).await.ok()
    })
    .await;
    let tools = session.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "whoami"), "{tools:?}");
    let identity = mcp::call(&session, "whoami", Value::Null)
        .await
        .expect("rmcp call")
        .structured_content
        .expect("structured");
    assert_eq!(identity["hostname"], "k8s-stdio-0");
    let echo = mcp::call(&session, "echo", json!({"message": "over pods/attach"}))
        .await
        .expect("echo");
    assert!(mcp::text(&echo).contains("over pods/attach"));
    let _ = session.cancel().await;

    let call = [("echo", json!({"message": "from python"}))];
    for major in [1, 2] {
        if let Some(summary) = python_client(major, &url, "auto", &call).await {
            assert!(
                summary["tools"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("whoami"))),
                "{summary}"
            );
            let result = &summary["results"][0];
            assert_eq!(result["isError"], false, "{summary}");
            assert!(
                result["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("from python")),
                "python {major}.x: {summary}"
            );
        }
    }

    // The replica's logs: stderr (the server's own line), never the protocol.
    let logs = eventually(
        "the server's stderr in its logs",
        DEPLOY_TIMEOUT,
        || async {
            let logs = client()
                .get(gw.url("/adapters/k8s-stdio/logs?tail=200"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            logs.contains("serving MCP on stdio").then_some(logs)
        },
    )
    .await;
    assert!(
        !logs.contains("jsonrpc"),
        "protocol traffic in the logs: {logs}"
    );

    let double = cluster.double.as_ref().expect("double");
    let used = rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
    assert!(rbac::stdio_only().is_subset(&used), "{used:?}");
}

/// `mcp-example`'s stderr lines saying it was initialized, through the gateway's logs route.
async fn initializes(gw: &Gateway, name: &str) -> usize {
    let logs = client()
        .get(gw.url(&format!("/adapters/{name}/logs?tail=1000")))
        .send()
        .await
        .expect("logs")
        .text()
        .await
        .expect("text");
    logs.matches("initialize from").count()
}

/// The process identity on Kubernetes (pod uid and restart count) at work: a restarted gateway
/// re-attaches to the same pod process and continues a 2025 session with no second
/// `initialize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_continues_a_stdio_session_on_the_same_pod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let gw = Gateway::start(dir.path(), &cluster.gateway_config(dir.path()));
    let body = json!({"name": "keep", "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "transport": "stdio", "args": ["--stdio"]});
    assert_eq!(
        send(&gw, reqwest::Method::POST, "/adapters", Some(&body)).await,
        reqwest::StatusCode::CREATED
    );
    healthy(&gw, "adapters", "keep", 1).await;
    let http = client();
    let url = gw.url("/adapters/keep/mcp");
    // (The bridge learns of the ready replica at the gateway's next endpoint refresh.)
    eventually("an MCP session", DEPLOY_TIMEOUT, || async {
        let session = mcp::connect(&url).await.ok()?;
        let _ = session.cancel().await;
        Some(())
    })
    .await;
    let token = raw::open_session(&http, &url, &[]).await;
    let first = raw::call_tool(&http, &url, &token, "whoami", json!({}), 2).await;
    assert_eq!(
        first.status,
        reqwest::StatusCode::OK,
        "{:?}",
        first.messages
    );
    assert_eq!(initializes(&gw, "keep").await, 1);

    drop(gw);
    let gw = Gateway::start_with(&dir.path().join("config.toml"), &[]);
    healthy(&gw, "adapters", "keep", 1).await;
    let url = gw.url("/adapters/keep/mcp");
    let again = eventually("the session continues", DEPLOY_TIMEOUT, || async {
        let again = raw::call_tool(&http, &url, &token, "whoami", json!({}), 3).await;
        (again.status == reqwest::StatusCode::OK).then_some(again)
    })
    .await;
    assert_eq!(
        again.response(3)["result"]["structuredContent"],
        first.response(2)["result"]["structuredContent"],
        "the same process answers"
    );
    assert_eq!(
        initializes(&gw, "keep").await,
        1,
        "the process was not initialized again"
    );
}
