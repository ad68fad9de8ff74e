//! Names, labels and selectors of the objects the Kubernetes runtime creates.
//!
//! Per workload: a StatefulSet and a headless Service. Adapters keep the original's names
//! (`<name>`, `<name>-service`), so a team moving from microsoft/mcp-gateway finds its pods where
//! it expects them; tools are prefixed (`tool-<name>`, `tool-<name>-service`) because adapters
//! and tools share one namespace and may share a name. The original's labels `adapter/type`
//! (`mcp` | `tool`) and `adapter/name` stay, plus `app.kubernetes.io/managed-by` and the
//! gateway's id, so gateways sharing a namespace never adopt or delete each other's objects.
//!
//! Pure functions only: no API calls.

use std::collections::BTreeMap;

use crate::{WorkloadId, WorkloadKind};

/// The server-side-apply field manager: every field the gateway sets is owned by it.
pub const FIELD_MANAGER: &str = "mcp-gateway";
/// `mcp` (adapter) or `tool`: the original's label.
pub const LABEL_TYPE: &str = "adapter/type";
/// The resource name: the original's label.
pub const LABEL_NAME: &str = "adapter/name";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "mcp-gateway";
/// This gateway's id (kept in its SQLite store).
pub const LABEL_GATEWAY: &str = "mcp-gateway.dev/gateway";
/// [`crate::WorkloadSpec::spec_hash`], on the StatefulSet and its pod template.
pub const ANNOTATION_SPEC_HASH: &str = "mcp-gateway.dev/spec-hash";
/// Azure Workload Identity's opt-in label on the pod template.
pub const LABEL_WORKLOAD_IDENTITY: &str = "azure.workload.identity/use";
/// The one container of every pod.
pub const CONTAINER: &str = "server";
/// The name of the container port and of the Service port.
pub const PORT_NAME: &str = "mcp";

/// Longest StatefulSet name: the controller labels each pod `controller-revision-hash:
/// <name>-<hash>`, and a label value is at most 63 characters.
const MAX_STATEFULSET_NAME: usize = 52;

/// The label value of a kind (`mcp` for adapters, as in the original).
pub fn type_word(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Adapter => "mcp",
        WorkloadKind::Tool => "tool",
    }
}

fn kind_of(word: &str) -> Option<WorkloadKind> {
    match word {
        "mcp" => Some(WorkloadKind::Adapter),
        "tool" => Some(WorkloadKind::Tool),
        _ => None,
    }
}

/// The StatefulSet's name: `<name>` for adapters, `tool-<name>` for tools.
pub fn statefulset_name(id: &WorkloadId) -> String {
    match id.kind {
        WorkloadKind::Adapter => id.name.clone(),
        WorkloadKind::Tool => format!("tool-{}", id.name),
    }
}

/// The headless Service's name: `<statefulset>-service`.
pub fn service_name(id: &WorkloadId) -> String {
    format!("{}-service", statefulset_name(id))
}

/// The pod of replica `ordinal`: `<statefulset>-<ordinal>`.
pub fn pod_name(id: &WorkloadId, ordinal: u32) -> String {
    format!("{}-{ordinal}", statefulset_name(id))
}

/// The ordinal of a pod of StatefulSet `statefulset`, read from its name.
pub fn ordinal(statefulset: &str, pod: &str) -> Option<u32> {
    let digits = pod.strip_prefix(statefulset)?.strip_prefix('-')?;
    // `0`, `1`, `12`, never `01`: the controller writes plain decimals.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// Why Kubernetes cannot hold this workload's objects, in words, or `Ok`.
///
/// The gateway's name rule allows 63 characters and a leading digit; Kubernetes needs less
/// (see [`MAX_STATEFULSET_NAME`]) and a Service name must start with a letter.
pub fn check_names(id: &WorkloadId) -> Result<(), String> {
    let statefulset = statefulset_name(id);
    if statefulset.len() > MAX_STATEFULSET_NAME {
        let room = MAX_STATEFULSET_NAME - (statefulset.len() - id.name.len());
        return Err(format!(
            "{id}: the Kubernetes runtime names its StatefulSet \"{statefulset}\", longer than the \
             {MAX_STATEFULSET_NAME} characters Kubernetes allows there; use a name of at most \
             {room} characters"
        ));
    }
    if !statefulset.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "{id}: Kubernetes Service names must start with a letter, and this one would be \
             \"{}\"; rename the resource to start with a-z",
            service_name(id)
        ));
    }
    Ok(())
}

/// The labels that select a workload's pods (StatefulSet selector, Service selector).
///
/// Never changes for a workload: a StatefulSet's selector is immutable.
pub fn selector_labels(id: &WorkloadId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_TYPE.to_string(), type_word(id.kind).to_string()),
        (LABEL_NAME.to_string(), id.name.clone()),
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
    ])
}

/// The labels of every object (and pod) of a workload: the selector plus the gateway id.
pub fn labels(gateway_id: &str, id: &WorkloadId) -> BTreeMap<String, String> {
    let mut labels = selector_labels(id);
    labels.insert(LABEL_GATEWAY.to_string(), gateway_id.to_string());
    labels
}

/// The label selector of everything this gateway manages (for LIST and WATCH).
pub fn gateway_selector(gateway_id: &str) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_GATEWAY}={gateway_id}")
}

/// The workload an object belongs to, from its labels; `None` if they are not ours.
pub fn read_labels(labels: &BTreeMap<String, String>) -> Option<WorkloadId> {
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let kind = kind_of(labels.get(LABEL_TYPE)?)?;
    Some(WorkloadId::new(kind, labels.get(LABEL_NAME)?.clone()))
}

/// Whether an existing object with our name may be changed by this gateway: it must carry our
/// labels for this very workload. Otherwise, says whose it looks like.
pub fn check_owner(
    gateway_id: &str,
    id: &WorkloadId,
    what: &str,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<(), String> {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let owner = match read_labels(labels) {
        None => "it was not created by mcp-gateway".to_string(),
        Some(other) if &other != id => format!("it belongs to {other}"),
        Some(_) => match labels.get(LABEL_GATEWAY) {
            Some(gateway) if gateway == gateway_id => return Ok(()),
            Some(gateway) => format!("it belongs to another gateway (id {gateway})"),
            None => "it carries no gateway id".to_string(),
        },
    };
    Err(format!(
        "{id}: {what} already exists in namespace \"{namespace}\" and {owner}, so this gateway \
         leaves it alone; delete it (kubectl -n {namespace} delete {what}) or rename the resource"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str) -> WorkloadId {
        WorkloadId::new(WorkloadKind::Adapter, name)
    }

    #[test]
    fn names_follow_the_original_and_prefix_tools() {
        let tool = WorkloadId::new(WorkloadKind::Tool, "weather");
        assert_eq!(statefulset_name(&adapter("demo")), "demo");
        assert_eq!(service_name(&adapter("demo")), "demo-service");
        assert_eq!(pod_name(&adapter("demo"), 1), "demo-1");
        assert_eq!(statefulset_name(&tool), "tool-weather");
        assert_eq!(service_name(&tool), "tool-weather-service");
    }

    #[test]
    fn ordinals_come_from_pod_names() {
        assert_eq!(ordinal("demo", "demo-0"), Some(0));
        assert_eq!(ordinal("demo", "demo-12"), Some(12));
        assert_eq!(ordinal("demo", "demo-x"), None);
        assert_eq!(ordinal("demo", "demo-01"), None);
        assert_eq!(ordinal("demo", "demo-"), None);
        assert_eq!(ordinal("demo", "demox-1"), None);
        // `demo-two-0` is a pod of StatefulSet `demo-two`, not of `demo`.
        assert_eq!(ordinal("demo", "demo-two-0"), None);
    }

    #[test]
    fn names_kubernetes_cannot_hold_are_explained() {
        assert!(check_names(&adapter("demo")).is_ok());
        assert!(check_names(&adapter(&"a".repeat(52))).is_ok());
        let long = check_names(&adapter(&"a".repeat(53))).unwrap_err();
        assert!(long.contains("at most 52 characters"), "{long}");
        let tool = WorkloadId::new(WorkloadKind::Tool, "b".repeat(48));
        let long = check_names(&tool).unwrap_err();
        assert!(long.contains("at most 47 characters"), "{long}");
        let digit = check_names(&adapter("1demo")).unwrap_err();
        assert!(digit.contains("start with a letter"), "{digit}");
        // Tools are prefixed, so a leading digit is fine there.
        assert!(check_names(&WorkloadId::new(WorkloadKind::Tool, "1w")).is_ok());
    }

    #[test]
    fn labels_round_trip_and_ownership_is_checked() {
        let id = adapter("demo");
        let labels = labels("gw1", &id);
        assert_eq!(labels[LABEL_TYPE], "mcp");
        assert_eq!(labels[LABEL_NAME], "demo");
        assert_eq!(labels[LABEL_MANAGED_BY], "mcp-gateway");
        assert_eq!(labels[LABEL_GATEWAY], "gw1");
        assert_eq!(read_labels(&labels), Some(id.clone()));
        assert!(check_owner("gw1", &id, "statefulset/demo", "ns", Some(&labels)).is_ok());

        let other_gateway = check_owner("gw2", &id, "statefulset/demo", "ns", Some(&labels));
        assert!(
            other_gateway
                .unwrap_err()
                .contains("another gateway (id gw1)")
        );
        let foreign = check_owner("gw1", &id, "statefulset/demo", "ns", None).unwrap_err();
        assert!(foreign.contains("not created by mcp-gateway"), "{foreign}");
        let tool = WorkloadId::new(WorkloadKind::Tool, "demo");
        let clash = check_owner("gw1", &tool, "statefulset/demo", "ns", Some(&labels));
        assert!(clash.unwrap_err().contains("belongs to adapter demo"));
        assert_eq!(
            gateway_selector("gw1"),
            "app.kubernetes.io/managed-by=mcp-gateway,mcp-gateway.dev/gateway=gw1"
        );
    }
}
