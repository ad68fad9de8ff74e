//! What the engine says about our containers, turned into [`ReplicaContainer`]s, state words
//! and addresses; and the readiness probe.
//!
//! Everything comes from one `GET /containers/json` per question (labels, state, published
//! ports and network addresses are all in the summary), so status, endpoints and every reconcile
//! pass cost one engine call plus a TCP probe per running replica.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bollard::models::{ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum};
use tokio::net::TcpStream;

use super::Reach;
use super::naming;
use crate::WorkloadId;

/// How long a probe waits for the TCP handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a probe on a published port watches the new connection for an immediate close.
///
/// Docker's port forwarder (`docker-proxy` on Linux, the VM forwarder on Docker Desktop)
/// accepts on the host port even while nothing listens in the container, then closes the
/// connection within about a millisecond. A live server keeps it open, waiting for a request.
const LINGER: Duration = Duration::from_millis(50);

/// One of our containers as the engine reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub workload: WorkloadId,
    /// `None` when the replica label is unreadable (the container is then removed).
    pub replica: Option<u32>,
    pub spec_hash: String,
    pub image: String,
    pub state: ContainerSummaryStateEnum,
    /// Docker's own words, e.g. `Exited (1) 3 seconds ago`.
    pub status_text: String,
    /// Creation time, seconds since the epoch (newest wins among duplicates).
    pub created: i64,
    /// Where the gateway reaches the server, once the container runs.
    pub address: Option<SocketAddr>,
    /// A stdio server: reached by attach, so ready whenever it runs.
    pub stdio: bool,
}

impl ReplicaContainer {
    /// Reads a summary from `GET /containers/json`; `None` if it lacks an id or our labels.
    pub fn from_summary(
        summary: &ContainerSummary,
        reach: Reach,
        network_id: &str,
    ) -> Option<ReplicaContainer> {
        let (workload, replica, spec_hash) = naming::read_labels(summary.labels.as_ref()?)?;
        let port = summary
            .labels
            .as_ref()
            .and_then(|labels| labels.get(naming::LABEL_PORT))
            .and_then(|port| port.parse::<u16>().ok());
        Some(ReplicaContainer {
            id: summary.id.clone()?,
            name: summary
                .names
                .as_ref()
                .and_then(|names| names.first())
                .map(|name| name.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            workload,
            replica,
            spec_hash,
            image: summary.image.clone().unwrap_or_default(),
            state: summary.state.unwrap_or(ContainerSummaryStateEnum::EMPTY),
            status_text: summary.status.clone().unwrap_or_default(),
            created: summary.created.unwrap_or_default(),
            address: port.and_then(|port| address(summary, reach, network_id, port)),
            stdio: summary
                .labels
                .as_ref()
                .is_some_and(|labels| labels.contains_key(naming::LABEL_STDIO)),
        })
    }

    /// Running, restarting or paused: it has (or will have again) a process, so it is not
    /// replaced. Docker restarts crashed processes itself (restart policy `unless-stopped`).
    pub fn is_alive(&self) -> bool {
        matches!(
            self.state,
            ContainerSummaryStateEnum::RUNNING
                | ContainerSummaryStateEnum::RESTARTING
                | ContainerSummaryStateEnum::PAUSED
        )
    }

    pub fn is_running(&self) -> bool {
        self.state == ContainerSummaryStateEnum::RUNNING
    }

    /// The base URL the gateway uses, e.g. `http://127.0.0.1:49153`.
    /// A stdio replica's is `stdio://<container name>` (the gateway attaches to it).
    pub fn base_url(&self) -> Option<String> {
        if self.stdio {
            return Some(format!("stdio://{}", self.name));
        }
        self.address.map(|addr| format!("http://{addr}"))
    }

    /// Whether the replica accepts connections now (a stdio replica: whether it runs).
    pub async fn probe(&self, reach: Reach) -> bool {
        if self.stdio {
            return self.is_running();
        }
        match self.address {
            Some(addr) if self.is_running() => probe(addr, reach).await,
            _ => false,
        }
    }
}

/// Where a container's server is reached: its published loopback port, or its address on our
/// network.
fn address(
    summary: &ContainerSummary,
    reach: Reach,
    network_id: &str,
    port: u16,
) -> Option<SocketAddr> {
    match reach {
        Reach::Published => summary
            .ports
            .as_ref()?
            .iter()
            .filter(|p| p.private_port == port)
            .find_map(|p| {
                let public = p.public_port?;
                Some(SocketAddr::new(host_ip(p.ip.as_deref()), public))
            }),
        Reach::Container => summary
            .network_settings
            .as_ref()?
            .networks
            .as_ref()?
            .values()
            .filter(|endpoint| endpoint.network_id.as_deref() == Some(network_id))
            .find_map(|endpoint| endpoint.ip_address.as_deref()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, port)),
    }
}

/// The host address of a published port. Ports are bound to 127.0.0.1; an unspecified or
/// missing IP still answers on loopback.
fn host_ip(reported: Option<&str>) -> IpAddr {
    reported
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The same address as [`ReplicaContainer::address`], read from `GET /containers/{id}/json`.
pub fn inspected_address(
    inspect: &ContainerInspectResponse,
    reach: Reach,
    network_id: &str,
    port: u16,
) -> Option<SocketAddr> {
    let settings = inspect.network_settings.as_ref()?;
    match reach {
        Reach::Published => settings
            .ports
            .as_ref()?
            .get(&format!("{port}/tcp"))?
            .as_ref()?
            .iter()
            .find_map(|binding| {
                let public = binding.host_port.as_deref()?.parse::<u16>().ok()?;
                Some(SocketAddr::new(host_ip(binding.host_ip.as_deref()), public))
            }),
        Reach::Container => settings
            .networks
            .as_ref()?
            .values()
            .filter(|endpoint| endpoint.network_id.as_deref() == Some(network_id))
            .find_map(|endpoint| endpoint.ip_address.as_deref()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, port)),
    }
}

/// True when a server accepts connections at `addr` (see [`LINGER`] for published ports).
pub async fn probe(addr: SocketAddr, reach: Reach) -> bool {
    let Ok(Ok(stream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
    else {
        return false;
    };
    if reach == Reach::Container {
        // Straight to the container: a completed handshake means the server listens.
        return true;
    }
    match tokio::time::timeout(LINGER, stream.readable()).await {
        // Still open and silent: a server waiting for a request.
        Err(_) => true,
        Ok(Ok(())) => {
            let mut byte = [0u8; 1];
            match stream.try_read(&mut byte) {
                // Closed at once: the forwarder found nothing listening behind it.
                Ok(0) => false,
                // The server spoke first, or the wake-up was spurious: it is there.
                Ok(_) => true,
                Err(err) => err.kind() == std::io::ErrorKind::WouldBlock,
            }
        }
        Ok(Err(_)) => false,
    }
}

/// The state of a replica in words for status pages.
pub fn state_words(container: &ReplicaContainer, ready: bool) -> String {
    use ContainerSummaryStateEnum as S;
    match container.state {
        S::RUNNING if ready => "running".into(),
        S::RUNNING => "starting".into(),
        S::RESTARTING => "restarting (the process exited; Docker restarts it)".into(),
        S::EXITED => match exit_code(&container.status_text) {
            Some(code) => format!("exited (code {code})"),
            None => "exited".into(),
        },
        S::CREATED => "created (not started)".into(),
        S::PAUSED => "paused".into(),
        S::REMOVING => "being removed".into(),
        S::DEAD => "dead (the engine could not stop or remove it cleanly)".into(),
        S::STOPPING => "stopping".into(),
        S::EMPTY => "unknown".into(),
    }
}

/// The exit code in Docker's status text: `Exited (137) 2 seconds ago` gives 137.
pub fn exit_code(status_text: &str) -> Option<i64> {
    let rest = status_text.strip_prefix("Exited (")?;
    rest.split(')').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{ContainerSummaryNetworkSettings, EndpointSettings, PortSummary};

    use super::*;
    use crate::WorkloadKind;

    fn summary(state: ContainerSummaryStateEnum) -> ContainerSummary {
        let labels = naming::labels(
            "gw",
            &WorkloadId::new(WorkloadKind::Adapter, "demo"),
            1,
            "hash",
            8000,
        );
        ContainerSummary {
            id: Some("abc".into()),
            names: Some(vec!["/mcpgw-adapter-demo-1-x".into()]),
            image: Some("mcp-example:1.0.0".into()),
            labels: Some(labels),
            state: Some(state),
            status: Some("Up 2 seconds".into()),
            created: Some(100),
            ports: Some(vec![
                PortSummary {
                    ip: Some("127.0.0.1".into()),
                    private_port: 8000,
                    public_port: Some(49153),
                    typ: None,
                },
                PortSummary {
                    ip: None,
                    private_port: 9999,
                    public_port: None,
                    typ: None,
                },
            ]),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(HashMap::from([
                    (
                        "other".to_string(),
                        EndpointSettings {
                            network_id: Some("n0".into()),
                            ip_address: Some("10.0.0.9".into()),
                            ..Default::default()
                        },
                    ),
                    (
                        "mcp-gateway".to_string(),
                        EndpointSettings {
                            network_id: Some("n1".into()),
                            ip_address: Some("172.18.0.5".into()),
                            ..Default::default()
                        },
                    ),
                ])),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reads_a_summary_in_both_reach_modes() {
        let running = summary(ContainerSummaryStateEnum::RUNNING);
        let published =
            ReplicaContainer::from_summary(&running, Reach::Published, "n1").expect("ours");
        assert_eq!(published.name, "mcpgw-adapter-demo-1-x");
        assert_eq!(published.replica, Some(1));
        assert_eq!(published.spec_hash, "hash");
        assert_eq!(
            published.base_url().as_deref(),
            Some("http://127.0.0.1:49153")
        );
        assert!(published.is_alive());
        let container =
            ReplicaContainer::from_summary(&running, Reach::Container, "n1").expect("ours");
        assert_eq!(
            container.base_url().as_deref(),
            Some("http://172.18.0.5:8000"),
            "the address on our network, not another one"
        );
        let mut foreign = running.clone();
        foreign.labels = Some(HashMap::new());
        assert_eq!(
            ReplicaContainer::from_summary(&foreign, Reach::Published, "n1"),
            None
        );
    }

    #[test]
    fn state_words_say_what_happened() {
        let mut exited = summary(ContainerSummaryStateEnum::EXITED);
        exited.status = Some("Exited (137) 2 seconds ago".into());
        exited.ports = None;
        let exited = ReplicaContainer::from_summary(&exited, Reach::Published, "n1").expect("ours");
        assert!(!exited.is_alive());
        assert_eq!(exited.address, None);
        assert_eq!(state_words(&exited, false), "exited (code 137)");
        let running = ReplicaContainer::from_summary(
            &summary(ContainerSummaryStateEnum::RUNNING),
            Reach::Published,
            "n1",
        )
        .expect("ours");
        assert_eq!(state_words(&running, true), "running");
        assert_eq!(state_words(&running, false), "starting");
        assert_eq!(exit_code("Exited (0) 1 minute ago"), Some(0));
        assert_eq!(exit_code("Up 3 seconds"), None);
    }

    #[tokio::test]
    async fn probe_tells_a_listener_from_a_closing_forwarder() {
        // A live server: accepts and stays silent.
        let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let live_addr = live.local_addr().expect("addr");
        assert!(probe(live_addr, Reach::Published).await);
        assert!(probe(live_addr, Reach::Container).await);

        // A forwarder with nothing behind it: accepts, then closes at once.
        let forwarder = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let forwarder_addr = forwarder.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = forwarder.accept().await {
                drop(stream);
            }
        });
        assert!(!probe(forwarder_addr, Reach::Published).await);

        // Nothing at all.
        drop(live);
        assert!(!probe(live_addr, Reach::Published).await);
    }
}
