//! config.toml: the one typed configuration, parsed strictly.
//!
//! Unknown keys and bad values are errors that name the key and the line (toml's spans), because a
//! typo that silently falls back to a default is how gateways end up open. Declared resources
//! (`[[adapters]]`, `[[tools]]`) go through the same validation as the REST API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::model::{ResourceKind, ResourceSpec};
use crate::domain::validate::{self, Context};

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
            watch_config: true,
        }
    }
}

impl ServerConfig {
    /// How many serving threads to run.
    pub fn serving_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cpus / 2).max(1)
        })
    }
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

mod diff;
mod kubernetes;
pub use diff::restart_needed;
pub use kubernetes::{ImagePullPolicy, KubernetesConfig, KubernetesEndpoints};

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
    pub audience: Vec<String>,
    pub jwks_url: Option<String>,
    /// A JWKS file, relative to the config file's directory.
    pub jwks_file: Option<PathBuf>,
    /// The claim holding the user id; default `oid`, then `sub`.
    pub user_claim: Option<String>,
    /// The claim holding roles (an array, or a space-separated string); default `roles`.
    pub roles_claim: Option<String>,
    /// Accepted signature algorithms: asymmetric only.
    pub algorithms: Vec<String>,
    /// Clock skew allowed for `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Scopes announced in OAuth metadata and `WWW-Authenticate`.
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
    /// How long a tool server may take to answer a `tools/call`.
    pub call_timeout_secs: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            call_timeout_secs: 60,
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

/// Loads the config. `explicit` is the `--config` argument: a missing explicit file is an error,
/// a missing default `./config.toml` means built-in defaults.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let path = explicit.unwrap_or(Path::new("config.toml"));
    match std::fs::read_to_string(path) {
        Ok(text) => parse_file(&text, path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            parse(EMBEDDED_DEFAULT, "built-in defaults", PathBuf::from("."))
        }
        Err(err) => Err(ConfigError(format!(
            "cannot read config file {}: {err}",
            path.display()
        ))),
    }
}

/// Parses and validates the text read from the config file at `path` (relative paths in it are
/// relative to the file's directory).
pub fn parse_file(text: &str, path: &Path) -> Result<LoadedConfig, ConfigError> {
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut loaded = parse(text, &path.display().to_string(), base_dir)?;
    loaded.file = Some(path.to_path_buf());
    Ok(loaded)
}

/// Parses and validates config text. `origin` names the file in messages.
pub fn parse(text: &str, origin: &str, base_dir: PathBuf) -> Result<LoadedConfig, ConfigError> {
    let config: Config =
        toml::from_str(text).map_err(|err| ConfigError(format!("{origin}: {err}")))?;
    check_values(&config, text, origin)?;
    let ctx = Context {
        deploys_images: config.runtime.kind != RuntimeKind::None,
    };
    let mut resources = Vec::new();
    let mut problems = Vec::new();
    for (kind, tables) in [
        (ResourceKind::Adapter, &config.adapters),
        (ResourceKind::Tool, &config.tools),
    ] {
        for (index, table) in tables.iter().enumerate() {
            let section = format!("{}[{index}]", kind.collection());
            let table_line = line_of(text, table.span().start);
            let body = resource_json(kind, table.get_ref());
            match validate::parse_spec(kind, &body, ctx) {
                Ok(spec) => {
                    let duplicate =
                        resources
                            .iter()
                            .any(|(k, s): &(ResourceKind, ResourceSpec)| {
                                *k == kind && s.name == spec.name
                            });
                    if duplicate {
                        problems.push(format!(
                            "{origin}, line {table_line}: {section}: {} \"{}\" is declared twice",
                            kind, spec.name
                        ));
                    }
                    resources.push((kind, spec));
                }
                Err(errors) => {
                    for error in errors {
                        let line = key_line(
                            text,
                            resource_extent(text, table.span().start, kind),
                            &error.field,
                        )
                        .unwrap_or(table_line);
                        problems.push(format!(
                            "{origin}, line {line}: {section}.{}: {}",
                            error.field, error.message
                        ));
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError(problems.join("\n")));
    }
    Ok(LoadedConfig {
        config,
        resources,
        base_dir,
        origin: origin.to_string(),
        file: None,
    })
}

/// Checks the values serde's types cannot express.
fn check_values(config: &Config, text: &str, origin: &str) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut fail = |key: &str, message: String| {
        let line = find_key_line(text, key)
            .map(|l| format!(", line {l}"))
            .unwrap_or_default();
        problems.push(format!("{origin}{line}: {key}: {message}"));
    };
    if let Some(url) = &config.server.public_url
        && let Err(rule) = validate::check_url(url)
    {
        fail("public_url", rule);
    }
    if config.server.threads.is_some_and(|n| n == 0 || n > 256) {
        fail("threads", "must be between 1 and 256".into());
    }
    if config.runtime.reconcile_interval_secs == 0 {
        fail(
            "reconcile_interval_secs",
            "must be at least 1 (seconds)".into(),
        );
    }
    if !config.runtime.image_registry.is_empty() {
        let probe = format!(
            "{}/probe",
            config.runtime.image_registry.trim_end_matches('/')
        );
        if validate::check_image_name(&probe).is_err() {
            fail(
                "image_registry",
                "must be a registry host with an optional port and path, like \"localhost:5000\" or \"registry.example.com/team\" (no scheme)".into(),
            );
        }
    }
    if validate::check_name(&config.runtime.docker.network).is_err() {
        fail(
            "network",
            "must be a Docker network name of a-z, 0-9 and '-'".into(),
        );
    }
    let docker = &config.runtime.docker;
    if !docker.cpus.is_finite() || docker.cpus < 0.0 {
        fail(
            "cpus",
            "must be a number of CPUs like 1.0 or 0.5 (0 for no limit)".into(),
        );
    }
    if docker.ready_timeout_secs == 0 {
        fail("ready_timeout_secs", "must be at least 1 (seconds)".into());
    }
    for (key, message) in kubernetes::problems(&config.runtime.kubernetes) {
        fail(key, message);
    }
    let proxy = &config.proxy;
    if proxy.max_body_bytes == 0 {
        fail("max_body_bytes", "must be at least 1".into());
    }
    if proxy.connect_timeout_ms == 0 {
        fail("connect_timeout_ms", "must be at least 1".into());
    }
    if proxy.idle_timeout_secs == 0 {
        fail("idle_timeout_secs", "must be at least 1".into());
    }
    for origin in &proxy.allowed_origins {
        if origin != "*" && validate::check_url(origin).is_err() {
            fail(
                "allowed_origins",
                format!(
                    "\"{origin}\" is not an origin like \"https://app.example.com\" (or \"*\")"
                ),
            );
        }
    }
    if config.router.page_size == 0 || config.router.page_size > 10_000 {
        fail("page_size", "must be from 1 to 10000".into());
    }
    if config.router.call_timeout_secs == 0 {
        fail("call_timeout_secs", "must be at least 1".into());
    }
    let mut ids = std::collections::HashSet::new();
    for key in &proxy.session_keys {
        if key.id == 0 {
            fail("session_keys", "key ids run from 1 to 255".into());
        }
        if !ids.insert(key.id) {
            fail("session_keys", format!("key id {} is used twice", key.id));
        }
        if let Err(rule) = key.bytes() {
            fail("session_keys", format!("key {}: {rule}", key.id));
        }
    }
    if config.auth.mode == AuthMode::Jwt {
        match &config.auth.jwt {
            None => fail(
                "mode",
                "auth.mode = \"jwt\" needs an [auth.jwt] section with at least issuer (and jwks_url or jwks_file unless the issuer serves OIDC discovery)".into(),
            ),
            Some(jwt) => {
                match &jwt.issuer {
                    None => fail("issuer", "is required with auth.mode = \"jwt\" (the `iss` tokens must carry)".into()),
                    Some(issuer) => {
                        if let Err(rule) = validate::check_url(issuer) {
                            fail("issuer", rule);
                        }
                    }
                }
                if let Some(url) = &jwt.jwks_url
                    && let Err(rule) = validate::check_url(url)
                {
                    fail("jwks_url", rule);
                }
                if jwt.jwks_url.is_some() && jwt.jwks_file.is_some() {
                    fail("jwks_file", "give jwks_url or jwks_file, not both".into());
                }
                if jwt.algorithms.is_empty() {
                    fail("algorithms", "must name at least one algorithm".into());
                }
                for alg in &jwt.algorithms {
                    if !ASYMMETRIC_ALGORITHMS.contains(&alg.as_str()) {
                        fail(
                            "algorithms",
                            format!("\"{alg}\" is not accepted: only asymmetric algorithms ({})", ASYMMETRIC_ALGORITHMS.join(", ")),
                        );
                    }
                }
            }
        }
    }
    if config.auth.admin_role.trim().is_empty() {
        fail("admin_role", "must not be empty".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(problems.join("\n")))
    }
}

/// Converts a `[[adapters]]`/`[[tools]]` table to the API's JSON shape, accepting snake_case keys
/// at the levels the API defines (not inside `environmentVariables` or the MCP tool object).
fn resource_json(kind: ResourceKind, table: &toml::Table) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in table {
        let key = snake_to_camel(key);
        let mut value = toml_to_json(value);
        if kind == ResourceKind::Tool
            && key == "toolDefinition"
            && let Value::Object(def) = value
        {
            value = Value::Object(
                def.into_iter()
                    .map(|(k, v)| (snake_to_camel(&k), v))
                    .collect(),
            );
        }
        out.insert(key, value);
    }
    out
}

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a field of a resource table is set, looking for the key (camelCase or
/// snake_case, last path segment) inside the table's span.
fn key_line(text: &str, span: std::ops::Range<usize>, field: &str) -> Option<usize> {
    let segment = field
        .split(['.', '['])
        .find(|s| !s.is_empty())
        .unwrap_or(field);
    let candidates = [segment.to_string(), camel_to_snake(segment)];
    let start = span.start.min(text.len());
    let end = span.end.min(text.len());
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let trimmed = line.trim_start();
        for candidate in &candidates {
            if let Some(rest) = trimmed.strip_prefix(candidate.as_str()) {
                let rest = rest.trim_start();
                if rest.starts_with('=') || rest.starts_with('.') {
                    return Some(line_of(text, offset));
                }
            }
        }
        offset += line.len();
    }
    None
}

/// The text of one `[[adapters]]`/`[[tools]]` entry: from its header to the next header that is
/// not one of its own sub-tables (toml spans cover only the header line).
fn resource_extent(text: &str, start: usize, kind: ResourceKind) -> std::ops::Range<usize> {
    let own_subtable = format!("[{}.", kind.collection());
    let mut offset = start;
    let mut lines = text[start..].split_inclusive('\n');
    if let Some(header) = lines.next() {
        offset += header.len();
    }
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !trimmed.starts_with(&own_subtable) {
            break;
        }
        offset += line.len();
    }
    start..offset
}

/// The first line that sets `key` anywhere in the file (for top-level settings).
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    key_line(text, 0..text.len(), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_to_the_defaults() {
        let loaded = parse(EMBEDDED_DEFAULT, "config.toml", PathBuf::from(".")).expect("parses");
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.resources.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\nlistne = \"x\"\n";
        let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        assert!(err.contains("listne"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn threads_must_be_sensible() {
        let err = parse("[server]\nthreads = 0\n", "c.toml", PathBuf::from("."))
            .unwrap_err()
            .0;
        assert!(err.contains("line 2") && err.contains("threads"), "{err}");
        let ok = parse("[server]\nthreads = 1\n", "c.toml", PathBuf::from(".")).expect("valid");
        assert_eq!(ok.config.server.serving_threads(), 1);
    }

    #[test]
    fn watch_config_is_a_strict_bool() {
        let off = parse(
            "[server]\nwatch_config = false\n",
            "c.toml",
            PathBuf::from("."),
        )
        .expect("valid");
        assert!(!off.config.server.watch_config);
        let err = parse(
            "[server]\nwatch_config = \"no\"\n",
            "c.toml",
            PathBuf::from("."),
        )
        .unwrap_err()
        .0;
        assert!(
            err.contains("line 2") && err.contains("watch_config"),
            "{err}"
        );
    }

    #[test]
    fn metrics_section_is_strict() {
        let on = parse("[metrics]\npublic = true\n", "c.toml", PathBuf::from(".")).expect("valid");
        assert!(on.config.metrics.public);
        let problem = |text: &str| parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        let err = problem("[metrics]\npublic = \"yes\"\n");
        assert!(err.contains("line 2") && err.contains("boolean"), "{err}");
        let err = problem("[metrics]\npublic = false\npublik = true\n");
        assert!(err.contains("line 3") && err.contains("publik"), "{err}");
    }

    #[test]
    fn bad_value_names_line() {
        let text = "[runtime]\nkind = \"podman\"\n";
        let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("podman"), "{err}");
    }

    #[test]
    fn resources_accept_snake_case_and_report_field_lines() {
        let text = r#"
[runtime]
kind = "none"

[[adapters]]
name = "remote"
url = "http://127.0.0.1:9000/mcp"
required_roles = ["team"]

[[adapters]]
name = "Bad_Name"
url = "ftp://x"
"#;
        let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        assert!(err.contains("line 11: adapters[1].name"), "{err}");
        assert!(err.contains("line 12: adapters[1].url"), "{err}");

        let good = &text[..text.find("[[adapters]]\nname = \"Bad").unwrap()];
        let loaded = parse(good, "c.toml", PathBuf::from(".")).expect("valid");
        assert_eq!(loaded.resources.len(), 1);
        assert_eq!(
            loaded.resources[0].1.required_roles,
            vec!["team".to_string()]
        );
    }

    #[test]
    fn image_resources_need_a_runtime() {
        let text = "[runtime]\nkind = \"none\"\n[[adapters]]\nname = \"a\"\nimage_name = \"x\"\n";
        let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        assert!(err.contains("line 5: adapters[0].imageName"), "{err}");
    }

    #[test]
    fn duplicate_declarations_are_errors() {
        let text = "[runtime]\nkind = \"none\"\n[[tools]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/score\"\n[tools.tool_definition.tool]\nname = \"w\"\ninputSchema = { type = \"object\" }\n[[tools]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/score\"\n[tools.tool_definition.tool]\nname = \"w\"\ninputSchema = { type = \"object\" }\n";
        let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        assert!(err.contains("declared twice"), "{err}");
    }

    #[test]
    fn case_conversion() {
        assert_eq!(snake_to_camel("image_name"), "imageName");
        assert_eq!(snake_to_camel("imageName"), "imageName");
        assert_eq!(camel_to_snake("replicaCount"), "replica_count");
    }

    #[test]
    fn memory_sizes_parse_like_docker() {
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("1g"), Ok(1 << 30));
        assert_eq!(parse_memory("1.5G"), Ok(3 << 29));
        assert_eq!(parse_memory("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_memory("268435456"), Ok(268_435_456));
        assert_eq!(parse_memory("0"), Ok(0));
        for bad in ["", "lots", "12x", "-1m", "1..2m", "m"] {
            let err = parse_memory(bad).unwrap_err();
            assert!(err.contains("runtime.docker.memory"), "{bad}: {err}");
        }
        assert!(parse_memory("1m").unwrap_err().contains("minimum of 6m"));
    }

    #[test]
    fn docker_values_are_checked_with_their_line() {
        let text = "[runtime.docker]\nreach = \"container\"\nmemory = \"1g\"\npids_limit = 0\n";
        let docker = parse(text, "c.toml", PathBuf::from("."))
            .expect("valid")
            .config
            .runtime
            .docker;
        assert_eq!(docker.reach, DockerReach::Container);
        assert_eq!(docker.memory, MemorySize(1 << 30));
        assert_eq!(docker.pids_limit, 0);

        let problem = |text: &str| parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
        let err = problem("[runtime.docker]\nnetwork = \"x\"\nmemory = \"lots\"\n");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("runtime.docker.memory"), "{err}");
        let err = problem("[runtime.docker]\ncpus = -1.0\n");
        assert!(err.contains("line 2: cpus"), "{err}");
        let err = problem("[runtime.docker]\nreach = \"bridge\"\n");
        assert!(err.contains("line 2") && err.contains("bridge"), "{err}");
    }
}
