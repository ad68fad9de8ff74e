//! Stdio servers on Kubernetes: attaching to a replica's stdin and stdout, and reading its logs
//! without the protocol traffic.
//!
//! Attach goes through the `pods/attach` subresource (kube-rs `ws`: a WebSocket with the
//! `v5.channel.k8s.io` or `v4.channel.k8s.io` channel protocol; RBAC `create` and `get` on
//! `pods/attach`). The pod was created with `stdin: true, stdinOnce: false, tty: false` (see
//! `manifest`), so the container's stdin stays open between attachments: a detach (dropping the
//! [`Attachment`]) closes only the WebSocket, and the next attach reaches the same process.
//! stderr is not requested: it stays in the pod's logs.
//!
//! The logs of a stdio pod are its stderr only: the API's `stream=Stderr` log option
//! (`PodLogOptions.stream`, behind the `PodLogsQuerySplitStreams` feature gate since Kubernetes
//! 1.32). kube-rs's `LogParams` has no such field, so the request is built here. The API refuses
//! `tailLines` together with a single stream, so the tail is cut here from the whole of stderr.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::naming;
use crate::{Attachment, RuntimeError};

/// What the attachment buffers in each direction between the caller and the WebSocket (kube's
/// default of 1 KiB would split every larger MCP message into many frames).
const PIPE_BUFFER: usize = 64 * 1024;

/// stdin and stdout of the server container; no stderr, no TTY.
pub fn attach_params() -> AttachParams {
    AttachParams::default()
        .container(naming::CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(false)
        .tty(false)
        .max_stdin_buf_size(PIPE_BUFFER)
        .max_stdout_buf_size(PIPE_BUFFER)
}

/// Whether the pod's server container was created for stdio (`stdin: true`).
pub fn has_stdin(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.containers.iter().find(|c| c.name == naming::CONTAINER))
        .is_some_and(|container| container.stdin == Some(true))
}

/// Names the process running in the pod's server container now: the pod's uid and the
/// container's restart count (each restart is a new process; a recreated pod a new uid), or
/// `None` while the container does not run (or the pod is going away).
pub fn process_identity(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == naming::CONTAINER)?;
    status.state.as_ref()?.running.as_ref()?;
    Some(format!(
        "{}/{}",
        pod.metadata.uid.as_deref()?,
        status.restart_count
    ))
}

/// The [`Attachment`] of an attached process: its stdin and stdout, each holding the process
/// so that the WebSocket lives until both are dropped.
pub fn attachment(mut process: AttachedProcess, context: &str) -> Result<Attachment, RuntimeError> {
    let missing = |what: &str| {
        RuntimeError::Failed(format!("{context}: the API server attached without {what}"))
    };
    let stdin = process.stdin().ok_or_else(|| missing("stdin"))?;
    let stdout = process.stdout().ok_or_else(|| missing("stdout"))?;
    let process = Arc::new(Mutex::new(process));
    Ok(Attachment {
        stdin: Box::pin(Held {
            inner: stdin,
            _process: process.clone(),
        }),
        stdout: Box::pin(Held {
            inner: stdout,
            _process: process,
        }),
    })
}

/// One half of an attachment. kube aborts the WebSocket task when its `AttachedProcess` is
/// dropped, so each half keeps it alive.
struct Held<T> {
    inner: T,
    _process: Arc<Mutex<AttachedProcess>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The log request of a stdio pod: its stderr only, no `tailLines` (see the module docs).
pub fn stderr_log_request(
    namespace: &str,
    pod: &str,
    follow: bool,
) -> Result<http::Request<Vec<u8>>, RuntimeError> {
    let mut uri = format!(
        "/api/v1/namespaces/{namespace}/pods/{pod}/log?container={}&stream=Stderr",
        naming::CONTAINER
    );
    if follow {
        uri.push_str("&follow=true");
    }
    http::Request::get(uri)
        .body(Vec::new())
        .map_err(|err| RuntimeError::Failed(format!("cannot build the log request: {err}")))
}

/// The last `tail` lines of `text`, each newline-terminated as the API sends them.
pub fn last_lines(text: &str, tail: u32) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines
        .len()
        .saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX));
    lines[skip..].iter().fold(String::new(), |mut out, line| {
        out.push_str(line);
        out.push('\n');
        out
    })
}

/// What to add to a refused stderr-only log request: the cluster may not have the feature.
pub const STREAM_HINT: &str = "reading a stdio server's stderr without its stdout (the MCP \
    traffic) needs the pod log option `stream`, behind the PodLogsQuerySplitStreams feature gate \
    (Kubernetes 1.32 and later); enable it on the API server and the kubelets";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn attach_asks_for_stdin_and_stdout_of_the_server_only() {
        let params = attach_params();
        assert_eq!(params.container.as_deref(), Some("server"));
        assert!(params.stdin && params.stdout);
        assert!(!params.stderr, "stderr stays in the logs");
        assert!(!params.tty);
    }

    #[test]
    fn stdin_comes_from_the_server_container() {
        let pod = |stdin: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "demo-0"},
                "spec": {"containers": [{"name": "server", "image": "x", "stdin": stdin}]}}))
            .expect("a pod")
        };
        assert!(has_stdin(&pod(json!(true))));
        assert!(!has_stdin(&pod(json!(false))));
        assert!(!has_stdin(&pod(serde_json::Value::Null)));
    }

    #[test]
    fn the_process_is_the_pods_uid_and_restart_count_while_it_runs() {
        let pod = |uid: &str, restarts: i32, state: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "demo-0", "uid": uid},
                "spec": {"containers": [{"name": "server", "image": "x", "stdin": true}]},
                "status": {"containerStatuses": [{"name": "server", "image": "x", "imageID": "",
                    "ready": true, "restartCount": restarts, "state": state}]}}))
            .expect("a pod")
        };
        let running = json!({"running": {}});
        let first = process_identity(&pod("u1", 0, running.clone()));
        assert_eq!(first.as_deref(), Some("u1/0"));
        assert_ne!(process_identity(&pod("u1", 1, running.clone())), first);
        assert_ne!(process_identity(&pod("u2", 0, running.clone())), first);
        let waiting = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(process_identity(&pod("u1", 1, waiting)), None);
        let mut leaving = pod("u1", 0, running);
        leaving.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-11-23T10:00:00Z")).expect("a time"));
        assert_eq!(process_identity(&leaving), None);
    }

    #[test]
    fn the_log_request_reads_stderr_and_the_tail_is_cut_here() {
        let request = stderr_log_request("mcp", "demo-0", false).expect("a request");
        assert_eq!(
            request.uri().to_string(),
            "/api/v1/namespaces/mcp/pods/demo-0/log?container=server&stream=Stderr"
        );
        let follow = stderr_log_request("mcp", "demo-0", true).expect("a request");
        assert!(follow.uri().to_string().ends_with("&follow=true"));
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb", 5), "a\nb\n");
        assert_eq!(last_lines("", 5), "");
        assert_eq!(last_lines("a\n", 0), "");
    }
}
