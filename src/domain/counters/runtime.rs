//! The reconciler's calls to the runtime (Docker or Kubernetes), counted and timed by operation
//! and outcome: a gateway that cannot reach its engine, or whose applies keep failing or
//! crawling, shows here before anyone reads a log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::histogram::{Histogram, Snapshot};

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

    fn slot(self) -> usize {
        self as usize
    }
}

/// Calls by operation: `[ok, error]` each, and how long they took (any outcome).
#[derive(Default)]
pub struct RuntimeMetrics {
    calls: [[AtomicU64; 2]; RuntimeOp::ALL.len()],
    durations: [Histogram; RuntimeOp::ALL.len()],
}

impl RuntimeMetrics {
    /// Counts one finished call (a cancelled apply is not counted).
    pub fn record<T, E>(&self, op: RuntimeOp, result: &Result<T, E>, took: Duration) {
        self.calls[op.slot()][usize::from(result.is_err())].fetch_add(1, Ordering::Relaxed);
        self.durations[op.slot()].observe(took);
    }

    /// How long the calls of `op` took so far.
    pub fn durations(&self, op: RuntimeOp) -> Snapshot {
        self.durations[op.slot()].snapshot()
    }

    /// (ok, error) calls of `op` so far.
    pub fn calls(&self, op: RuntimeOp) -> (u64, u64) {
        let [ok, error] = &self.calls[op.slot()];
        (ok.load(Ordering::Relaxed), error.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_operation_and_outcome() {
        let metrics = RuntimeMetrics::default();
        let ms = Duration::from_millis;
        metrics.record(RuntimeOp::Apply, &Ok::<(), ()>(()), ms(800));
        metrics.record(RuntimeOp::Apply, &Err::<(), _>("no image"), ms(3));
        metrics.record(RuntimeOp::Apply, &Err::<(), _>("no image"), ms(3));
        metrics.record(RuntimeOp::ListManaged, &Ok::<_, ()>(vec![1]), ms(2));
        assert_eq!(metrics.calls(RuntimeOp::Apply), (1, 2));
        let applies = metrics.durations(RuntimeOp::Apply);
        assert_eq!(applies.count, 3, "every outcome is timed");
        assert!((applies.sum_seconds - 0.806).abs() < 1e-9, "{applies:?}");
        assert_eq!(metrics.durations(RuntimeOp::Remove).count, 0);
        assert_eq!(metrics.calls(RuntimeOp::ListManaged), (1, 0));
        assert_eq!(metrics.calls(RuntimeOp::Remove), (0, 0));
        assert_eq!(metrics.calls(RuntimeOp::Endpoints), (0, 0));
    }
}
