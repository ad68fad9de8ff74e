//! The listener: accepts connections, serves each in its own task, and shuts down gracefully
//! (no new connections; requests in flight finish; idle connections close).
//!
//! A connection starts on the wire path ([`super::wire`]): the gateway reads its requests itself
//! while they are data-plane `POST`s the proxy carries as bytes. At the first request that is
//! anything else, the connection goes to hyper (with the bytes already read) and stays there:
//! the API router, the tool router and every other data-plane request are served as before.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

use super::front::{Front, MakeFront};

/// Serves `listener` until `shutdown` completes, then waits for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    make: MakeFront,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    // Connections hold `closing` senders and watch for the receiver to go (the shutdown);
    // they hold `open` receivers, and the server waits for the last to go.
    let (closing, closing_rx) = watch::channel(());
    let (open, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // No Nagle: SSE frames and small JSON answers must leave at once, not wait for the
        // client's delayed ACK (a 40 ms stall per response otherwise).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let connection = Connection {
            front: make.front(peer),
            closing: closing.clone(),
            _open: open_rx.clone(),
        };
        tokio::spawn(connection.run(stream, peer));
    }
    drop(listener);
    drop(closing_rx);
    drop(open_rx);
    open.closed().await;
    Ok(())
}

/// The next connection; errors of one connection (reset before accept) are skipped, others
/// (out of file descriptors) wait a moment, as a server must not spin on them.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) => {}
            Err(err) => {
                tracing::error!(%err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One client connection.
pub(super) struct Connection {
    pub(super) front: Front,
    /// Its receiver goes away when the server shuts down.
    pub(super) closing: watch::Sender<()>,
    /// Held while the connection is open.
    _open: watch::Receiver<()>,
}

impl Connection {
    async fn run(self, mut stream: TcpStream, peer: SocketAddr) {
        let mut closing = std::pin::pin!(self.closing.closed());
        let mut buf = BytesMut::with_capacity(8 * 1024);
        if super::wire::serve(&self.front, peer, &mut stream, &mut buf, closing.as_mut()).await {
            self.hand_off(stream, buf.freeze(), closing).await;
        }
    }

    /// Serves the rest of the connection with hyper, the bytes already read first.
    async fn hand_off(
        &self,
        stream: TcpStream,
        read: Bytes,
        mut closing: Pin<&mut impl Future<Output = ()>>,
    ) {
        let io = TokioIo::new(Rewind {
            read,
            inner: stream,
        });
        let service = ToHyper(self.front.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::trace!(%err, "connection ended with an error");
                }
            }
            () = closing.as_mut() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// The front door as a hyper service.
struct ToHyper(Front);

impl hyper::service::Service<http::Request<Incoming>> for ToHyper {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let mut front = self.0.clone();
        let request: Request = request.map(Body::new);
        front.call(request)
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct Rewind {
    read: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
