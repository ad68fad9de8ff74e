//! Tool argument schemas: compiling a tool's `inputSchema` once, and turning validation failures
//! into words that name the failing field.
//!
//! Compilation never resolves `$ref`s over the network or the file system (the `jsonschema`
//! crate is built without those features), so registering a tool cannot make the gateway fetch
//! anything; a schema that needs an external document is refused when the tool is registered.
//! [`crate::domain::validate`] uses [`compile`] so that a schema accepted by the API always compiles here.

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

/// How many schema violations one tool error lists; the rest are counted.
const MAX_LISTED: usize = 5;

/// Compiles `schema` (draft from its `$schema`, 2020-12 when absent). The error says why it is
/// not a usable JSON Schema.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .build(schema)
        .map_err(|err| format!("is not a valid JSON Schema: {err}"))
}

/// Checks `arguments` against `validator`; the error lists each failing field
/// (`location: is required`, `unit: "kelvin" is not one of ...`).
pub fn check(validator: &Validator, arguments: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut total = 0usize;
    for error in validator.iter_errors(arguments) {
        total += 1;
        if problems.len() < MAX_LISTED {
            problems.push(describe(&error));
        }
    }
    if total == 0 {
        return Ok(());
    }
    let mut text = problems.join("; ");
    if total > problems.len() {
        text.push_str(&format!(" (and {} more)", total - problems.len()));
    }
    Err(text)
}

/// One violation as `field: problem`. A missing required property is reported under its own
/// name (the validator reports it at the parent object, which would name nothing useful).
fn describe(error: &ValidationError<'_>) -> String {
    let parent = field_name(error.instance_path().as_str());
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            format!("{}: is required", join(&parent, &property))
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|p| join(&parent, p)).collect();
            format!(
                "{}: {} not allowed by the schema",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" }
            )
        }
        _ => {
            let field = if parent.is_empty() {
                "arguments".to_string()
            } else {
                parent
            };
            format!("{field}: {error}")
        }
    }
}

/// A JSON Pointer (`/items/0/name`) as a field path (`items[0].name`).
fn field_name(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

fn join(parent: &str, property: &str) -> String {
    if parent.is_empty() {
        property.to_string()
    } else {
        format!("{parent}.{property}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather() -> Validator {
        compile(&json!({
            "type": "object",
            "required": ["location"],
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]},
                "days": {"type": "array", "items": {"type": "object",
                          "properties": {"n": {"type": "integer"}}}}
            },
            "additionalProperties": false
        }))
        .expect("compiles")
    }

    #[test]
    fn failures_name_the_field() {
        let v = weather();
        assert_eq!(check(&v, &json!({"location": "Seattle"})), Ok(()));
        assert_eq!(check(&v, &json!({})).unwrap_err(), "location: is required");
        let unit = check(&v, &json!({"location": "x", "unit": "kelvin"})).unwrap_err();
        assert!(unit.starts_with("unit: "), "{unit}");
        let nested = check(&v, &json!({"location": "x", "days": [{"n": "one"}]})).unwrap_err();
        assert!(nested.starts_with("days[0].n: "), "{nested}");
        let extra = check(&v, &json!({"location": "x", "colour": 1})).unwrap_err();
        assert_eq!(extra, "colour: is not allowed by the schema");
    }

    #[test]
    fn bad_schemas_and_external_references_do_not_compile() {
        assert!(compile(&json!({"type": "object", "properties": {"a": {"type": 5}}})).is_err());
        let remote = compile(&json!({"type": "object",
            "properties": {"a": {"$ref": "https://example.com/schema.json"}}}));
        assert!(remote.is_err(), "an external $ref must not be fetched");
        let file = compile(&json!({"$ref": "file:///etc/passwd"}));
        assert!(file.is_err());
    }

    #[test]
    fn pointers_become_paths() {
        assert_eq!(field_name(""), "");
        assert_eq!(field_name("/a/0/b"), "a[0].b");
        assert_eq!(field_name("/a~1b/c~0d"), "a/b.c~d");
    }
}
