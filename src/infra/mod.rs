//! **Infrastructure**, the second layer: what the services stand on. Each piece has one job and
//! is usable alone; none knows about HTTP routing, OpenAPI or the services above.
//!
//! - [`address`]: the upstream address policy (which addresses `url` resources may reach).
//! - [`config`]: `config.toml`, parsed and validated (pure: text in, typed config out).
//! - [`store`]: SQLite, the source of truth, mirrored in memory for reads.
//! - [`auth`]: who is calling (none/dev/JWT) and what they may do.
//! - [`reconciler`]: drives the [`mcp_gateway_runtimes::Runtime`] to match the store, and keeps
//!   the observed endpoints every request reads.
//! - [`http_client`]: the one outbound HTTP client (the only module here that names hyper).

pub mod address;
pub mod auth;
pub mod config;
pub mod http_client;
pub mod reconciler;
pub mod store;
