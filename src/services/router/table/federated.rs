//! The federated part of a table: each listed adapter's tools (those its `federatedTools`
//! allows) and prompts under their exposed names ([`crate::domain::federation::exposed`]), with
//! descriptions that say where they come from. Registered tools keep their names: a federated
//! name that would take one is shortened instead.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Origin, PromptEntry, ToolEntry, ToolTable, Upstream, find};
use crate::domain::federation::exposed;
use crate::domain::model::Resource;
use crate::services::router::federation::Catalog;

/// The description a federated item is listed with.
fn described(adapter: &str, description: Option<&str>) -> String {
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(description) => format!("[adapter {adapter}] {description}"),
        None => format!("[adapter {adapter}]"),
    }
}

/// `entries` (the registered tools, sorted) with every federated tool added, and the
/// federated prompts; both sorted by name.
pub(super) fn add(
    old: &ToolTable,
    mut entries: Vec<Arc<ToolEntry>>,
    adapters: &[Arc<Resource>],
    catalog: &Catalog,
    revisions: &AtomicU64,
) -> (Vec<Arc<ToolEntry>>, Vec<Arc<PromptEntry>>) {
    let registered: HashSet<String> = entries.iter().map(|e| e.name().to_string()).collect();
    let mut taken = registered.clone();
    let mut prompts = Vec::new();
    let mut prompt_names = HashSet::new();
    for adapter in adapters.iter().filter(|a| a.spec.federates()) {
        let Some(listing) = catalog.adapters.get(adapter.name()) else {
            continue;
        };
        let name = adapter.name();
        let mut seen = HashSet::new();
        for tool in &listing.tools {
            if !adapter.spec.federates_tool(&tool.name) || !seen.insert(tool.name.as_ref()) {
                continue;
            }
            let exposed = exposed(name, &tool.name, |n| registered.contains(n));
            if !taken.insert(exposed.clone()) {
                tracing::warn!(adapter = name, tool = %tool.name, %exposed, "two federated tools got the same name; the second is left out");
                continue;
            }
            let mut listed = tool.clone();
            listed.name = exposed.clone().into();
            listed.description = Some(described(name, tool.description.as_deref()).into());
            let upstream = Upstream {
                adapter: name.to_string(),
                name: tool.name.to_string(),
                era: listing.era.clone(),
            };
            let previous = find(&old.entries, &exposed).filter(|previous| {
                previous.tool == listed
                    && matches!(&previous.origin, Origin::Federated(u) if *u == upstream)
            });
            let entry = match previous {
                Some(previous) if Arc::ptr_eq(&previous.resource, adapter) => previous.clone(),
                _ => Arc::new(ToolEntry {
                    resource: adapter.clone(),
                    tool: listed,
                    origin: Origin::Federated(upstream),
                    revision: previous
                        .map(|p| p.revision)
                        .unwrap_or_else(|| revisions.fetch_add(1, Ordering::Relaxed)),
                }),
            };
            entries.push(entry);
        }
        let mut seen = HashSet::new();
        for prompt in &listing.prompts {
            if !seen.insert(prompt.name.as_str()) {
                continue;
            }
            let exposed = exposed(name, &prompt.name, |_| false);
            if !prompt_names.insert(exposed.clone()) {
                continue;
            }
            let mut listed = prompt.clone();
            listed.name = exposed.clone();
            listed.description = Some(described(name, prompt.description.as_deref()));
            let upstream = Upstream {
                adapter: name.to_string(),
                name: prompt.name.clone(),
                era: listing.era.clone(),
            };
            let previous = find(&old.prompts, &exposed)
                .filter(|previous| previous.prompt == listed && previous.upstream == upstream);
            let entry = match previous {
                Some(previous) if Arc::ptr_eq(&previous.resource, adapter) => previous.clone(),
                _ => Arc::new(PromptEntry {
                    resource: adapter.clone(),
                    prompt: listed,
                    upstream,
                    revision: previous
                        .map(|p| p.revision)
                        .unwrap_or_else(|| revisions.fetch_add(1, Ordering::Relaxed)),
                }),
            };
            prompts.push(entry);
        }
    }
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    prompts.sort_by(|a, b| a.prompt.name.cmp(&b.prompt.name));
    (entries, prompts)
}
