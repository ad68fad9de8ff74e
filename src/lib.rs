//! mcp-gateway: a reverse proxy and management layer for Model Context Protocol servers.
//!
//! Where things live (see README.md for the picture):
//! - [`config`]: config.toml, parsed strictly and reloaded while serving ([`config::watch`]);
//!   [`validate`]: every input rule.
//! - [`store`]: SQLite, the source of truth, mirrored in memory for reads.
//! - [`api`]: the HTTP routes and the OpenAPI document generated from them.
//! - [`proxy`]: the data plane, `/adapters/{name}/mcp`, with sealed session tokens.
//! - [`router`]: the tool router, `/mcp`, an MCP server over every registered tool.
//! - [`auth`]: who is calling and what they may do.
//! - [`reconciler`]: drives the [`mcp_gateway_runtimes::Runtime`] to match the store.
//! - [`status`]: status and logs in words.
//! - [`metrics`]: `GET /metrics`, each resource's live counters and the Prometheus exposition.
//! - [`app`]: shared state and startup.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
mod front;
pub mod http_client;
pub mod metrics;
pub mod model;
pub mod proxy;
pub mod reconciler;
pub mod router;
pub mod status;
pub mod store;
pub mod validate;
