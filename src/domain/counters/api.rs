//! The control plane's counters: every answer of the API router by route template, method and
//! status. The table of routes is fixed when the router is built (from the same route table), so
//! counting takes no lock and a raw path never becomes a label: requests that match no route
//! count under `unmatched`.

use std::collections::BTreeMap;

use http::Method;

use super::live::StatusCounters;

/// Methods counted under their own name; anything else is `other`.
pub const API_METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other",
];

/// The route label of requests that match no route.
pub const UNMATCHED: &str = "unmatched";

fn method_slot(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Answers of one route template, by method and status.
#[derive(Default)]
pub(crate) struct RouteCounters(pub(crate) [StatusCounters; API_METHODS.len()]);

/// Counters of every counted route template.
pub struct ApiMetrics {
    pub(crate) routes: BTreeMap<String, RouteCounters>,
}

impl ApiMetrics {
    /// Counters for `templates` (as given to the router) and for unmatched requests. Requests to
    /// any other route (the data plane, which has its own series) are not counted here.
    pub fn new(templates: impl IntoIterator<Item = String>) -> Self {
        let mut routes: BTreeMap<String, RouteCounters> = templates
            .into_iter()
            .map(|template| (template, RouteCounters::default()))
            .collect();
        routes.insert(UNMATCHED.to_string(), RouteCounters::default());
        Self { routes }
    }

    /// Counts one answer of the route `template` (`None`: no route matched).
    pub fn count(&self, template: Option<&str>, method: &Method, status: http::StatusCode) {
        if let Some(route) = self.routes.get(template.unwrap_or(UNMATCHED)) {
            route.0[method_slot(method)].count(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn only_known_templates_and_unmatched_are_counted() {
        let metrics = ApiMetrics::new(["/adapters/{name}".to_string()]);
        metrics.count(Some("/adapters/{name}"), &Method::GET, StatusCode::OK);
        metrics.count(Some("/adapters/{name}/mcp"), &Method::POST, StatusCode::OK);
        metrics.count(
            None,
            &Method::from_bytes(b"BREW").expect("method"),
            StatusCode::NOT_FOUND,
        );
        let seen: Vec<(String, &str, &str, u64)> = metrics
            .routes
            .iter()
            .flat_map(|(route, counters)| {
                API_METHODS
                    .iter()
                    .zip(&counters.0)
                    .flat_map(move |(method, codes)| {
                        codes
                            .seen()
                            .map(move |(code, n)| (route.clone(), *method, code, n))
                    })
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("/adapters/{name}".to_string(), "GET", "200", 1),
                ("unmatched".to_string(), "other", "404", 1),
            ]
        );
    }
}
