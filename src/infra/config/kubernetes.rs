//! `[runtime.kubernetes]`: the Kubernetes runtime's settings and the checks serde's types
//! cannot express (names, quantities, requests not above limits).
//!
//! Parsed with the rest of config.toml (unknown keys are errors there); [`problems`] is called
//! from `check_values`, which adds the file and line to each message.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::validate;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Namespace of every StatefulSet, Service and pod (it must exist).
    pub namespace: String,
    /// A kubeconfig file, relative to the config file's directory; default: `KUBECONFIG`,
    /// `~/.kube/config`, then the pod's service account (in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context; default: the kubeconfig's current context.
    pub context: Option<String>,
    /// How the gateway reaches replicas.
    pub endpoints: KubernetesEndpoints,
    /// The cluster's DNS domain, for pod DNS names (`<pod>.<service>.<ns>.svc.<domain>`).
    pub cluster_domain: String,
    /// Service account of pods; empty: the namespace's `default`.
    pub service_account: String,
    /// Service account of pods of resources with `useWorkloadIdentity: true`.
    pub workload_identity_service_account: String,
    pub image_pull_policy: ImagePullPolicy,
    /// Resource requests and limits of every replica container (Kubernetes quantities, e.g.
    /// `250m`, `1`, `256Mi`); empty: none (the namespace's LimitRange decides).
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub ephemeral_storage_limit: String,
    /// Numeric user id the servers run as; unset: the image's `USER`, which must not be root.
    pub run_as_user: Option<i64>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: "adapter".into(),
            kubeconfig: None,
            context: None,
            endpoints: KubernetesEndpoints::Dns,
            cluster_domain: "cluster.local".into(),
            service_account: String::new(),
            workload_identity_service_account: "workload-sa".into(),
            image_pull_policy: ImagePullPolicy::IfNotPresent,
            cpu_request: "250m".into(),
            cpu_limit: "1".into(),
            memory_request: "256Mi".into(),
            memory_limit: "512Mi".into(),
            ephemeral_storage_limit: "2Gi".into(),
            run_as_user: None,
        }
    }
}

/// `runtime.kubernetes.endpoints`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KubernetesEndpoints {
    /// Pod DNS through the headless Service (the gateway runs in the cluster).
    #[default]
    Dns,
    /// The pod IP (the gateway routes to pod IPs without cluster DNS).
    PodIp,
}

/// `runtime.kubernetes.image_pull_policy`, Kubernetes' own words.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum ImagePullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}

/// Every problem with the values, as (key, message) for `check_values`.
pub fn problems(config: &KubernetesConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if validate::check_name(&config.namespace).is_err() {
        problems.push((
            "namespace",
            "must be a Kubernetes namespace name (a DNS label)".into(),
        ));
    }
    if config
        .kubeconfig
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        problems.push((
            "kubeconfig",
            "must be a file path; leave it out to use KUBECONFIG, ~/.kube/config or the in-cluster account".into(),
        ));
    }
    if config
        .context
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        problems.push((
            "context",
            "must name a kubeconfig context; leave it out for the current one".into(),
        ));
    }
    if !is_dns_subdomain(&config.cluster_domain) {
        problems.push((
            "cluster_domain",
            "must be a DNS name like \"cluster.local\"".into(),
        ));
    }
    if !config.service_account.is_empty() && !is_dns_subdomain(&config.service_account) {
        problems.push((
            "service_account",
            "must be a service account name (lowercase a-z, 0-9, '-' and '.'), or empty for the namespace's default".into(),
        ));
    }
    if !is_dns_subdomain(&config.workload_identity_service_account) {
        problems.push((
            "workload_identity_service_account",
            "must be a service account name (lowercase a-z, 0-9, '-' and '.')".into(),
        ));
    }
    if let Some(user) = config.run_as_user
        && !(1..=i64::from(i32::MAX)).contains(&user)
    {
        problems.push((
            "run_as_user",
            "must be a non-root user id from 1 to 2147483647 (leave it out to use the image's USER)".into(),
        ));
    }
    let mut quantity = |key: &'static str, text: &str| -> Option<f64> {
        if text.is_empty() {
            return None;
        }
        match parse_quantity(text) {
            Ok(value) => Some(value),
            Err(rule) => {
                problems.push((key, rule));
                None
            }
        }
    };
    let cpu = (
        quantity("cpu_request", &config.cpu_request),
        quantity("cpu_limit", &config.cpu_limit),
    );
    let memory = (
        quantity("memory_request", &config.memory_request),
        quantity("memory_limit", &config.memory_limit),
    );
    quantity("ephemeral_storage_limit", &config.ephemeral_storage_limit);
    for (key, pair) in [("cpu_request", cpu), ("memory_request", memory)] {
        if let (Some(request), Some(limit)) = pair
            && request > limit
        {
            problems.push((
                key,
                "must not be above its limit (Kubernetes refuses such pods)".into(),
            ));
        }
    }
    problems
}

fn is_dns_subdomain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .split('.')
            .all(|label| validate::check_name(label).is_ok())
}

/// A Kubernetes quantity (`250m`, `1`, `1.5`, `256Mi`, `2G`, `1e3`) as a number.
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    let problem = || {
        format!(
            "{text:?} is not a Kubernetes quantity; write a number with an optional suffix, like \
             \"250m\", \"1\", \"256Mi\" or \"2Gi\" (empty for none)"
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(problem());
    }
    let number: f64 = number.parse().map_err(|_| problem())?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E']).ok_or_else(problem)?;
            let power: i32 = digits.parse().map_err(|_| problem())?;
            10f64.powi(power)
        }
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_quantity("250m"), Ok(0.25));
        assert_eq!(parse_quantity("1"), Ok(1.0));
        assert_eq!(parse_quantity("1.5"), Ok(1.5));
        assert_eq!(parse_quantity("256Mi"), Ok(256.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("2G"), Ok(2e9));
        assert_eq!(parse_quantity("1e3"), Ok(1000.0));
        for bad in ["", "lots", "1mb", "-1", "1..2", ".", "Mi", "1 Gi"] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(problems(&KubernetesConfig::default()).is_empty());
        let bad = KubernetesConfig {
            cluster_domain: "Cluster_Local".into(),
            service_account: "Bad Name".into(),
            cpu_request: "2".into(),
            cpu_limit: "500m".into(),
            memory_limit: "lots".into(),
            run_as_user: Some(0),
            context: Some(" ".into()),
            ..KubernetesConfig::default()
        };
        let keys: Vec<&str> = problems(&bad).into_iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            [
                "context",
                "cluster_domain",
                "service_account",
                "run_as_user",
                "memory_limit",
                "cpu_request"
            ]
        );
    }
}
