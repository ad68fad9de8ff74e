//! The stdio bridge's 2025 sessions, store-less like the proxy's: a sealed token
//! ([`SessionKeys`]) names the adapter, the user, the replica and the process generation the
//! session lives in. Any gateway process opens it; a token of another process generation (the
//! server was restarted) is a 404, and the client initializes again. Also: what is kept in the
//! store per replica (the server's `initialize` result under its process identity), and the
//! GET stream of a session.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, header};
use http_body::Frame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::stream::event;
use super::upstream::Link;
use crate::domain::clock::unix_now;
use crate::services::edge::session::{SessionClaims, SessionKeys, nonce};

/// Ended sessions remembered (DELETE) before the oldest are forgotten.
const MAX_ENDED: usize = 100_000;

/// Why a session token does not lead to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Not a token of ours, another adapter's or user's, or ended by DELETE.
    Unknown,
    /// Its process ended (or cannot be reached).
    Gone,
}

pub struct Sessions {
    keys: Arc<SessionKeys>,
    ended: Mutex<HashSet<String>>,
}

impl Sessions {
    pub fn new(keys: Arc<SessionKeys>) -> Self {
        Self {
            keys,
            ended: Mutex::default(),
        }
    }

    /// A token for a new session on replica `replica`'s process `generation`.
    pub fn mint(
        &self,
        adapter: &str,
        user: &str,
        replica: u32,
        generation: &str,
    ) -> Option<String> {
        let claims = SessionClaims {
            adapter: adapter.to_string(),
            user: user.to_string(),
            replica,
            upstream: generation.to_string(),
            issued_at: unix_now(),
        };
        self.keys.seal(&claims, nonce())
    }

    /// The claims of a live token of this adapter and user.
    pub fn open(
        &self,
        token: &str,
        adapter: &str,
        user: &str,
    ) -> Result<SessionClaims, SessionError> {
        let claims = self.keys.open(token).ok_or(SessionError::Unknown)?;
        if claims.adapter != adapter || claims.user != user {
            return Err(SessionError::Unknown);
        }
        if self
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token)
        {
            return Err(SessionError::Unknown);
        }
        Ok(claims)
    }

    /// Ends a session (DELETE): its token is refused from now on in this process.
    pub fn end(&self, token: &str) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.len() >= MAX_ENDED {
            ended.clear();
        }
        ended.insert(token.to_string());
    }
}

/// The store key under which a replica's `initialize` result is kept.
pub fn init_key(adapter: &str, instance: u32) -> String {
    format!("stdio-init/{adapter}/{instance}")
}

/// What is kept: the process identity and the server's `initialize` result.
pub fn kept_value(identity: &str, init: &Value) -> Vec<u8> {
    json!({"process": identity, "initialize": init})
        .to_string()
        .into_bytes()
}

/// The kept `initialize` result, if it was kept for this very process.
pub fn kept_init(kept: Option<&[u8]>, identity: &str) -> Option<Value> {
    let kept: Value = serde_json::from_slice(kept?).ok()?;
    (kept.get("process")?.as_str()? == identity).then(|| kept.get("initialize").cloned())?
}

/// The generation sessions carry: a hash of the process identity (stable across gateway
/// restarts), or a random one when the runtime cannot name the process.
pub fn generation(identity: Option<&str>) -> String {
    match identity {
        Some(identity) => {
            let hash = identity.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            format!("p{hash:016x}")
        }
        None => {
            let random = nonce();
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            format!("r{hex}")
        }
    }
}

/// A session's GET stream: every notification the server sends to all (list changes, log
/// messages, resource updates), until the process ends or the client goes away.
pub fn notification_stream(link: &Arc<Link>) -> Response {
    let (sender, events) = mpsc::channel::<Bytes>(64);
    let mut notifications = link.subscribe();
    let closed = link.closed.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = closed.cancelled() => return,
                () = sender.closed() => return,
                next = notifications.recv() => match next {
                    Ok(message) => {
                        if sender.send(event(&message)).await.is_err() {
                            return;
                        }
                    }
                    // A slow reader misses notifications rather than holding the server up.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let mut response = Response::new(Body::new(Events(events)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A body of SSE events fed by a task.
struct Events(mpsc::Receiver<Bytes>);

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_result_belongs_to_one_process() {
        let init = json!({"protocolVersion": "2025-06-18"});
        let kept = kept_value("c1@t1", &init);
        assert_eq!(kept_init(Some(&kept), "c1@t1"), Some(init));
        assert_eq!(kept_init(Some(&kept), "c1@t2"), None);
        assert_eq!(kept_init(None, "c1@t1"), None);
        assert_eq!(kept_init(Some(b"junk"), "c1@t1"), None);
    }

    #[test]
    fn generations_are_stable_per_identity_and_random_without_one() {
        assert_eq!(generation(Some("a")), generation(Some("a")));
        assert_ne!(generation(Some("a")), generation(Some("b")));
        assert_ne!(generation(None), generation(None));
    }

    #[test]
    fn tokens_name_adapter_user_and_generation_and_end_on_delete() {
        let sessions = Sessions::new(Arc::new(SessionKeys::new((1, [3; 32]), &[])));
        let token = sessions.mint("time", "alice", 0, "p1").expect("token");
        let claims = sessions.open(&token, "time", "alice").expect("opens");
        assert_eq!((claims.replica, claims.upstream.as_str()), (0, "p1"));
        assert_eq!(
            sessions.open(&token, "git", "alice").err(),
            Some(SessionError::Unknown)
        );
        assert_eq!(
            sessions.open(&token, "time", "bob").err(),
            Some(SessionError::Unknown)
        );
        sessions.end(&token);
        assert_eq!(
            sessions.open(&token, "time", "alice").err(),
            Some(SessionError::Unknown)
        );
    }
}
