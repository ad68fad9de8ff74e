//! Least privilege, checked against behaviour: what the Role in deploy/rbac.yaml grants, and what
//! the gateway's Kubernetes runtime really asked of the API server (the requests the kube-double
//! recorded), both as the API server's authorizer sees them: (API group, resource, verb).
//!
//! A request maps to permissions as Kubernetes' request-info resolver does: GET of an object is
//! `get`, of a collection `list` (or `watch` with `watch=true`), PATCH `patch` (plus `create`
//! when a server-side apply created the object: answered 201), DELETE `delete`; a subresource is
//! `resource/sub` (`pods/log`). A WebSocket upgrade of `pods/attach`, `pods/exec` or
//! `pods/portforward` (a GET) is `get` and, since Kubernetes 1.35
//! (`AuthorizePodWebsocketUpgradeCreatePermission`), also `create`. Discovery (`/version`, `/api`, `/apis`, group versions) is open
//! to every authenticated client by Kubernetes' default roles and needs no rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kube_double::{KubeDouble, RecordedRequest};
use serde_json::Value;

use super::cluster::TEST_CLIENT_AGENT;

/// (API group, resource, verb); the core group is `""`.
pub type Permission = (String, String, String);

fn permission(group: &str, resource: &str, verb: &str) -> Permission {
    (group.to_string(), resource.to_string(), verb.to_string())
}

/// Every permission the Role in deploy/rbac.yaml grants (and that it is the only grant: no
/// ClusterRole).
pub fn role_grants() -> BTreeSet<Permission> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/rbac.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("rbac.yaml is YAML");
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding"),
        "deploy/rbac.yaml grants something cluster-wide"
    );
    let roles: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Role").collect();
    assert_eq!(roles.len(), 1, "one Role in deploy/rbac.yaml");
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    };
    let mut grants = BTreeSet::new();
    for rule in roles[0]["rules"].as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert_ne!(verb, "*", "a wildcard verb is not least privilege");
                    grants.insert(permission(&group, &resource, &verb));
                }
            }
        }
    }
    grants
}

/// What only stdio workloads need (attaching to a replica's stdin and stdout): granted by the
/// Role, used by `tests/kubernetes_stdio.rs`, never by a workload serving on a port.
pub fn stdio_only() -> BTreeSet<Permission> {
    ["get", "create"]
        .into_iter()
        .map(|verb| permission("", "pods/attach", verb))
        .collect()
}

/// What `request` needs from RBAC; `Err` for a request no Role in `namespace` can grant.
pub fn needs(request: &RecordedRequest, namespace: &str) -> Result<Vec<Permission>, String> {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["version"] | ["api"] | ["apis"] | ["api", _] | ["apis", _, _] => return Ok(Vec::new()),
        ["api", _, rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => return Err("not a Kubernetes API path".into()),
    };
    let (ns, object) = match rest {
        ["namespaces", ns, object @ ..] if !object.is_empty() => (*ns, object),
        _ => return Err("a cluster-wide request: a namespaced Role cannot grant it".into()),
    };
    if ns != namespace {
        return Err(format!("outside the gateway's namespace {namespace:?}"));
    }
    let (resource, item) = match object {
        [plural] => (plural.to_string(), false),
        [plural, _name] => (plural.to_string(), true),
        [plural, _name, sub] => (format!("{plural}/{sub}"), true),
        _ => return Err("an unknown resource path".into()),
    };
    let watch = request
        .query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let streaming = ["pods/attach", "pods/exec", "pods/portforward"].contains(&resource.as_str());
    let verbs: &[&str] = match (request.method.as_str(), item) {
        ("GET", true) if streaming => &["get", "create"],
        ("GET", true) => &["get"],
        ("GET", false) if watch => &["watch"],
        ("GET", false) => &["list"],
        ("POST", false) => &["create"],
        ("PUT", true) => &["update"],
        ("PATCH", true) if request.status == 201 => &["patch", "create"],
        ("PATCH", true) => &["patch"],
        ("DELETE", true) => &["delete"],
        ("DELETE", false) => &["deletecollection"],
        _ => return Err("a method the authorizer has no verb for".into()),
    };
    Ok(verbs
        .iter()
        .map(|verb| permission(group, &resource, verb))
        .collect())
}

/// Every permission the gateway's requests to `double` needed, each with one request that
/// needed it; panics naming a request no Role in `namespace` can grant. The tests' own client
/// (an operator's kubectl, in effect) is left out.
pub fn runtime_needs(double: &KubeDouble, namespace: &str) -> BTreeMap<Permission, String> {
    let mut used = BTreeMap::new();
    for request in double.requests() {
        if request.user_agent == TEST_CLIENT_AGENT {
            continue;
        }
        let example = format!("{} {}?{}", request.method, request.path, request.query);
        match needs(&request, namespace) {
            Ok(permissions) => {
                for permission in permissions {
                    used.entry(permission).or_insert_with(|| example.clone());
                }
            }
            Err(why) => panic!("the runtime sent {example}: {why}"),
        }
    }
    used
}

/// Panics unless the Role grants every permission the runtime used with `double`: a new call in
/// the runtime without a rule fails here. Returns what was used.
pub fn assert_role_allows_the_runtime(
    double: &KubeDouble,
    namespace: &str,
) -> BTreeSet<Permission> {
    let grants = role_grants();
    let used = runtime_needs(double, namespace);
    let missing: Vec<String> = used
        .iter()
        .filter(|(permission, _)| !grants.contains(*permission))
        .map(|(p, example)| format!("{p:?} (for {example})"))
        .collect();
    assert!(
        missing.is_empty(),
        "the runtime needs permissions deploy/rbac.yaml's Role does not grant; add rules for: {missing:#?}"
    );
    used.into_keys().collect()
}
