//! The router's table: every registered tool, and every federated adapter tool and prompt,
//! ready to list and call.
//!
//! A table is an immutable snapshot built from the store's in-memory catalog and the
//! federation's [`Catalog`], tagged with both versions. Rebuilding after a change reuses the
//! entries of unchanged definitions (same revision, same compiled validator), so each
//! registered tool's argument validator is compiled once per definition, not per call and not
//! per rebuild. Listing, paging, permission filtering and the "did this caller's visible set
//! change" fingerprints are pure functions of a table and a caller.

mod federated;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonschema::Validator;
use rmcp::model::{Prompt, Tool};
use serde_json::Value;

use super::federation::Catalog;
use super::federation::wire::Era;
use crate::domain::model::Resource;
use crate::domain::validate::schema;
use crate::infra::auth::{Caller, can_read};

/// Where a federated tool or prompt really is.
#[derive(Clone, Debug, PartialEq)]
pub struct Upstream {
    pub adapter: String,
    /// Its name on the adapter.
    pub name: String,
    /// How the adapter speaks, as its last listing found.
    pub era: Era,
}

/// What calling a tool means.
pub enum Origin {
    /// A registered tool: its compiled `inputSchema`, or why it does not compile (only
    /// possible for tools stored before the API checked schemas; calls then answer that).
    Registered {
        validator: Arc<Result<Validator, String>>,
    },
    /// An adapter's tool: the adapter checks the arguments itself.
    Federated(Upstream),
}

/// One tool on `/mcp`.
pub struct ToolEntry {
    /// Who may see it: the registered tool's resource, or the adapter's.
    pub resource: Arc<Resource>,
    /// The MCP Tool `tools/list` returns (a federated one under its exposed name).
    pub tool: Tool,
    pub origin: Origin,
    /// Names one definition: a changed tool gets a new one, so a caller's visible set can be
    /// fingerprinted by revisions alone.
    pub revision: u64,
}

impl ToolEntry {
    /// The entry for registered `resource`. When `previous` (the entry it replaces) has the
    /// same tool definition, its revision and validator are kept: a change that clients cannot
    /// see (say `replicaCount`) neither recompiles the schema nor notifies anyone.
    fn registered(
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
        let kept = previous
            .filter(|previous| previous.tool == tool)
            .and_then(|previous| match &previous.origin {
                Origin::Registered { validator } => Some((validator.clone(), previous.revision)),
                Origin::Federated(_) => None,
            });
        let (validator, revision) = kept.unwrap_or_else(|| {
            (
                Arc::new(schema::compile(&Value::Object(
                    (*tool.input_schema).clone(),
                ))),
                revisions.fetch_add(1, Ordering::Relaxed),
            )
        });
        Some(ToolEntry {
            resource,
            tool,
            origin: Origin::Registered { validator },
            revision,
        })
    }

    /// Its name on `/mcp`.
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// Whether the tool declares an `outputSchema` (then JSON object results are also returned
    /// as `structuredContent`).
    pub fn has_output_schema(&self) -> bool {
        self.tool.output_schema.is_some()
    }
}

/// One federated prompt on `/mcp`.
pub struct PromptEntry {
    /// The adapter's resource (who may see it).
    pub resource: Arc<Resource>,
    /// The MCP Prompt `prompts/list` returns, under its exposed name.
    pub prompt: Prompt,
    pub upstream: Upstream,
    pub revision: u64,
}

/// What listing, paging and fingerprints need of an entry.
trait Listed {
    fn name(&self) -> &str;
    fn resource(&self) -> &Resource;
    fn revision(&self) -> u64;
}

impl Listed for Arc<ToolEntry> {
    fn name(&self) -> &str {
        ToolEntry::name(self)
    }
    fn resource(&self) -> &Resource {
        &self.resource
    }
    fn revision(&self) -> u64 {
        self.revision
    }
}

impl Listed for Arc<PromptEntry> {
    fn name(&self) -> &str {
        &self.prompt.name
    }
    fn resource(&self) -> &Resource {
        &self.resource
    }
    fn revision(&self) -> u64 {
        self.revision
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

/// Why a list cursor was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCursor;

/// An immutable snapshot of every tool and prompt on `/mcp`, each sorted by name.
#[derive(Default)]
pub struct ToolTable {
    /// The store change counter this table reflects.
    pub version: u64,
    /// The federation catalog version this table reflects.
    pub catalog: u64,
    entries: Vec<Arc<ToolEntry>>,
    prompts: Vec<Arc<PromptEntry>>,
}

/// What a table is built from.
pub struct Sources<'a> {
    /// The store's change counter.
    pub version: u64,
    /// Tool resources, in name order (as the store lists them).
    pub tools: Vec<Arc<Resource>>,
    /// Adapter resources (their permissions and `federatedTools` apply to their listings).
    pub adapters: Vec<Arc<Resource>>,
    pub catalog: &'a Catalog,
}

impl ToolTable {
    /// A table of `sources`, reusing this table's entries where nothing changed. Returns the
    /// table and whether its content differs from this one.
    pub fn rebuilt(&self, sources: Sources<'_>, revisions: &AtomicU64) -> (ToolTable, bool) {
        let mut entries = Vec::with_capacity(sources.tools.len());
        for resource in sources.tools {
            let previous = self.get(resource.name());
            match previous.filter(|old| Arc::ptr_eq(&old.resource, &resource)) {
                Some(same) => entries.push(same.clone()),
                None => {
                    let previous = previous.map(|entry| &**entry);
                    if let Some(entry) = ToolEntry::registered(resource, previous, revisions) {
                        entries.push(Arc::new(entry));
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        let (entries, prompts) =
            federated::add(self, entries, &sources.adapters, sources.catalog, revisions);
        let changed = differ(&self.entries, &entries) || differ(&self.prompts, &prompts);
        let table = ToolTable {
            version: sources.version,
            catalog: sources.catalog.version,
            entries,
            prompts,
        };
        (table, changed)
    }

    /// The tool named `name`, whoever may see it.
    pub fn get(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        find(&self.entries, name)
    }

    /// The tool named `name` if `caller` may read it: a hidden tool is indistinguishable from
    /// an unknown one.
    pub fn visible(&self, caller: &Caller, name: &str) -> Option<&Arc<ToolEntry>> {
        self.get(name)
            .filter(|entry| can_read(caller, &entry.resource))
    }

    /// The prompt named `name` if `caller` may read it.
    pub fn visible_prompt(&self, caller: &Caller, name: &str) -> Option<&Arc<PromptEntry>> {
        find(&self.prompts, name).filter(|entry| can_read(caller, &entry.resource))
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
        let (entries, next) = page_of(&self.entries, caller, cursor, page_size)?;
        Ok((entries.map(|e| e.tool.clone()).collect(), next))
    }

    /// [`ToolTable::page`] for prompts.
    pub fn prompt_page(
        &self,
        caller: &Caller,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<(Vec<Prompt>, Option<String>), BadCursor> {
        let (entries, next) = page_of(&self.prompts, caller, cursor, page_size)?;
        Ok((entries.map(|e| e.prompt.clone()).collect(), next))
    }

    /// A fingerprint of the tools `caller` sees: changes exactly when one appears, disappears
    /// or is redefined for them (the trigger for `notifications/tools/list_changed`).
    pub fn fingerprint(&self, caller: &Caller) -> u64 {
        fingerprint_of(&self.entries, caller)
    }

    /// [`ToolTable::fingerprint`] for prompts.
    pub fn prompt_fingerprint(&self, caller: &Caller) -> u64 {
        fingerprint_of(&self.prompts, caller)
    }
}

fn find<'t, T: Listed>(items: &'t [T], name: &str) -> Option<&'t T> {
    items
        .binary_search_by(|item| item.name().cmp(name))
        .ok()
        .map(|i| &items[i])
}

/// Whether two sorted entry lists differ in what anyone can see or who can see it.
fn differ<T: Listed>(old: &[T], new: &[T]) -> bool {
    old.len() != new.len()
        || old.iter().zip(new).any(|(a, b)| {
            a.name() != b.name()
                || a.revision() != b.revision()
                || !std::ptr::eq(a.resource(), b.resource())
        })
}

type Page<'t, T> = (std::iter::Take<std::vec::IntoIter<&'t T>>, Option<String>);

fn page_of<'t, T: Listed>(
    items: &'t [T],
    caller: &Caller,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<Page<'t, T>, BadCursor> {
    let start = match cursor {
        None => 0,
        Some(cursor) => {
            let after = decode_cursor(cursor).ok_or(BadCursor)?;
            items.partition_point(|item| item.name() <= after.as_str())
        }
    };
    let size = page_size.max(1);
    let visible: Vec<&T> = items[start..]
        .iter()
        .filter(|item| can_read(caller, item.resource()))
        .take(size + 1)
        .collect();
    let next = match visible.len() > size {
        true => Some(encode_cursor(visible[size - 1].name())),
        false => None,
    };
    Ok((visible.into_iter().take(size), next))
}

fn fingerprint_of<T: Listed>(items: &[T], caller: &Caller) -> u64 {
    let mut hasher = DefaultHasher::new();
    for item in items
        .iter()
        .filter(|item| can_read(caller, item.resource()))
    {
        item.revision().hash(&mut hasher);
        item.name().hash(&mut hasher);
    }
    hasher.finish()
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
mod tests;
