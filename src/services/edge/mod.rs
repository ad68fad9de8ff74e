//! The edge pieces every MCP endpoint shares (the data plane and the tool router alike), so each
//! rule is written once:
//!
//! - [`door`]: admission: a browser `Origin` must be allowed, then the caller authenticates.
//! - [`cors`]: CORS grants and preflights (`proxy.cors`).
//! - [`origin`]: which browser origins are allowed (DNS-rebinding protection).
//! - [`jsonrpc`]: HTTP errors with JSON-RPC bodies, as MCP clients expect them.
//! - [`headers`]: header hygiene between clients and upstream servers.
//! - [`balancer`]: replica choice, one round-robin for every caller.
//! - [`session`]: sealed session tokens, so neither endpoint needs a session store.
//! - [`adapters`]: the in-process way to an adapter's endpoint for the gateway's own clients.
//!
//! Uses the infrastructure's auth; knows nothing of adapters' or tools' own logic.

pub mod adapters;
pub mod balancer;
pub mod cors;
pub mod door;
pub mod headers;
pub mod jsonrpc;
pub mod origin;
pub mod session;

pub use adapters::AdapterPort;
pub use balancer::Balancer;
pub use door::Door;
pub use origin::OriginPolicy;
