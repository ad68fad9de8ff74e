//! The gateway's live counters: plain atomics, read by the `/metrics` exposition.
//!
//! - [`live`]: each adapter's and tool's counters ([`ResourceMetrics`]), carried by the resource
//!   itself, so the data plane and the router count with no lookup, lock or allocation.
//! - [`api`]: the control plane's answers by route template ([`ApiMetrics`]).
//! - [`runtime`]: the reconciler's calls to the runtime ([`RuntimeMetrics`]).
//! - [`histogram`]: the fixed-bucket latency histogram they share.
//!
//! Owns: the counters and their bounded label tables. Uses: [`super::kind`] only. Must not
//! know how the counters are exposed (that is `services::metrics`) or who bumps them.

pub mod api;
pub mod histogram;
pub mod live;
pub mod runtime;

pub use api::ApiMetrics;
pub use live::{CallOutcome, OpenStream, ResourceMetrics, UpstreamFailure};
pub use runtime::{RuntimeMetrics, RuntimeOp};
