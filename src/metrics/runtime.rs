//! The reconciler's calls to the runtime (Docker or Kubernetes), counted by operation and
//! outcome: a gateway that cannot reach its engine, or whose applies keep failing, shows here
//! before anyone reads a log.

use std::sync::atomic::{AtomicU64, Ordering};

/// One kind of call the reconciler makes to the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeOp {
    /// Create or update a workload (and wait for it to converge).
    Apply,
    /// Remove a workload.
    Remove,
    /// Read a workload's ready replicas.
    Endpoints,
    /// List the workloads the gateway manages (to reap orphans).
    ListManaged,
}

impl RuntimeOp {
    pub const ALL: [RuntimeOp; 4] = [
        RuntimeOp::Apply,
        RuntimeOp::Remove,
        RuntimeOp::Endpoints,
        RuntimeOp::ListManaged,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RuntimeOp::Apply => "apply",
            RuntimeOp::Remove => "remove",
            RuntimeOp::Endpoints => "endpoints",
            RuntimeOp::ListManaged => "list_managed",
        }
    }
}

/// Calls by operation: `[ok, error]` each.
#[derive(Debug, Default)]
pub struct RuntimeMetrics {
    calls: [[AtomicU64; 2]; RuntimeOp::ALL.len()],
}

impl RuntimeMetrics {
    /// Counts one finished call (a cancelled apply is not counted).
    pub fn record<T, E>(&self, op: RuntimeOp, result: &Result<T, E>) {
        self.calls[op as usize][usize::from(result.is_err())].fetch_add(1, Ordering::Relaxed);
    }

    /// (ok, error) calls of `op` so far.
    pub fn calls(&self, op: RuntimeOp) -> (u64, u64) {
        let [ok, error] = &self.calls[op as usize];
        (ok.load(Ordering::Relaxed), error.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_operation_and_outcome() {
        let metrics = RuntimeMetrics::default();
        metrics.record(RuntimeOp::Apply, &Ok::<(), ()>(()));
        metrics.record(RuntimeOp::Apply, &Err::<(), _>("no image"));
        metrics.record(RuntimeOp::Apply, &Err::<(), _>("no image"));
        metrics.record(RuntimeOp::ListManaged, &Ok::<_, ()>(vec![1]));
        assert_eq!(metrics.calls(RuntimeOp::Apply), (1, 2));
        assert_eq!(metrics.calls(RuntimeOp::ListManaged), (1, 0));
        assert_eq!(metrics.calls(RuntimeOp::Remove), (0, 0));
        assert_eq!(metrics.calls(RuntimeOp::Endpoints), (0, 0));
    }
}
