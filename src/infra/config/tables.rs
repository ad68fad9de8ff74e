//! `[[adapters]]`/`[[tools]]` tables in the API's JSON shape, and where a key stands in the file
//! (so an invalid field's error names its line).

use serde_json::{Map, Value};

use crate::domain::model::ResourceKind;

/// Converts a `[[adapters]]`/`[[tools]]` table to the API's JSON shape, accepting snake_case keys
/// at the levels the API defines (`toolDefinition` and `stdio` too; not inside
/// `environmentVariables` or the MCP tool object).
pub(super) fn resource_json(kind: ResourceKind, table: &toml::Table) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in table {
        let key = snake_to_camel(key);
        let mut value = toml_to_json(value);
        if (kind == ResourceKind::Tool && key == "toolDefinition" || key == "stdio")
            && let Value::Object(def) = value
        {
            value = Value::Object(
                def.into_iter()
                    .map(|(k, v)| (snake_to_camel(&k), v))
                    .collect(),
            );
        }
        out.insert(key, value);
    }
    out
}

pub(super) fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a field of a resource table is set, looking for the key (camelCase or
/// snake_case, last path segment) inside the table's span.
pub(super) fn key_line(text: &str, span: std::ops::Range<usize>, field: &str) -> Option<usize> {
    let segment = field
        .split(['.', '['])
        .find(|s| !s.is_empty())
        .unwrap_or(field);
    let candidates = [segment.to_string(), camel_to_snake(segment)];
    let start = span.start.min(text.len());
    let end = span.end.min(text.len());
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let trimmed = line.trim_start();
        for candidate in &candidates {
            if let Some(rest) = trimmed.strip_prefix(candidate.as_str()) {
                let rest = rest.trim_start();
                if rest.starts_with('=') || rest.starts_with('.') {
                    return Some(line_of(text, offset));
                }
            }
        }
        offset += line.len();
    }
    None
}

/// The text of one `[[adapters]]`/`[[tools]]` entry: from its header to the next header that is
/// not one of its own sub-tables (toml spans cover only the header line).
pub(super) fn resource_extent(
    text: &str,
    start: usize,
    kind: ResourceKind,
) -> std::ops::Range<usize> {
    let own_subtable = format!("[{}.", kind.collection());
    let mut offset = start;
    let mut lines = text[start..].split_inclusive('\n');
    if let Some(header) = lines.next() {
        offset += header.len();
    }
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !trimmed.starts_with(&own_subtable) {
            break;
        }
        offset += line.len();
    }
    start..offset
}

/// The first line that sets `key` outside the resources' tables (for top-level settings: an
/// environment variable or a schema property of the same name in `[[adapters]]`/`[[tools]]` is
/// not the setting).
pub(super) fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    let mut in_resource = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let header: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
            in_resource = ["[[adapters]]", "[[tools]]", "[adapters.", "[tools."]
                .iter()
                .any(|resource| header.starts_with(resource));
        } else if !in_resource && let Some(found) = key_line(text, offset..offset + line.len(), key)
        {
            return Some(found);
        }
        offset += line.len();
    }
    None
}
