//! The listener: accepts connections, serves each in its own task, and shuts down gracefully
//! (no new connections; requests in flight finish; idle connections close).
//!
//! A connection starts on the wire path ([`super::wire`]): the gateway reads its requests itself
//! while they are data-plane requests the proxy carries as bytes. At the first request that is
//! anything else, the connection goes to hyper (with the bytes already read) and stays there:
//! the API router, the tool router and every other data-plane request are served as before.
//!
//! With `server.proxy_threads`, connections are accepted by the data plane's event loops
//! (runtimes of one thread each, on the same socket) and each is served on the loop with the
//! fewest open connections, whichever accepted it; a connection handed to hyper moves to the
//! shared runtime. With `0`, the shared runtime accepts and serves everything.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::Service;

use super::front::{Front, MakeFront};

/// Serves `listener` until `shutdown` completes, then waits for open connections to finish.
/// `loops`: the data plane's event loops of their own (`server.proxy_threads`), each a runtime
/// of one thread that accepts connections and serves the wire path on them; a connection it
/// hands to hyper moves to the runtime `serve` runs on. `0`: this runtime does everything.
pub async fn serve(
    listener: TcpListener,
    make: MakeFront,
    loops: usize,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    // Connections hold `closing` senders and watch for the receiver to go (the shutdown);
    // they hold `open` receivers, and the server waits for the last to go.
    let (closing, closing_rx) = watch::channel(());
    let (open, open_rx) = watch::channel(());
    let mut shared = Shared {
        make,
        closing,
        open: open_rx,
        home: Handle::current(),
        loops: Arc::new([]),
    };
    let started = if loops == 0 {
        accept_until(&listener, &shared, None, shutdown).await;
        drop(listener);
        Vec::new()
    } else {
        let started = start_loops(listener.into_std()?, &mut shared, loops)?;
        shutdown.await;
        started
    };
    drop(closing_rx);
    drop(shared);
    open.closed().await;
    // Every connection has ended, those of the loops too: what is left of a loop is its accept
    // task, ending.
    for (runtime, accepting) in started {
        let _ = accepting.await;
        runtime.shutdown_background();
    }
    Ok(())
}

/// What every connection is made from, on whichever thread it was accepted.
#[derive(Clone)]
struct Shared {
    make: MakeFront,
    closing: watch::Sender<()>,
    open: watch::Receiver<()>,
    /// The runtime connections handed to hyper are served on.
    home: Handle,
    /// The event loops (none with `proxy_threads = 0`).
    loops: Arc<[Loop]>,
}

/// An event loop, as connections are placed on it.
struct Loop {
    handle: Handle,
    /// Its connections still on the wire path.
    open: AtomicUsize,
}

/// A connection counted on the event loop it is served on, until it ends or moves home.
struct Placed {
    loops: Arc<[Loop]>,
    on: usize,
}

impl Placed {
    /// Where a connection that loop `me` accepted is served: the loop with the fewest open
    /// connections, `me` on a tie. The kernel hands a new connection to whichever loop wakes
    /// first, which can leave one loop with most of them and the other idle.
    fn new(loops: &Arc<[Loop]>, me: usize) -> Self {
        let mut on = me;
        let mut fewest = loops[me].open.load(Ordering::Relaxed);
        for (n, other) in loops.iter().enumerate() {
            let open = other.open.load(Ordering::Relaxed);
            if open < fewest {
                (on, fewest) = (n, open);
            }
        }
        loops[on].open.fetch_add(1, Ordering::Relaxed);
        Self {
            loops: loops.clone(),
            on,
        }
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        self.loops[self.on].open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts `loops` event loops accepting on `listener` (each on its own handle to the socket):
/// each is a runtime of one worker thread (`proxy-N`), as the shared runtime with
/// `server.threads = 1` is, so a request costs what it does there. They are all built before
/// any starts: if one cannot be, none runs.
fn start_loops(
    listener: std::net::TcpListener,
    shared: &mut Shared,
    loops: usize,
) -> io::Result<Vec<(Runtime, JoinHandle<()>)>> {
    let mut built: Vec<(Runtime, std::net::TcpListener)> = Vec::with_capacity(loops);
    for n in 1..=loops {
        let made = listener.try_clone().and_then(|listener| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("proxy-{n}"))
                .on_thread_start(move || crate::services::proxy::enter_event_loop(n))
                .enable_all()
                .build()?;
            Ok((runtime, listener))
        });
        match made {
            Ok(made) => built.push(made),
            Err(err) => {
                // A runtime may not be dropped (blocking) inside this one.
                for (runtime, _) in built {
                    runtime.shutdown_background();
                }
                return Err(err);
            }
        }
    }
    drop(listener);
    shared.loops = built
        .iter()
        .map(|(runtime, _)| Loop {
            handle: runtime.handle().clone(),
            open: AtomicUsize::new(0),
        })
        .collect();
    Ok(built
        .into_iter()
        .enumerate()
        .map(|(me, (runtime, listener))| {
            let accepting = runtime.spawn(event_loop(listener, shared.clone(), me));
            (runtime, accepting)
        })
        .collect())
}

/// Event loop `me`: accepts until the shutdown (`serve` waits for its connections, with all the
/// others).
async fn event_loop(listener: std::net::TcpListener, shared: Shared, me: usize) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "an event loop cannot accept connections");
            return;
        }
    };
    let stop = shared.closing.clone();
    accept_until(&listener, &shared, Some(me), stop.closed()).await;
}

/// Accepts connections until `stop` completes. On the shared runtime (`me` is `None`) each is
/// served in a task of its own there; on event loop `me`, on the loop with the fewest open
/// connections, and one handed to hyper moves home.
async fn accept_until(
    listener: &TcpListener,
    shared: &Shared,
    me: Option<usize>,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(listener) => accepted,
            () = &mut stop => return,
        };
        // No Nagle: SSE frames and small JSON answers must leave at once, not wait for the
        // client's delayed ACK (a 40 ms stall per response otherwise).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let placed = me.map(|me| Placed::new(&shared.loops, me));
        let elsewhere = placed
            .as_ref()
            .filter(|placed| Some(placed.on) != me)
            .map(|placed| shared.loops[placed.on].handle.clone());
        let connection = Connection {
            front: shared.make.front(peer),
            closing: shared.closing.clone(),
            _open: shared.open.clone(),
            moves_to: me.map(|_| shared.home.clone()),
            placed,
        };
        match elsewhere {
            None => drop(tokio::spawn(connection.run(stream, peer))),
            Some(there) => move_to(&there, stream, move |stream| connection.run(stream, peer)),
        }
    }
}

/// Serves `stream` on the runtime `there`, whose reactor then watches the socket.
fn move_to<F>(
    there: &Handle,
    stream: TcpStream,
    serve: impl FnOnce(TcpStream) -> F + Send + 'static,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(err) => return tracing::debug!(%err, "cannot move a connection"),
    };
    there.spawn(async move {
        match TcpStream::from_std(stream) {
            Ok(stream) => serve(stream).await,
            Err(err) => tracing::debug!(%err, "cannot move a connection"),
        }
    });
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
    /// Accepted by an event loop: the runtime it moves to to be handed to hyper.
    moves_to: Option<Handle>,
    /// Served on an event loop: counted there while on the wire path.
    placed: Option<Placed>,
}

impl Connection {
    async fn run(mut self, mut stream: TcpStream, peer: SocketAddr) {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let closing = self.closing.clone();
        let mut closing = std::pin::pin!(closing.closed());
        if !super::wire::serve(&self.front, peer, &mut stream, &mut buf, closing.as_mut()).await {
            return;
        }
        let read = buf.freeze();
        self.placed = None;
        let Some(home) = self.moves_to.take() else {
            return self.hand_off(stream, read).await;
        };
        move_to(&home, stream, move |stream| async move {
            self.hand_off(stream, read).await;
        });
    }

    /// Serves the rest of the connection with hyper, the bytes already read first.
    async fn hand_off(&self, stream: TcpStream, read: Bytes) {
        let io = TokioIo::new(Rewind {
            read,
            inner: stream,
        });
        let service = ToHyper(self.front.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let mut closing = std::pin::pin!(self.closing.closed());
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
