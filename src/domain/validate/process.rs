//! The process fields: `transport`, `command`, `args` and `stdio` (the sharing policy of a stdio
//! adapter), their rules for [`super::parse_spec`] and the same rules as JSON Schema for
//! [`super::body_schema`]. Kept apart so the two stay side by side.

use serde_json::{Map, Value, json};

use super::rules::ENV_VALUE_PATTERN;
use super::{FieldError, Fields, given};
use crate::domain::model::ResourceKind;
use crate::domain::stdio::{
    DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_SESSIONS, IDLE_TIMEOUT_RANGE, MAX_SESSIONS_RANGE,
    Sharing, StdioOptions, Transport, WARM_RANGE,
};

/// Most items of `command` or of `args`.
pub const MAX_ARGV_ITEMS: usize = 64;
/// Longest item of `command` or `args`, in characters (what JSON Schema's `maxLength` counts).
pub const MAX_ARGV_ITEM_CHARS: usize = 4096;

/// The members of `stdio`.
const STDIO_FIELDS: &[&str] = &["sharing", "maxSessions", "idleTimeoutSeconds", "warm"];
/// The members that only `sharing: "per-session"` uses.
const PER_SESSION_FIELDS: &[&str] = &["maxSessions", "idleTimeoutSeconds", "warm"];

/// The process fields of a valid body, normalised.
pub(super) struct Process {
    pub transport: Transport,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub stdio: Option<StdioOptions>,
}

/// Reads and checks the process fields. `is_url`: the body gives a `url` (no container).
pub(super) fn parse_process(
    kind: ResourceKind,
    body: &Map<String, Value>,
    is_url: bool,
    f: &mut Fields<'_, '_>,
) -> Process {
    let transport = match f.string("transport").as_deref() {
        None | Some("http") => Transport::Http,
        Some("stdio") => Transport::Stdio,
        Some(_) => {
            f.fail("transport", "must be \"http\" or \"stdio\"");
            Transport::Http
        }
    };
    let command = argv(f, "command");
    let args = argv(f, "args");
    let stdio = f
        .object("stdio")
        .map(|options| stdio_options(options, f.errors));
    let errors = &mut *f.errors;
    if transport == Transport::Stdio {
        if kind == ResourceKind::Tool {
            errors.push(FieldError::new(
                "transport",
                "tools are called over HTTP; only adapters may be \"stdio\"",
            ));
        } else if is_url {
            errors.push(FieldError::new(
                "transport",
                "a url resource is reached over HTTP; \"stdio\" needs an imageName (the gateway \
                 runs the process and attaches to it)",
            ));
        }
        for field in ["port", "path"] {
            if given(body, field) {
                errors.push(FieldError::new(
                    field,
                    "a stdio server speaks on stdin/stdout and has no port or path: leave it out",
                ));
            }
        }
    } else if given(body, "stdio") {
        errors.push(FieldError::new(
            "stdio",
            "goes with transport \"stdio\"; this resource speaks HTTP (set transport to \
             \"stdio\", or leave stdio out)",
        ));
    }
    if is_url {
        for (field, list) in [("command", &command), ("args", &args)] {
            if !list.is_empty() {
                errors.push(FieldError::new(
                    field,
                    "a url resource runs no container, so it has no command or args",
                ));
            }
        }
    }
    let stdio = (transport == Transport::Stdio).then(|| {
        let mut options = stdio.flatten().unwrap_or(StdioOptions {
            sharing: Sharing::Shared,
            max_sessions: None,
            idle_timeout_seconds: None,
            warm: None,
        });
        if options.sharing == Sharing::PerSession {
            options.max_sessions.get_or_insert(DEFAULT_MAX_SESSIONS);
            options
                .idle_timeout_seconds
                .get_or_insert(DEFAULT_IDLE_TIMEOUT_SECONDS);
            options.warm.get_or_insert(0);
        }
        options
    });
    Process {
        transport,
        command,
        args,
        stdio,
    }
}

/// A `command` or `args` list: at most [`MAX_ARGV_ITEMS`] non-empty strings without NUL, each at
/// most [`MAX_ARGV_ITEM_CHARS`] characters.
fn argv(f: &mut Fields<'_, '_>, key: &str) -> Vec<String> {
    let list = f.string_list(key).unwrap_or_default();
    if list.len() > MAX_ARGV_ITEMS {
        f.fail(key, format!("must have at most {MAX_ARGV_ITEMS} items"));
    }
    for (i, item) in list.iter().enumerate() {
        let rule = if item.is_empty() {
            Some("must not be empty (leave the item out)".to_string())
        } else if item.contains('\0') {
            Some("must not contain a NUL character".to_string())
        } else if item.chars().count() > MAX_ARGV_ITEM_CHARS {
            Some(format!(
                "must be at most {MAX_ARGV_ITEM_CHARS} characters long"
            ))
        } else {
            None
        };
        if let Some(rule) = rule {
            f.fail(&format!("{key}[{i}]"), rule);
        }
    }
    list
}

/// The `stdio` object; `None` when a member is invalid (the errors say which).
fn stdio_options(
    options: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<StdioOptions> {
    let before = errors.len();
    for key in options.keys() {
        if !STDIO_FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("stdio.{key}"),
                format!("unknown field; stdio has {}", STDIO_FIELDS.join(", ")),
            ));
        }
    }
    let mut f = Fields {
        obj: options,
        prefix: "stdio.",
        errors,
    };
    let sharing = match f.string("sharing").as_deref() {
        None | Some("shared") => Sharing::Shared,
        Some("per-session") => Sharing::PerSession,
        Some(_) => {
            f.fail("sharing", "must be \"shared\" or \"per-session\"");
            Sharing::Shared
        }
    };
    let max_sessions = f.integer("maxSessions", MAX_SESSIONS_RANGE.0, MAX_SESSIONS_RANGE.1);
    let idle = f.integer(
        "idleTimeoutSeconds",
        IDLE_TIMEOUT_RANGE.0,
        IDLE_TIMEOUT_RANGE.1,
    );
    let warm = f.integer("warm", WARM_RANGE.0, WARM_RANGE.1);
    if sharing == Sharing::Shared {
        for field in PER_SESSION_FIELDS {
            if given(options, field) {
                f.fail(
                    field,
                    "only with sharing \"per-session\" (a shared process serves every session)",
                );
            }
        }
    }
    (errors.len() == before).then(|| StdioOptions {
        sharing,
        max_sessions: max_sessions.map(|n| n as u32),
        idle_timeout_seconds: idle.map(|n| n as u32),
        warm: warm.map(|n| n as u32),
    })
}

/// The process fields' schemas, added to a body schema's `properties`.
pub(super) fn schema_properties(kind: ResourceKind, properties: &mut Map<String, Value>) {
    let argv = |what: &str| {
        json!({
            "type": ["array", "null"],
            "maxItems": MAX_ARGV_ITEMS,
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_ARGV_ITEM_CHARS,
                "pattern": ENV_VALUE_PATTERN,
            },
            "default": [],
            "description": format!("{what} (Kubernetes semantics), image-based resources only: \
                at most {MAX_ARGV_ITEMS} non-empty strings without NUL, each at most \
                {MAX_ARGV_ITEM_CHARS} characters. Empty or left out: the image's own."),
        })
    };
    properties.insert("command".into(), argv("Replaces the image's entrypoint"));
    properties.insert(
        "args".into(),
        argv("Replaces the image's command (its default arguments)"),
    );
    match kind {
        ResourceKind::Adapter => {
            properties.insert(
                "transport".into(),
                json!({
                    "enum": ["http", "stdio", null],
                    "default": "http",
                    "description": "How the server speaks MCP: `http` (Streamable HTTP on port \
                        and path) or `stdio` (newline-delimited JSON-RPC on the process's \
                        stdin/stdout, attached by the gateway; needs imageName, refuses port \
                        and path).",
                }),
            );
            let per_session_only = json!({"type": "null"});
            properties.insert(
                "stdio".into(),
                json!({
                    "type": ["object", "null"],
                    "additionalProperties": false,
                    "description": "Only with transport `stdio`: who shares a process.",
                    "properties": {
                        "sharing": {
                            "enum": ["shared", "per-session", null],
                            "default": "shared",
                            "description": "`shared`: one process per replica serves every \
                                client, multiplexed by the gateway. `per-session`: a replica \
                                per client session (per user for stateless clients).",
                        },
                        "maxSessions": {
                            "type": ["integer", "null"],
                            "minimum": MAX_SESSIONS_RANGE.0,
                            "maximum": MAX_SESSIONS_RANGE.1,
                            "description": format!("per-session: the most replicas at once \
                                (default {DEFAULT_MAX_SESSIONS}); past it, 503 + Retry-After."),
                        },
                        "idleTimeoutSeconds": {
                            "type": ["integer", "null"],
                            "minimum": IDLE_TIMEOUT_RANGE.0,
                            "maximum": IDLE_TIMEOUT_RANGE.1,
                            "description": format!("per-session: a session's replica is removed \
                                after this long without a request (default \
                                {DEFAULT_IDLE_TIMEOUT_SECONDS})."),
                        },
                        "warm": {
                            "type": ["integer", "null"],
                            "minimum": WARM_RANGE.0,
                            "maximum": WARM_RANGE.1,
                            "description": "per-session: replicas started ahead of the first \
                                request (default 0; counted in maxSessions).",
                        },
                    },
                    "if": {"required": ["sharing"], "properties": {"sharing": {"const": "per-session"}}},
                    "else": {"properties": {
                        "maxSessions": per_session_only,
                        "idleTimeoutSeconds": per_session_only,
                        "warm": per_session_only,
                    }},
                }),
            );
        }
        ResourceKind::Tool => {
            properties.insert(
                "transport".into(),
                json!({
                    "enum": ["http", null],
                    "description": "Tools are called over HTTP; only adapters may be `stdio`.",
                }),
            );
            properties.insert(
                "stdio".into(),
                json!({"type": "null", "description": "Only adapters have stdio options."}),
            );
        }
    }
}

/// The rules between members, for a body schema's `allOf` (adapters only).
pub(super) fn schema_rules(kind: ResourceKind) -> Vec<Value> {
    if kind == ResourceKind::Tool {
        return Vec::new();
    }
    vec![
        json!({
            "description": "stdio options need transport stdio.",
            "if": {"required": ["stdio"], "properties": {"stdio": {"type": "object"}}},
            "then": {"required": ["transport"], "properties": {"transport": {"const": "stdio"}}},
        }),
        json!({
            "description": "A stdio server has no port or path.",
            "if": {"required": ["transport"], "properties": {"transport": {"const": "stdio"}}},
            "then": {"properties": {"port": {"type": "null"}, "path": {"type": "null"}}},
        }),
    ]
}

/// What a `url` resource may not have of these, for the url variant's `properties`.
pub(super) fn url_variant_properties(properties: &mut Value) {
    properties["transport"] = json!({"enum": ["http", null]});
    properties["command"] = json!({"maxItems": 0});
    properties["args"] = json!({"maxItems": 0});
}
