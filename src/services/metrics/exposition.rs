//! The scrape: every series, read from the live counters, the store's catalog and the
//! reconciler's observed endpoints at this moment, written in the Prometheus text format
//! (version 0.0.4) by the `prometheus` crate's encoder.
//!
//! Series exist only for resources that exist now (the catalog is the list), so a deleted
//! adapter's series are gone from the next scrape.

use std::sync::atomic::Ordering;

use mcp_gateway_runtimes::Endpoint;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

use crate::domain::counters::api::{API_METHODS, ApiMetrics};
use crate::domain::counters::histogram::Snapshot;
use crate::domain::counters::live::{
    AdapterMetrics, CallOutcome, PROXY_METHODS, ResourceMetrics, ToolMetrics, UpstreamFailure,
};
use crate::domain::counters::runtime::{RuntimeMetrics, RuntimeOp};
use crate::domain::model::{Resource, ResourceKind};
use crate::infra::reconciler::DeployState;
use mcp_gateway_runtimes::{WorkloadId, WorkloadKind};

/// What one scrape reads.
pub struct Scrape<'a> {
    pub adapters: &'a [std::sync::Arc<Resource>],
    pub tools: &'a [std::sync::Arc<Resource>],
    /// The ready endpoints of an image-based resource, as the reconciler last saw them.
    pub endpoints: &'a dyn Fn(&Resource) -> Option<std::sync::Arc<Vec<Endpoint>>>,
    pub api: &'a ApiMetrics,
    /// The reconciler's calls to the runtime.
    pub runtime: &'a RuntimeMetrics,
    /// What the reconciler last did for each workload it works on.
    pub workloads: &'a [(WorkloadId, DeployState)],
}

/// The exposition text.
pub fn render(scrape: &Scrape<'_>) -> Result<String, String> {
    let mut families = Vec::new();
    state(scrape, &mut families);
    data_plane(scrape.adapters, &mut families);
    tool_router(scrape.tools, &mut families);
    control_plane(scrape.api, &mut families);
    runtime(scrape, &mut families);
    // An empty family is an error to the encoder (and says nothing): leave it out.
    families.retain(|family| !family.get_metric().is_empty());
    let mut text = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&families, &mut text)
        .map_err(|err| format!("cannot encode the metrics: {err}"))?;
    Ok(text)
}

fn state(scrape: &Scrape<'_>, out: &mut Vec<MetricFamily>) {
    let mut build = family(
        "mcp_gateway_build_info",
        "The running gateway's version (always 1).",
        MetricType::GAUGE,
    );
    build
        .mut_metric()
        .push(gauge(&[("version", env!("CARGO_PKG_VERSION"))], 1.0));
    out.push(build);

    let mut resources = family(
        "mcp_gateway_resources",
        "Registered resources, by kind.",
        MetricType::GAUGE,
    );
    let mut desired = family(
        "mcp_gateway_desired_replicas",
        "Replicas a resource asks for (replicaCount; 1 for a url resource).",
        MetricType::GAUGE,
    );
    let mut ready = family(
        "mcp_gateway_ready_replicas",
        "Replicas of an image-based resource that are ready, as the reconciler last observed \
         them (url resources have none to observe).",
        MetricType::GAUGE,
    );
    for (kind, list) in [
        (ResourceKind::Adapter, scrape.adapters),
        (ResourceKind::Tool, scrape.tools),
    ] {
        resources
            .mut_metric()
            .push(gauge(&[("kind", kind.as_str())], list.len() as f64));
        for resource in list {
            let labels = [("kind", kind.as_str()), ("name", resource.name())];
            desired
                .mut_metric()
                .push(gauge(&labels, f64::from(resource.spec.replica_count)));
            if resource.is_image_based() {
                let count = (scrape.endpoints)(resource)
                    .map_or(0, |endpoints| endpoints.iter().filter(|e| e.ready).count());
                ready.mut_metric().push(gauge(&labels, count as f64));
            }
        }
    }
    out.extend([resources, desired, ready]);
}

fn data_plane(adapters: &[std::sync::Arc<Resource>], out: &mut Vec<MetricFamily>) {
    let mut requests = family(
        "mcp_gateway_proxy_requests_total",
        "Data-plane requests (/adapters/{name}/mcp) answered, by method and status code (codes \
         outside a fixed list count under their class, e.g. 4xx).",
        MetricType::COUNTER,
    );
    let mut head = family(
        "mcp_gateway_proxy_response_head_seconds",
        "Time from a data-plane request's arrival to its response head: the upstream's, or the \
         gateway's own error.",
        MetricType::HISTOGRAM,
    );
    let mut failures = family(
        "mcp_gateway_proxy_upstream_failures_total",
        "Data-plane requests that got no answer from the upstream, by kind: connect (refused or \
         unreachable; a request retried on another replica counts once per failed attempt), \
         timeout (no response head within proxy.idle_timeout_secs), exchange (reset or malformed \
         answer), no_ready_replica. A client's body over proxy.max_body_bytes is the client's \
         failure, not the upstream's: it shows as code 413 in mcp_gateway_proxy_requests_total.",
        MetricType::COUNTER,
    );
    let mut retries = family(
        "mcp_gateway_proxy_retries_total",
        "Data-plane requests without a session sent again to another ready replica after their \
         first replica refused the connection (each request is retried at most once; the \
         refused attempt also counts as a connect failure).",
        MetricType::COUNTER,
    );
    let mut minted = family(
        "mcp_gateway_proxy_sessions_minted_total",
        "New sessions: session tokens the gateway sealed for an upstream Mcp-Session-Id answering a request that had none.",
        MetricType::COUNTER,
    );
    let mut rejected = family(
        "mcp_gateway_proxy_sessions_rejected_total",
        "Requests whose session token did not open, belonged to another user or adapter, or \
         named a replica that is gone (answered 404).",
        MetricType::COUNTER,
    );
    let mut open = family(
        "mcp_gateway_proxy_open_streams",
        "Data-plane exchanges in flight: sent upstream, response (JSON or SSE stream) not ended.",
        MetricType::GAUGE,
    );
    for resource in adapters {
        let ResourceMetrics::Adapter(counters) = &resource.metrics else {
            continue;
        };
        let AdapterMetrics {
            requests: by_method,
            head: head_histogram,
            failures: by_kind,
            retries: retried,
            sessions_minted,
            sessions_rejected,
            open_streams,
        } = &**counters;
        let name = resource.name();
        for (method, codes) in PROXY_METHODS.iter().zip(by_method) {
            for (code, count) in codes.seen() {
                requests.mut_metric().push(counter(
                    &[("adapter", name), ("method", method), ("code", code)],
                    count,
                ));
            }
        }
        head.mut_metric()
            .push(histogram(&[("adapter", name)], head_histogram.snapshot()));
        for failure in UpstreamFailure::ALL {
            failures.mut_metric().push(counter(
                &[("adapter", name), ("kind", failure.label())],
                by_kind[failure.slot()].load(Ordering::Relaxed),
            ));
        }
        retries.mut_metric().push(counter(
            &[("adapter", name)],
            retried.load(Ordering::Relaxed),
        ));
        minted.mut_metric().push(counter(
            &[("adapter", name)],
            sessions_minted.load(Ordering::Relaxed),
        ));
        rejected.mut_metric().push(counter(
            &[("adapter", name)],
            sessions_rejected.load(Ordering::Relaxed),
        ));
        open.mut_metric().push(gauge(
            &[("adapter", name)],
            open_streams.load(Ordering::Relaxed) as f64,
        ));
    }
    out.extend([requests, head, failures, retries, minted, rejected, open]);
}

fn tool_router(tools: &[std::sync::Arc<Resource>], out: &mut Vec<MetricFamily>) {
    let mut calls = family(
        "mcp_gateway_router_tool_calls_total",
        "tools/call through the tool router (/mcp), by outcome: ok (the tool server answered \
         2xx), tool_error (it answered an error status), invalid_arguments (refused by the \
         tool's inputSchema; the tool server was not called), upstream_failure (no answer: no \
         ready replica, no connection, timeout, answer too large).",
        MetricType::COUNTER,
    );
    let mut duration = family(
        "mcp_gateway_router_tool_call_duration_seconds",
        "Time the tool router took to answer a tools/call, whatever its outcome.",
        MetricType::HISTOGRAM,
    );
    for resource in tools {
        let ResourceMetrics::Tool(tool) = &resource.metrics else {
            continue;
        };
        let ToolMetrics {
            calls: by_outcome,
            duration: histogram_of,
        } = &**tool;
        let name = resource.name();
        for outcome in CallOutcome::ALL {
            calls.mut_metric().push(counter(
                &[("tool", name), ("outcome", outcome.label())],
                by_outcome[outcome.slot()].load(Ordering::Relaxed),
            ));
        }
        duration
            .mut_metric()
            .push(histogram(&[("tool", name)], histogram_of.snapshot()));
    }
    out.extend([calls, duration]);
}

fn control_plane(api: &ApiMetrics, out: &mut Vec<MetricFamily>) {
    let mut requests = family(
        "mcp_gateway_api_requests_total",
        "Requests the gateway answered outside the data plane (control-plane API, /mcp, health, \
         metadata, /metrics), by route template, method and status code; requests matching no \
         route count under route=\"unmatched\".",
        MetricType::COUNTER,
    );
    for (route, counters) in &api.routes {
        for (method, codes) in API_METHODS.iter().zip(&counters.0) {
            for (code, count) in codes.seen() {
                requests.mut_metric().push(counter(
                    &[("route", route), ("method", method), ("code", code)],
                    count,
                ));
            }
        }
    }
    out.push(requests);
}

/// Deploy states in the order they are written (the label values of `workload_state`).
const DEPLOY_STATES: [&str; 4] = ["pending", "applying", "applied", "failed"];

fn deploy_state_label(state: &DeployState) -> &'static str {
    match state {
        DeployState::Pending => "pending",
        DeployState::Applying => "applying",
        DeployState::Applied => "applied",
        DeployState::Failed(_) => "failed",
    }
}

fn runtime(scrape: &Scrape<'_>, out: &mut Vec<MetricFamily>) {
    let mut calls = family(
        "mcp_gateway_runtime_calls_total",
        "The reconciler's calls to the runtime (Docker or Kubernetes), by operation (apply, \
         remove, endpoints, list_managed) and outcome (ok, error).",
        MetricType::COUNTER,
    );
    for op in RuntimeOp::ALL {
        let (ok, error) = scrape.runtime.calls(op);
        for (outcome, count) in [("ok", ok), ("error", error)] {
            calls.mut_metric().push(counter(
                &[("operation", op.label()), ("outcome", outcome)],
                count,
            ));
        }
    }
    let mut durations = family(
        "mcp_gateway_runtime_call_duration_seconds",
        "How long the reconciler's calls to the runtime took, any outcome, by operation (an apply \
         waits for its replicas to be ready).",
        MetricType::HISTOGRAM,
    );
    for op in RuntimeOp::ALL {
        durations.mut_metric().push(histogram(
            &[("operation", op.label())],
            scrape.runtime.durations(op),
        ));
    }
    out.extend([calls, durations]);

    let mut states = family(
        "mcp_gateway_workload_state",
        "What the reconciler last did for an image-based resource's workload: 1 for the current \
         state (pending, applying, applied, failed: the last apply failed, see its status), 0 for \
         the others.",
        MetricType::GAUGE,
    );
    let mut workloads: Vec<&(WorkloadId, DeployState)> = scrape.workloads.iter().collect();
    workloads.sort_by(|a, b| (a.0.kind as u8, &a.0.name).cmp(&(b.0.kind as u8, &b.0.name)));
    for (id, state) in workloads {
        let kind = match id.kind {
            WorkloadKind::Adapter => "adapter",
            WorkloadKind::Tool => "tool",
        };
        let current = deploy_state_label(state);
        for label in DEPLOY_STATES {
            states.mut_metric().push(gauge(
                &[("kind", kind), ("name", &id.name), ("state", label)],
                f64::from(u8::from(label == current)),
            ));
        }
    }
    out.push(states);
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.to_string());
            pair.set_value(value.to_string());
            pair
        })
        .collect()
}

fn counter(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut metric = Metric::from_label(labels(pairs));
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    metric.set_counter(counter);
    metric
}

fn gauge(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut metric = Metric::from_label(labels(pairs));
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    metric.set_gauge(gauge);
    metric
}

fn histogram(pairs: &[(&str, &str)], snapshot: Snapshot) -> Metric {
    let mut metric = Metric::from_label(labels(pairs));
    let mut histogram = Histogram::default();
    histogram.set_sample_count(snapshot.count);
    histogram.set_sample_sum(snapshot.sum_seconds);
    histogram.set_bucket(
        snapshot
            .buckets
            .into_iter()
            .map(|(bound, cumulative)| {
                let mut bucket = Bucket::default();
                bucket.set_upper_bound(bound);
                bucket.set_cumulative_count(cumulative);
                bucket
            })
            .collect(),
    );
    metric.set_histogram(histogram);
    metric
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http::{Method, StatusCode};

    use super::*;
    use crate::domain::model::{ResourceSpec, Source};

    fn resource(kind: ResourceKind, spec: ResourceSpec) -> Arc<Resource> {
        Arc::new(Resource {
            kind,
            spec,
            created_by: "alice".into(),
            created_at: String::new(),
            last_updated_at: String::new(),
            source: Source::Api,
            metrics: crate::domain::counters::ResourceMetrics::new(kind),
        })
    }

    #[test]
    fn state_comes_from_the_catalog_and_the_observed_endpoints() {
        let mut image = ResourceSpec::remote("img", "http://unused");
        image.url = None;
        image.image_name = Some("mcp-example".into());
        image.replica_count = 3;
        let adapters = vec![
            resource(ResourceKind::Adapter, image),
            resource(
                ResourceKind::Adapter,
                ResourceSpec::remote("remote", "http://127.0.0.1:9/mcp"),
            ),
        ];
        adapters[1]
            .metrics
            .answered(&Method::GET, StatusCode::OK, Duration::from_millis(3));
        let endpoint = |instance, ready| Endpoint {
            instance,
            base_url: format!("http://127.0.0.1:{}", 9000 + instance),
            ready,
        };
        let observed = Arc::new(vec![
            endpoint(0, true),
            endpoint(1, false),
            endpoint(2, true),
        ]);
        let endpoints = |resource: &Resource| (resource.name() == "img").then(|| observed.clone());
        let api = ApiMetrics::new(["/adapters".to_string()]);
        let runtime = RuntimeMetrics::default();
        runtime.record(
            RuntimeOp::Apply,
            &Err::<(), _>("no such image"),
            Duration::from_millis(4),
        );
        runtime.record(RuntimeOp::Endpoints, &Ok::<(), ()>(()), Duration::ZERO);
        let workloads = [
            (
                WorkloadId::new(WorkloadKind::Adapter, "img"),
                DeployState::Failed("no such image".into()),
            ),
            (
                WorkloadId::new(WorkloadKind::Tool, "weather"),
                DeployState::Applied,
            ),
        ];
        let text = render(&Scrape {
            adapters: &adapters,
            tools: &[],
            endpoints: &endpoints,
            api: &api,
            runtime: &runtime,
            workloads: &workloads,
        })
        .expect("renders");
        for line in [
            "mcp_gateway_resources{kind=\"adapter\"} 2",
            "mcp_gateway_resources{kind=\"tool\"} 0",
            "mcp_gateway_desired_replicas{kind=\"adapter\",name=\"img\"} 3",
            "mcp_gateway_ready_replicas{kind=\"adapter\",name=\"img\"} 2",
            "mcp_gateway_proxy_requests_total{adapter=\"remote\",method=\"GET\",code=\"200\"} 1",
            "mcp_gateway_proxy_response_head_seconds_bucket{adapter=\"remote\",le=\"0.0025\"} 0",
            "mcp_gateway_proxy_response_head_seconds_bucket{adapter=\"remote\",le=\"0.005\"} 1",
            "mcp_gateway_proxy_response_head_seconds_bucket{adapter=\"remote\",le=\"+Inf\"} 1",
            "mcp_gateway_proxy_response_head_seconds_count{adapter=\"remote\"} 1",
            "# TYPE mcp_gateway_proxy_requests_total counter",
            "mcp_gateway_proxy_retries_total{adapter=\"remote\"} 0",
            "# TYPE mcp_gateway_proxy_retries_total counter",
            "mcp_gateway_runtime_calls_total{operation=\"apply\",outcome=\"ok\"} 0",
            "mcp_gateway_runtime_calls_total{operation=\"apply\",outcome=\"error\"} 1",
            "mcp_gateway_runtime_calls_total{operation=\"endpoints\",outcome=\"ok\"} 1",
            "mcp_gateway_runtime_call_duration_seconds_bucket{operation=\"apply\",le=\"0.0025\"} 0",
            "mcp_gateway_runtime_call_duration_seconds_bucket{operation=\"apply\",le=\"0.005\"} 1",
            "mcp_gateway_runtime_call_duration_seconds_count{operation=\"remove\"} 0",
            "mcp_gateway_workload_state{kind=\"adapter\",name=\"img\",state=\"failed\"} 1",
            "mcp_gateway_workload_state{kind=\"adapter\",name=\"img\",state=\"applied\"} 0",
            "mcp_gateway_workload_state{kind=\"tool\",name=\"weather\",state=\"applied\"} 1",
            "mcp_gateway_workload_state{kind=\"tool\",name=\"weather\",state=\"pending\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
        assert!(!text.contains("ready_replicas{kind=\"adapter\",name=\"remote\"}"));
        // Families without series (no tools, no API answers) are left out, not written empty.
        assert!(
            !text.contains("mcp_gateway_router_tool_calls_total"),
            "{text}"
        );
        assert!(!text.contains("mcp_gateway_api_requests_total"), "{text}");
        assert!(
            !text.contains("# EOF"),
            "OpenMetrics' terminator has no place in 0.0.4"
        );
    }
}
