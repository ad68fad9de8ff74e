//! **Domain**, the bottom layer: what an adapter and a tool are, the rules their fields obey, and
//! the counters they carry. Pure data and pure functions: no HTTP framework, no network or file
//! I/O, no async runtime. Everything above may use it; it uses only the `runtimes` crate's
//! workload types.
//!
//! - [`kind`]: adapter or tool.
//! - [`model`]: [`model::Resource`], [`model::ResourceSpec`], their defaults and views.
//! - [`validate`]: every input rule (JSON bodies and config tables alike), and the tool-schema
//!   compiler the router uses, so a schema the API accepts always compiles there.
//! - [`stdio`]: an adapter's transport (HTTP or stdio) and how a stdio process is shared.
//! - [`counters`]: the live counters `/metrics` exposes.
//! - [`federation`]: the names adapters' tools get on `/mcp`.
//! - [`clock`]: the timestamps the store and the session tokens use.

pub mod clock;
pub mod counters;
pub mod federation;
pub mod kind;
pub mod model;
pub mod stdio;
pub mod validate;
