//! The configured runtime: Docker, Kubernetes or none, built from `[runtime]`.

use std::sync::Arc;

use mcp_gateway_runtimes::Runtime;
use mcp_gateway_runtimes::none::NoneRuntime;

use super::ServeError;
use crate::infra::config::{LoadedConfig, RuntimeKind};

/// Builds the configured runtime. `gateway_id` (generated once, kept in SQLite) goes into the
/// labels of everything the runtime creates, so gateways sharing an engine or cluster never
/// adopt or reap each other's workloads.
pub(super) async fn build_runtime(
    config: &LoadedConfig,
    gateway_id: &str,
) -> Result<Arc<dyn Runtime>, ServeError> {
    match config.config.runtime.kind {
        RuntimeKind::None => Ok(Arc::new(NoneRuntime)),
        #[cfg(feature = "docker")]
        RuntimeKind::Docker => {
            use mcp_gateway_runtimes::docker::{DockerOptions, DockerRuntime, Limits, Reach};
            use std::time::Duration;
            let docker = &config.config.runtime.docker;
            let options = DockerOptions {
                host: docker.host.clone(),
                network: docker.network.clone(),
                gateway_id: gateway_id.to_string(),
                image_registry: config.config.runtime.image_registry.clone(),
                reach: match docker.reach {
                    crate::infra::config::DockerReach::Published => Reach::Published,
                    crate::infra::config::DockerReach::Container => Reach::Container,
                },
                limits: Limits {
                    memory_bytes: docker.memory.0,
                    cpus: docker.cpus,
                    pids: docker.pids_limit,
                },
                ready_timeout: Duration::from_secs(docker.ready_timeout_secs),
            };
            // The error already says what to do (start Docker, set the host, or use "none").
            let runtime = DockerRuntime::connect(options)
                .await
                .map_err(|err| ServeError::runtime(err.to_string()))?;
            Ok(Arc::new(runtime))
        }
        #[cfg(feature = "kubernetes")]
        RuntimeKind::Kubernetes => {
            use mcp_gateway_runtimes::kubernetes::{
                KubernetesOptions, KubernetesRuntime, PodSettings, Reach, Resources,
            };
            let k8s = &config.config.runtime.kubernetes;
            let text = |value: &str| (!value.is_empty()).then(|| value.to_string());
            let options = KubernetesOptions {
                kubeconfig: k8s
                    .kubeconfig
                    .as_ref()
                    .map(|path| config.base_dir.join(path)),
                context: k8s.context.clone(),
                namespace: k8s.namespace.clone(),
                gateway_id: gateway_id.to_string(),
                reach: match k8s.endpoints {
                    crate::infra::config::KubernetesEndpoints::Dns => Reach::Dns {
                        cluster_domain: k8s.cluster_domain.clone(),
                    },
                    crate::infra::config::KubernetesEndpoints::PodIp => Reach::PodIp,
                },
                pods: PodSettings {
                    service_account: text(&k8s.service_account),
                    workload_identity_service_account: k8s
                        .workload_identity_service_account
                        .clone(),
                    image_pull_policy: k8s.image_pull_policy.as_str().to_string(),
                    resources: Resources {
                        cpu_request: text(&k8s.cpu_request),
                        cpu_limit: text(&k8s.cpu_limit),
                        memory_request: text(&k8s.memory_request),
                        memory_limit: text(&k8s.memory_limit),
                        ephemeral_storage_limit: text(&k8s.ephemeral_storage_limit),
                    },
                    run_as_user: k8s.run_as_user,
                },
            };
            // The error already says what to do (kubeconfig, context, namespace, RBAC).
            let runtime = KubernetesRuntime::connect(options)
                .await
                .map_err(|err| ServeError::runtime(err.to_string()))?;
            Ok(Arc::new(runtime))
        }
        // Reached only in builds without the docker or kubernetes feature.
        #[allow(unreachable_patterns)]
        other => {
            let _ = gateway_id;
            Err(ServeError::runtime(format!(
                "runtime.kind = \"{}\" is not available in this build yet; use runtime.kind = \"none\" \
                 with url resources",
                other.as_str()
            )))
        }
    }
}
