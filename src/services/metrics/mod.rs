//! The `/metrics` exposition: reads the live counters (carried by each resource, the API table,
//! the reconciler's runtime calls), the store's catalog and the reconciler's view, and writes
//! the Prometheus text ([`exposition`]). Only existing resources have series; labels come from
//! fixed tables or resource names, never from user ids, session ids or raw paths.
//!
//! Handles: the store, the reconciler's view and the API counters; it changes none of them.
//! Who may read the text is the HTTP layer's decision.

mod exposition;

use std::sync::Arc;

use crate::domain::counters::ApiMetrics;
use crate::domain::model::{Resource, ResourceKind};
use crate::infra::reconciler::Observed;
use crate::infra::store::Store;

/// The Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the gateway's metrics on demand.
pub struct Exposition {
    store: Arc<Store>,
    observed: Arc<Observed>,
    api: Arc<ApiMetrics>,
}

impl Exposition {
    pub fn new(store: Arc<Store>, observed: Arc<Observed>, api: Arc<ApiMetrics>) -> Self {
        Self {
            store,
            observed,
            api,
        }
    }

    /// The counters of the API router's answers (bumped by the HTTP layer).
    pub fn api(&self) -> &Arc<ApiMetrics> {
        &self.api
    }

    /// Every series, now, as Prometheus text; `Err` only when the encoder fails.
    pub fn render(&self) -> Result<String, String> {
        let adapters = self.store.list(ResourceKind::Adapter);
        let tools = self.store.list(ResourceKind::Tool);
        let endpoints = |resource: &Resource| {
            self.observed
                .endpoints(resource.kind.workload_kind(), resource.name())
        };
        let workloads = self.observed.states();
        exposition::render(&exposition::Scrape {
            adapters: &adapters,
            tools: &tools,
            endpoints: &endpoints,
            api: &self.api,
            runtime: &self.observed.runtime,
            workloads: &workloads,
        })
    }
}
