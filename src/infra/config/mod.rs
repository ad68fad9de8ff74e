//! config.toml: the one typed configuration, parsed strictly.
//!
//! Unknown keys and bad values are errors that name the key and the line (toml's spans), because a
//! typo that silently falls back to a default is how gateways end up open. Declared resources
//! (`[[adapters]]`, `[[tools]]`) go through the same validation as the REST API.
//!
//! - This file: the section types, each with its defaults.
//! - [`load`]: reading and parsing the file, and the checks serde's types cannot express.
//! - [`tables`]: `[[adapters]]`/`[[tools]]` tables to the API's JSON, with line numbers.
//! - [`kubernetes`]: `[runtime.kubernetes]`; [`diff`]: the settings a reload cannot apply.
//!
//! Pure: text in, a typed config out. Watching the file is the app layer's job.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::model::{ResourceKind, ResourceSpec};
use crate::infra::address::AddressPolicy;

mod diff;
mod kubernetes;
mod load;
mod one_or_many;
mod tables;
#[cfg(test)]
mod tests;

pub use diff::restart_needed;
pub use kubernetes::{ImagePullPolicy, KubernetesConfig, KubernetesEndpoints};
pub use load::{load, parse, parse_file};

/// The config file shipped in the repository and embedded in the binary: used when no file exists.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../config.toml");

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub proxy: ProxyConfig,
    #[serde(default)]
    pub router: RouterConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub upstreams: UpstreamsConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    // Resources are compared as validated specs (`LoadedConfig::resources`), not as settings.
    #[serde(default, skip_serializing)]
    adapters: Vec<toml::Spanned<toml::Table>>,
    #[serde(default, skip_serializing)]
    tools: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// The origin clients use to reach the gateway (OAuth metadata, `Forwarded`); default
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Worker threads of the async runtime (HTTP serving and background work). Default: half
    /// the CPUs the process may use (its cgroup quota counts), at least one: the gateway
    /// usually shares its machine with the MCP servers it runs, and on two shared cores one
    /// thread proxied more requests per second, at less CPU and latency each, than two
    /// (README, Benchmarks). One thread proxies well over 10,000 requests a second.
    pub threads: Option<usize>,
    /// Event loops of the data plane: threads of their own, each accepting connections and
    /// proxying `/adapters/{name}/mcp` on them with its own upstream connections, so a
    /// connection never moves between threads (as nginx's workers). A connection's first request
    /// for anything else (the API, `/mcp`, a request the wire path does not carry) moves it to
    /// the runtime's threads. `0`: no loops of their own; the runtime's threads do all of it.
    /// Default: one per CPU the process may use.
    pub proxy_threads: Option<usize>,
    /// Watch the config file while serving and apply its changes (see [`watch`]); SIGHUP
    /// reloads either way.
    pub watch_config: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            threads: None,
            proxy_threads: None,
            watch_config: true,
        }
    }
}

impl ServerConfig {
    /// How many serving threads to run.
    pub fn serving_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| (cpus() / 2).max(1))
    }

    /// How many event loops of its own the data plane runs ([`ServerConfig::proxy_threads`]).
    pub fn proxy_loops(&self) -> usize {
        self.proxy_threads.unwrap_or_else(cpus)
    }
}

/// The CPUs the process may use (its cgroup quota counts), at least one.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite file; relative paths are relative to the config file's directory.
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/mcp-gateway.db"),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Docker,
    Kubernetes,
    None,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Kubernetes => "kubernetes",
            RuntimeKind::None => "none",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    pub kind: RuntimeKind,
    /// Prefix joined to `imageName` (`localhost:5000`); empty: local images only.
    pub image_registry: String,
    /// Seconds between full reconcile passes (changes through the API reconcile at once).
    pub reconcile_interval_secs: u64,
    pub docker: DockerConfig,
    pub kubernetes: KubernetesConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            kind: RuntimeKind::Docker,
            image_registry: String::new(),
            reconcile_interval_secs: 10,
            docker: DockerConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// Engine address; default `DOCKER_HOST`, then the local socket.
    pub host: Option<String>,
    /// The user-defined network every replica joins.
    pub network: String,
    /// How the gateway reaches replicas.
    pub reach: DockerReach,
    /// Memory limit of each replica container (`512m`); 0 means none.
    pub memory: MemorySize,
    /// CPU limit of each replica container, in CPUs; 0 means none.
    pub cpus: f64,
    /// Process limit of each replica container; 0 means none.
    pub pids_limit: u32,
    /// Seconds a new replica gets to accept connections before its deploy counts as failed.
    pub ready_timeout_secs: u64,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: None,
            network: "mcp-gateway".into(),
            reach: DockerReach::Published,
            memory: MemorySize(512 * 1024 * 1024),
            cpus: 1.0,
            pids_limit: 256,
            ready_timeout_secs: 60,
        }
    }
}

/// `runtime.docker.reach`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DockerReach {
    /// An ephemeral port on 127.0.0.1 per replica (works with Docker Desktop).
    #[default]
    Published,
    /// The container's address on the network (for a gateway running on that network).
    Container,
}

/// A byte count written like Docker's `--memory`: `512m`, `1g`, `1.5g`, `268435456`.
///
/// Parsed while the file is read, so a bad value is reported with its line like any other.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct MemorySize(pub u64);

impl TryFrom<String> for MemorySize {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_memory(&text).map(MemorySize)
    }
}

/// Parses `512m`-style sizes (suffixes b, k, m, g, t, powers of 1024, optionally written `kb`,
/// `MiB`...). `0` means no limit; anything else must be at least Docker's minimum of 6 MiB.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let problem = || {
        format!(
            "runtime.docker.memory {text:?} is not a size; write a number with an optional unit, \
             like \"512m\" or \"1g\" (\"0\" for no limit)"
        )
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| problem())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(problem()),
    };
    let bytes = (number * (1u64 << shift) as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(problem());
    }
    let bytes = bytes as u64;
    if bytes != 0 && bytes < 6 * 1024 * 1024 {
        return Err(format!(
            "runtime.docker.memory {text:?} is below Docker's minimum of 6m; use at least \"6m\" \
             (\"0\" for no limit)"
        ));
    }
    Ok(bytes)
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every caller is the local admin. Loopback only.
    #[default]
    None,
    /// Identity from `X-Dev-UserId` / `X-Dev-Roles`. Loopback only.
    Dev,
    /// JWT bearer tokens from an OIDC issuer.
    Jwt,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Dev => "dev",
            AuthMode::Jwt => "jwt",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The role that may read and change everything.
    pub admin_role: String,
    pub jwt: Option<JwtConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            admin_role: "mcp.admin".into(),
            jwt: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// The token issuer (`iss`), also the authorization server in OAuth metadata. Keys come from
    /// its OIDC discovery document unless `jwks_url` or `jwks_file` is given.
    pub issuer: Option<String>,
    /// Accepted `aud` values. Default: `server.public_url` and any URL under it (MCP clients ask
    /// for tokens whose resource is the endpoint URL).
    #[serde(deserialize_with = "one_or_many::strings")]
    pub audience: Vec<String>,
    pub jwks_url: Option<String>,
    /// A JWKS file, relative to the config file's directory.
    pub jwks_file: Option<PathBuf>,
    /// The claim holding the user id; default `oid`, then `sub`.
    pub user_claim: Option<String>,
    /// The claim holding roles (an array, or a space-separated string); default `roles`.
    pub roles_claim: Option<String>,
    /// Accepted signature algorithms: asymmetric only.
    #[serde(deserialize_with = "one_or_many::strings")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed for `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Scopes announced in OAuth metadata and `WWW-Authenticate`.
    #[serde(deserialize_with = "one_or_many::strings")]
    pub scopes: Vec<String>,
    /// Least time between two key refreshes triggered by unknown `kid`s.
    pub refresh_min_interval_secs: u64,
}

/// The asymmetric JWS algorithms the gateway accepts (never `none`, never HMAC).
pub const ASYMMETRIC_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: Vec::new(),
            jwks_url: None,
            jwks_file: None,
            user_claim: None,
            roles_claim: None,
            algorithms: ASYMMETRIC_ALGORITHMS
                .iter()
                .map(|a| a.to_string())
                .collect(),
            leeway_secs: 60,
            scopes: Vec::new(),
            refresh_min_interval_secs: 30,
        }
    }
}

/// The data-plane proxy (`/adapters/{name}/mcp`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Largest request body forwarded (413 past it).
    pub max_body_bytes: u64,
    /// TCP connect timeout to an upstream.
    pub connect_timeout_ms: u64,
    /// A stream (or a wait for response headers) with no data for this long is ended. There is
    /// no total timeout: streams may last for hours.
    pub idle_timeout_secs: u64,
    /// Browser origins allowed besides localhost origins and `server.public_url`'s; `"*"` allows
    /// any.
    #[serde(deserialize_with = "one_or_many::strings")]
    pub allowed_origins: Vec<String>,
    /// Answer CORS preflights and expose `Mcp-Session-Id` to browser clients.
    pub cors: bool,
    /// Session-token keys; the first seals, all open (rotation). Empty: one key generated once
    /// and kept in the store.
    pub session_keys: Vec<SessionKeyConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            connect_timeout_ms: 5_000,
            idle_timeout_secs: 300,
            allowed_origins: Vec::new(),
            cors: false,
            session_keys: Vec::new(),
        }
    }
}

/// The tool router (`/mcp`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// How long a tool server (or a federated adapter) may take to answer a `tools/call`.
    pub call_timeout_secs: u64,
    /// Federation: relist every adapter at least this often (the only refresh for adapters
    /// that announce no `listChanged`).
    pub federation_ttl_secs: u64,
    /// Federation: how long one listing or handshake request to an adapter may take.
    pub federation_timeout_ms: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            call_timeout_secs: 60,
            federation_ttl_secs: 30,
            federation_timeout_ms: 5000,
        }
    }
}

/// `GET /metrics`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` to anyone who can reach it, without a token. Off: only callers with the
    /// admin role may read it (the series name every adapter and tool). For scrapers that
    /// cannot present a token, behind a network policy that keeps everyone else out.
    pub public: bool,
}

/// One session-token key.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionKeyConfig {
    /// 1 to 255; written into every token so older keys can still open theirs.
    pub id: u8,
    /// 32 random bytes, base64 (`openssl rand -base64 32`).
    pub key: String,
}

impl SessionKeyConfig {
    /// The decoded key, or why it is unusable.
    pub fn bytes(&self) -> Result<[u8; 32], String> {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(self.key.trim())
            .map_err(|_| {
                "key must be base64 (e.g. the output of `openssl rand -base64 32`)".to_string()
            })?;
        decoded
            .try_into()
            .map_err(|_| "key must decode to exactly 32 bytes".to_string())
    }
}

impl Config {
    /// The upstream address policy of `[upstreams]` and `auth.mode`; `own`: the gateway's
    /// listen address once known (the configured one otherwise).
    pub fn address_policy(&self, own: Option<SocketAddr>) -> Result<AddressPolicy, String> {
        let upstreams = &self.upstreams;
        let loopback = upstreams
            .allow_loopback
            .unwrap_or(matches!(self.auth.mode, AuthMode::None | AuthMode::Dev));
        let own = own.unwrap_or(self.server.listen);
        AddressPolicy::new(&upstreams.allow, loopback, Some(own))
    }
}

/// `[upstreams]`: the upstream address policy for `url` resources ([`AddressPolicy`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamsConfig {
    /// CIDRs, addresses or host names `url` resources may reach besides public addresses
    /// (private ranges, unique-local IPv6, loopback).
    #[serde(deserialize_with = "one_or_many::strings")]
    pub allow: Vec<String>,
    /// Whether `url` resources may reach loopback addresses. Default: only with auth.mode
    /// "none" or "dev" (a laptop, where every server runs on localhost).
    pub allow_loopback: Option<bool>,
}

/// `[console]`: the web console at `/ui`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A public OAuth client (no secret) registered at `auth.jwt.issuer`, with
    /// `<public_url>/ui` as a redirect URI: the console then also signs in with the
    /// authorization code flow and PKCE. Only with `auth.mode = "jwt"`.
    pub oauth_client_id: Option<String>,
    /// The scopes the console asks for; default `auth.jwt.scopes`, else `openid`.
    #[serde(deserialize_with = "one_or_many::strings")]
    pub oauth_scopes: Vec<String>,
}

/// A config error, printed as is; `check` and `serve` exit 2 on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A parsed, validated configuration and where it came from.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// Resources declared in the file, validated.
    pub resources: Vec<(ResourceKind, ResourceSpec)>,
    /// Where relative paths are resolved from.
    pub base_dir: PathBuf,
    /// The file read, or "built-in defaults".
    pub origin: String,
    /// The file read; `None` for the built-in defaults (nothing to watch or reload).
    pub file: Option<PathBuf>,
}

impl LoadedConfig {
    /// The upstream address policy this config asks for; `own` is the gateway's listen address
    /// once known (the configured one otherwise).
    pub fn address_policy(&self, own: Option<SocketAddr>) -> Result<AddressPolicy, String> {
        self.config.address_policy(own)
    }

    /// The SQLite path, resolved against the config file's directory.
    pub fn store_path(&self) -> PathBuf {
        self.base_dir.join(&self.config.store.path)
    }

    /// The origin clients use to reach the gateway, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.config.server.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.config.server.listen),
        }
    }
}
