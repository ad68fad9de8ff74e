//! The table's unit tests.
use super::*;
use crate::domain::model::{ResourceKind, ResourceSpec, Source, ToolDefinition};
use serde_json::json;

impl ToolTable {
    /// A rebuild from registered tools alone (no adapters federated).
    fn rebuilt_tools(
        &self,
        version: u64,
        tools: Vec<Arc<Resource>>,
        revisions: &AtomicU64,
    ) -> (ToolTable, bool) {
        let catalog = Catalog::default();
        let sources = Sources {
            version,
            tools,
            adapters: Vec::new(),
            catalog: &catalog,
        };
        self.rebuilt(sources, revisions)
    }
}

fn validator(entry: &ToolEntry) -> &Arc<Result<Validator, String>> {
    match &entry.origin {
        Origin::Registered { validator } => validator,
        Origin::Federated(_) => panic!("{} is not a registered tool", entry.name()),
    }
}

pub(crate) fn tool(name: &str, created_by: &str, roles: &[&str]) -> Arc<Resource> {
    let definition = json!({"name": name, "description": format!("tool {name}"),
        "inputSchema": {"type": "object", "required": ["x"],
                        "properties": {"x": {"type": "string"}}}});
    Arc::new(Resource {
        kind: ResourceKind::Tool,
        spec: ResourceSpec {
            required_roles: roles.iter().map(|r| r.to_string()).collect(),
            tool_definition: Some(ToolDefinition {
                tool: definition.as_object().cloned().unwrap_or_default(),
                port: 8000,
                path: "/score".into(),
            }),
            ..ResourceSpec::remote(name, "http://127.0.0.1:9/score")
        },
        created_by: created_by.into(),
        created_at: String::new(),
        last_updated_at: String::new(),
        source: Source::Api,
        metrics: crate::domain::counters::ResourceMetrics::new(ResourceKind::Tool),
    })
}

/// `resource` with another tool description: a redefinition clients can see.
fn redescribed(resource: &Arc<Resource>, description: &str) -> Arc<Resource> {
    let mut resource = (**resource).clone();
    if let Some(definition) = resource.spec.tool_definition.as_mut() {
        definition
            .tool
            .insert("description".into(), Value::String(description.into()));
    }
    Arc::new(resource)
}

fn caller(user: &str, roles: &[&str], admin: bool) -> Caller {
    Caller {
        user_id: user.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        is_admin: admin,
    }
}

fn names(tools: &[Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[test]
fn pages_cover_every_visible_tool_once() {
    let revisions = AtomicU64::new(0);
    let tools: Vec<_> = (0..25)
        .map(|i| tool(&format!("t{i:03}"), "alice", &[]))
        .collect();
    let (table, changed) = ToolTable::default().rebuilt_tools(1, tools, &revisions);
    assert!(changed);
    let admin = caller("root", &[], true);
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (page, next) = table
            .page(&admin, cursor.as_deref(), 10)
            .expect("valid cursor");
        pages += 1;
        seen.extend(names(&page));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    seen.dedup();
    assert_eq!(seen.len(), 25);
    // An exact multiple of the page size ends without an empty extra page.
    let (page, next) = table.page(&admin, None, 25).expect("page");
    assert_eq!((page.len(), next), (25, None));
}

#[test]
fn permissions_filter_lists_lookups_and_fingerprints() {
    let revisions = AtomicU64::new(0);
    let (table, _) = ToolTable::default().rebuilt_tools(
        1,
        vec![
            tool("mine", "bob", &[]),
            tool("secret", "alice", &[]),
            tool("shared", "alice", &["team"]),
        ],
        &revisions,
    );
    let bob = caller("bob", &["team"], false);
    let (page, _) = table.page(&bob, None, 100).expect("page");
    assert_eq!(names(&page), vec!["mine", "shared"]);
    assert!(table.visible(&bob, "secret").is_none());
    assert!(table.visible(&bob, "nope").is_none());
    assert!(table.visible(&bob, "shared").is_some());

    // Changing a tool bob cannot see leaves his fingerprint alone; one he sees changes it.
    let before = table.fingerprint(&bob);
    let (hidden_change, changed) = table.rebuilt_tools(
        2,
        vec![
            table.get("mine").expect("mine").resource.clone(),
            tool("secret", "alice", &[]),
            table.get("shared").expect("shared").resource.clone(),
        ],
        &revisions,
    );
    assert!(changed);
    assert_eq!(hidden_change.fingerprint(&bob), before);
    assert!(Arc::ptr_eq(
        hidden_change.get("mine").expect("mine"),
        table.get("mine").expect("mine")
    ));
    let (visible_change, _) = hidden_change.rebuilt_tools(
        3,
        vec![
            redescribed(&tool("mine", "bob", &[]), "now different"),
            hidden_change.get("secret").expect("s").resource.clone(),
            hidden_change.get("shared").expect("s").resource.clone(),
        ],
        &revisions,
    );
    assert_ne!(visible_change.fingerprint(&bob), before);
    let (same, changed) = visible_change.rebuilt_tools(
        4,
        visible_change
            .entries
            .iter()
            .map(|e| e.resource.clone())
            .collect(),
        &revisions,
    );
    assert!(!changed);
    assert_eq!(same.version, 4);

    // A new resource with the same tool definition (say, another replicaCount) is a new
    // entry with the old revision and validator: nobody is notified, nothing recompiled.
    let mut scaled = (*same.get("mine").expect("mine").resource).clone();
    scaled.spec.replica_count = 3;
    let (rescaled, changed) = same.rebuilt_tools(
        5,
        vec![
            Arc::new(scaled),
            same.get("secret").expect("s").resource.clone(),
            same.get("shared").expect("s").resource.clone(),
        ],
        &revisions,
    );
    assert!(changed);
    assert_eq!(rescaled.fingerprint(&bob), same.fingerprint(&bob));
    assert!(Arc::ptr_eq(
        validator(rescaled.get("mine").expect("mine")),
        validator(same.get("mine").expect("mine"))
    ));
}

#[test]
fn cursors_are_checked() {
    let revisions = AtomicU64::new(0);
    let (table, _) = ToolTable::default().rebuilt_tools(
        1,
        vec![tool("a", "x", &[]), tool("b", "x", &[])],
        &revisions,
    );
    let admin = caller("root", &[], true);
    for bad in [
        "",
        "!!!",
        &URL_SAFE_NO_PAD.encode("before:a"),
        &URL_SAFE_NO_PAD.encode("after:a b"),
    ] {
        assert_eq!(
            table.page(&admin, Some(bad), 1).err(),
            Some(BadCursor),
            "{bad}"
        );
    }
    let (first, next) = table.page(&admin, None, 1).expect("page");
    assert_eq!(names(&first), vec!["a"]);
    let (second, next) = table.page(&admin, next.as_deref(), 1).expect("page");
    assert_eq!((names(&second), next), (vec!["b".to_string()], None));
    // A cursor naming a tool deleted since still continues after it.
    let (rest, _) = table
        .page(&admin, Some(&encode_cursor("a0")), 10)
        .expect("page");
    assert_eq!(names(&rest), vec!["b"]);
}

#[test]
fn listed_tools_are_the_registered_definitions() {
    let revisions = AtomicU64::new(0);
    let (table, _) = ToolTable::default().rebuilt_tools(1, vec![tool("w", "x", &[])], &revisions);
    let entry = table.get("w").expect("w");
    let listed = serde_json::to_value(&entry.tool).expect("serialises");
    let registered = Value::Object(
        entry
            .resource
            .spec
            .tool_definition
            .as_ref()
            .expect("definition")
            .tool
            .clone(),
    );
    assert_eq!(listed, registered);
    assert!(validator(entry).is_ok());
}
