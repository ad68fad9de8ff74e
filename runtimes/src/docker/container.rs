//! The options every replica container is created with, in one function read top to bottom.
//!
//! Pure: it builds the engine's create body and nothing else, so a unit test pins every
//! hardening choice and a review of this file is a review of what runs on a user's machine.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};

use super::{Limits, Reach, naming};
use crate::WorkloadSpec;

/// Where the gateway publishes replica ports in [`Reach::Published`] mode: loopback only, so a
/// replica is never reachable from the network except through the gateway.
pub const PUBLISH_IP: &str = "127.0.0.1";

/// The create body of replica `replica` of `spec`.
pub fn container_body(
    spec: &WorkloadSpec,
    replica: u32,
    gateway_id: &str,
    network_id: &str,
    reach: Reach,
    limits: Limits,
) -> ContainerCreateBody {
    let port = format!("{}/tcp", spec.port);
    let spec_hash = spec.spec_hash();
    // A stdio server is reached through attach, not a port: nothing to expose or publish.
    let reach = if spec.stdio { None } else { Some(reach) };
    let host_config = HostConfig {
        // The user-defined network (by id: Docker 20.10 allows two networks with one name).
        network_mode: Some(network_id.to_string()),
        // An ephemeral host port on loopback (the engine picks it at start), or nothing when the
        // gateway reaches containers by their address on the network.
        port_bindings: match reach {
            Some(Reach::Published) => Some(HashMap::from([(
                port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(PUBLISH_IP.to_string()),
                    host_port: Some(String::new()),
                }]),
            )])),
            Some(Reach::Container) | None => None,
        },
        // No privilege gain through setuid binaries, and no Linux capabilities at all: MCP and
        // tool servers are plain network servers. (An image that must bind a port below 1024
        // as root will fail to start; give it a `port` of 1024 or more.)
        security_opt: Some(vec!["no-new-privileges:true".to_string()]),
        cap_drop: Some(vec!["ALL".to_string()]),
        // Resource limits from config; 0 means none. Swap is capped at the memory limit, so
        // the limit is the real ceiling rather than a hint.
        memory: limit(limits.memory_bytes),
        memory_swap: limit(limits.memory_bytes),
        nano_cpus: (limits.cpus > 0.0).then(|| (limits.cpus * 1e9).round() as i64),
        pids_limit: limit(u64::from(limits.pids)),
        // `unless-stopped`: Docker restarts a crashed server at once, with its own back-off,
        // keeping the container (and the logs that show why it crashed), and brings replicas
        // back after an engine restart even before the gateway is up. `docker kill`/`docker
        // stop` are not undone by Docker; the reconciler sees the exited container on its next
        // pass and replaces it, because the store, not the engine, says what should run.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    let mut labels = naming::labels(gateway_id, &spec.id, replica, &spec_hash, spec.port);
    if spec.stdio {
        labels.insert(naming::LABEL_STDIO.to_string(), "true".to_string());
    }
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // Exactly the spec's variables (plus the image's own ENV): a variable removed from the
        // spec is gone because a changed spec means a new container, never an update in place.
        env: Some(
            spec.env
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        ),
        exposed_ports: reach.map(|_| vec![port]),
        labels: Some(labels),
        // Kubernetes semantics: `command` replaces the entrypoint (and, alone, drops the
        // image's command too, as the engine does), `args` replaces the command.
        entrypoint: (!spec.command.is_empty()).then(|| spec.command.clone()),
        cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
        // A stdio server reads MCP on stdin: kept open for the life of the container (not
        // closed after the first attach ends, so the gateway can detach and attach again), no
        // TTY (it would mix stderr into stdout and rewrite line ends).
        open_stdin: spec.stdio.then_some(true),
        stdin_once: spec.stdio.then_some(false),
        attach_stdin: spec.stdio.then_some(true),
        attach_stdout: spec.stdio.then_some(true),
        attach_stderr: spec.stdio.then_some(true),
        tty: spec.stdio.then_some(false),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network_id.to_string(),
                EndpointSettings::default(),
            )])),
        }),
        ..Default::default()
    }
}

fn limit(value: u64) -> Option<i64> {
    (value > 0).then(|| i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{WorkloadId, WorkloadKind};

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            id: WorkloadId::new(WorkloadKind::Adapter, "demo"),
            image: "mcp-example:1.0.0".into(),
            env: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "two".into())]),
            replicas: 2,
            port: 8000,
            use_workload_identity: false,
            command: Vec::new(),
            args: Vec::new(),
            stdio: false,
        }
    }

    const LIMITS: Limits = Limits {
        memory_bytes: 512 * 1024 * 1024,
        cpus: 1.5,
        pids: 256,
    };

    #[test]
    fn hardened_options_published() {
        let body = container_body(&spec(), 1, "gw", "net-id", Reach::Published, LIMITS);
        assert_eq!(body.image.as_deref(), Some("mcp-example:1.0.0"));
        assert_eq!(body.env, Some(vec!["A=1".to_string(), "B=two".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["8000/tcp".to_string()]));
        let labels = body.labels.expect("labels");
        assert_eq!(labels[naming::LABEL_GATEWAY], "gw");
        assert_eq!(labels[naming::LABEL_REPLICA], "1");
        assert_eq!(labels[naming::LABEL_SPEC_HASH], spec().spec_hash());
        let host = body.host_config.expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("net-id"));
        assert_eq!(
            host.port_bindings.expect("published")["8000/tcp"],
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            }])
        );
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.privileged, None);
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.pids_limit, Some(256));
        assert_eq!(
            host.restart_policy.and_then(|p| p.name),
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert!(
            body.networking_config
                .and_then(|n| n.endpoints_config)
                .expect("endpoints")
                .contains_key("net-id")
        );
    }

    #[test]
    fn container_reach_publishes_nothing_and_zero_means_no_limit() {
        let none = Limits {
            memory_bytes: 0,
            cpus: 0.0,
            pids: 0,
        };
        let body = container_body(&spec(), 0, "gw", "net-id", Reach::Container, none);
        let host = body.host_config.expect("host config");
        assert_eq!(host.port_bindings, None);
        assert_eq!(host.memory, None);
        assert_eq!(host.memory_swap, None);
        assert_eq!(host.nano_cpus, None);
        assert_eq!(host.pids_limit, None);
        // Still hardened.
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
    }

    #[test]
    fn stdio_replicas_keep_stdin_open_and_publish_nothing() {
        let mut stdio = spec();
        stdio.stdio = true;
        stdio.command = vec!["/mcp-example".into()];
        stdio.args = vec!["--stdio".into()];
        let body = container_body(&stdio, 0, "gw", "n", Reach::Published, LIMITS);
        assert_eq!(body.open_stdin, Some(true));
        assert_eq!(body.stdin_once, Some(false));
        assert_eq!(body.tty, Some(false));
        assert_eq!(body.entrypoint, Some(vec!["/mcp-example".to_string()]));
        assert_eq!(body.cmd, Some(vec!["--stdio".to_string()]));
        assert_eq!(body.exposed_ports, None);
        assert_eq!(body.host_config.expect("host").port_bindings, None);
        assert_eq!(body.labels.expect("labels")[naming::LABEL_STDIO], "true");
        // An HTTP replica keeps the image's entrypoint and its stdin closed.
        let http = container_body(&spec(), 0, "gw", "n", Reach::Published, LIMITS);
        assert_eq!(
            (http.entrypoint, http.cmd, http.open_stdin),
            (None, None, None)
        );
    }

    #[test]
    fn a_removed_variable_is_not_in_the_new_body() {
        let mut changed = spec();
        changed.env.remove("B");
        let body = container_body(&changed, 0, "gw", "n", Reach::Published, LIMITS);
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_ne!(changed.spec_hash(), spec().spec_hash());
    }
}
