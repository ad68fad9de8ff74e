//! **Services**, the third layer: what the gateway does with a request, each given narrow handles
//! (the store, the reconciler's endpoints, the door), never the whole application state, and
//! none of the HTTP layer's routing or OpenAPI.
//!
//! - [`proxy`]: the data plane, `/adapters/{name}/mcp`.
//! - [`router`]: the tool router, `/mcp`.
//! - [`stdio`]: the stdio bridge, `/adapters/{name}/mcp` of adapters whose servers speak MCP
//!   on stdin/stdout.
//! - [`status`]: status and logs of resources, in words.
//! - [`metrics`]: the `/metrics` exposition.
//! - [`edge`]: what the MCP endpoints share (admission, CORS, JSON-RPC errors, header hygiene,
//!   replica choice). Services use it and infrastructure below; never each other.

pub mod edge;
pub mod metrics;
pub mod proxy;
pub mod router;
pub mod status;
pub mod stdio;
