//! JWT bearer validation with keys from a JWKS (URL, file, or the issuer's OIDC discovery).
//!
//! Rules, in order: a bearer token; a header whose `alg` is in the asymmetric allow-list (so
//! `none` and HMAC never get near a key, and a public key can never be used as an HMAC secret); a
//! key matching `kid` (unknown kids trigger one rate-limited key refresh) whose own `alg`, if it
//! names one, agrees; a valid signature; `iss`; `aud`; `exp`/`nbf` with leeway. Failures are
//! logged with the reason and answered "invalid token" without detail.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

use crate::infra::config::JwtConfig;
use crate::infra::http_client::HttpClient;

/// Where the keys come from.
enum KeySource {
    File(PathBuf),
    Url(String),
    /// `{issuer}/.well-known/openid-configuration` → `jwks_uri`.
    Discovery(String),
}

struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// A validated token's identity.
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<String>,
}

pub struct JwtValidator {
    issuer: String,
    audiences: Vec<String>,
    /// With no configured audience: accept `public_url` and URLs under it.
    audience_prefix: Option<String>,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    user_claim: Option<String>,
    roles_claim: String,
    source: KeySource,
    keys: RwLock<Vec<Key>>,
    refresh: tokio::sync::Mutex<Option<Instant>>,
    refresh_interval: Duration,
    http: HttpClient,
}

impl JwtValidator {
    /// Builds the validator and loads the keys once. A key file that cannot be read is an error;
    /// a key URL that does not answer yet is logged and retried on the first token.
    pub async fn new(
        config: &JwtConfig,
        public_url: &str,
        base_dir: &std::path::Path,
        http: HttpClient,
    ) -> Result<Self, String> {
        let issuer = config.issuer.clone().ok_or("auth.jwt.issuer is required")?;
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(file), _) => KeySource::File(base_dir.join(file)),
            (None, Some(url)) => KeySource::Url(url.clone()),
            (None, None) => KeySource::Discovery(issuer.clone()),
        };
        let algorithms = config
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| format!("unknown algorithm {a}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validator = Self {
            issuer,
            audience_prefix: config
                .audience
                .is_empty()
                .then(|| public_url.trim_end_matches('/').to_string()),
            audiences: config.audience.clone(),
            algorithms,
            leeway: config.leeway_secs,
            user_claim: config.user_claim.clone(),
            roles_claim: config.roles_claim.clone().unwrap_or_else(|| "roles".into()),
            source,
            keys: RwLock::new(Vec::new()),
            refresh: tokio::sync::Mutex::new(None),
            refresh_interval: Duration::from_secs(config.refresh_min_interval_secs),
            http,
        };
        match validator.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(count = keys.len(), "JWT signing keys loaded");
                *validator.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
                *validator.refresh.lock().await = Some(Instant::now());
            }
            Err(err) => {
                if matches!(validator.source, KeySource::File(_)) {
                    return Err(err);
                }
                tracing::warn!(%err, "JWT signing keys not loaded yet; retrying when a token arrives");
            }
        }
        Ok(validator)
    }

    /// Validates the request's bearer token.
    pub async fn validate(&self, headers: &HeaderMap) -> Result<Identity, String> {
        let token = bearer(headers).ok_or("no bearer token")?;
        let header = decode_header(token).map_err(|err| format!("malformed token: {err}"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let mut claims = self.verify_with_known_keys(token, header.alg, header.kid.as_deref())?;
        if claims.is_none() && self.refresh_keys().await {
            claims = self.verify_with_known_keys(token, header.alg, header.kid.as_deref())?;
        }
        let claims = claims.ok_or_else(|| match &header.kid {
            Some(kid) => format!("unknown key id {kid}"),
            None => "no key matches the token".to_string(),
        })?;
        self.check_audience(&claims)?;
        self.identity(&claims)
    }

    /// `Ok(None)`: no key could be tried (unknown kid). `Err`: a key was tried and failed.
    fn verify_with_known_keys(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Option<Value>, String> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let candidates: Vec<&Key> = keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(|k| k.alg.is_none_or(|a| a == alg))
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false; // checked below: exact list or the public-URL prefix
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let mut last_error = String::new();
        for key in candidates {
            match decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return Ok(Some(data.claims)),
                Err(err) => last_error = describe(&err),
            }
        }
        Err(last_error)
    }

    fn check_audience(&self, claims: &Value) -> Result<(), String> {
        let auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let accepted = auds.iter().any(|aud| {
            self.audiences.iter().any(|a| a == aud)
                || self.audience_prefix.as_deref().is_some_and(|prefix| {
                    let aud = aud.trim_end_matches('/');
                    aud == prefix || aud.starts_with(&format!("{prefix}/"))
                })
        });
        if accepted {
            Ok(())
        } else {
            Err(format!("audience {auds:?} is not accepted"))
        }
    }

    fn identity(&self, claims: &Value) -> Result<Identity, String> {
        let user_id = match &self.user_claim {
            Some(claim) => claims.get(claim).and_then(Value::as_str),
            None => claims
                .get("oid")
                .and_then(Value::as_str)
                .or_else(|| claims.get("sub").and_then(Value::as_str)),
        }
        .filter(|u| !u.is_empty())
        .ok_or("the token names no user (oid or sub)")?
        .to_string();
        let roles = match claims.get(&self.roles_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(list)) => list.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        Ok(Identity { user_id, roles })
    }

    /// Refetches the keys unless that happened less than `refresh_min_interval_secs` ago.
    /// Returns whether new keys were installed.
    async fn refresh_keys(&self) -> bool {
        let mut last = self.refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.refresh_interval) {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(count = keys.len(), "JWT signing keys refreshed");
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
                true
            }
            Err(err) => {
                tracing::warn!(%err, "JWT signing key refresh failed");
                false
            }
        }
    }

    async fn fetch_keys(&self) -> Result<Vec<Key>, String> {
        let set: JwkSet = match &self.source {
            KeySource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                serde_json::from_str(&text)
                    .map_err(|err| format!("{} is not a JWKS: {err}", path.display()))?
            }
            KeySource::Url(url) => serde_json::from_slice(&self.get(url).await?)
                .map_err(|err| format!("{url} is not a JWKS: {err}"))?,
            KeySource::Discovery(issuer) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let document: Value = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|err| format!("{url} is not JSON: {err}"))?;
                let jwks_uri = document
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{url} has no jwks_uri"))?;
                serde_json::from_slice(&self.get(jwks_uri).await?)
                    .map_err(|err| format!("{jwks_uri} is not a JWKS: {err}"))?
            }
        };
        Ok(set.keys.iter().filter_map(usable_key).collect())
    }

    async fn get(&self, url: &str) -> Result<Bytes, String> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(crate::infra::http_client::empty())
            .map_err(|err| format!("bad URL {url}: {err}"))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.http.request(request))
            .await
            .map_err(|_| format!("{url} did not answer within 10 s"))?
            .map_err(|err| {
                format!(
                    "{url}: {}",
                    crate::infra::http_client::describe_client_error(&err)
                )
            })?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        Limited::new(response.into_body(), 1 << 20)
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|err| format!("{url}: {err}"))
    }
}

/// A signing key from a JWK: asymmetric keys only (an `oct` key in a JWKS is ignored, never
/// used), and not ones marked for encryption.
fn usable_key(jwk: &Jwk) -> Option<Key> {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
    if alg.is_some_and(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)) {
        return None;
    }
    Some(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not yet valid (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        other => format!("{other:?}"),
    }
}
