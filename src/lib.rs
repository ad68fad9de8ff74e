//! mcp-gateway: a reverse proxy and management layer for Model Context Protocol servers.
//!
//! Five layers, imports pointing down only (`tests/architecture.rs` keeps it so):
//!
//! | layer | what it holds | may use |
//! |---|---|---|
//! | [`app`] | startup, wiring, config reload, shutdown | everything |
//! | [`http`] | `AppState`, extractors, the one route table + OpenAPI, `ApiError`, the front door | services and below |
//! | [`services`] | the data plane, the tool router, status/logs, the metrics exposition, and the edge pieces they share | infra and below |
//! | [`infra`] | config parsing, the store, auth, the reconciler, the HTTP client | domain and below |
//! | [`domain`] | the model, validation, counters, clock: pure | the `runtimes` crate's types |
//!
//! Data flows one way each: control (HTTP → auth → API → store → reconciler → runtime), config
//! (config.toml → parse → store), data (HTTP → door → proxy → session token → endpoints →
//! upstream), tools (HTTP → door → router → tool table → tool server).

pub mod app;
pub mod domain;
pub mod http;
pub mod infra;
pub mod services;
