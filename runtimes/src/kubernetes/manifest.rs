//! The StatefulSet and headless Service of one workload, built from k8s-openapi types, in one
//! place read top to bottom.
//!
//! Pure: it builds objects and nothing else, so unit tests pin every hardening choice and a
//! review of this file is a review of what runs in a user's cluster. The objects are sent whole
//! with server-side apply, so what is not written here (an env var removed from the spec, say)
//! is removed from the cluster too.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort,
    ServiceSpec, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::naming;
use crate::WorkloadSpec;

/// Container resources; `None` leaves the value to the namespace's defaults (LimitRange).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_request: Option<String>,
    pub memory_limit: Option<String>,
    pub ephemeral_storage_limit: Option<String>,
}

/// How every pod runs: the parts of the pod spec that come from config, not from the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSettings {
    /// Service account of pods; `None`: the namespace's `default`.
    pub service_account: Option<String>,
    /// Service account of pods of resources with `useWorkloadIdentity: true`.
    pub workload_identity_service_account: String,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: String,
    pub resources: Resources,
    /// Numeric user id to run as; `None`: the image's `USER` (which must not be root).
    pub run_as_user: Option<i64>,
}

impl Default for PodSettings {
    fn default() -> Self {
        Self {
            service_account: None,
            workload_identity_service_account: "workload-sa".into(),
            image_pull_policy: "IfNotPresent".into(),
            resources: Resources::default(),
            run_as_user: None,
        }
    }
}

/// The StatefulSet of `spec`.
pub fn stateful_set(spec: &WorkloadSpec, gateway_id: &str, settings: &PodSettings) -> StatefulSet {
    let id = &spec.id;
    let spec_hash = spec.spec_hash();
    let annotations = BTreeMap::from([(naming::ANNOTATION_SPEC_HASH.to_string(), spec_hash)]);
    let mut pod_labels = naming::labels(gateway_id, id);
    if spec.use_workload_identity {
        // Azure's webhook injects the federated token into pods carrying this label. It is kept
        // out of the selector, which can never change after create.
        pod_labels.insert(
            naming::LABEL_WORKLOAD_IDENTITY.to_string(),
            "true".to_string(),
        );
    }
    let service_account = if spec.use_workload_identity {
        Some(settings.workload_identity_service_account.clone())
    } else {
        settings.service_account.clone()
    };
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(naming::statefulset_name(id)),
            labels: Some(naming::labels(gateway_id, id)),
            annotations: Some(annotations.clone()),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(i32::try_from(spec.replicas).unwrap_or(i32::MAX)),
            service_name: Some(naming::service_name(id)),
            selector: LabelSelector {
                match_labels: Some(naming::selector_labels(id)),
                match_expressions: None,
            },
            // Replicas of an MCP server do not depend on each other: start and stop them all
            // at once instead of one by one (updates still roll one pod at a time).
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: None,
            }),
            revision_history_limit: Some(3),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(spec, settings, service_account)),
            },
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

fn pod_spec(
    spec: &WorkloadSpec,
    settings: &PodSettings,
    service_account: Option<String>,
) -> PodSpec {
    let port = i32::from(spec.port);
    PodSpec {
        service_account_name: service_account,
        // MCP servers have no business with the Kubernetes API: no token in the pod. (Azure
        // Workload Identity projects its own token; it does not need this one.)
        automount_service_account_token: Some(false),
        // No `<SERVICE>_PORT` variables for every Service in the namespace: the environment is
        // exactly the resource's.
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: settings.run_as_user,
            run_as_group: settings.run_as_user,
            seccomp_profile: Some(runtime_default_seccomp()),
            ..PodSecurityContext::default()
        }),
        containers: vec![Container {
            name: naming::CONTAINER.to_string(),
            image: Some(spec.image.clone()),
            image_pull_policy: Some(settings.image_pull_policy.clone()),
            env: Some(
                spec.env
                    .iter()
                    .map(|(name, value)| EnvVar {
                        name: name.clone(),
                        value: Some(value.clone()),
                        value_from: None,
                    })
                    .collect(),
            ),
            // `command`/`args` with Kubernetes' own meaning: they replace the image's entrypoint
            // and its default arguments; left out (the image's own) when empty.
            command: (!spec.command.is_empty()).then(|| spec.command.clone()),
            args: (!spec.args.is_empty()).then(|| spec.args.clone()),
            ports: (!spec.stdio).then(|| {
                vec![ContainerPort {
                    name: Some(naming::PORT_NAME.to_string()),
                    container_port: port,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]
            }),
            readiness_probe: readiness_probe(spec),
            // A stdio server reads MCP on stdin: it stays open across attachments (`stdinOnce:
            // false`: a detach does not close it) and is a pipe, not a terminal (a TTY would
            // echo and rewrite the protocol's bytes, and merge stderr into stdout).
            stdin: spec.stdio.then_some(true),
            stdin_once: spec.stdio.then_some(false),
            tty: spec.stdio.then_some(false),
            resources: resources(&settings.resources),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    add: None,
                }),
                privileged: Some(false),
                run_as_non_root: Some(true),
                seccomp_profile: Some(runtime_default_seccomp()),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }],
        ..PodSpec::default()
    }
}

/// The original had no probe, so first requests could reach a pod that was not listening yet;
/// the gateway routes only to Ready pods, and a server is Ready once its port accepts TCP.
///
/// A stdio server has no port, and nothing outside the process can tell that it speaks MCP
/// without speaking MCP to it on stdin (an exec probe would need a client inside every image).
/// So it gets no readiness probe: Kubernetes calls it Ready once its container runs, and the
/// gateway's stdio bridge finds out the rest when it attaches and initializes.
fn readiness_probe(spec: &WorkloadSpec) -> Option<Probe> {
    (!spec.stdio).then(|| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(spec.port)),
            host: None,
        }),
        period_seconds: Some(2),
        timeout_seconds: Some(1),
        failure_threshold: Some(2),
        success_threshold: Some(1),
        ..Probe::default()
    })
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

fn resources(config: &Resources) -> Option<ResourceRequirements> {
    let map = |pairs: [(&str, &Option<String>); 3]| {
        let map: BTreeMap<String, Quantity> = pairs
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), Quantity(value.clone()?))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let requests = map([
        ("cpu", &config.cpu_request),
        ("memory", &config.memory_request),
        ("ephemeral-storage", &None),
    ]);
    let limits = map([
        ("cpu", &config.cpu_limit),
        ("memory", &config.memory_limit),
        ("ephemeral-storage", &config.ephemeral_storage_limit),
    ]);
    (requests.is_some() || limits.is_some()).then_some(ResourceRequirements {
        requests,
        limits,
        claims: None,
    })
}

/// The headless Service of `spec`: it gives each pod its DNS name
/// `<pod>.<service>.<namespace>.svc.<cluster domain>` and load-balances nothing.
pub fn service(spec: &WorkloadSpec, gateway_id: &str) -> Service {
    let id = &spec.id;
    Service {
        metadata: ObjectMeta {
            name: Some(naming::service_name(id)),
            labels: Some(naming::labels(gateway_id, id)),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(naming::selector_labels(id)),
            ports: Some(vec![ServicePort {
                name: Some(naming::PORT_NAME.to_string()),
                port: i32::from(spec.port),
                target_port: Some(IntOrString::Int(i32::from(spec.port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{WorkloadId, WorkloadKind};

    fn spec(workload_identity: bool) -> WorkloadSpec {
        WorkloadSpec {
            id: WorkloadId::new(WorkloadKind::Adapter, "demo"),
            image: "localhost:5000/mcp-example:1.0.0".into(),
            env: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "two".into())]),
            replicas: 2,
            port: 8000,
            use_workload_identity: workload_identity,
            command: Vec::new(),
            args: Vec::new(),
            stdio: false,
        }
    }

    fn settings() -> PodSettings {
        PodSettings {
            service_account: Some("mcp-servers".into()),
            resources: Resources {
                cpu_request: Some("250m".into()),
                cpu_limit: Some("1".into()),
                memory_request: Some("256Mi".into()),
                memory_limit: Some("512Mi".into()),
                ephemeral_storage_limit: None,
            },
            run_as_user: Some(1100),
            ..PodSettings::default()
        }
    }

    /// Serialises and parses back through k8s-openapi, as the API server would receive it.
    fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(object: &T) -> (T, Value) {
        let json = serde_json::to_value(object).expect("serialises");
        let parsed: T = serde_json::from_value(json.clone()).expect("a valid object");
        (parsed, json)
    }

    #[test]
    fn statefulset_is_a_valid_object_with_labels_probe_and_hardening() {
        let (parsed, json) = round_trip(&stateful_set(&spec(false), "gw1", &settings()));
        assert_eq!(parsed, stateful_set(&spec(false), "gw1", &settings()));
        assert_eq!(json["apiVersion"], "apps/v1");
        assert_eq!(json["kind"], "StatefulSet");
        let labels = json!({
            "adapter/type": "mcp", "adapter/name": "demo",
            "app.kubernetes.io/managed-by": "mcp-gateway", "mcp-gateway.dev/gateway": "gw1"});
        assert_eq!(json["metadata"]["name"], "demo");
        assert_eq!(json["metadata"]["labels"], labels);
        assert_eq!(
            json["metadata"]["annotations"]["mcp-gateway.dev/spec-hash"],
            spec(false).spec_hash()
        );
        let sts = &json["spec"];
        assert_eq!(sts["replicas"], 2);
        assert_eq!(sts["serviceName"], "demo-service");
        assert_eq!(sts["podManagementPolicy"], "Parallel");
        assert_eq!(
            sts["selector"]["matchLabels"],
            json!({"adapter/type": "mcp", "adapter/name": "demo",
                   "app.kubernetes.io/managed-by": "mcp-gateway"})
        );
        let template = &sts["template"];
        assert_eq!(template["metadata"]["labels"], labels);
        let pod = &template["spec"];
        assert_eq!(pod["serviceAccountName"], "mcp-servers");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["enableServiceLinks"], false);
        assert_eq!(
            pod["securityContext"],
            json!({"runAsNonRoot": true, "runAsUser": 1100, "runAsGroup": 1100,
                   "seccompProfile": {"type": "RuntimeDefault"}})
        );
        let container = &pod["containers"][0];
        assert_eq!(container["name"], "server");
        assert_eq!(container["image"], "localhost:5000/mcp-example:1.0.0");
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            container["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}])
        );
        assert_eq!(
            container["ports"],
            json!([{"name": "mcp", "containerPort": 8000, "protocol": "TCP"}])
        );
        assert_eq!(
            container["readinessProbe"]["tcpSocket"],
            json!({"port": 8000})
        );
        assert_eq!(
            container["resources"],
            json!({"requests": {"cpu": "250m", "memory": "256Mi"},
                   "limits": {"cpu": "1", "memory": "512Mi"}})
        );
        assert_eq!(
            container["securityContext"],
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                   "privileged": false, "runAsNonRoot": true,
                   "seccompProfile": {"type": "RuntimeDefault"}})
        );
    }

    #[test]
    fn workload_identity_sets_its_account_and_label_outside_the_selector() {
        let (_, json) = round_trip(&stateful_set(&spec(true), "gw1", &settings()));
        let template = &json["spec"]["template"];
        assert_eq!(
            template["metadata"]["labels"]["azure.workload.identity/use"],
            "true"
        );
        assert_eq!(template["spec"]["serviceAccountName"], "workload-sa");
        assert!(
            json["spec"]["selector"]["matchLabels"]
                .get("azure.workload.identity/use")
                .is_none()
        );
    }

    #[test]
    fn defaults_leave_account_user_and_resources_to_the_cluster() {
        let (_, json) = round_trip(&stateful_set(&spec(false), "gw1", &PodSettings::default()));
        let pod = &json["spec"]["template"]["spec"];
        assert!(pod.get("serviceAccountName").is_none());
        assert!(pod["securityContext"].get("runAsUser").is_none());
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert!(pod["containers"][0].get("resources").is_none());
    }

    #[test]
    fn a_removed_variable_is_not_in_the_applied_object() {
        let mut changed = spec(false);
        changed.env.remove("B");
        let (_, json) = round_trip(&stateful_set(&changed, "gw1", &settings()));
        assert_eq!(
            json["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}])
        );
    }

    #[test]
    fn command_and_args_replace_the_images_only_when_given() {
        let (_, json) = round_trip(&stateful_set(&spec(false), "gw1", &settings()));
        let container = &json["spec"]["template"]["spec"]["containers"][0];
        // The image's own entrypoint and arguments: neither field is sent.
        assert!(container.get("command").is_none());
        assert!(container.get("args").is_none());

        let mut with_args = spec(false);
        with_args.args = vec!["--stdio".into(), "--name".into(), "a b".into()];
        let (_, json) = round_trip(&stateful_set(&with_args, "gw1", &settings()));
        let container = &json["spec"]["template"]["spec"]["containers"][0];
        assert!(container.get("command").is_none());
        assert_eq!(container["args"], json!(["--stdio", "--name", "a b"]));

        let mut both = with_args.clone();
        both.command = vec!["/usr/local/bin/mcp-example".into()];
        let (_, json) = round_trip(&stateful_set(&both, "gw1", &settings()));
        let container = &json["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"], json!(["/usr/local/bin/mcp-example"]));
        assert_eq!(container["args"], json!(["--stdio", "--name", "a b"]));
    }

    #[test]
    fn a_stdio_server_keeps_stdin_open_without_tty_port_or_probe() {
        let mut stdio = spec(false);
        stdio.stdio = true;
        let (parsed, json) = round_trip(&stateful_set(&stdio, "gw1", &settings()));
        assert_eq!(parsed, stateful_set(&stdio, "gw1", &settings()));
        let container = &json["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["stdin"], true);
        assert_eq!(container["stdinOnce"], false);
        assert_eq!(container["tty"], false);
        // Nothing listens: no port to declare, and no TCP probe that could never pass.
        assert!(container.get("ports").is_none());
        assert!(container.get("readinessProbe").is_none());
        // Everything else is the same hardened pod.
        assert_eq!(
            container["securityContext"]["capabilities"],
            json!({"drop": ["ALL"]})
        );
        assert_eq!(container["env"][0], json!({"name": "A", "value": "1"}));
        assert_eq!(
            json["spec"]["template"]["metadata"]["annotations"]["mcp-gateway.dev/spec-hash"],
            stdio.spec_hash()
        );

        // A server on a port has none of the stdio fields.
        let (_, json) = round_trip(&stateful_set(&spec(false), "gw1", &settings()));
        let container = &json["spec"]["template"]["spec"]["containers"][0];
        for field in ["stdin", "stdinOnce", "tty"] {
            assert!(container.get(field).is_none(), "{field} is set");
        }
    }

    #[test]
    fn service_is_headless_and_selects_the_pods() {
        let (_, json) = round_trip(&service(&spec(false), "gw1"));
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "Service");
        assert_eq!(json["metadata"]["name"], "demo-service");
        assert_eq!(json["metadata"]["labels"]["mcp-gateway.dev/gateway"], "gw1");
        assert_eq!(json["spec"]["clusterIP"], "None");
        assert_eq!(
            json["spec"]["selector"],
            json!({"adapter/type": "mcp", "adapter/name": "demo",
                   "app.kubernetes.io/managed-by": "mcp-gateway"})
        );
        assert_eq!(
            json["spec"]["ports"],
            json!([{"name": "mcp", "port": 8000, "targetPort": 8000, "protocol": "TCP"}])
        );
    }
}
