//! How an adapter's server speaks MCP: over HTTP on a port (the default), or as a process on
//! stdin/stdout that the gateway attaches to ([`Transport::Stdio`]), shared by every client or
//! one replica per session ([`Sharing`]). The rules of these fields are in
//! [`crate::domain::validate`]; the bridge that serves them is `services::stdio`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a per-session replica may sit unused before it is removed, when the spec names none.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u32 = 300;
/// The most per-session replicas of one adapter, when the spec names none.
pub const DEFAULT_MAX_SESSIONS: u32 = 16;
/// Bounds of `stdio.maxSessions`.
pub const MAX_SESSIONS_RANGE: (u64, u64) = (1, 256);
/// Bounds of `stdio.idleTimeoutSeconds`.
pub const IDLE_TIMEOUT_RANGE: (u64, u64) = (5, 86_400);
/// Bounds of `stdio.warm`.
pub const WARM_RANGE: (u64, u64) = (0, 16);

/// The adapter's MCP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Streamable HTTP on the container's `port` and `path`.
    #[default]
    Http,
    /// Newline-delimited JSON-RPC on the process's stdin/stdout; stderr is its log.
    Stdio,
}

impl Transport {
    pub fn is_http(&self) -> bool {
        *self == Transport::Http
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Stdio => "stdio",
        }
    }
}

/// Who shares a stdio process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Sharing {
    /// One process per replica serves every client: the gateway multiplexes them.
    #[default]
    Shared,
    /// Each client session gets a process of its own.
    PerSession,
}

impl Sharing {
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::PerSession => "per-session",
        }
    }
}

/// The `stdio` member of a stdio adapter, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StdioOptions {
    /// `shared` (default) or `per-session`.
    #[serde(default)]
    pub sharing: Sharing,
    /// `per-session`: the most replicas at once (then 503 + `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 256)]
    pub max_sessions: Option<u32>,
    /// `per-session`: seconds without a request after which a session's replica is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 5, maximum = 86400)]
    pub idle_timeout_seconds: Option<u32>,
    /// `per-session`: replicas kept started ahead of the first request (counted in
    /// `maxSessions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 16)]
    pub warm: Option<u32>,
}

impl StdioOptions {
    pub fn max_sessions(&self) -> u32 {
        self.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS)
    }

    pub fn idle_timeout_seconds(&self) -> u32 {
        self.idle_timeout_seconds
            .unwrap_or(DEFAULT_IDLE_TIMEOUT_SECONDS)
    }

    pub fn warm(&self) -> u32 {
        self.warm.unwrap_or(0).min(self.max_sessions())
    }
}
