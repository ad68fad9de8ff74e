//! An adapter's federation fields: whether `/mcp` lists its tools and prompts (`federate`,
//! default true) and which of its tools (`federatedTools`, name globs; empty: all). Tools have
//! neither: a registered tool is on `/mcp` under its own name already.

use serde_json::{Map, Value, json};

use super::{FieldError, Fields};
use crate::domain::model::ResourceKind;

/// The fields this module reads.
pub(super) const FIELDS: [&str; 2] = ["federate", "federatedTools"];
/// Most globs in `federatedTools`.
pub const MAX_FEDERATED_TOOLS: usize = 100;
/// Longest glob, in bytes (upstream tool names are at most 128 characters by the MCP rule).
pub const MAX_GLOB_LEN: usize = 128;
/// A glob: visible ASCII, no space. `*` matches any run of characters, `?` any one.
pub const GLOB_PATTERN: &str = "^[!-~]{1,128}$";

/// `federate` and `federatedTools` of `body`, problems added to `errors`.
pub(super) fn parse(
    kind: ResourceKind,
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> (Option<bool>, Vec<String>) {
    let mut f = Fields {
        obj: body,
        prefix: "",
        errors,
    };
    let federate = f.boolean("federate");
    let globs = f.string_list("federatedTools");
    if kind == ResourceKind::Tool {
        for field in FIELDS {
            if f.get(field).is_some() {
                f.fail(
                    field,
                    "adapters only: a registered tool is on /mcp under its own name",
                );
            }
        }
        return (None, Vec::new());
    }
    let globs = globs.unwrap_or_default();
    if globs.len() > MAX_FEDERATED_TOOLS {
        f.fail(
            "federatedTools",
            format!("at most {MAX_FEDERATED_TOOLS} globs"),
        );
    }
    for (i, glob) in globs.iter().enumerate() {
        if let Err(rule) = check_glob(glob) {
            f.fail(&format!("federatedTools[{i}]"), rule);
        }
    }
    (Some(federate.unwrap_or(true)), globs)
}

fn check_glob(glob: &str) -> Result<(), String> {
    let ok = !glob.is_empty()
        && glob.len() <= MAX_GLOB_LEN
        && glob.bytes().all(|b| (b'!'..=b'~').contains(&b));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "must be 1 to {MAX_GLOB_LEN} visible ASCII characters without spaces (a tool name, \
             `*` for any run of characters, `?` for one)"
        )),
    }
}

/// The members of the body schema for `kind`.
pub(super) fn schema_properties(kind: ResourceKind, properties: &mut Map<String, Value>) {
    match kind {
        ResourceKind::Adapter => {
            properties.insert(
                "federate".into(),
                json!({
                    "type": ["boolean", "null"],
                    "default": true,
                    "description": "Whether the tool router (/mcp) lists this adapter's tools \
                        and prompts, as `{adapter}_{name}`, to callers who may read the adapter."
                }),
            );
            properties.insert(
                "federatedTools".into(),
                json!({
                    "type": ["array", "null"],
                    "maxItems": MAX_FEDERATED_TOOLS,
                    "items": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_GLOB_LEN,
                        "pattern": GLOB_PATTERN,
                        "description": "An upstream tool name, or a glob: `*` matches any run of \
                            characters, `?` one."
                    },
                    "default": [],
                    "description": "Only the upstream tools matching one of these are federated; \
                        empty: all of them. Prompts are not filtered."
                }),
            );
        }
        ResourceKind::Tool => {
            for field in FIELDS {
                properties.insert(
                    field.into(),
                    json!({
                        "type": "null",
                        "description": "Adapters only: a registered tool is on /mcp under its own name."
                    }),
                );
            }
        }
    }
}
