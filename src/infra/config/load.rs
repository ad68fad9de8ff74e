//! Reading and parsing config.toml, and the checks serde's types cannot express.

use std::path::{Path, PathBuf};

use super::tables::{find_key_line, key_line, line_of, resource_extent, resource_json};
use super::*;
use crate::domain::validate::{self, Context};
use crate::infra::address::AddressPolicy;

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
    let policy = config
        .address_policy(None)
        .map_err(|err| ConfigError(format!("{origin}: upstreams.allow: {err}")))?;
    let (resources, problems) = declared_resources(&config, text, origin, ctx, &policy);
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
    if let Err(rule) = config.address_policy(None) {
        fail("allow", rule);
    }
    if config.server.threads.is_some_and(|n| n == 0 || n > 256) {
        fail("threads", "must be between 1 and 256".into());
    }
    if config.server.proxy_threads.is_some_and(|n| n > 256) {
        fail("proxy_threads", "must be between 0 and 256".into());
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
    if config.router.federation_ttl_secs == 0 {
        fail("federation_ttl_secs", "must be at least 1".into());
    }
    if config.router.federation_timeout_ms < 100 {
        fail("federation_timeout_ms", "must be at least 100".into());
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
    if config.console.oauth_client_id.is_some() && config.auth.mode != AuthMode::Jwt {
        fail(
            "oauth_client_id",
            "signs the console in at auth.jwt.issuer, so it needs auth.mode = \"jwt\"".into(),
        );
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

/// The `[[adapters]]` and `[[tools]]` of the file, validated as the API validates bodies
/// (and their `url`s against the upstream address policy), with every problem's line.
fn declared_resources(
    config: &Config,
    text: &str,
    origin: &str,
    ctx: Context,
    policy: &AddressPolicy,
) -> (Vec<(ResourceKind, ResourceSpec)>, Vec<String>) {
    let mut resources: Vec<(ResourceKind, ResourceSpec)> = Vec::new();
    let mut problems = Vec::new();
    for (kind, tables) in [
        (ResourceKind::Adapter, &config.adapters),
        (ResourceKind::Tool, &config.tools),
    ] {
        for (index, table) in tables.iter().enumerate() {
            let section = format!("{}[{index}]", kind.collection());
            let table_line = line_of(text, table.span().start);
            let field_line = |field: &str| {
                key_line(text, resource_extent(text, table.span().start, kind), field)
                    .unwrap_or(table_line)
            };
            let body = resource_json(kind, table.get_ref());
            let spec = match validate::parse_spec(kind, &body, ctx) {
                Ok(spec) => spec,
                Err(errors) => {
                    for error in errors {
                        let line = field_line(&error.field);
                        problems.push(format!(
                            "{origin}, line {line}: {section}.{}: {}",
                            error.field, error.message
                        ));
                    }
                    continue;
                }
            };
            if let Some(Err(refusal)) = spec.url.as_deref().map(|url| policy.check_url(url)) {
                let line = field_line("url");
                problems.push(format!("{origin}, line {line}: {section}.url: {refusal}"));
            }
            if resources
                .iter()
                .any(|(k, s)| *k == kind && s.name == spec.name)
            {
                problems.push(format!(
                    "{origin}, line {table_line}: {section}: {} \"{}\" is declared twice",
                    kind, spec.name
                ));
            }
            resources.push((kind, spec));
        }
    }
    (resources, problems)
}
