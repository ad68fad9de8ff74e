//! The one outbound HTTP client: pooled, HTTP/1.1, plain or TLS (rustls with ring, the process's
//! single crypto provider). Used for `url` health probes, JWKS, tool calls and `https` upstreams
//! of the data plane; [`connect`] also opens the data plane's own plain-HTTP connections, so
//! every connection to a `url` resource passes the upstream address policy. The one infrastructure module that names hyper; it knows no server
//! framework (request bodies are plain [`OutBody`]s).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::address::AddressPolicy;

/// Any error a request body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of an outbound request.
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;
pub type HttpClient = Client<hyper_rustls::HttpsConnector<Connector>, OutBody>;

/// An empty request body.
pub fn empty() -> OutBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A request body of `bytes`.
pub fn full(bytes: Bytes) -> OutBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Installs ring as the process-wide rustls provider. Call once at the start of `main` (and of
/// tests that build clients); later calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the client. `connect_timeout` bounds each TCP connect; no total timeout is set here
/// because streams may legitimately last for hours. With a `policy`, every address dialled is
/// checked against it first (the client for `url` resources); without, none is (the client
/// for the gateway's own replicas and for the configured JWKS).
pub fn build(connect_timeout: Duration, policy: Option<Arc<AddressPolicy>>) -> HttpClient {
    install_crypto_provider();
    let connector = Connector {
        policy,
        timeout: connect_timeout,
    };
    let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector),
        Err(err) => {
            tracing::warn!(%err, "no system CA certificates found; using the bundled webpki roots");
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector)
        }
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// Opens TCP connections for the client: resolves the host, keeps the addresses the policy
/// allows (when there is one), and connects to the first that answers (no Nagle).
#[derive(Clone)]
pub struct Connector {
    policy: Option<Arc<AddressPolicy>>,
    timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            connect(host, port, this.policy.as_deref(), this.timeout)
                .await
                .map(TokioIo::new)
        })
    }
}

/// A TCP connection to `host:port`: every address it resolves to that `policy` allows (all of
/// them without a policy) is tried in turn, each for at most `timeout`. The address dialled is
/// the address checked, so a name that resolves differently later cannot get around the policy.
pub async fn connect(
    host: &str,
    port: u16,
    policy: Option<&AddressPolicy>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match policy {
        Some(policy) => policy.resolve(host, port).await?,
        None => {
            let bare = host.trim_matches(['[', ']']);
            tokio::net::lookup_host((bare, port)).await?.collect()
        }
    };
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(err)) => last = Some(err),
            Err(_) => {
                last = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection to {addr} within {} ms", timeout.as_millis()),
                ));
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        )
    }))
}

/// Whether `url` answers HTTP at all (any status counts: an MCP endpoint answers GET with 405 or
/// 406, and that still proves it is up). Returns the status or the reason it did not answer.
pub async fn probe(client: &HttpClient, url: &str, timeout: Duration) -> Result<u16, String> {
    let request = http::Request::get(url)
        .header(http::header::ACCEPT, "text/event-stream, application/json")
        .body(empty())
        .map_err(|err| format!("bad url: {err}"))?;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        Ok(Err(err)) => Err(describe_client_error(&err)),
        Ok(Ok(response)) => Ok(response.status().as_u16()),
    }
}

/// A short, human description of a client error (the innermost cause is the useful part).
pub fn describe_client_error(err: &hyper_util::client::legacy::Error) -> String {
    let last = innermost_cause(err);
    if err.is_connect() {
        format!("cannot connect: {last}")
    } else {
        last
    }
}

/// The message of an error's innermost cause (or of the error itself when it has none).
pub fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        last = inner.to_string();
        source = inner.source();
    }
    last
}
