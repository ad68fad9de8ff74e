//! Replica choice: one round-robin over ready replicas, shared by the data plane and the tool
//! router.

use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_gateway_runtimes::Endpoint;

/// Spreads new sessions, stateless requests and tool calls over ready replicas.
#[derive(Default)]
pub struct Balancer {
    next: AtomicUsize,
}

impl Balancer {
    /// A ready replica in turn, skipping `except` (the one that just refused a connection).
    pub fn pick<'a>(&self, endpoints: &'a [Endpoint], except: Option<u32>) -> Option<&'a Endpoint> {
        let eligible = |e: &&Endpoint| e.ready && Some(e.instance) != except;
        let count = endpoints.iter().filter(eligible).count();
        if count == 0 {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % count;
        endpoints.iter().filter(eligible).nth(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(instance: u32, ready: bool) -> Endpoint {
        Endpoint {
            instance,
            base_url: format!("http://127.0.0.1:{}", 9000 + instance),
            ready,
        }
    }

    #[test]
    fn turns_over_ready_replicas_and_skips_the_refused_one() {
        let balancer = Balancer::default();
        let endpoints = [endpoint(0, true), endpoint(1, false), endpoint(2, true)];
        let picked: Vec<u32> = (0..4)
            .map(|_| balancer.pick(&endpoints, None).expect("ready").instance)
            .collect();
        assert_eq!(picked, [0, 2, 0, 2]);
        for _ in 0..3 {
            assert_eq!(
                balancer.pick(&endpoints, Some(0)).expect("other").instance,
                2
            );
        }
        assert!(balancer.pick(&endpoints, Some(2)).is_some());
        assert!(balancer.pick(&[endpoint(0, false)], None).is_none());
        assert!(balancer.pick(&[endpoint(0, true)], Some(0)).is_none());
    }
}
