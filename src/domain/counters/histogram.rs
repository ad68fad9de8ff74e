//! A latency histogram of atomics: one `fetch_add` per bucket and one for the sum per
//! observation, no lock, no allocation. Buckets are fixed (Prometheus histograms cannot change
//! their bounds without breaking queries across the change anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds: 0.5 ms to 60 s, covering both a proxied answer
/// (a fraction of a millisecond to seconds) and a tool call (up to `router.call_timeout_secs`,
/// 60 s by default). Observations above the last bound land in `+Inf` only.
const BOUNDS_NANOS: [u64; 16] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// Durations observed so far, by bucket.
#[derive(Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is past every bound.
    counts: [AtomicU64; BOUNDS_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram read at one moment, ready to expose.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// `(upper bound in seconds, cumulative count)` for every finite bound.
    pub buckets: Vec<(f64, u64)>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BOUNDS_NANOS.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts now. Buckets are read one by one while requests go on, so a snapshot may miss
    /// an observation made meanwhile; `count` is the sum of the buckets read, so the `+Inf`
    /// bucket and `_count` always agree.
    pub fn snapshot(&self) -> Snapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(BOUNDS_NANOS.len());
        for (bound, count) in BOUNDS_NANOS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((*bound as f64 / 1e9, cumulative));
        }
        let count = cumulative + self.counts[BOUNDS_NANOS.len()].load(Ordering::Relaxed);
        Snapshot {
            buckets,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_micros(500)); // on the bound: le="0.0005"
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(120)); // past every bound
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.buckets[0], (0.0005, 2));
        assert_eq!(snapshot.buckets[1], (0.001, 2));
        assert_eq!(snapshot.buckets[3], (0.005, 3));
        assert_eq!(snapshot.buckets.last(), Some(&(60.0, 3)));
        assert!(
            (snapshot.sum_seconds - 120.0036).abs() < 1e-9,
            "{snapshot:?}"
        );
    }

    #[test]
    fn bounds_are_increasing_and_print_as_written() {
        assert!(BOUNDS_NANOS.windows(2).all(|pair| pair[0] < pair[1]));
        let printed: Vec<String> = Histogram::default()
            .snapshot()
            .buckets
            .iter()
            .map(|(bound, _)| bound.to_string())
            .collect();
        assert_eq!(printed[0], "0.0005");
        assert_eq!(printed[2], "0.0025");
        assert_eq!(printed[15], "60");
    }
}
