//! The live counters of one adapter or tool, and the bounded label sets they are kept under.
//!
//! Every [`crate::domain::model::Resource`] carries a [`ResourceMetrics`]: made when the resource is
//! created, shared by every later version of it (an update clones the resource, and with it this
//! handle), dropped with the resource. The proxy and the router already hold the resource for
//! every request (the store's in-memory catalog, the router's tool table), so recording is a
//! pointer away: no lookup, no lock, no label hashing, no allocation. `/metrics` reads the
//! counters of the resources that exist, so a deleted resource's series disappear and a request
//! naming an unknown one creates nothing.
//!
//! Labels come from fixed tables (methods, status codes, failure kinds, outcomes), so each
//! resource has a bounded number of series whatever clients send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};

use super::histogram::Histogram;
use crate::domain::kind::ResourceKind;

/// Status codes counted under their own value. Any other code counts under its class
/// (`1xx`..`5xx`, or `other` past 599), so a misbehaving upstream cannot add series.
pub const CODE_LABELS: [&str; 24] = [
    "200", "201", "202", "204", "400", "401", "403", "404", "405", "406", "409", "413", "415",
    "429", "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "other",
];

/// The slot of `code` in [`CODE_LABELS`].
pub fn code_slot(code: u16) -> usize {
    match code {
        200 => 0,
        201 => 1,
        202 => 2,
        204 => 3,
        400 => 4,
        401 => 5,
        403 => 6,
        404 => 7,
        405 => 8,
        406 => 9,
        409 => 10,
        413 => 11,
        415 => 12,
        429 => 13,
        500 => 14,
        502 => 15,
        503 => 16,
        504 => 17,
        // The class: 1xx (slot 18) to 5xx (slot 22), then `other`.
        _ => match code / 100 {
            class @ 1..=5 => 17 + usize::from(class),
            _ => 23,
        },
    }
}

/// Answers counted by status code.
#[derive(Default)]
pub struct StatusCounters(pub(crate) [AtomicU64; CODE_LABELS.len()]);

impl StatusCounters {
    pub(crate) fn count(&self, status: StatusCode) {
        self.0[code_slot(status.as_u16())].fetch_add(1, Ordering::Relaxed);
    }

    /// `(code label, count)` for every code seen at least once.
    pub(crate) fn seen(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CODE_LABELS
            .iter()
            .zip(&self.0)
            .map(|(label, count)| (*label, count.load(Ordering::Relaxed)))
            .filter(|(_, count)| *count > 0)
    }
}

/// The data plane's methods; anything else (none reaches the proxy today) counts as `other`.
pub const PROXY_METHODS: [&str; 4] = ["POST", "GET", "DELETE", "other"];

fn proxy_method_slot(method: &Method) -> usize {
    match *method {
        Method::POST => 0,
        Method::GET => 1,
        Method::DELETE => 2,
        _ => 3,
    }
}

/// Why a data-plane request got no answer from its upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No connection: refused, unreachable, or not within `proxy.connect_timeout_ms`.
    Connect,
    /// No response head within `proxy.idle_timeout_secs`.
    Timeout,
    /// Connected, but the exchange failed: reset, a malformed answer, an invalid session id.
    Exchange,
    /// No ready replica to send it to.
    NoReadyReplica,
}

impl UpstreamFailure {
    pub const ALL: [UpstreamFailure; 4] = [
        UpstreamFailure::Connect,
        UpstreamFailure::Timeout,
        UpstreamFailure::Exchange,
        UpstreamFailure::NoReadyReplica,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Exchange => "exchange",
            UpstreamFailure::NoReadyReplica => "no_ready_replica",
        }
    }

    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// How a `tools/call` through the router ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The tool server answered 2xx.
    Ok,
    /// The tool server answered with an error status.
    ToolError,
    /// The arguments failed the tool's `inputSchema` (or the schema is unusable): the tool
    /// server was not called.
    InvalidArguments,
    /// No answer from the tool server: no ready replica, no connection, a timeout, an answer
    /// too large, a broken exchange.
    UpstreamFailure,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 4] = [
        CallOutcome::Ok,
        CallOutcome::ToolError,
        CallOutcome::InvalidArguments,
        CallOutcome::UpstreamFailure,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::ToolError => "tool_error",
            CallOutcome::InvalidArguments => "invalid_arguments",
            CallOutcome::UpstreamFailure => "upstream_failure",
        }
    }

    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// The data plane's counters of one adapter.
#[derive(Default)]
pub struct AdapterMetrics {
    /// By [`PROXY_METHODS`] slot, then status.
    pub(crate) requests: [StatusCounters; PROXY_METHODS.len()],
    /// From the request's arrival to its response head (the upstream's, or the gateway's own
    /// error), for every request counted in `requests`.
    pub(crate) head: Histogram,
    /// By [`UpstreamFailure`].
    pub(crate) failures: [AtomicU64; UpstreamFailure::ALL.len()],
    /// Requests sent again to another ready replica after their first replica refused the
    /// connection (requests without a session only; each is retried at most once).
    pub(crate) retries: AtomicU64,
    pub(crate) sessions_minted: AtomicU64,
    pub(crate) sessions_rejected: AtomicU64,
    /// Exchanges sent upstream whose response (JSON or SSE stream) has not ended.
    pub(crate) open_streams: AtomicU64,
}

/// The router's counters of one tool.
#[derive(Default)]
pub struct ToolMetrics {
    /// By [`CallOutcome`].
    pub(crate) calls: [AtomicU64; CallOutcome::ALL.len()],
    pub(crate) duration: Histogram,
}

/// The live counters of one resource; cheap to clone (one `Arc`). Recording methods that do
/// not fit the resource's kind do nothing.
#[derive(Clone)]
pub enum ResourceMetrics {
    Adapter(Arc<AdapterMetrics>),
    Tool(Arc<ToolMetrics>),
}

impl ResourceMetrics {
    pub fn new(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::Adapter => ResourceMetrics::Adapter(Arc::default()),
            ResourceKind::Tool => ResourceMetrics::Tool(Arc::default()),
        }
    }

    /// Whether both handles count for the same resource.
    #[cfg(test)]
    pub(crate) fn shares_counters_with(&self, other: &Self) -> bool {
        match (self, other) {
            (ResourceMetrics::Adapter(a), ResourceMetrics::Adapter(b)) => Arc::ptr_eq(a, b),
            (ResourceMetrics::Tool(a), ResourceMetrics::Tool(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Open data-plane exchanges.
    #[cfg(test)]
    pub(crate) fn open_streams(&self) -> u64 {
        match self {
            ResourceMetrics::Adapter(adapter) => adapter.open_streams.load(Ordering::Relaxed),
            ResourceMetrics::Tool(_) => 0,
        }
    }

    /// A data-plane request was answered with `status`, its head `elapsed` after it arrived.
    pub fn answered(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        if let ResourceMetrics::Adapter(adapter) = self {
            adapter.requests[proxy_method_slot(method)].count(status);
            adapter.head.observe(elapsed);
        }
    }

    pub fn upstream_failed(&self, failure: UpstreamFailure) {
        if let ResourceMetrics::Adapter(adapter) = self {
            adapter.failures[failure.slot()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request whose replica refused the connection goes to another ready replica.
    pub fn retried(&self) {
        if let ResourceMetrics::Adapter(adapter) = self {
            adapter.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn session_minted(&self) {
        if let ResourceMetrics::Adapter(adapter) = self {
            adapter.sessions_minted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A session token was refused (answered 404).
    pub fn session_rejected(&self) {
        if let ResourceMetrics::Adapter(adapter) = self {
            adapter.sessions_rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an exchange as open until the returned guard is dropped.
    pub fn open_stream(&self) -> OpenStream {
        match self {
            ResourceMetrics::Adapter(adapter) => {
                adapter.open_streams.fetch_add(1, Ordering::Relaxed);
                OpenStream(Some(adapter.clone()))
            }
            ResourceMetrics::Tool(_) => OpenStream(None),
        }
    }

    /// A `tools/call` ended with `outcome`, `elapsed` after the router got it.
    pub fn tool_called(&self, outcome: CallOutcome, elapsed: Duration) {
        if let ResourceMetrics::Tool(tool) = self {
            tool.calls[outcome.slot()].fetch_add(1, Ordering::Relaxed);
            tool.duration.observe(elapsed);
        }
    }
}

/// Live counters are not part of a resource's value: two versions of a resource compare by
/// what users set, whatever traffic they saw.
impl PartialEq for ResourceMetrics {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ResourceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResourceMetrics")
    }
}

/// An open data-plane exchange, counted in `mcp_gateway_proxy_open_streams` until dropped.
pub struct OpenStream(Option<Arc<AdapterMetrics>>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        if let Some(adapter) = &self.0 {
            adapter.open_streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_codes_have_their_own_slot_and_others_their_class() {
        for (slot, label) in CODE_LABELS.iter().enumerate().take(18) {
            let code: u16 = label.parse().expect("a number");
            assert_eq!(code_slot(code), slot, "{code}");
        }
        let label = |code| CODE_LABELS[code_slot(code)];
        assert_eq!(label(101), "1xx");
        assert_eq!(label(206), "2xx");
        assert_eq!(label(307), "3xx");
        assert_eq!(label(418), "4xx");
        assert_eq!(label(599), "5xx");
        assert_eq!(label(999), "other");
    }

    #[test]
    fn counters_follow_the_kind_and_streams_close_on_drop() {
        let adapter = ResourceMetrics::new(ResourceKind::Adapter);
        adapter.answered(&Method::POST, StatusCode::OK, Duration::from_millis(1));
        adapter.answered(&Method::PATCH, StatusCode::IM_A_TEAPOT, Duration::ZERO);
        adapter.upstream_failed(UpstreamFailure::NoReadyReplica);
        adapter.retried();
        adapter.tool_called(CallOutcome::Ok, Duration::ZERO); // not a tool: ignored
        let ResourceMetrics::Adapter(counters) = &adapter else {
            panic!("an adapter")
        };
        assert_eq!(
            counters.requests[0].seen().collect::<Vec<_>>(),
            [("200", 1)]
        );
        assert_eq!(
            counters.requests[3].seen().collect::<Vec<_>>(),
            [("4xx", 1)]
        );
        assert_eq!(counters.head.snapshot().count, 2);
        assert_eq!(
            counters.failures[UpstreamFailure::NoReadyReplica.slot()].load(Ordering::Relaxed),
            1
        );
        assert_eq!(counters.retries.load(Ordering::Relaxed), 1);
        let open = adapter.open_stream();
        let clone = adapter.clone();
        assert_eq!(clone.open_streams(), 1, "clones share the counters");
        drop(open);
        assert_eq!(adapter.open_streams(), 0);
        assert_eq!(clone, adapter);

        let tool = ResourceMetrics::new(ResourceKind::Tool);
        tool.tool_called(CallOutcome::InvalidArguments, Duration::from_millis(2));
        tool.session_minted(); // not an adapter: ignored
        tool.retried(); // likewise
        let ResourceMetrics::Tool(counters) = &tool else {
            panic!("a tool")
        };
        assert_eq!(counters.calls[2].load(Ordering::Relaxed), 1);
        assert_eq!(counters.duration.snapshot().count, 1);
    }
}
