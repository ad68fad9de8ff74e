//! The OpenAPI document, generated from the route table and the Rust types (utoipa `ToSchema`),
//! and the helpers the routes describe themselves with.
//!
//! The request bodies of `/adapters` and `/tools` are the domain's own JSON Schemas
//! ([`crate::domain::validate::body_schema`], checked against the validator that reads them),
//! for the gateway it is served by (`runtime.kind = "none"` takes url resources only). utoipa's
//! schema model has no `not` or `oneOf` beside `properties`, so those and the JSON-RPC shapes of
//! the MCP endpoints join the document as JSON after utoipa has built the rest. Schemathesis
//! checks the whole against the running gateway (`tests/schemathesis.rs`).

use serde_json::{Value, json};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{OperationBuilder, Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Array, Object, ObjectBuilder, Type};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApiBuilder, Paths, Ref, RefOr, Required, Response,
    ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use super::Problem;
use super::route::Route;
use crate::domain::model::{
    ReplicaView, ResourceKind, ResourceSpec, ResourceView, Source, StatusView, ToolDefinition,
};
use crate::domain::validate::{Context, FieldError, NAME_PATTERN, Purpose, body_schema};

/// Builds the OpenAPI document for `routes`, on a gateway whose validation context is `ctx`.
pub fn document(routes: &[Route], ctx: Context) -> Value {
    let mut paths = Paths::new();
    for route in routes {
        paths.add_path_operation(
            &route.path,
            vec![route.method.clone()],
            route.operation.clone(),
        );
    }
    let mut components = ComponentsBuilder::new();
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().to_string(), T::schema()));
        T::schemas(schemas);
    }
    add::<ResourceView<'static>>(&mut schemas);
    add::<ResourceSpec>(&mut schemas);
    add::<ToolDefinition>(&mut schemas);
    add::<Source>(&mut schemas);
    add::<StatusView>(&mut schemas);
    add::<ReplicaView>(&mut schemas);
    add::<Problem>(&mut schemas);
    add::<FieldError>(&mut schemas);
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("mcp-gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Control plane, data plane and tool router of mcp-gateway. Errors are RFC 9457 \
                     problem documents (the MCP endpoints answer in JSON-RPC). Request schemas \
                     state every rule the gateway enforces that JSON Schema can state; the few it \
                     cannot are said in the descriptions where they apply. The MCP endpoints \
                     need `Accept: application/json, text/event-stream` (406 otherwise).",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for kind in ResourceKind::ALL {
            for purpose in [Purpose::Create, Purpose::Update] {
                schemas.insert(body_name(kind, purpose), body_schema(kind, purpose, ctx));
            }
        }
        schemas.insert("JsonRpcError".into(), json_rpc_error());
        schemas.insert("InitializeRequest".into(), initialize_request());
    }
    doc
}

/// The component name of a request body: `AdapterCreate`, `ToolUpdate`, ...
pub(crate) fn body_name(kind: ResourceKind, purpose: Purpose) -> String {
    let noun = capitalise(kind.as_str());
    match purpose {
        Purpose::Create => format!("{noun}Create"),
        Purpose::Update => format!("{noun}Update"),
    }
}

pub(crate) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A JSON-RPC error response, as the MCP endpoints send when the gateway itself refuses.
fn json_rpc_error() -> Value {
    json!({
        "type": "object",
        "description": "A JSON-RPC 2.0 error response.",
        "required": ["jsonrpc", "id", "error"],
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "data": {}
                }
            }
        }
    })
}

/// The one MCP message that needs nothing before it: `initialize`, which opens a 2025-era
/// session. Other messages need its `Mcp-Session-Id` (or the 2026-07-28 headers), a tie between
/// a header and a body that OpenAPI cannot state.
fn initialize_request() -> Value {
    json!({
        "type": "object",
        "description": "A JSON-RPC `initialize` request (MCP 2025-03-26 to 2025-11-25). Every \
            other message is sent with the Mcp-Session-Id it returns, or as a stateless \
            2026-07-28 request with MCP-Protocol-Version, Mcp-Method and Mcp-Name headers; \
            OpenAPI cannot tie a body to headers, so this schema describes initialize alone.",
        "required": ["jsonrpc", "id", "method", "params"],
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"anyOf": [
                {"type": "string"},
                {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}
            ]},
            "method": {"const": "initialize"},
            "params": {
                "type": "object",
                "required": ["protocolVersion", "capabilities", "clientInfo"],
                "properties": {
                    "protocolVersion": {"type": "string"},
                    "capabilities": {
                        "type": "object",
                        "description": "The client's capabilities (roots, sampling, \
                            elicitation, ...), each an object as the MCP schema says."
                    },
                    "clientInfo": {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {
                            "name": {"type": "string"},
                            "version": {"type": "string"}
                        }
                    }
                }
            }
        }
    })
}

/// Starts an operation with its id, summary and tag.
pub(crate) fn operation(id: &str, summary: &str, tag: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .tag(tag)
}

pub(crate) fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

pub(crate) fn array_of(name: &str) -> Array {
    Array::new(schema_ref(name))
}

pub(crate) fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(schema)))
        .build()
}

pub(crate) fn text_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "text/plain",
            Content::new(Some(Object::with_type(Type::String))),
        )
        .build()
}

pub(crate) fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(schema_ref(Problem::name().as_ref()))),
        )
        .build()
}

/// A JSON-RPC error answer from an MCP endpoint.
pub(crate) fn json_rpc_problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(schema_ref("JsonRpcError"))),
        )
        .build()
}

/// An answer without a documented body (or whose body is the upstream's business).
pub(crate) fn bare(description: &str) -> Response {
    Response::new(description)
}

/// `201 Created` with the stored resource, its `Location`, and links from its name to the
/// operations in `links` (`(link name, operationId)`), so clients (and Schemathesis' stateful
/// phase) can follow a create to everything that takes the name.
pub(crate) fn created(description: &str, schema: &str, links: &[(String, String)]) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(schema_ref(schema))))
        .header(
            "Location",
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::String)))
                .description(Some("The path of the new resource"))
                .build(),
        );
    for (name, operation_id) in links {
        response = response.link(
            name,
            LinkBuilder::new()
                .operation_id(operation_id)
                .parameter("name", "$response.body#/name")
                .description("The created resource's name")
                .build(),
        );
    }
    response.build()
}

pub(crate) fn json_body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .content("application/json", Content::new(Some(schema_ref(schema))))
        .required(Some(Required::True))
        .build()
}

/// The `{name}` of an adapter or tool: a DNS label (anything else is a 404).
pub(crate) fn name_param(description: &str) -> Parameter {
    let mut param = Parameter::new("name");
    param.parameter_in = ParameterIn::Path;
    param.description = Some(description.into());
    param.schema = Some(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NAME_PATTERN))
            .min_length(Some(1))
            .max_length(Some(63))
            .into(),
    );
    param
}

/// An optional query parameter holding an integer from `min` to `max`.
pub(crate) fn integer_query(
    name: &str,
    description: &str,
    min: u64,
    max: u64,
    default: u64,
) -> Parameter {
    let mut param = Parameter::new(name);
    param.parameter_in = ParameterIn::Query;
    param.required = Required::False;
    param.description = Some(description.into());
    param.schema = Some(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
            .maximum(Some(max))
            .default(Some(json!(default)))
            .into(),
    );
    param
}

/// A string path parameter `name`.
pub(crate) fn path_param(name: &str, description: &str) -> Parameter {
    let mut param = Parameter::new(name);
    param.parameter_in = ParameterIn::Path;
    param.description = Some(description.into());
    param.schema = Some(String::schema());
    param
}

/// A path parameter `name` the route answers for whatever it holds.
pub(crate) fn any_name_param(description: &str) -> Parameter {
    path_param("name", description)
}

/// A required request header holding a string.
pub(crate) fn header_param(name: &str, description: &str) -> Parameter {
    let mut param = Parameter::new(name);
    param.parameter_in = ParameterIn::Header;
    param.required = Required::True;
    param.description = Some(description.into());
    param.schema = Some(String::schema());
    param
}
