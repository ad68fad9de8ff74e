//! The first stop of every request. Data-plane requests (`/adapters/{name}/mcp`) go straight to
//! the proxy: it is the hot path, and the API router's matching, path extraction and the
//! per-request connection-info extension cost more than the rest of the gateway's own work on
//! a request. Everything else (and any data-plane path that needs percent-decoding) goes through
//! the API router, where the same handler is also routed and documented.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use http::Method;
use tower::Service;

use super::AppState;
use crate::services::proxy::data_plane_name;

/// Makes one [`Front`] per accepted connection, knowing the peer's address.
#[derive(Clone)]
pub struct MakeFront {
    state: AppState,
    router: Router,
}

impl MakeFront {
    pub fn new(state: AppState, router: Router) -> Self {
        Self { state, router }
    }
}

impl<L> Service<IncomingStream<'_, L>> for MakeFront
where
    L: Listener<Addr = SocketAddr>,
{
    type Response = Front;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Front, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(Front {
            state: self.state.clone(),
            router: self.router.clone(),
            peer: *stream.remote_addr(),
        }))
    }
}

/// One connection's request handler.
#[derive(Clone)]
pub struct Front {
    state: AppState,
    router: Router,
    peer: SocketAddr,
}

impl Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let data_plane = matches!(
            *request.method(),
            Method::POST | Method::GET | Method::DELETE | Method::OPTIONS
        );
        if data_plane && let Some(name) = data_plane_name(request.uri().path()) {
            let name = name.to_string();
            let state = self.state.clone();
            let peer = self.peer;
            return Box::pin(async move { Ok(state.data_plane(peer, &name, request).await) });
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Box::pin(self.router.call(request))
    }
}
