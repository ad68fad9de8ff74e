//! The running gateway: shared state, request extractors and startup.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::serve::ListenerExt;
use http::request::Parts;
use mcp_gateway_runtimes::Runtime;
use mcp_gateway_runtimes::none::NoneRuntime;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::api::ApiError;
use crate::auth::{AuthError, Authenticator, Caller};
use crate::config::{AuthMode, LoadedConfig, RuntimeKind};
use crate::http_client::{self, HttpClient};
use crate::proxy::Proxy;
use crate::proxy::session::SessionKeys;
use crate::reconciler::{self, Observed};
use crate::store::Store;
use crate::validate::Context;

/// Largest control-plane request body.
pub const MAX_API_BODY: usize = 1 << 20;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub config: LoadedConfig,
    pub store: Arc<Store>,
    pub runtime: Arc<dyn Runtime>,
    pub observed: Arc<Observed>,
    pub auth: Authenticator,
    pub http: HttpClient,
    pub proxy: Proxy,
    /// The tool router, `/mcp`.
    pub router: crate::router::ToolRouter,
    /// Answers of the API router, for `/metrics` (resources carry their own counters).
    pub api_metrics: Arc<crate::metrics::ApiMetrics>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Shared {
    pub fn validation_context(&self) -> Context {
        Context {
            deploys_images: self.runtime.deploys_images(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.auth.authenticate(&parts.headers).await.map_err(
            |AuthError::Unauthenticated { reason }| {
                tracing::info!(path = %parts.uri.path(), %reason, "unauthenticated request");
                ApiError::Unauthenticated {
                    challenge: state.auth.challenge(parts.uri.path()),
                }
            },
        )
    }
}

/// A JSON object request body, with errors as problem documents: 415 without a JSON content
/// type, 413 past [`MAX_API_BODY`], 400 for invalid JSON or a non-object.
pub struct JsonObject(pub Map<String, Value>);

impl<S> FromRequest<S> for JsonObject
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!("the body is larger than {MAX_API_BODY} bytes"))
            } else {
                ApiError::BadRequest(format!("cannot read the body: {rejection}"))
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            )),
            Err(err) => Err(ApiError::BadRequest(format!(
                "the body is not valid JSON: {err}"
            ))),
        }
    }
}

/// Why `serve` stopped: the exit code and the message.
#[derive(Debug)]
pub struct ServeError {
    pub code: u8,
    pub message: String,
}

impl ServeError {
    fn config(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

/// Checks what `check` and `serve` both refuse: modes without authentication off loopback.
pub fn check_listen_rules(config: &LoadedConfig, listen: SocketAddr) -> Result<(), String> {
    let mode = config.config.auth.mode;
    if matches!(mode, AuthMode::None | AuthMode::Dev) && !listen.ip().is_loopback() {
        return Err(format!(
            "auth.mode = \"{}\" lets anyone act as {}, so it is only allowed on a loopback address, \
             and listen is {listen}; set server.listen to 127.0.0.1:<port> or configure auth.mode = \"jwt\"",
            mode.as_str(),
            if mode == AuthMode::None {
                "the admin"
            } else {
                "any user"
            }
        ));
    }
    Ok(())
}

/// Builds the configured runtime. `gateway_id` (generated once, kept in SQLite) goes into the
/// labels of everything the runtime creates, so gateways sharing an engine or cluster never
/// adopt or reap each other's workloads.
async fn build_runtime(
    config: &LoadedConfig,
    gateway_id: &str,
) -> Result<Arc<dyn Runtime>, ServeError> {
    match config.config.runtime.kind {
        RuntimeKind::None => Ok(Arc::new(NoneRuntime)),
        #[cfg(feature = "docker")]
        RuntimeKind::Docker => {
            use mcp_gateway_runtimes::docker::{DockerOptions, DockerRuntime, Limits, Reach};
            let docker = &config.config.runtime.docker;
            let options = DockerOptions {
                host: docker.host.clone(),
                network: docker.network.clone(),
                gateway_id: gateway_id.to_string(),
                image_registry: config.config.runtime.image_registry.clone(),
                reach: match docker.reach {
                    crate::config::DockerReach::Published => Reach::Published,
                    crate::config::DockerReach::Container => Reach::Container,
                },
                limits: Limits {
                    memory_bytes: docker.memory.0,
                    cpus: docker.cpus,
                    pids: docker.pids_limit,
                },
                ready_timeout: Duration::from_secs(docker.ready_timeout_secs),
            };
            // The error already says what to do (start Docker, set the host, or use "none").
            let runtime = DockerRuntime::connect(options)
                .await
                .map_err(|err| ServeError::runtime(err.to_string()))?;
            Ok(Arc::new(runtime))
        }
        #[cfg(feature = "kubernetes")]
        RuntimeKind::Kubernetes => {
            use mcp_gateway_runtimes::kubernetes::{
                KubernetesOptions, KubernetesRuntime, PodSettings, Reach, Resources,
            };
            let k8s = &config.config.runtime.kubernetes;
            let text = |value: &str| (!value.is_empty()).then(|| value.to_string());
            let options = KubernetesOptions {
                kubeconfig: k8s
                    .kubeconfig
                    .as_ref()
                    .map(|path| config.base_dir.join(path)),
                context: k8s.context.clone(),
                namespace: k8s.namespace.clone(),
                gateway_id: gateway_id.to_string(),
                reach: match k8s.endpoints {
                    crate::config::KubernetesEndpoints::Dns => Reach::Dns {
                        cluster_domain: k8s.cluster_domain.clone(),
                    },
                    crate::config::KubernetesEndpoints::PodIp => Reach::PodIp,
                },
                pods: PodSettings {
                    service_account: text(&k8s.service_account),
                    workload_identity_service_account: k8s
                        .workload_identity_service_account
                        .clone(),
                    image_pull_policy: k8s.image_pull_policy.as_str().to_string(),
                    resources: Resources {
                        cpu_request: text(&k8s.cpu_request),
                        cpu_limit: text(&k8s.cpu_limit),
                        memory_request: text(&k8s.memory_request),
                        memory_limit: text(&k8s.memory_limit),
                        ephemeral_storage_limit: text(&k8s.ephemeral_storage_limit),
                    },
                    run_as_user: k8s.run_as_user,
                },
            };
            // The error already says what to do (kubeconfig, context, namespace, RBAC).
            let runtime = KubernetesRuntime::connect(options)
                .await
                .map_err(|err| ServeError::runtime(err.to_string()))?;
            Ok(Arc::new(runtime))
        }
        // Reached only in builds without the docker or kubernetes feature.
        #[allow(unreachable_patterns)]
        other => {
            let _ = gateway_id;
            Err(ServeError::runtime(format!(
                "runtime.kind = \"{}\" is not available in this build yet; use runtime.kind = \"none\" \
                 with url resources",
                other.as_str()
            )))
        }
    }
}

/// `len` random bytes as lowercase hex, from the operating system's generator.
pub fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness is a broken machine; fall back to time-derived bytes rather than
        // refusing to start (the id only separates gateways, it protects nothing).
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8 ^ (std::process::id() as u8);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Current time as RFC 3339 UTC with microseconds.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.microsecond();
    let now = now.replace_nanosecond(micros * 1000).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Starts the gateway and runs until SIGINT/SIGTERM.
pub async fn serve(mut config: LoadedConfig, listen: Option<SocketAddr>) -> Result<(), ServeError> {
    // What a reload compares with: the file's own settings, before the overrides below.
    let file_settings = config.config.clone();
    if let Some(listen) = listen {
        config.config.server.listen = listen;
    }
    let listen = config.config.server.listen;
    check_listen_rules(&config, listen).map_err(ServeError::config)?;

    let store_path = config.store_path();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_path))
        .await
        .map_err(|err| ServeError::runtime(err.to_string()))?
        .map_err(|err| {
            ServeError::runtime(format!(
                "cannot open the store {}: {err}",
                config.store_path().display()
            ))
        })?;
    let store = Arc::new(store);
    {
        let store = store.clone();
        let declared = config.resources.clone();
        let origin = config.origin.clone();
        let summary = tokio::task::spawn_blocking(move || store.sync_config(&declared, &now()))
            .await
            .map_err(|err| ServeError::runtime(err.to_string()))?
            .map_err(|err| ServeError::config(format!("{origin}: {err}")))?;
        tracing::info!(
            created = summary.created,
            updated = summary.updated,
            deleted = summary.deleted,
            "config resources synchronised"
        );
    }

    let gateway_id = {
        let store = store.clone();
        let fresh = random_hex(8);
        tokio::task::spawn_blocking(move || store.setting_or_insert("gateway_id", fresh.as_bytes()))
            .await
            .map_err(|err| ServeError::runtime(err.to_string()))?
            .map_err(|err| ServeError::runtime(format!("cannot read the gateway id: {err}")))?
    };
    let gateway_id = String::from_utf8_lossy(&gateway_id).into_owned();
    let runtime = build_runtime(&config, &gateway_id).await?;
    let reload = crate::config::watch::start(
        config.file.clone(),
        crate::config::watch::Running {
            settings: file_settings,
            deploys_images: runtime.deploys_images(),
        },
        store.clone(),
    );
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| ServeError::runtime(format!("cannot listen on {listen}: {err}")))?;
    let local = listener
        .local_addr()
        .map_err(|err| ServeError::runtime(err.to_string()))?;
    if config.config.server.public_url.is_none() {
        config.config.server.listen = local;
    }

    let observed = Arc::new(Observed::default());
    let interval = Duration::from_secs(config.config.runtime.reconcile_interval_secs);
    let reconcile = tokio::spawn(reconciler::run(
        store.clone(),
        runtime.clone(),
        observed.clone(),
        config.config.runtime.image_registry.clone(),
        interval,
    ));

    let keys = session_keys(&config, &store).await?;
    let connect_timeout = Duration::from_millis(config.config.proxy.connect_timeout_ms);
    let http = http_client::build(connect_timeout);
    let proxy = Proxy::new(
        &config.config.proxy,
        keys,
        &config.public_url(),
        http.clone(),
    );
    let auth = Authenticator::from_config(&config, http.clone())
        .await
        .map_err(|err| ServeError::config(format!("auth: {err}")))?;
    let router =
        crate::router::ToolRouter::new(&config, store.clone(), observed.clone(), http.clone());
    let router_task = tokio::spawn(router.clone().run());
    let state = AppState(Arc::new(Shared {
        api_metrics: Arc::new(crate::api::metrics()),
        router: router.clone(),
        proxy,
        auth,
        config,
        store,
        runtime,
        observed,
        http,
    }));
    let app = crate::front::MakeFront::new(state.clone(), crate::api::router(state));

    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("mcp-gateway listening on http://{local}");
    tracing::info!(%local, "listening");
    // No Nagle: SSE frames and small JSON answers must leave at once, not wait for the client's
    // delayed ACK (a 40 ms stall per response otherwise).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Open /mcp streams would otherwise hold graceful shutdown forever.
            router.shutdown();
        })
        .await;
    reconcile.abort();
    router_task.abort();
    reload.abort();
    result.map_err(|err| ServeError::runtime(format!("server failed: {err}")))
}

/// The session-token keys: from config, or one generated at first start and kept in the store
/// (so tokens survive restarts and every process sharing the store agrees).
async fn session_keys(
    config: &LoadedConfig,
    store: &Arc<Store>,
) -> Result<SessionKeys, ServeError> {
    let configured = &config.config.proxy.session_keys;
    if let Some((first, rest)) = configured.split_first() {
        let decode = |k: &crate::config::SessionKeyConfig| {
            k.bytes().map(|b| (k.id, b)).map_err(ServeError::config)
        };
        let current = decode(first)?;
        let previous = rest.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        return Ok(SessionKeys::new(current, &previous));
    }
    let store = store.clone();
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh)
        .map_err(|err| ServeError::runtime(format!("no OS randomness for a session key: {err}")))?;
    let stored =
        tokio::task::spawn_blocking(move || store.setting_or_insert("session_key.1", &fresh))
            .await
            .map_err(|err| ServeError::runtime(err.to_string()))?
            .map_err(|err| ServeError::runtime(format!("cannot read the session key: {err}")))?;
    let key: [u8; 32] = stored.try_into().map_err(|_| {
        ServeError::runtime("the stored session key is not 32 bytes; the store is damaged")
    })?;
    Ok(SessionKeys::new((1, key), &[]))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}
