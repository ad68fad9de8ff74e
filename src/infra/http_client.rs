//! The one outbound HTTP client: pooled, HTTP/1.1, plain or TLS (rustls with ring, the process's
//! single crypto provider). Used for `url` health probes, JWKS, tool calls and `https` upstreams
//! of the data plane. The one infrastructure module that names hyper; it knows no server
//! framework (request bodies are plain [`OutBody`]s).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Any error a request body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of an outbound request.
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, OutBody>;

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

/// Builds the client. `connect_timeout` bounds TCP connects; no total timeout is set here because
/// streams may legitimately last for hours.
pub fn build(connect_timeout: Duration) -> HttpClient {
    install_crypto_provider();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder.https_or_http().enable_http1().wrap_connector(http),
        Err(err) => {
            tracing::warn!(%err, "no system CA certificates found; using the bundled webpki roots");
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(connect_timeout));
            http.set_nodelay(true);
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        }
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
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
