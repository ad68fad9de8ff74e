//! Each body schema says what `parse_spec` does, on hand-picked bodies and many made from them.

use serde_json::{Map, Value, json};

use super::super::corpus::{Random, validator};
use super::super::{Context, MAX_DESCRIPTION_BYTES, parse_spec};
use super::{Purpose, body_schema};
use crate::domain::model::ResourceKind;

const DOCKER: Context = Context {
    deploys_images: true,
};
const NONE: Context = Context {
    deploys_images: false,
};

fn schema_of(kind: ResourceKind, purpose: Purpose, ctx: Context) -> Value {
    body_schema(kind, purpose, ctx)
}

/// Bodies to start from: valid ones of each shape.
fn seeds(kind: ResourceKind) -> Vec<Value> {
    let tool = json!({
        "tool": {"description": "d", "inputSchema": {"type": "object"}},
        "port": 9000, "path": "/score"
    });
    let mut bodies = vec![
        json!({"name": "demo", "imageName": "team/server", "imageVersion": "1.0", "replicaCount": 2,
               "environmentVariables": {"A": "1"}, "requiredRoles": ["r"], "description": "x",
               "useWorkloadIdentity": false}),
        json!({"name": "demo", "url": "http://127.0.0.1:9/mcp", "replicaCount": 1}),
        json!({"name": "demo", "url": "https://example.com", "imageName": null, "port": null}),
    ];
    match kind {
        ResourceKind::Adapter => {
            bodies[0]["port"] = json!(8080);
            bodies[0]["path"] = json!("/mcp");
            bodies.push(
                json!({"name": "demo", "imageName": "mcp/time", "transport": "stdio",
                "command": ["/opt/server/bin/mcp-server-time"], "args": ["--local-timezone", "UTC"],
                "stdio": {"sharing": "per-session", "maxSessions": 4, "idleTimeoutSeconds": 60,
                          "warm": 1}}),
            );
            bodies.push(
                json!({"name": "demo", "imageName": "mcp/time", "transport": "stdio",
                "stdio": {"sharing": "shared"}}),
            );
        }
        ResourceKind::Tool => {
            for body in &mut bodies {
                body["toolDefinition"] = tool.clone();
            }
            for body in &mut bodies[1..] {
                body["toolDefinition"]["port"] = Value::Null;
                body["toolDefinition"]
                    .as_object_mut()
                    .expect("object")
                    .remove("path");
            }
        }
    }
    bodies
}

/// Values to put anywhere.
fn pool() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(1.0),
        json!(1.5),
        json!(-1),
        json!(2),
        json!(64),
        json!(65),
        json!(8000.0),
        json!(65535),
        json!(65536),
        json!(""),
        json!("demo"),
        json!("other"),
        json!("A"),
        json!("team/server"),
        json!("1.0"),
        json!("/mcp"),
        json!("/a/../b"),
        json!("http://127.0.0.1:9/mcp"),
        json!("ftp://x"),
        json!("a".repeat(MAX_DESCRIPTION_BYTES + 1)),
        json!([]),
        json!(["r"]),
        json!(["a,b"]),
        json!([1]),
        json!({}),
        json!({"A": "1"}),
        json!({"1A": "x"}),
        json!({"A": 1}),
        json!({"A": "\u{0}"}),
        json!({"type": "object"}),
        json!({"type": "string"}),
        json!({"type": "object", "properties": {"a": {"type": 5}}}),
        // Argument schemas: keywords with good and bad values, nested too.
        json!({"type": "object", "then": []}),
        json!({"type": "object", "then": {"type": "string"}, "if": true}),
        json!({"type": "object", "pattern": "("}),
        json!({"type": "object", "pattern": "^a|b$"}),
        json!({"type": "object", "patternProperties": {"(": {}}}),
        json!({"type": "object", "patternProperties": {"^x-": {"type": "string"}}}),
        json!({"type": "object", "format": "no-such-format"}),
        json!({"type": "object", "properties": {"a": {"type": "zzz"}}}),
        json!({"type": "object", "properties": {"a": {"type": ["string", "string"]}}}),
        json!({"type": "object", "properties": {"a": {"type": []}}}),
        json!({"type": "object", "properties": {"a": {"minLength": -1}}}),
        json!({"type": "object", "properties": {"a": {"minLength": 2.0}}}),
        json!({"type": "object", "properties": {"a": {"maxLength": 1.5}}}),
        json!({"type": "object", "properties": {"a": {"multipleOf": 0}}}),
        json!({"type": "object", "properties": {"a": true, "b": false}}),
        json!({"type": "object", "required": ["a", "a"]}),
        json!({"type": "object", "required": []}),
        json!({"type": "object", "enum": []}),
        json!({"type": "object", "allOf": []}),
        json!({"type": "object", "anyOf": [{"minimum": "x"}]}),
        json!({"type": "object", "items": true, "prefixItems": [{}]}),
        json!({"type": "object", "dependentRequired": {"a": ["b", "b"]}}),
        json!({"type": "object", "$defs": {"a": {"type": 1}}}),
        json!({"type": "object", "$ref": "#"}),
        json!({"type": "object", "$ref": "#/nowhere"}),
        json!({"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"}),
        json!({"type": "object", "unknownKeyword": {"type": 5}}),
        json!({"type": "object", "contentEncoding": 5}),
        json!({"type": "object", "minProperties": 18_446_744_073_709_551_615_u64}),
        json!({"type": "object", "minProperties": 18_446_744_073_709_551_616.0}),
        json!({"type": "object", "minProperties": 1e300}),
        json!({"type": "object", "multipleOf": 5e-324}),
        json!({"type": "object", "minimum": 1e308}),
        json!({"type": "object", "examples": {}}),
        // The process fields.
        json!("stdio"),
        json!("http"),
        json!("shared"),
        json!("per-session"),
        json!([""]),
        json!(["a\u{0}"]),
        json!(["a".repeat(4097)]),
        json!(vec!["x"; 65]),
        json!({"sharing": "per-session"}),
        json!({"sharing": "shared", "warm": 1}),
        json!({"maxSessions": 300}),
        json!({"idleTimeoutSeconds": 4}),
        json!({"sharing": "per-session", "warm": 17.0, "extra": 1}),
    ]
}

/// Where values go: top-level members, members of toolDefinition and of its tool.
const PLACES: &[&[&str]] = &[
    &["name"],
    &["imageName"],
    &["imageVersion"],
    &["url"],
    &["port"],
    &["path"],
    &["environmentVariables"],
    &["replicaCount"],
    &["description"],
    &["useWorkloadIdentity"],
    &["requiredRoles"],
    &["transport"],
    &["command"],
    &["args"],
    &["stdio"],
    &["stdio", "sharing"],
    &["stdio", "maxSessions"],
    &["stdio", "warm"],
    &["id"],
    &["extra"],
    &["toolDefinition"],
    &["toolDefinition", "tool"],
    &["toolDefinition", "port"],
    &["toolDefinition", "path"],
    &["toolDefinition", "extra"],
    &["toolDefinition", "tool", "name"],
    &["toolDefinition", "tool", "description"],
    &["toolDefinition", "tool", "inputSchema"],
    &["toolDefinition", "tool", "outputSchema"],
];

/// Sets (`Some`) or removes (`None`) the member at `place`, when its parents are objects.
fn put(body: &mut Value, place: &[&str], value: Option<&Value>) {
    let (last, parents) = place.split_last().expect("a place has a name");
    let mut target = body;
    for parent in parents {
        match target.get_mut(*parent) {
            Some(next) if next.is_object() => target = next,
            _ => return,
        }
    }
    let Some(object) = target.as_object_mut() else {
        return;
    };
    match value {
        Some(value) => {
            object.insert((*last).to_string(), value.clone());
        }
        None => {
            object.remove(*last);
        }
    }
}

/// The documented gaps: members the schema leaves out though the gateway may accept them (a
/// tool name equal to the resource name; `$ref`, `$schema` and the like in an argument schema).
fn documented_gap(body: &Map<String, Value>) -> bool {
    let tool = &body.get("toolDefinition").unwrap_or(&Value::Null)["tool"];
    let name_repeated = tool.get("name").is_some() && Some(&tool["name"]) == body.get("name");
    name_repeated || uses_identifiers(tool)
}

/// An argument schema with a member the schema leaves out, or a subschema (which it does not
/// describe again) that does not compile.
fn uses_identifiers(tool: &Value) -> bool {
    let Some(input) = tool.get("inputSchema").and_then(Value::as_object) else {
        return false;
    };
    let left_out = input.keys().any(|key| {
        key.starts_with('$') && key != "$defs" && key != "$comment"
            || key == "pattern"
            || key == "patternProperties"
    });
    let nested_fails = input.values().any(|value| {
        let subschemas: Vec<&Value> = match value {
            Value::Object(map) => std::iter::once(value).chain(map.values()).collect(),
            Value::Array(items) => items.iter().collect(),
            _ => Vec::new(),
        };
        subschemas
            .into_iter()
            .any(|s| s.is_object() && super::super::schema::compile(s).is_err())
    });
    left_out || nested_fails
}

struct Case<'a> {
    kind: ResourceKind,
    purpose: Purpose,
    ctx: Context,
    schema: &'a jsonschema::Validator,
}

/// Whether `body` was checked and found valid.
fn check_agreement(case: &Case<'_>, body: &Value) -> bool {
    let Case {
        kind,
        purpose,
        ctx,
        schema,
    } = *case;
    let by_schema = schema.is_valid(body);
    let Value::Object(mut map) = body.clone() else {
        unreachable!("bodies are objects")
    };
    if purpose == Purpose::Update {
        // What the PUT handler does with a body without a name: the path's name goes in.
        if map.get("name").is_some() {
            return false;
        }
        map.insert("name".into(), json!("demo"));
    }
    if documented_gap(&map) {
        return false;
    }
    let parsed = parse_spec(kind, &map, ctx);
    assert_eq!(
        parsed.is_ok(),
        by_schema,
        "{kind} {purpose:?} (deploys images: {}): {body}\nparse_spec: {:?}\nschema errors: {:?}",
        ctx.deploys_images,
        parsed.as_ref().err(),
        schema
            .iter_errors(body)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    by_schema
}

#[test]
fn body_schemas_say_what_parse_spec_does() {
    let pool = pool();
    let mut random = Random(0x5eed_1234_abcd_0002);
    let (mut checked, mut valid) = (0usize, 0usize);
    let mut count = |is_valid: bool| {
        checked += 1;
        valid += usize::from(is_valid);
    };
    for kind in ResourceKind::ALL {
        for ctx in [DOCKER, NONE] {
            for purpose in [Purpose::Create, Purpose::Update] {
                let schema = validator(&schema_of(kind, purpose, ctx));
                let case = Case {
                    kind,
                    purpose,
                    ctx,
                    schema: &schema,
                };
                for seed in seeds(kind) {
                    let mut seed = seed;
                    if purpose == Purpose::Update {
                        seed.as_object_mut().expect("object").remove("name");
                    }
                    count(check_agreement(&case, &seed));
                    // One member changed or removed.
                    for place in PLACES {
                        let mut body = seed.clone();
                        put(&mut body, place, None);
                        count(check_agreement(&case, &body));
                        for value in &pool {
                            let mut body = seed.clone();
                            put(&mut body, place, Some(value));
                            count(check_agreement(&case, &body));
                        }
                    }
                    // Two or three at once, for the rules between members.
                    for _ in 0..400 {
                        let mut body = seed.clone();
                        for _ in 0..2 + random.below(2) {
                            let place = PLACES[random.below(PLACES.len())];
                            let value =
                                (random.below(6) > 0).then(|| &pool[random.below(pool.len())]);
                            put(&mut body, place, value);
                        }
                        count(check_agreement(&case, &body));
                    }
                }
            }
        }
    }
    assert!(
        valid > checked / 10 && valid < checked / 2,
        "{valid} of {checked} bodies valid"
    );
}

#[test]
fn the_gaps_are_the_documented_ones() {
    // Byte lengths: a description of 4096 characters but more bytes is refused.
    let schema = validator(&schema_of(ResourceKind::Adapter, Purpose::Create, DOCKER));
    let body = json!({"name": "a", "imageName": "x", "description": "é".repeat(4096)});
    assert!(schema.is_valid(&body));
    let Value::Object(map) = body else {
        unreachable!()
    };
    assert!(parse_spec(ResourceKind::Adapter, &map, DOCKER).is_err());
    // The tool's name, left out, is the resource's.
    let Value::Object(map) = json!({"name": "t", "url": "http://127.0.0.1:1/",
        "toolDefinition": {"tool": {"inputSchema": {"type": "object"}}}})
    else {
        unreachable!()
    };
    let spec = parse_spec(ResourceKind::Tool, &map, DOCKER).expect("valid");
    let tool = spec.tool_definition.expect("tool").tool;
    assert_eq!(tool.get("name"), Some(&json!("t")));
    let _: Map<String, Value> = tool;
}
