//! The router's tool table: every registered tool, ready to list and call.
//!
//! A table is an immutable snapshot built from the store's in-memory catalog and tagged with the
//! store's change counter. Rebuilding after a change reuses the entries of unchanged resources
//! (same `Arc<Resource>`), so each tool's argument validator is compiled once per definition, not
//! per call and not per rebuild. Listing, paging, permission filtering and the "did this
//! caller's visible set change" fingerprint are pure functions of a table and a caller.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonschema::Validator;
use rmcp::model::Tool;
use serde_json::Value;

use crate::domain::model::Resource;
use crate::domain::validate::schema;
use crate::infra::auth::{Caller, can_read};

/// One registered tool.
pub struct ToolEntry {
    /// The stored resource (permissions, `url`, `toolDefinition`).
    pub resource: Arc<Resource>,
    /// `toolDefinition.tool` as the MCP model type that `tools/list` returns.
    pub tool: Tool,
    /// The compiled `inputSchema`, or why it does not compile (only possible for tools stored
    /// before the API checked schemas; calls to them answer with that reason).
    pub validator: Arc<Result<Validator, String>>,
    /// Names one tool definition: a changed `toolDefinition.tool` gets a new one, so a caller's
    /// visible set can be fingerprinted by revisions alone.
    pub revision: u64,
}

impl ToolEntry {
    /// The entry for `resource`. When `previous` (the entry it replaces) has the same tool
    /// definition, its revision and validator are kept: a change that clients cannot see (say
    /// `replicaCount`) neither recompiles the schema nor notifies anyone.
    fn build(
        resource: Arc<Resource>,
        previous: Option<&ToolEntry>,
        revisions: &AtomicU64,
    ) -> Option<ToolEntry> {
        let definition = resource.spec.tool_definition.as_ref()?;
        let raw = Value::Object(definition.tool.clone());
        let tool = match serde_json::from_value::<Tool>(raw) {
            Ok(tool) => tool,
            Err(err) => {
                // The API checks name, description and schemas; an optional field of the wrong
                // shape (say `annotations`) should not hide the whole tool.
                tracing::warn!(tool = resource.name(), %err,
                    "toolDefinition.tool does not fit the MCP Tool type; listing its name, description and schemas only");
                minimal_tool(&definition.tool, resource.name())
            }
        };
        let (validator, revision) = match previous.filter(|previous| previous.tool == tool) {
            Some(previous) => (previous.validator.clone(), previous.revision),
            None => (
                Arc::new(schema::compile(&Value::Object(
                    (*tool.input_schema).clone(),
                ))),
                revisions.fetch_add(1, Ordering::Relaxed),
            ),
        };
        Some(ToolEntry {
            resource,
            tool,
            validator,
            revision,
        })
    }

    pub fn name(&self) -> &str {
        self.resource.name()
    }

    /// Whether the tool declares an `outputSchema` (then JSON object results are also returned
    /// as `structuredContent`).
    pub fn has_output_schema(&self) -> bool {
        self.tool.output_schema.is_some()
    }
}

fn minimal_tool(raw: &serde_json::Map<String, Value>, name: &str) -> Tool {
    let object = |key: &str| match raw.get(key) {
        Some(Value::Object(map)) => Some(Arc::new(map.clone())),
        _ => None,
    };
    let mut tool = Tool::default();
    tool.name = name.to_string().into();
    tool.description = raw
        .get("description")
        .and_then(Value::as_str)
        .map(|d| d.to_string().into());
    tool.input_schema = object("inputSchema").unwrap_or_default();
    tool.output_schema = object("outputSchema");
    tool
}

/// Why a `tools/list` cursor was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCursor;

/// An immutable snapshot of every registered tool, sorted by name.
#[derive(Default)]
pub struct ToolTable {
    /// The store change counter this table reflects.
    pub version: u64,
    entries: Vec<Arc<ToolEntry>>,
}

impl ToolTable {
    /// A table of `tools` (tool resources in name order, as the store lists them), reusing
    /// this table's entries for resources that did not change. Returns the table and whether
    /// its content differs from this one.
    pub fn rebuilt(
        &self,
        version: u64,
        tools: Vec<Arc<Resource>>,
        revisions: &AtomicU64,
    ) -> (ToolTable, bool) {
        let mut changed = tools.len() != self.entries.len();
        let mut entries = Vec::with_capacity(tools.len());
        for resource in tools {
            let previous = self.get(resource.name());
            match previous.filter(|old| Arc::ptr_eq(&old.resource, &resource)) {
                Some(same) => entries.push(same.clone()),
                None => {
                    changed = true;
                    let previous = previous.map(|entry| &**entry);
                    if let Some(entry) = ToolEntry::build(resource, previous, revisions) {
                        entries.push(Arc::new(entry));
                    }
                }
            }
        }
        // The store lists by name already; sorting again keeps `get` correct whatever it does.
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        (ToolTable { version, entries }, changed)
    }

    /// The tool named `name`, whoever may see it.
    pub fn get(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.entries
            .binary_search_by(|entry| entry.name().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The tool named `name` if `caller` may read it: a hidden tool is indistinguishable from
    /// an unknown one.
    pub fn visible(&self, caller: &Caller, name: &str) -> Option<&Arc<ToolEntry>> {
        self.get(name)
            .filter(|entry| can_read(caller, &entry.resource))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One page of the tools `caller` may read, after `cursor`, and the cursor of the next page
    /// when there is one. Cursors name the last tool returned, so tools added or removed
    /// between pages never make a listing repeat or skip the others.
    pub fn page(
        &self,
        caller: &Caller,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<(Vec<Tool>, Option<String>), BadCursor> {
        let start = match cursor {
            None => 0,
            Some(cursor) => {
                let after = decode_cursor(cursor).ok_or(BadCursor)?;
                self.entries
                    .partition_point(|entry| entry.name() <= after.as_str())
            }
        };
        let mut visible = self.entries[start..]
            .iter()
            .filter(|entry| can_read(caller, &entry.resource));
        let tools: Vec<Tool> = visible
            .by_ref()
            .take(page_size.max(1))
            .map(|entry| entry.tool.clone())
            .collect();
        let next = match (tools.last(), visible.next()) {
            (Some(last), Some(_)) => Some(encode_cursor(&last.name)),
            _ => None,
        };
        Ok((tools, next))
    }

    /// A fingerprint of what `caller` sees: changes exactly when a tool appears, disappears or
    /// is redefined for them (the trigger for `notifications/tools/list_changed`).
    pub fn fingerprint(&self, caller: &Caller) -> u64 {
        let mut hasher = DefaultHasher::new();
        for entry in self
            .entries
            .iter()
            .filter(|entry| can_read(caller, &entry.resource))
        {
            entry.revision.hash(&mut hasher);
        }
        hasher.finish()
    }
}

const CURSOR_PREFIX: &str = "after:";

fn encode_cursor(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{last}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let name = text.strip_prefix(CURSOR_PREFIX)?;
    crate::domain::validate::check_tool_name(name).ok()?;
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ResourceKind, ResourceSpec, Source, ToolDefinition};
    use serde_json::json;

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
        let (table, changed) = ToolTable::default().rebuilt(1, tools, &revisions);
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
        let (table, _) = ToolTable::default().rebuilt(
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
        let (hidden_change, changed) = table.rebuilt(
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
        let (visible_change, _) = hidden_change.rebuilt(
            3,
            vec![
                redescribed(&tool("mine", "bob", &[]), "now different"),
                hidden_change.get("secret").expect("s").resource.clone(),
                hidden_change.get("shared").expect("s").resource.clone(),
            ],
            &revisions,
        );
        assert_ne!(visible_change.fingerprint(&bob), before);
        let (same, changed) = visible_change.rebuilt(
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
        let (rescaled, changed) = same.rebuilt(
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
            &rescaled.get("mine").expect("mine").validator,
            &same.get("mine").expect("mine").validator
        ));
    }

    #[test]
    fn cursors_are_checked() {
        let revisions = AtomicU64::new(0);
        let (table, _) = ToolTable::default().rebuilt(
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
        let (table, _) = ToolTable::default().rebuilt(1, vec![tool("w", "x", &[])], &revisions);
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
        assert!(entry.validator.is_ok());
    }
}
