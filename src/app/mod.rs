//! **App**, the top layer: startup (store, runtime, services, HTTP), config reload wiring
//! ([`reload`]) and shutdown. The only place that knows every layer; nothing imports it.

mod keys;
pub mod reload;
mod runtime;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcp_gateway_runtimes::Runtime;
use tokio::net::TcpListener;

use crate::domain::clock::now;
use crate::http::front::MakeFront;
use crate::http::{AppState, Shared, routes};
use crate::infra::auth::Authenticator;
use crate::infra::config::{AuthMode, LoadedConfig};
use crate::infra::http_client;
use crate::infra::reconciler::{self, Observed};
use crate::infra::store::Store;
use crate::services::edge::{Balancer, Door, OriginPolicy};
use crate::services::metrics::Exposition;
use crate::services::proxy::{self, Proxy};
use crate::services::router::{self, ToolRouter};
use crate::services::status::Status;
use crate::services::stdio::{self, StdioBridge};
use keys::session_keys;
use runtime::build_runtime;

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

/// Starts the gateway and runs until SIGINT/SIGTERM.
pub async fn serve(mut config: LoadedConfig, listen: Option<SocketAddr>) -> Result<(), ServeError> {
    // What a reload compares with: the file's own settings, before the overrides below.
    let file_settings = config.config.clone();
    if let Some(listen) = listen {
        config.config.server.listen = listen;
    }
    let listen = config.config.server.listen;
    check_listen_rules(&config, listen).map_err(ServeError::config)?;

    let store = open_store(&config).await?;
    let gateway_id = gateway_id(&store).await?;
    let runtime = build_runtime(&config, &gateway_id).await?;
    let reload = reload::start(
        config.file.clone(),
        reload::Running {
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
    let reconcile = tokio::spawn(reconciler::run(
        store.clone(),
        runtime.clone(),
        observed.clone(),
        config.config.runtime.image_registry.clone(),
        Duration::from_secs(config.config.runtime.reconcile_interval_secs),
    ));
    let loops = config.config.server.proxy_loops();
    let state = wire(config, local, store, runtime, observed).await?;
    let router = state.router.clone();
    let shared = state.clone();
    let router_task = tokio::spawn(router.clone().run());
    let app = MakeFront::new(state.clone(), routes::router(state));

    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("mcp-gateway listening on http://{local}");
    tracing::info!(%local, "listening");
    let result = crate::http::listen::serve(listener, app, loops, async move {
        shutdown_signal().await;
        // Open /mcp streams would otherwise hold graceful shutdown forever.
        router.shutdown();
        // Followed logs likewise (replicas outlive the gateway, so their streams go on).
        shared.status.shutdown();
    })
    .await;
    reconcile.abort();
    router_task.abort();
    reload.abort();
    result.map_err(|err| ServeError::runtime(format!("server failed: {err}")))
}

/// Opens the store and brings the config file's resources into it.
async fn open_store(config: &LoadedConfig) -> Result<Arc<Store>, ServeError> {
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
    let declared = config.resources.clone();
    let origin = config.origin.clone();
    let syncing = store.clone();
    let summary = tokio::task::spawn_blocking(move || syncing.sync_config(&declared, &now()))
        .await
        .map_err(|err| ServeError::runtime(err.to_string()))?
        .map_err(|err| ServeError::config(format!("{origin}: {err}")))?;
    tracing::info!(
        created = summary.created,
        updated = summary.updated,
        deleted = summary.deleted,
        "config resources synchronised"
    );
    Ok(store)
}

/// This gateway's id, generated once and kept in the store.
async fn gateway_id(store: &Arc<Store>) -> Result<String, ServeError> {
    let store = store.clone();
    let fresh = random_hex(8);
    let id = tokio::task::spawn_blocking(move || {
        store.setting_or_insert("gateway_id", fresh.as_bytes())
    })
    .await
    .map_err(|err| ServeError::runtime(err.to_string()))?
    .map_err(|err| ServeError::runtime(format!("cannot read the gateway id: {err}")))?;
    Ok(String::from_utf8_lossy(&id).into_owned())
}

/// Builds the services, each with the handles it needs, and the HTTP layer's state over them.
/// Call after the listen address is final: the router decides from it which `Host` headers
/// are accepted.
async fn wire(
    config: LoadedConfig,
    local: SocketAddr,
    store: Arc<Store>,
    runtime: Arc<dyn Runtime>,
    observed: Arc<Observed>,
) -> Result<AppState, ServeError> {
    let keys = Arc::new(session_keys(&config, &store).await?);
    let policy = config
        .address_policy(Some(local))
        .map_err(|err| ServeError::config(format!("upstreams.allow: {err}")))?;
    let policy = Arc::new(policy);
    let connect_timeout = Duration::from_millis(config.config.proxy.connect_timeout_ms);
    // Two clients: one for the gateway's own replicas and the configured JWKS, one for `url`
    // resources, which passes every address it dials through the upstream address policy.
    let http = http_client::build(connect_timeout, None);
    let remote = http_client::build(connect_timeout, Some(policy.clone()));
    let auth = Authenticator::from_config(&config, http.clone())
        .await
        .map_err(|err| ServeError::config(format!("auth: {err}")))?;
    let auth = Arc::new(auth);
    let proxy_config = &config.config.proxy;
    let door = Arc::new(Door::new(
        OriginPolicy::new(&config.public_url(), &proxy_config.allowed_origins),
        auth.clone(),
        proxy_config.cors,
    ));
    let balancer = Arc::new(Balancer::default());
    let proxy = Arc::new(Proxy::new(
        proxy_config,
        keys.clone(),
        proxy::Handles {
            door: door.clone(),
            store: store.clone(),
            observed: observed.clone(),
            balancer: balancer.clone(),
            policy: policy.clone(),
            tls: remote.clone(),
        },
    ));
    let stdio = Arc::new(StdioBridge::new(stdio::Handles {
        door: door.clone(),
        store: store.clone(),
        observed: observed.clone(),
        runtime: runtime.clone(),
        keys: keys.clone(),
        max_body: proxy_config.max_body_bytes,
        image_registry: config.config.runtime.image_registry.clone(),
    }));
    let router = ToolRouter::new(
        &config,
        router::Handles {
            store: store.clone(),
            observed: observed.clone(),
            http,
            remote: remote.clone(),
            door,
            balancer,
            keys,
            adapters: Arc::new(crate::http::DataPlane {
                proxy: proxy.clone(),
                stdio: stdio.clone(),
            }),
        },
    );
    let status = Status::new(
        runtime.clone(),
        observed.clone(),
        remote,
        config.config.runtime.image_registry.clone(),
    );
    let metrics = Exposition::new(store.clone(), observed, Arc::new(routes::api_metrics()));
    Ok(AppState(Arc::new(Shared {
        config,
        store,
        runtime,
        auth,
        policy,
        proxy,
        stdio,
        router,
        status,
        metrics,
    })))
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
