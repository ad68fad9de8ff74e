//! The first stop of every request hyper reads (the wire path, [`super::wire`], reads the
//! data plane's plain `POST`s before it). Data-plane requests (`/adapters/{name}/mcp`) go straight to
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
use http::Method;
use tower::Service;

use super::AppState;
use crate::services::proxy::{Proxy, data_plane_name};

/// Makes one [`Front`] per accepted connection ([`super::listen`]), knowing the peer's address.
#[derive(Clone)]
pub struct MakeFront {
    state: AppState,
    router: Router,
}

impl MakeFront {
    pub fn new(state: AppState, router: Router) -> Self {
        Self { state, router }
    }

    /// The handler of a connection from `peer`.
    pub fn front(&self, peer: SocketAddr) -> Front {
        Front {
            state: self.state.clone(),
            router: self.router.clone(),
            peer,
        }
    }
}

/// One connection's request handler.
#[derive(Clone)]
pub struct Front {
    state: AppState,
    router: Router,
    peer: SocketAddr,
}

impl Front {
    /// The data plane's proxy (the wire path calls it directly).
    pub fn proxy(&self) -> &Proxy {
        &self.state.proxy
    }
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
