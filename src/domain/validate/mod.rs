//! Turns untrusted input (a JSON body or a config.toml table) into a valid [`ResourceSpec`].
//!
//! Every rule lives here as a small pure function, and [`parse_spec`] reports *every* invalid field
//! at once (a client fixing one error at a time is a bad experience). Nothing reaches the store or a
//! runtime without passing through this module.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

mod body_schema;
mod federation;
mod process;
mod rules;
pub mod schema;

use crate::domain::model::{
    DEFAULT_ADAPTER_PATH, DEFAULT_IMAGE_VERSION, DEFAULT_PORT, DEFAULT_TOOL_PATH, ResourceKind,
    ResourceSpec, ToolDefinition,
};
pub use body_schema::{Purpose, body_schema};
pub use federation::{MAX_FEDERATED_TOOLS, MAX_GLOB_LEN};
pub use rules::{
    NAME_PATTERN, check_env_name, check_image_name, check_image_version, check_name, check_path,
    check_tool_name, check_url,
};
use rules::{check_object_schema, check_role};

pub const MAX_REPLICAS: u64 = 64;
/// Longest description, in bytes of UTF-8.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

/// One invalid field: its JSON path (`toolDefinition.tool.name`) and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What validation needs to know about the gateway it runs in.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// False with `runtime.kind = "none"`: image-based resources are refused.
    pub deploys_images: bool,
}

/// Fields the server sets; clients may send them back (GET, edit, PUT) and they are ignored.
const SERVER_SET: &[&str] = &["id", "createdBy", "createdAt", "lastUpdatedAt", "source"];

const ADAPTER_FIELDS: &[&str] = &[
    "name",
    "imageName",
    "imageVersion",
    "url",
    "port",
    "path",
    "environmentVariables",
    "replicaCount",
    "description",
    "useWorkloadIdentity",
    "requiredRoles",
    "transport",
    "command",
    "args",
    "stdio",
];

const TOOL_DEFINITION_FIELDS: &[&str] = &["tool", "port", "path"];

/// Parses and validates a resource body. Returns every problem found, or the normalised spec
/// (defaults filled in).
pub fn parse_spec(
    kind: ResourceKind,
    body: &Map<String, Value>,
    ctx: Context,
) -> Result<ResourceSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_known_fields(kind, body, "", &mut errors);
    let mut f = Fields {
        obj: body,
        prefix: "",
        errors: &mut errors,
    };

    let name = f.string("name");
    let image_name = f.string("imageName");
    let image_version = f.string("imageVersion");
    let url = f.string("url");
    let port = f.port("port");
    let path = f.string("path");
    let environment_variables = f.string_map("environmentVariables");
    let replica_count = f.integer("replicaCount", 0, MAX_REPLICAS);
    let description = f.string("description");
    let use_workload_identity = f.boolean("useWorkloadIdentity");
    let required_roles = f.string_list("requiredRoles");
    let (federate, federated_tools) = federation::parse(kind, body, f.errors);
    let tool_definition = if kind == ResourceKind::Tool {
        f.object("toolDefinition")
    } else {
        None
    };
    let process = process::parse_process(kind, body, url.is_some(), &mut f);

    match &name {
        None if !given(body, "name") => errors.push(FieldError::new("name", "is required")),
        Some(name) => {
            if let Err(rule) = check_name(name) {
                errors.push(FieldError::new("name", rule));
            }
        }
        None => {}
    }

    // Image-based or url-based: exactly one.
    match (&image_name, &url) {
        (Some(_), Some(_)) => errors.push(FieldError::new(
            "url",
            "give either imageName (the gateway deploys it) or url (a remote server), not both",
        )),
        (None, None) if !given(body, "imageName") && !given(body, "url") => {
            errors.push(FieldError::new(
                "imageName",
                // Not "is required": it is one of two, and a client (or a fuzzer reading the
                // errors) should not take it for a member every body must have.
                "give an imageName (an image the gateway deploys) or a url (a remote server the \
                 gateway only proxies to)",
            ))
        }
        _ => {}
    }
    if let Some(image) = &image_name {
        if let Err(rule) = check_image_name(image) {
            errors.push(FieldError::new("imageName", rule));
        } else if !ctx.deploys_images {
            errors.push(FieldError::new(
                "imageName",
                "this gateway runs with runtime.kind = \"none\" and deploys no images: give a url \
                 instead, or set runtime.kind to \"docker\" or \"kubernetes\" in config.toml",
            ));
        }
    }
    check_some(
        &mut errors,
        "imageVersion",
        image_version.as_deref(),
        check_image_version,
    );
    check_some(&mut errors, "url", url.as_deref(), check_url);
    check_some(&mut errors, "path", path.as_deref(), check_path);
    if let Some(env) = &environment_variables {
        for (key, value) in env {
            if let Err(rule) = check_env_name(key) {
                errors.push(FieldError::new(format!("environmentVariables.{key}"), rule));
            } else if value.contains('\0') {
                errors.push(FieldError::new(
                    format!("environmentVariables.{key}"),
                    "must not contain a NUL character",
                ));
            }
        }
    }
    if let Some(roles) = &required_roles {
        for (i, role) in roles.iter().enumerate() {
            if let Err(rule) = check_role(role) {
                errors.push(FieldError::new(format!("requiredRoles[{i}]"), rule));
            }
        }
    }
    if description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes long (UTF-8)"),
        ));
    }

    let is_url = url.is_some();
    if is_url {
        // A remote server runs no container: container settings would be silently ignored.
        let container_only = [
            (
                "imageVersion",
                body.contains_key("imageVersion") && image_version.is_some(),
                "goes with imageName; a url resource runs no container",
            ),
            (
                "environmentVariables",
                environment_variables
                    .as_ref()
                    .is_some_and(|e| !e.is_empty()),
                "a url resource runs no container, so it has no environment",
            ),
            (
                "replicaCount",
                replica_count.is_some_and(|r| r != 1),
                "a url resource is one remote server: leave replicaCount out or set it to 1",
            ),
            (
                "useWorkloadIdentity",
                use_workload_identity == Some(true),
                "a url resource runs no workload, so it has no workload identity",
            ),
            (
                "port",
                port.is_some(),
                "is the container port; a url resource gives its port in url",
            ),
            (
                "path",
                path.is_some(),
                "is the path inside the container; a url resource gives its path in url",
            ),
        ];
        for (field, present, why) in container_only {
            if present {
                errors.push(FieldError::new(field, why));
            }
        }
    }

    let tool_definition = match kind {
        ResourceKind::Adapter => None,
        ResourceKind::Tool => {
            for field in ["port", "path"] {
                // With a url, a port or path here is already refused above as a container setting.
                if given(body, field) && !is_url {
                    errors.push(FieldError::new(
                        field,
                        format!("tools give their {field} in toolDefinition.{field}"),
                    ));
                }
            }
            match tool_definition {
                Some(def) => parse_tool_definition(def, name.as_deref(), is_url, &mut errors),
                None => {
                    if !given(body, "toolDefinition") {
                        errors.push(FieldError::new(
                            "toolDefinition",
                            "is required for tools: { \"tool\": { \"name\", \"inputSchema\", ... }, \"port\", \"path\" }",
                        ));
                    }
                    None
                }
            }
        }
    };

    if !errors.is_empty() {
        return Err(errors);
    }
    let name = name.unwrap_or_default();
    let image_based = image_name.is_some();
    // A stdio server has no port or path: those are an HTTP server's.
    let http_adapter = kind == ResourceKind::Adapter && image_based && process.transport.is_http();
    Ok(ResourceSpec {
        name,
        image_version: image_based
            .then(|| image_version.unwrap_or_else(|| DEFAULT_IMAGE_VERSION.to_string())),
        image_name,
        url,
        port: http_adapter.then(|| port.unwrap_or(DEFAULT_PORT)),
        path: http_adapter.then(|| path.unwrap_or_else(|| DEFAULT_ADAPTER_PATH.to_string())),
        environment_variables: environment_variables.unwrap_or_default(),
        replica_count: replica_count.map_or(1, |r| r as u32),
        description: description.unwrap_or_default(),
        use_workload_identity: use_workload_identity.unwrap_or(false),
        required_roles: required_roles.unwrap_or_default(),
        federate,
        federated_tools,
        tool_definition,
        transport: process.transport,
        command: process.command,
        args: process.args,
        stdio: process.stdio,
    })
}

fn parse_tool_definition(
    def: &Map<String, Value>,
    resource_name: Option<&str>,
    is_url: bool,
    errors: &mut Vec<FieldError>,
) -> Option<ToolDefinition> {
    let before = errors.len();
    for key in def.keys() {
        if !TOOL_DEFINITION_FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("toolDefinition.{key}"),
                format!(
                    "unknown field; toolDefinition has {}",
                    TOOL_DEFINITION_FIELDS.join(", ")
                ),
            ));
        }
    }
    let mut f = Fields {
        obj: def,
        prefix: "toolDefinition.",
        errors,
    };
    let tool = f.object("tool").cloned();
    let port = f.port("port");
    let path = f.string("path");
    if is_url {
        for (field, present) in [("port", port.is_some()), ("path", path.is_some())] {
            if present {
                errors.push(FieldError::new(
                    format!("toolDefinition.{field}"),
                    format!(
                        "is for tools the gateway deploys; a url tool gives its {field} in url"
                    ),
                ));
            }
        }
    }
    check_some(errors, "toolDefinition.path", path.as_deref(), check_path);
    match &tool {
        None if !given(def, "tool") => errors.push(FieldError::new(
            "toolDefinition.tool",
            "is required: the MCP tool object with name, description and inputSchema",
        )),
        None => {}
        Some(tool) => check_tool(tool, resource_name, errors),
    }
    if errors.len() > before {
        return None;
    }
    let mut tool = tool.unwrap_or_default();
    if let Some(name) = resource_name {
        // The tool's name is the resource's: filled in when left out.
        tool.entry("name")
            .or_insert_with(|| Value::String(name.to_string()));
    }
    Some(ToolDefinition {
        tool,
        port: port.unwrap_or(DEFAULT_PORT),
        path: path.unwrap_or_else(|| DEFAULT_TOOL_PATH.to_string()),
    })
}

fn check_tool(
    tool: &Map<String, Value>,
    resource_name: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    match tool.get("name") {
        Some(Value::String(tool_name)) => {
            if let Err(rule) = check_tool_name(tool_name) {
                errors.push(FieldError::new("toolDefinition.tool.name", rule));
            } else if resource_name.is_some_and(|n| n != tool_name) {
                errors.push(FieldError::new(
                    "toolDefinition.tool.name",
                    format!(
                        "must equal the resource name \"{}\" (the router finds tools by it)",
                        resource_name.unwrap_or_default()
                    ),
                ));
            }
        }
        Some(_) => errors.push(FieldError::new(
            "toolDefinition.tool.name",
            "must be a string",
        )),
        // Left out, it is the resource name (filled in by the caller).
        None => {}
    }
    if let Some(description) = tool.get("description")
        && !description.is_string()
    {
        errors.push(FieldError::new(
            "toolDefinition.tool.description",
            "must be a string",
        ));
    }
    match tool.get("inputSchema") {
        Some(schema) => {
            // Compiled exactly as the router will, so a registered tool can always be called.
            if let Err(rule) = check_object_schema(schema)
                .and_then(|()| crate::domain::validate::schema::compile(schema).map(drop))
            {
                errors.push(FieldError::new("toolDefinition.tool.inputSchema", rule));
            }
        }
        None => errors.push(FieldError::new(
            "toolDefinition.tool.inputSchema",
            "is required: a JSON Schema with \"type\": \"object\"",
        )),
    }
    if let Some(schema) = tool.get("outputSchema")
        && let Err(rule) = check_object_schema(schema)
    {
        errors.push(FieldError::new("toolDefinition.tool.outputSchema", rule));
    }
}

/// Whether `key` is given a value (JSON `null` counts as absent, as everywhere in a body).
fn given(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).is_some_and(|value| !value.is_null())
}

/// Applies `check` to an optional value, recording the broken rule under `field`.
fn check_some(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    check: fn(&str) -> Result<(), String>,
) {
    if let Some(value) = value
        && let Err(rule) = check(value)
    {
        errors.push(FieldError::new(field, rule));
    }
}

/// Reports unknown top-level fields (a typo like `replicacount` must not be silently dropped).
fn check_known_fields(
    kind: ResourceKind,
    body: &Map<String, Value>,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in body.keys() {
        let known = ADAPTER_FIELDS.contains(&key.as_str())
            || federation::FIELDS.contains(&key.as_str())
            || SERVER_SET.contains(&key.as_str())
            || (kind == ResourceKind::Tool && key == "toolDefinition");
        if !known {
            let hint = if kind == ResourceKind::Adapter && key == "toolDefinition" {
                "only tools have a toolDefinition (POST it to /tools)".to_string()
            } else {
                let mut fields = ADAPTER_FIELDS.to_vec();
                if kind == ResourceKind::Adapter {
                    fields.extend(federation::FIELDS);
                }
                if kind == ResourceKind::Tool {
                    fields.push("toolDefinition");
                }
                format!("unknown field; known fields are {}", fields.join(", "))
            };
            errors.push(FieldError::new(format!("{prefix}{key}"), hint));
        }
    }
}

/// Typed access to the fields of one JSON object, recording type errors with their path.
struct Fields<'a, 'e> {
    obj: &'a Map<String, Value>,
    prefix: &'static str,
    errors: &'e mut Vec<FieldError>,
}

impl<'a> Fields<'a, '_> {
    /// The value of `key`, treating JSON `null` as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{key}", self.prefix), message));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.fail(key, "must be true or false");
                None
            }
        }
    }

    /// An integer from `min` to `max`. A number with a zero fraction (`2.0`) is that integer, as
    /// JSON Schema says.
    fn integer(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.get(key)?;
        let whole = value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (min as f64..=max as f64).contains(f))
                .map(|f| f as u64)
        });
        match whole {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.fail(key, format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    fn port(&mut self, key: &str) -> Option<u16> {
        self.integer(key, 1, 65535).map(|p| p as u16)
    }

    fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.get(key)? {
            Value::Object(map) => Some(map),
            _ => {
                self.fail(key, "must be an object");
                None
            }
        }
    }

    fn string_map(&mut self, key: &str) -> Option<BTreeMap<String, String>> {
        let map = self.object(key)?;
        let mut out = BTreeMap::new();
        for (name, value) in map {
            match value {
                Value::String(s) => {
                    out.insert(name.clone(), s.clone());
                }
                _ => self.fail(&format!("{key}.{name}"), "must be a string"),
            }
        }
        Some(out)
    }

    fn string_list(&mut self, key: &str) -> Option<Vec<String>> {
        let Value::Array(items) = self.get(key)? else {
            self.fail(key, "must be an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => self.fail(&format!("{key}[{i}]"), "must be a string"),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
