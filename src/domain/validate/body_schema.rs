//! The JSON Schema (2020-12) of an adapter or tool body, as [`super::parse_spec`] reads it.
//!
//! Every rule that JSON Schema can state is stated exactly: types, patterns, lengths, ranges,
//! defaults, unknown fields, `imageName` xor `url` (with what a `url` resource may not have), and
//! what `runtime.kind = "none"` refuses. Four rules cannot be, and are said in words where they
//! apply: lengths in bytes of UTF-8 (`description`, `requiredRoles`; JSON Schema counts
//! characters), an `inputSchema` that must compile, a member that must equal another (`name` in a
//! PUT body and `toolDefinition.tool.name`; the schema leaves those members out), and a PUT that
//! must keep `useWorkloadIdentity` as it was. `/openapi.json` serves these schemas, and
//! `tests.rs` checks them against `parse_spec` on a corpus of bodies, valid and invalid.

use serde_json::{Map, Value, json};

use super::rules::{
    ENV_NAME_PATTERN, ENV_VALUE_PATTERN, IMAGE_NAME_PATTERN, IMAGE_VERSION_PATTERN,
    MAX_IMAGE_NAME_LEN, MAX_IMAGE_VERSION_LEN, MAX_PATH_LEN, MAX_ROLE_BYTES, MAX_URL_LEN,
    NAME_PATTERN, PATH_PATTERN, ROLE_PATTERN, URL_PATTERN,
};
use super::{Context, MAX_DESCRIPTION_BYTES, MAX_REPLICAS, SERVER_SET};
use crate::domain::model::{
    DEFAULT_ADAPTER_PATH, DEFAULT_IMAGE_VERSION, DEFAULT_PORT, DEFAULT_TOOL_PATH, ResourceKind,
};

/// Which request the body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /{adapters,tools}`: `name` required.
    Create,
    /// `PUT /{adapters,tools}/{name}`: the name comes from the path.
    Update,
}

/// The schema of a body for `kind` and `purpose`, on a gateway that does (or, with
/// `runtime.kind = "none"`, does not) deploy images.
pub fn body_schema(kind: ResourceKind, purpose: Purpose, ctx: Context) -> Value {
    let noun = kind.as_str();
    let mut properties = Map::new();
    let mut required = Vec::new();
    match purpose {
        Purpose::Create => {
            required.push("name");
            properties.insert("name".into(), name_schema());
        }
        Purpose::Update => {
            properties.insert(
                "name".into(),
                json!({
                    "not": {},
                    "description": "The name is the path's {name}. A body may repeat it (a GET \
                        answer sent back): it must then equal the path's name, a comparison JSON \
                        Schema cannot state, so this schema leaves the member out."
                }),
            );
        }
    }
    properties.insert(
        "imageName".into(),
        if ctx.deploys_images {
            json!({
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_IMAGE_NAME_LEN,
                "pattern": IMAGE_NAME_PATTERN,
                "description": "The image the gateway deploys (`team/server`, \
                    `registry.example.com:5000/x`): a Docker repository name, no scheme, no tag \
                    (that is imageVersion). Exactly one of imageName and url."
            })
        } else {
            json!({
                "type": "null",
                "description": "This gateway runs with runtime.kind = \"none\" and deploys no \
                    images: give a url instead."
            })
        },
    );
    properties.insert(
        "imageVersion".into(),
        json!({
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": MAX_IMAGE_VERSION_LEN,
            "pattern": IMAGE_VERSION_PATTERN,
            "description": "A Docker tag, or a digest `sha256:<64 lowercase hex>`; only with \
                imageName (default `latest`)."
        }),
    );
    properties.insert(
        "url".into(),
        json!({
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": MAX_URL_LEN,
            "pattern": URL_PATTERN,
            "description": "A remote server the gateway proxies to instead of deploying an image: \
                http(s), a host name, IPv4 or [IPv6] address, an optional port from 1 to 65535, \
                then an optional path and query; no credentials, no fragment. Exactly one of \
                imageName and url. With a url, the container settings (imageVersion, port, path, \
                environmentVariables, replicaCount other than 1, useWorkloadIdentity) are refused."
        }),
    );
    match kind {
        ResourceKind::Adapter => {
            properties.insert(
                "port".into(),
                json!({
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": 65535,
                    "description": format!("The MCP server's port inside its container (default {DEFAULT_PORT}); image-based adapters only.")
                }),
            );
            properties.insert(
                "path".into(),
                json!({
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": MAX_PATH_LEN,
                    "pattern": PATH_PATTERN,
                    "description": format!("The MCP endpoint's path inside the container (default `{DEFAULT_ADAPTER_PATH}`): `A-Za-z0-9/-._~`, no `.` or `..` segment; image-based adapters only.")
                }),
            );
        }
        ResourceKind::Tool => {
            for field in ["port", "path"] {
                properties.insert(
                    field.into(),
                    json!({
                        "type": "null",
                        "description": format!("Tools give their {field} in toolDefinition.{field} (a url tool in its url).")
                    }),
                );
            }
        }
    }
    properties.insert(
        "environmentVariables".into(),
        json!({
            "type": ["object", "null"],
            "propertyNames": {"pattern": ENV_NAME_PATTERN},
            "additionalProperties": {"type": "string", "pattern": ENV_VALUE_PATTERN},
            "default": {},
            "description": "Environment of the container: names `^[A-Za-z_][A-Za-z0-9_]*$`, \
                values strings without NUL. Image-based resources only."
        }),
    );
    properties.insert(
        "replicaCount".into(),
        json!({
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": MAX_REPLICAS,
            "default": 1,
            "description": format!("Replicas to run, 0 to {MAX_REPLICAS} (a url resource: 1).")
        }),
    );
    properties.insert(
        "description".into(),
        json!({
            "type": ["string", "null"],
            "maxLength": MAX_DESCRIPTION_BYTES,
            "default": "",
            "description": format!("At most {MAX_DESCRIPTION_BYTES} bytes of UTF-8. JSON Schema counts characters, so maxLength states the limit exactly for ASCII text only.")
        }),
    );
    properties.insert(
        "useWorkloadIdentity".into(),
        json!({
            "type": ["boolean", "null"],
            "default": false,
            "description": "Run the workload under the platform identity; needs the admin role \
                (403 otherwise), image-based resources only. It cannot change after create: a PUT \
                that changes it is refused (the stored value is not something JSON Schema can \
                compare with)."
        }),
    );
    properties.insert(
        "requiredRoles".into(),
        json!({
            "type": ["array", "null"],
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_ROLE_BYTES,
                "pattern": ROLE_PATTERN,
                "description": format!("A role: no comma, white space or control character; at most {MAX_ROLE_BYTES} bytes of UTF-8 (maxLength counts characters, exact for ASCII).")
            },
            "default": [],
            "description": format!("Roles that may read and use the {noun} besides its creator and admins.")
        }),
    );
    super::federation::schema_properties(kind, &mut properties);
    for field in SERVER_SET {
        properties.insert(
            (*field).into(),
            json!({
                "description": "Set by the server; ignored when sent, so a GET answer can be sent back as is."
            }),
        );
    }
    if kind == ResourceKind::Tool {
        required.push("toolDefinition");
        properties.insert("toolDefinition".into(), tool_definition_schema());
    }
    super::process::schema_properties(kind, &mut properties);

    let mut schema = json!({
        "type": "object",
        "description": match purpose {
            Purpose::Create => format!("A new {noun}. Unknown members are refused; null means absent."),
            Purpose::Update => format!("The {noun}'s new definition, replacing the old one (createdBy and createdAt are kept). Unknown members are refused; null means absent."),
        },
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    });
    let rules = super::process::schema_rules(kind);
    if !rules.is_empty() {
        schema["allOf"] = Value::Array(rules);
    }
    if ctx.deploys_images {
        schema["oneOf"] = json!([image_variant(kind), url_variant(kind)]);
    } else {
        // Only the url variant is left: written into the members themselves, which reads
        // better than a one-branch combinator (and generators handle it better too).
        overlay(&mut schema, url_variant(kind));
    }
    schema
}

/// Writes `narrower` over `schema`: its `required` joins, its `properties` merge member by member
/// (recursively), and any other keyword of it replaces the one in `schema`. Right where every
/// keyword of `narrower` is at least as strict as the one it replaces, as in the variants here.
fn overlay(schema: &mut Value, narrower: Value) {
    let (Some(target), Value::Object(narrower)) = (schema.as_object_mut(), narrower) else {
        return;
    };
    for (key, value) in narrower {
        match (key.as_str(), target.get_mut(&key)) {
            ("required", Some(Value::Array(required))) => {
                for name in value.as_array().into_iter().flatten() {
                    if !required.contains(name) {
                        required.push(name.clone());
                    }
                }
            }
            ("properties", Some(Value::Object(properties))) => {
                let Value::Object(narrower) = value else {
                    continue;
                };
                for (name, member) in narrower {
                    match properties.get_mut(&name) {
                        Some(existing) => overlay(existing, member),
                        None => {
                            properties.insert(name, member);
                        }
                    }
                }
            }
            ("title" | "description", _) => {}
            _ => {
                target.insert(key, value);
            }
        }
    }
}

fn name_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": NAME_PATTERN,
        "description": "A DNS label: 1 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit."
    })
}

/// An image-based resource: `imageName` given, no `url`; container settings and their defaults.
fn image_variant(kind: ResourceKind) -> Value {
    let mut properties = json!({
        "imageName": {"type": "string"},
        "url": {"type": "null"},
        "imageVersion": {"default": DEFAULT_IMAGE_VERSION},
    });
    match kind {
        ResourceKind::Adapter => {
            properties["port"] = json!({"default": DEFAULT_PORT});
            properties["path"] = json!({"default": DEFAULT_ADAPTER_PATH});
        }
        ResourceKind::Tool => {
            properties["toolDefinition"] = json!({"properties": {
                "port": {"default": DEFAULT_PORT},
                "path": {"default": DEFAULT_TOOL_PATH},
            }});
        }
    }
    json!({
        "title": "image",
        "description": "Deployed by the gateway from imageName.",
        "required": ["imageName"],
        "properties": properties,
    })
}

/// A remote (`url`) resource: no image, nothing that only a container has.
fn url_variant(kind: ResourceKind) -> Value {
    let mut properties = json!({
        "url": {"type": "string"},
        "imageName": {"type": "null"},
        "imageVersion": {"type": "null"},
        "port": {"type": "null"},
        "path": {"type": "null"},
        "environmentVariables": {"maxProperties": 0},
        "replicaCount": {"minimum": 1, "maximum": 1},
        "useWorkloadIdentity": {"enum": [false, null]},
    });
    super::process::url_variant_properties(&mut properties);
    if kind == ResourceKind::Tool {
        properties["toolDefinition"] = json!({"properties": {
            "port": {"type": "null"},
            "path": {"type": "null"},
        }});
    }
    json!({
        "title": "url",
        "description": "A remote server the gateway only proxies to.",
        "required": ["url"],
        "properties": properties,
    })
}

fn tool_definition_schema() -> Value {
    let mut keywords = schema_keywords();
    keywords.insert("type".into(), json!({"const": "object"}));
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["tool"],
        "description": "What the tool router serves, and where it sends calls.",
        "properties": {
            "tool": {
                "type": "object",
                "required": ["inputSchema"],
                "description": "The MCP Tool the router lists. Members other than these (title, \
                    annotations, ...) are kept as given.",
                "properties": {
                    "name": {
                        "not": {},
                        "description": "The tool's name is the resource's name, filled in when \
                            left out. Sent, it must equal the resource name: a comparison JSON \
                            Schema cannot state, so this schema leaves the member out."
                    },
                    "description": {"type": "string"},
                    "inputSchema": {
                        "type": "object",
                        "required": ["type"],
                        "properties": keywords,
                        "description": "A JSON Schema (2020-12) of the arguments, with \
                            \"type\": \"object\". It must compile, as the router compiles it: \
                            the keywords here carry the values the draft allows; what JSON Schema \
                            cannot state about a schema is said in the members left out, and \
                            subschemas are not described again.",
                    },
                    "outputSchema": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"const": "object"}},
                        "description": "A JSON Schema of the structured result, with \
                            \"type\": \"object\" (kept as given: the router does not compile it).",
                    },
                },
            },
            "port": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 65535,
                "description": format!("The tool server's port inside its container (default {DEFAULT_PORT}); image-based tools only."),
            },
            "path": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_PATH_LEN,
                "pattern": PATH_PATTERN,
                "description": format!("The path the router POSTs the arguments to (default `{DEFAULT_TOOL_PATH}`); image-based tools only."),
            },
        },
    })
}

/// The keywords of a JSON Schema (2020-12), each with the value the draft's meta-schema allows;
/// other members are free (unknown keywords are annotations). Subschemas are objects or booleans,
/// not described again: a description that refers to itself makes generators (Schemathesis
/// among them) explode. What cannot be stated is left out, and the gateway may still accept it:
/// identifiers and references (`$id`, `$ref`, `$schema`, ...: whether they resolve), `pattern`
/// and `patternProperties` (whether a string is a regular expression the engine reads).
fn schema_keywords() -> Map<String, Value> {
    let schema = json!({"type": ["object", "boolean"]});
    let schemas = json!({"type": "array", "minItems": 1, "items": schema});
    let schema_map = json!({"type": "object", "additionalProperties": schema});
    let count = json!({"type": "integer", "minimum": 0});
    let names = json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true});
    let number = json!({"type": "number"});
    let text = json!({"type": "string"});
    let flag = json!({"type": "boolean"});
    let types = json!([
        "array", "boolean", "integer", "null", "number", "object", "string"
    ]);
    let left_out = json!({
        "not": {},
        "description": "Left out: whether it resolves (or, for patterns, whether the regular \
            expression engine reads it) is beyond JSON Schema to state. The gateway accepts it \
            when the schema compiles."
    });
    let mut keywords = Map::new();
    let mut put = |name: &str, value: &Value| {
        keywords.insert(name.into(), value.clone());
    };
    put(
        "type",
        &json!({"anyOf": [
            {"enum": types},
            {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"enum": types}}
        ]}),
    );
    put("enum", &json!({"type": "array"}));
    put("const", &json!({}));
    put(
        "multipleOf",
        &json!({"type": "number", "exclusiveMinimum": 0}),
    );
    for name in ["maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"] {
        put(name, &number);
    }
    for name in [
        "maxLength",
        "minLength",
        "maxItems",
        "minItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
    ] {
        put(name, &count);
    }
    put("uniqueItems", &flag);
    put("required", &names);
    put(
        "dependentRequired",
        &json!({"type": "object", "additionalProperties": names}),
    );
    for name in [
        "items",
        "contains",
        "additionalProperties",
        "propertyNames",
        "if",
        "then",
        "else",
        "not",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    ] {
        put(name, &schema);
    }
    for name in ["prefixItems", "allOf", "anyOf", "oneOf"] {
        put(name, &schemas);
    }
    for name in ["properties", "dependentSchemas", "$defs"] {
        put(name, &schema_map);
    }
    for name in [
        "title",
        "description",
        "$comment",
        "format",
        "contentEncoding",
        "contentMediaType",
    ] {
        put(name, &text);
    }
    for name in ["deprecated", "readOnly", "writeOnly"] {
        put(name, &flag);
    }
    put("default", &json!({}));
    put("examples", &json!({"type": "array"}));
    for name in [
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$recursiveRef",
        "$recursiveAnchor",
        "pattern",
        "patternProperties",
    ] {
        put(name, &left_out);
    }
    keywords
}

#[cfg(test)]
#[path = "body_schema_tests.rs"]
mod tests;
