//! Reaching the API server: where the client's config comes from, and API errors in words.
//!
//! Config comes from, in order: `runtime.kubernetes.kubeconfig` (a file), a kubeconfig found the
//! usual way (`KUBECONFIG`, then `~/.kube/config`) when a `context` is named, or kube's inference
//! (kubeconfig, then the in-cluster service account). Errors name the file, the context and the
//! fix, because they end up on a status page or stop the gateway's start.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::RuntimeError;

/// How long one API call may take before it counts as unanswered.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a client. `source` in the answer says where the config came from (for messages).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(Client, String), RuntimeError> {
    // kube's TLS (rustls) needs a process-wide crypto provider; ring is the one this project
    // uses everywhere. Installing it again is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        cluster: None,
        user: None,
    };
    let context_words = context
        .map(|c| format!(" with context \"{c}\""))
        .unwrap_or_default();
    let (config, source) = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|err| {
                RuntimeError::Unavailable(format!(
                    "cannot read the kubeconfig {} (runtime.kubernetes.kubeconfig): {err}",
                    path.display()
                ))
            })?;
            let config = Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|err| {
                    RuntimeError::Unavailable(format!(
                        "the kubeconfig {}{context_words} is not usable: {err}; check \
                         runtime.kubernetes.context and the file's contexts (kubectl config \
                         get-contexts --kubeconfig {})",
                        path.display(),
                        path.display()
                    ))
                })?;
            (config, format!("kubeconfig {}", path.display()))
        }
        None if context.is_some() => {
            let config = Config::from_kubeconfig(&options).await.map_err(|err| {
                RuntimeError::Unavailable(format!(
                    "cannot load the kubeconfig (KUBECONFIG or ~/.kube/config){context_words}: \
                     {err}; check runtime.kubernetes.context (kubectl config get-contexts)"
                ))
            })?;
            (config, "kubeconfig".to_string())
        }
        None => {
            let config = Config::infer().await.map_err(|err| {
                RuntimeError::Unavailable(format!(
                    "no Kubernetes credentials found: {err}; run the gateway in a pod with a \
                     service account, set KUBECONFIG, or set runtime.kubernetes.kubeconfig"
                ))
            })?;
            (
                config,
                "inferred config (kubeconfig or in-cluster)".to_string(),
            )
        }
    };
    let cluster = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|err| {
        RuntimeError::Unavailable(format!(
            "cannot build a Kubernetes client for {cluster} ({source}): {err}"
        ))
    })?;
    Ok((client, format!("{cluster} ({source})")))
}

/// Runs one API call with [`CALL_TIMEOUT`]; `context` says what it was doing.
pub async fn call<T>(
    context: &str,
    future: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, RuntimeError> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(result) => result.map_err(|err| api_error(context, err)),
        Err(_) => Err(RuntimeError::Unavailable(format!(
            "{context}: the Kubernetes API server did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// Whether the API answered 404 for the object itself (see [`api_error`]).
pub fn is_not_found(err: &RuntimeError) -> bool {
    matches!(err, RuntimeError::NotFound(_))
}

/// A kube error in words; `context` says what we were doing.
pub fn api_error(context: &str, err: kube::Error) -> RuntimeError {
    match err {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            let missing_namespace = status
                .details
                .as_ref()
                .filter(|details| status.code == 404 && details.kind == "namespaces")
                .map(|details| details.name.clone());
            match status.code {
                404 if missing_namespace.is_some() => RuntimeError::Failed(format!(
                    "{context}: {message}; create it (kubectl create namespace {}, or apply \
                     deploy/namespace.yaml) or set runtime.kubernetes.namespace to one that exists",
                    missing_namespace.unwrap_or_default()
                )),
                404 => RuntimeError::NotFound(format!("{context}: {message}")),
                401 => RuntimeError::Unavailable(format!(
                    "{context}: the API server rejected the gateway's credentials (401): \
                     {message}; refresh the kubeconfig's token or the pod's service account"
                )),
                403 => RuntimeError::Failed(format!(
                    "{context}: the API server refused (403 Forbidden): {message}; grant the \
                     gateway's service account the Role in deploy/rbac.yaml in this namespace"
                )),
                409 => RuntimeError::Failed(format!("{context}: conflict (409): {message}")),
                422 => RuntimeError::Failed(format!(
                    "{context}: the API server rejected the object (422 Invalid): {message}"
                )),
                code if code >= 500 => RuntimeError::Unavailable(format!(
                    "{context}: the API server failed ({code}): {message}"
                )),
                code => RuntimeError::Failed(format!(
                    "{context}: the API server answered {code}: {message}"
                )),
            }
        }
        err @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            RuntimeError::Unavailable(format!(
                "{context}: cannot reach the Kubernetes API server: {err}; check that the \
                 cluster runs and the kubeconfig (or runtime.kubernetes.context) points at it"
            ))
        }
        err => RuntimeError::Failed(format!("{context}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api(code: u16, message: &str, kind: &str) -> kube::Error {
        let status: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "message": message, "reason": "Reason",
            "details": {"kind": kind, "name": "x"}
        }))
        .expect("a Status");
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn api_errors_say_what_to_do() {
        let err = api_error(
            "apply",
            api(404, "namespaces \"x\" not found", "namespaces"),
        );
        assert!(
            matches!(&err, RuntimeError::Failed(m) if m.contains("kubectl create namespace x"))
        );
        let err = api_error(
            "get",
            api(404, "statefulsets \"a\" not found", "statefulsets"),
        );
        assert!(is_not_found(&err));
        let err = api_error("apply", api(403, "forbidden", ""));
        assert!(matches!(&err, RuntimeError::Failed(m) if m.contains("deploy/rbac.yaml")));
        let err = api_error("apply", api(503, "etcd down", ""));
        assert!(matches!(err, RuntimeError::Unavailable(_)));
    }
}
