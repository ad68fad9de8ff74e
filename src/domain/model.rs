//! The domain types of the control plane: adapters and tools as one generic [`Resource`].
//!
//! Adapters and tools share every field; a tool adds a [`ToolDefinition`]. One type with a
//! [`ResourceKind`] keeps the API, the store and the reconciler free of near-identical copies.
//! JSON field names are the original microsoft/mcp-gateway's (camelCase) plus `url`, `port`, `path`.

use std::collections::BTreeMap;

use mcp_gateway_runtimes::WorkloadId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::counters::ResourceMetrics;
pub use super::kind::ResourceKind;
pub use super::stdio::{Sharing, StdioOptions, Transport};

/// The server's port inside the container when the spec names none.
pub const DEFAULT_PORT: u16 = 8000;
/// An adapter's MCP path inside the container when the spec names none.
pub const DEFAULT_ADAPTER_PATH: &str = "/mcp";
/// A tool server's path when the tool definition names none.
pub const DEFAULT_TOOL_PATH: &str = "/score";
/// The image tag when the spec names none.
pub const DEFAULT_IMAGE_VERSION: &str = "latest";

/// Who owns a resource's definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Created through the REST API; changed through it.
    Api,
    /// Declared in config.toml; changed by editing the file (the API answers 409).
    Config,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Config => "config",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "api" => Some(Source::Api),
            "config" => Some(Source::Config),
            _ => None,
        }
    }
}

/// The tool part of a tool resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolDefinition {
    /// The MCP Tool object served by the tool router (`name`, `description`, `inputSchema`, ...).
    /// `name` must equal the resource name.
    #[schema(value_type = Object)]
    pub tool: serde_json::Map<String, serde_json::Value>,
    /// The port the tool server listens on inside its container (default 8000).
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// The HTTP path the router POSTs the arguments to (default `/score`).
    pub path: String,
}

/// Everything a user sets on an adapter or tool, with the defaults filled in. Validated by
/// [`crate::domain::validate`] before it exists; the JSON Schemas of the request bodies that
/// become one are [`crate::domain::validate::body_schema`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// A DNS label (`validate::NAME_PATTERN`, the same expression).
    #[schema(
        pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        min_length = 1,
        max_length = 63
    )]
    pub name: String,
    /// The container image (without registry prefix and tag); exclusive with `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The image tag (default `latest`); only with `imageName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    /// A remote server the gateway proxies to instead of deploying an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Adapters: the MCP server's port inside the container (default 8000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Adapters: the MCP endpoint path inside the container (default `/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub environment_variables: BTreeMap<String, String>,
    /// 0 to 64 (default 1); 1 for `url` resources.
    #[schema(minimum = 0, maximum = 64)]
    pub replica_count: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub use_workload_identity: bool,
    /// Roles that may read (use) the resource besides its creator and admins.
    #[serde(default)]
    pub required_roles: Vec<String>,
    /// Adapters: whether the tool router (`/mcp`) lists this adapter's tools and prompts
    /// (absent on tools; absent on an adapter stored before the field existed means true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federate: Option<bool>,
    /// Adapters: only upstream tools whose names match one of these globs are federated
    /// (`*` any run of characters, `?` one); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_tools: Vec<String>,
    /// Tools only (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definition: Option<ToolDefinition>,
    /// Adapters: `http` (default) or `stdio` (the process speaks MCP on stdin/stdout).
    #[serde(default, skip_serializing_if = "Transport::is_http")]
    pub transport: Transport,
    /// Replaces the image's entrypoint (Kubernetes `command`); image-based resources only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Replaces the image's command, its default arguments (Kubernetes `args`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Stdio adapters: who shares a process (filled in with the defaults for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<StdioOptions>,
}

impl ResourceSpec {
    /// The full image reference with the registry prefix, for image-based resources.
    pub fn image_reference(&self, registry: &str) -> Option<String> {
        let name = self.image_name.as_deref()?;
        let version = self.image_version.as_deref().unwrap_or("latest");
        // A digest pins by content (`name@sha256:...`); anything else is a tag (`name:tag`).
        let separator = if version.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        let registry = registry.trim_end_matches('/');
        Some(if registry.is_empty() {
            format!("{name}{separator}{version}")
        } else {
            format!("{registry}/{name}{separator}{version}")
        })
    }

    /// Whether `/mcp` federates this resource's tools and prompts: adapters, unless opted out,
    /// and not per-session stdio adapters (listing one would hold a process for the gateway).
    pub fn federates(&self) -> bool {
        let per_session = self
            .stdio
            .as_ref()
            .is_some_and(|options| options.sharing == super::stdio::Sharing::PerSession);
        self.tool_definition.is_none() && self.federate != Some(false) && !per_session
    }

    /// Whether upstream tool `name` passes `federatedTools`.
    pub fn federates_tool(&self, name: &str) -> bool {
        self.federated_tools.is_empty()
            || self
                .federated_tools
                .iter()
                .any(|glob| super::federation::glob_matches(glob, name))
    }

    /// The port the server listens on inside its container.
    pub fn container_port(&self) -> u16 {
        match &self.tool_definition {
            Some(tool) => tool.port,
            None => self.port.unwrap_or(DEFAULT_PORT),
        }
    }

    /// Whether the server speaks MCP on stdin/stdout (the stdio bridge serves it).
    pub fn is_stdio(&self) -> bool {
        self.transport == Transport::Stdio
    }

    /// The HTTP path the gateway calls on each replica (MCP endpoint or tool path).
    pub fn endpoint_path(&self) -> &str {
        match &self.tool_definition {
            Some(tool) => &tool.path,
            None => self.path.as_deref().unwrap_or(DEFAULT_ADAPTER_PATH),
        }
    }
}

#[cfg(test)]
impl ResourceSpec {
    /// A spec for a remote (`url`) server with every other field at its default: the starting
    /// point of unit tests, which then change what they test.
    pub(crate) fn remote(name: &str, url: &str) -> Self {
        Self {
            name: name.into(),
            image_name: None,
            image_version: None,
            url: Some(url.into()),
            port: None,
            path: None,
            environment_variables: BTreeMap::new(),
            replica_count: 1,
            description: String::new(),
            use_workload_identity: false,
            required_roles: Vec::new(),
            federate: None,
            federated_tools: Vec::new(),
            tool_definition: None,
            transport: Transport::Http,
            command: Vec::new(),
            args: Vec::new(),
            stdio: None,
        }
    }
}

/// A stored adapter or tool: the spec plus what the server records.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub kind: ResourceKind,
    pub spec: ResourceSpec,
    pub created_by: String,
    pub created_at: String,
    pub last_updated_at: String,
    pub source: Source,
    /// Its traffic counters for `/metrics`: made with the resource, shared by its later versions
    /// (an update clones the resource, and this handle with it), gone with it. Not stored, and
    /// not part of its value (equal whatever the counts).
    pub metrics: ResourceMetrics,
}

impl Resource {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn workload_id(&self) -> WorkloadId {
        WorkloadId::new(self.kind.workload_kind(), self.spec.name.clone())
    }

    /// Whether the runtime deploys this resource (as opposed to a remote `url`).
    pub fn is_image_based(&self) -> bool {
        self.spec.image_name.is_some()
    }

    pub fn view(&self) -> ResourceView<'_> {
        ResourceView {
            id: &self.spec.name,
            spec: &self.spec,
            created_by: &self.created_by,
            created_at: &self.created_at,
            last_updated_at: &self.last_updated_at,
            source: self.source,
        }
    }
}

/// The JSON form of a stored resource, as the API returns it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Resource)]
pub struct ResourceView<'a> {
    /// Equals `name` (kept for compatibility with the original API).
    pub id: &'a str,
    #[serde(flatten)]
    pub spec: &'a ResourceSpec,
    /// The user id of the creator (`local` with auth off, `config` for config.toml resources).
    pub created_by: &'a str,
    /// RFC 3339, UTC.
    pub created_at: &'a str,
    /// RFC 3339, UTC.
    pub last_updated_at: &'a str,
    pub source: Source,
}

/// One replica in a status answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub instance: u32,
    /// In words: `running`, `starting`, `exited (code 1)`, `reachable`, ...
    pub state: String,
    pub ready: bool,
}

/// `GET /{adapters,tools}/{name}/status`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub ready_replicas: u32,
    pub updated_replicas: u32,
    pub available_replicas: u32,
    /// The image reference, or the URL for `url` resources.
    pub image: String,
    /// `Healthy` or `Degraded: r/n ready` (as the original).
    pub replica_status: String,
    pub replicas: Vec<ReplicaView>,
    /// Deployment progress or the last error, in words (absent when healthy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_use_at_for_digests() {
        let mut spec: ResourceSpec = serde_json::from_value(serde_json::json!({
            "name": "a", "imageName": "team/server", "imageVersion": "1.0", "replicaCount": 1
        }))
        .expect("spec");
        assert_eq!(spec.image_reference("").as_deref(), Some("team/server:1.0"));
        assert_eq!(
            spec.image_reference("localhost:5000/").as_deref(),
            Some("localhost:5000/team/server:1.0")
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        spec.image_version = Some(digest.clone());
        assert_eq!(
            spec.image_reference("").as_deref(),
            Some(format!("team/server@{digest}").as_str())
        );
    }
}
