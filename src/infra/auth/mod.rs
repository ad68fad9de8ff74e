//! Who is calling, and what they may do.
//!
//! Identity comes from the configured mode (`none`: the local admin; `dev`: `X-Dev-UserId` and
//! `X-Dev-Roles` headers; `jwt`: bearer tokens, see the auth issue). Permissions are the original
//! gateway's rules, stated once here and used by the API, the proxy and the router alike.

mod jwt;

use http::HeaderMap;

use crate::domain::model::Resource;
use crate::infra::config::{AuthConfig, AuthMode, LoadedConfig};
use crate::infra::http_client::HttpClient;
use jwt::JwtValidator;

/// Where RFC 9728 protected-resource metadata is served (the HTTP layer serves it; the 401
/// challenge points at it).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path inserted after [`WELL_KNOWN`] for a request to `path`: the MCP endpoints have their
/// own documents (their `resource` is the endpoint URL); everything else uses the root one.
pub fn metadata_suffix(path: &str) -> &str {
    let is_mcp_endpoint = path == "/mcp"
        || path
            .strip_prefix("/adapters/")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'));
    if is_mcp_endpoint { path } else { "" }
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub roles: Vec<String>,
    /// Holds the configured admin role.
    pub is_admin: bool,
}

impl Caller {
    fn new(user_id: String, roles: Vec<String>, admin_role: &str) -> Self {
        let is_admin = roles.iter().any(|r| r == admin_role);
        Self {
            user_id,
            roles,
            is_admin,
        }
    }
}

/// Why a request has no caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials that do not validate. The reason is logged, never returned.
    #[error("invalid token")]
    Unauthenticated { reason: String },
}

/// Authenticates requests according to `auth.mode`.
pub struct Authenticator {
    mode: AuthMode,
    admin_role: String,
    jwt: Option<JwtValidator>,
    /// For `WWW-Authenticate` and OAuth metadata.
    public_url: String,
    issuer: Option<String>,
    scopes: Vec<String>,
}

impl Authenticator {
    /// An authenticator for `none` or `dev` mode (no keys to load).
    pub fn local(config: &AuthConfig) -> Self {
        Self {
            mode: config.mode,
            admin_role: config.admin_role.clone(),
            jwt: None,
            public_url: String::new(),
            issuer: None,
            scopes: Vec::new(),
        }
    }

    /// The configured authenticator; in `jwt` mode this loads the signing keys.
    pub async fn from_config(config: &LoadedConfig, http: HttpClient) -> Result<Self, String> {
        let auth = &config.config.auth;
        let mut authenticator = Self::local(auth);
        authenticator.public_url = config.public_url();
        if auth.mode == AuthMode::Jwt {
            let jwt_config = auth
                .jwt
                .as_ref()
                .ok_or("auth.mode = \"jwt\" needs an [auth.jwt] section")?;
            authenticator.issuer = jwt_config.issuer.clone();
            authenticator.scopes = jwt_config.scopes.clone();
            authenticator.jwt = Some(
                JwtValidator::new(jwt_config, &config.public_url(), &config.base_dir, http).await?,
            );
        }
        Ok(authenticator)
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        match self.mode {
            AuthMode::None => Ok(Caller::new(
                "local".into(),
                vec![self.admin_role.clone()],
                &self.admin_role,
            )),
            AuthMode::Dev => {
                let user = header_str(headers, "x-dev-userid")
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .unwrap_or("dev");
                let roles = match header_str(headers, "x-dev-roles") {
                    Some(roles) => split_roles(roles),
                    None => vec!["mcp.dev".to_string()],
                };
                Ok(Caller::new(user.to_string(), roles, &self.admin_role))
            }
            AuthMode::Jwt => {
                let validator = self
                    .jwt
                    .as_ref()
                    .ok_or_else(|| AuthError::Unauthenticated {
                        reason: "no JWT validator configured".into(),
                    })?;
                let identity = validator
                    .validate(headers)
                    .await
                    .map_err(|reason| AuthError::Unauthenticated { reason })?;
                Ok(Caller::new(
                    identity.user_id,
                    identity.roles,
                    &self.admin_role,
                ))
            }
        }
    }

    /// The `WWW-Authenticate` value for a 401 on `path`: points MCP clients (VS Code and others)
    /// at the RFC 9728 metadata of the endpoint they called.
    pub fn challenge(&self, path: &str) -> String {
        if self.mode != AuthMode::Jwt {
            return "Bearer".into();
        }
        let mut challenge = format!(
            "Bearer resource_metadata=\"{}{}{}\"",
            self.public_url,
            WELL_KNOWN,
            metadata_suffix(path)
        );
        if !self.scopes.is_empty() {
            challenge.push_str(&format!(", scope=\"{}\"", self.scopes.join(" ")));
        }
        challenge
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Comma-separated roles, trimmed, empty entries dropped.
pub fn split_roles(roles: &str) -> Vec<String> {
    roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Read (see, use): the creator, an admin, or a holder of one of the resource's `requiredRoles`.
pub fn can_read(caller: &Caller, resource: &Resource) -> bool {
    caller.is_admin
        || caller.user_id == resource.created_by
        || resource
            .spec
            .required_roles
            .iter()
            .any(|required| caller.roles.iter().any(|role| role == required))
}

/// Write (PUT, DELETE): the creator or an admin.
pub fn can_write(caller: &Caller, resource: &Resource) -> bool {
    caller.is_admin || caller.user_id == resource.created_by
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ResourceKind, ResourceSpec, Source};

    #[test]
    fn mcp_endpoints_get_path_inserted_metadata() {
        assert_eq!(metadata_suffix("/mcp"), "/mcp");
        assert_eq!(metadata_suffix("/adapters/demo/mcp"), "/adapters/demo/mcp");
        assert_eq!(metadata_suffix("/adapters"), "");
        assert_eq!(metadata_suffix("/adapters/demo"), "");
        assert_eq!(metadata_suffix("/adapters/a/b/mcp"), "");
        assert_eq!(metadata_suffix("/adapters//mcp"), "");
    }

    fn resource(created_by: &str, roles: &[&str]) -> Resource {
        Resource {
            kind: ResourceKind::Adapter,
            spec: ResourceSpec {
                required_roles: roles.iter().map(|r| r.to_string()).collect(),
                ..ResourceSpec::remote("a", "http://127.0.0.1:1/")
            },
            created_by: created_by.into(),
            created_at: String::new(),
            last_updated_at: String::new(),
            source: Source::Api,
            metrics: crate::domain::counters::ResourceMetrics::new(ResourceKind::Adapter),
        }
    }

    fn caller(user: &str, roles: &[&str]) -> Caller {
        Caller::new(
            user.into(),
            roles.iter().map(|r| r.to_string()).collect(),
            "mcp.admin",
        )
    }

    #[test]
    fn the_original_permission_matrix() {
        let owned = resource("alice", &["readers"]);
        let alice = caller("alice", &[]);
        let bob = caller("bob", &[]);
        let bob_reader = caller("bob", &["readers"]);
        let admin = caller("carol", &["mcp.admin"]);
        assert!(can_read(&alice, &owned) && can_write(&alice, &owned));
        assert!(!can_read(&bob, &owned) && !can_write(&bob, &owned));
        assert!(can_read(&bob_reader, &owned) && !can_write(&bob_reader, &owned));
        assert!(can_read(&admin, &owned) && can_write(&admin, &owned));
        // Empty requiredRoles grants nobody extra.
        assert!(!can_read(&bob, &resource("alice", &[])));
    }

    fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn dev_mode_headers() {
        let auth = Authenticator::local(&AuthConfig {
            mode: AuthMode::Dev,
            ..AuthConfig::default()
        });
        let mut headers = HeaderMap::new();
        let c = futures_executor_block_on(auth.authenticate(&headers)).expect("dev");
        assert_eq!(
            (c.user_id.as_str(), c.roles.clone()),
            ("dev", vec!["mcp.dev".to_string()])
        );
        headers.insert("x-dev-userid", "bob".parse().expect("header"));
        headers.insert("x-dev-roles", " a, mcp.admin ,,".parse().expect("header"));
        let c = futures_executor_block_on(auth.authenticate(&headers)).expect("dev");
        assert_eq!(c.user_id, "bob");
        assert_eq!(c.roles, vec!["a".to_string(), "mcp.admin".to_string()]);
        assert!(c.is_admin);
    }
}
