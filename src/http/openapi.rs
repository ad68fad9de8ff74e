//! The OpenAPI document, generated from the route table and the Rust types (utoipa `ToSchema`),
//! and the helpers the routes describe themselves with.

use utoipa::openapi::path::{OperationBuilder, Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Array, Object, Type};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    Response, ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use super::Problem;
use super::route::Route;
use crate::domain::model::{
    ReplicaView, ResourceSpec, ResourceView, Source, StatusView, ToolDefinition,
};
use crate::domain::validate::FieldError;

/// Builds the OpenAPI document for `routes`.
pub fn document(routes: &[Route]) -> OpenApi {
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
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("mcp-gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Control plane, data plane and tool router of mcp-gateway. Errors are \
                     RFC 9457 problem documents.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
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

pub(crate) fn json_body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .content("application/json", Content::new(Some(schema_ref(schema))))
        .required(Some(Required::True))
        .build()
}

pub(crate) fn path_param(name: &str, description: &str) -> Parameter {
    let mut param = Parameter::new(name);
    param.parameter_in = ParameterIn::Path;
    param.description = Some(description.into());
    param.schema = Some(String::schema());
    param
}

pub(crate) fn query_param(name: &str, description: &str) -> Parameter {
    let mut param = Parameter::new(name);
    param.parameter_in = ParameterIn::Query;
    param.required = Required::False;
    param.description = Some(description.into());
    param.schema = Some(u32::schema());
    param
}
