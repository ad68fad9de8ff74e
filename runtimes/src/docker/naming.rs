//! Container names and labels: how a container says which gateway, workload, replica and spec it
//! belongs to, so the runtime can find it again after a restart.
//!
//! Everything here is pure. Every query the runtime makes filters by the gateway label, so
//! gateways sharing one engine (several test gateways at once, say) never see, adopt or remove
//! each other's containers.

use std::collections::HashMap;

use crate::{WorkloadId, WorkloadKind};

/// Prefix of every label this runtime writes (reverse DNS, as Docker recommends).
pub const LABEL_PREFIX: &str = "dev.mcp-gateway.";
/// `mcp-gateway` on everything we create, for people filtering `docker ps`.
pub const LABEL_MANAGED_BY: &str = "dev.mcp-gateway.managed-by";
/// The id of the gateway that owns the container (kept in its SQLite store).
pub const LABEL_GATEWAY: &str = "dev.mcp-gateway.gateway";
/// `adapter` or `tool`.
pub const LABEL_KIND: &str = "dev.mcp-gateway.kind";
/// The resource name.
pub const LABEL_NAME: &str = "dev.mcp-gateway.name";
/// The replica index, from 0.
pub const LABEL_REPLICA: &str = "dev.mcp-gateway.replica";
/// [`crate::WorkloadSpec::spec_hash`] of the spec the container was created from.
pub const LABEL_SPEC_HASH: &str = "dev.mcp-gateway.spec-hash";
/// The server's port inside the container, so an address can be read from a summary alone.
pub const LABEL_PORT: &str = "dev.mcp-gateway.port";
/// Present (`true`) on replicas of stdio servers: reached by attach, ready when running.
pub const LABEL_STDIO: &str = "dev.mcp-gateway.stdio";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "mcp-gateway";

/// The container name of one replica: `mcpgw-<kind>-<name>-<replica>-<suffix>`.
///
/// The suffix is a hash of the gateway id and the spec hash, so two gateways on one engine never
/// pick the same name, and during a rolling replace the new container (new spec) and the old one
/// can exist side by side. Within one gateway and spec the name is fixed, which makes the engine
/// itself refuse a duplicate replica.
pub fn container_name(gateway_id: &str, id: &WorkloadId, replica: u32, spec_hash: &str) -> String {
    format!(
        "mcpgw-{}-{}-{replica}-{}",
        id.kind,
        id.name,
        name_suffix(gateway_id, spec_hash)
    )
}

/// Eight hex digits of FNV-1a over the gateway id and the spec hash.
fn name_suffix(gateway_id: &str, spec_hash: &str) -> String {
    let hash = gateway_id
        .bytes()
        .chain([0])
        .chain(spec_hash.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{:08x}", hash >> 32)
}

/// The labels of one replica container.
pub fn labels(
    gateway_id: &str,
    id: &WorkloadId,
    replica: u32,
    spec_hash: &str,
    port: u16,
) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_GATEWAY.to_string(), gateway_id.to_string()),
        (LABEL_KIND.to_string(), id.kind.as_str().to_string()),
        (LABEL_NAME.to_string(), id.name.clone()),
        (LABEL_REPLICA.to_string(), replica.to_string()),
        (LABEL_SPEC_HASH.to_string(), spec_hash.to_string()),
        (LABEL_PORT.to_string(), port.to_string()),
    ])
}

/// The engine-side filter for every container of this gateway.
pub fn gateway_filter(gateway_id: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_GATEWAY}={gateway_id}")],
    )])
}

/// The engine-side filter for the containers of one workload of this gateway (label filters
/// are ANDed by the engine).
pub fn workload_filter(gateway_id: &str, id: &WorkloadId) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_GATEWAY}={gateway_id}"),
            format!("{LABEL_KIND}={}", id.kind),
            format!("{LABEL_NAME}={}", id.name),
        ],
    )])
}

/// The workload and replica a container's labels name, if they are ours and intact.
///
/// `None` for the workload means the labels are not ours (or garbled); a `None` replica means
/// the container belongs to the workload but its replica label is unreadable, so the runtime
/// removes it rather than guess.
pub fn read_labels(labels: &HashMap<String, String>) -> Option<(WorkloadId, Option<u32>, String)> {
    let kind = WorkloadKind::parse(labels.get(LABEL_KIND)?)?;
    let name = labels.get(LABEL_NAME)?;
    let replica = labels.get(LABEL_REPLICA).and_then(|r| r.parse().ok());
    let hash = labels.get(LABEL_SPEC_HASH).cloned().unwrap_or_default();
    Some((WorkloadId::new(kind, name.clone()), replica, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> WorkloadId {
        WorkloadId::new(WorkloadKind::Adapter, "demo")
    }

    #[test]
    fn names_are_readable_and_unique_per_gateway_and_spec() {
        let name = container_name("0123456789abcdef", &demo(), 1, "2744e79ebc80e7b1");
        assert!(name.starts_with("mcpgw-adapter-demo-1-"), "{name}");
        assert_eq!(name.len(), "mcpgw-adapter-demo-1-".len() + 8);
        // Pinned: a gateway restarted with a newer build must find the same names.
        assert_eq!(name, "mcpgw-adapter-demo-1-debaefe2");
        assert_ne!(
            name,
            container_name("fedcba9876543210", &demo(), 1, "2744e79ebc80e7b1"),
            "another gateway, another name"
        );
        assert_ne!(
            name,
            container_name("0123456789abcdef", &demo(), 1, "0000000000000000"),
            "another spec, another name (old and new coexist during a rolling replace)"
        );
        let tool = container_name("g", &WorkloadId::new(WorkloadKind::Tool, "weather"), 0, "h");
        assert!(tool.starts_with("mcpgw-tool-weather-0-"), "{tool}");
    }

    #[test]
    fn labels_round_trip() {
        let labels = labels("gw1", &demo(), 3, "abc", 8000);
        assert_eq!(labels[LABEL_MANAGED_BY], "mcp-gateway");
        assert_eq!(labels[LABEL_GATEWAY], "gw1");
        assert_eq!(labels[LABEL_PORT], "8000");
        assert!(labels.keys().all(|k| k.starts_with(LABEL_PREFIX)));
        assert_eq!(
            read_labels(&labels),
            Some((demo(), Some(3), "abc".to_string()))
        );
    }

    #[test]
    fn foreign_or_garbled_labels() {
        assert_eq!(read_labels(&HashMap::new()), None);
        let mut garbled = labels("gw1", &demo(), 0, "abc", 8000);
        garbled.insert(LABEL_REPLICA.into(), "x".into());
        assert_eq!(read_labels(&garbled), Some((demo(), None, "abc".into())));
        garbled.insert(LABEL_KIND.into(), "pod".into());
        assert_eq!(read_labels(&garbled), None);
    }

    #[test]
    fn filters_select_gateway_then_workload() {
        assert_eq!(
            gateway_filter("gw1")["label"],
            vec!["dev.mcp-gateway.gateway=gw1"]
        );
        assert_eq!(
            workload_filter("gw1", &demo())["label"],
            vec![
                "dev.mcp-gateway.gateway=gw1",
                "dev.mcp-gateway.kind=adapter",
                "dev.mcp-gateway.name=demo"
            ]
        );
    }
}
