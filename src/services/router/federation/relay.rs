//! A federated request (`tools/call`, `prompts/get`) relayed to its adapter and back: in the
//! adapter's era, in the caller's own upstream session (2025), with progress relayed as it
//! arrives, cancellation relayed, and the upstream's result or JSON-RPC error unchanged.
//! Server-to-client requests inside the answer (sampling, elicitation, roots) are refused with
//! a JSON-RPC error: the gateway cannot tell which downstream client should answer them.

use std::net::SocketAddr;

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::lister;
use super::sessions::{ClientKey, Opened};
use super::wire::{self, Era, Wire, WireError};
use crate::infra::auth::Caller;

/// Where a caller's progress goes: its peer and its own token.
pub struct Progress {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// One relayed request.
pub struct Relayed<'a> {
    pub caller: &'a Caller,
    pub peer: SocketAddr,
    pub key: ClientKey,
    pub adapter: &'a str,
    pub era: &'a Era,
    pub method: &'static str,
    /// The request's params as the upstream should get them (its own tool or prompt name).
    pub params: Map<String, Value>,
    /// Extra headers of a stateless request (`Mcp-Param-*`).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub progress: Option<Progress>,
    pub cancel: CancellationToken,
}

/// Why a relayed request has no result.
pub enum Failure {
    /// The upstream's JSON-RPC error, to pass on as it is.
    Rpc(Value),
    /// No answer: the words say why.
    Unavailable(String),
    Cancelled,
}

impl Shared {
    /// Relays `request`; the upstream's result.
    pub async fn relay(&self, request: Relayed<'_>) -> Result<Value, Failure> {
        let deadline = self.settings.call_timeout;
        let cancel = request.cancel.clone();
        tokio::select! {
            relayed = tokio::time::timeout(deadline, self.relay_once(&request, true)) => match relayed {
                Ok(answer) => answer,
                Err(_) => Err(Failure::Unavailable(format!(
                    "adapter \"{}\" gave no answer within {} s (router.call_timeout_secs)",
                    request.adapter, deadline.as_secs()
                ))),
            },
            _ = cancel.cancelled() => {
                tracing::debug!(adapter = request.adapter, "the client cancelled a relayed request");
                Err(Failure::Cancelled)
            }
        }
    }

    async fn relay_once(&self, request: &Relayed<'_>, may_retry: bool) -> Result<Value, Failure> {
        let wire = Wire {
            port: self.port.as_ref(),
            adapter: request.adapter,
            caller: request.caller,
            peer: request.peer,
        };
        let slot = match request.era {
            Era::Stateless => None,
            Era::Sessions { .. } => Some(self.sessions.slot(&request.key, request.adapter)),
        };
        let opened = match &slot {
            None => None,
            Some(slot) => {
                let mut opened = slot.opened.lock().await;
                if opened.is_none() {
                    *opened = Some(self.open_session(&wire, request.era).await?);
                }
                opened.clone()
            }
        };
        let session = opened.as_ref().and_then(|o| o.token.as_deref());
        let era = match &opened {
            Some(opened) => Era::Sessions {
                version: opened.version.clone(),
            },
            None => request.era.clone(),
        };
        let id = self.next_id();
        let mut params = request.params.clone();
        let token = request.progress.as_ref().map(|_| json!(format!("gw-{id}")));
        if let Some(token) = &token {
            let meta = params.entry("_meta").or_insert_with(|| json!({}));
            if let Value::Object(meta) = meta {
                meta.insert("progressToken".into(), token.clone());
            }
        } else if let Some(Value::Object(meta)) = params.get_mut("_meta") {
            meta.remove("progressToken");
        }
        let message = wire::message(&id, request.method, params, &era);
        let reply = wire
            .post_with(&era, session, &message, request.headers.clone())
            .await;
        let mut reply = match reply {
            Ok(reply) => reply,
            Err(WireError::Status(status, _))
                if status == http::StatusCode::NOT_FOUND && session.is_some() && may_retry =>
            {
                // The upstream (or the data plane, after a replica was replaced) forgot the
                // session: nothing was done; open another and send again.
                if let Some(slot) = &slot {
                    *slot.opened.lock().await = None;
                }
                return Box::pin(self.relay_once(request, false)).await;
            }
            Err(err) => return Err(self.unreachable(request.adapter, err)),
        };
        let guard = CancelUpstream {
            shared: self,
            wire: &wire,
            era: &era,
            session,
            id: id.clone(),
            armed: true,
        };
        loop {
            let message = match reply.messages.next().await {
                Ok(Some(message)) => message,
                Ok(None) => return Err(self.unreachable(request.adapter, WireError::NoAnswer)),
                Err(err) => return Err(self.unreachable(request.adapter, WireError::Read(err))),
            };
            if message.get("id") == Some(&id) && message.get("method").is_none() {
                guard.disarm();
                return match message.get("error") {
                    Some(error) => Err(Failure::Rpc(error.clone())),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            match message["method"].as_str() {
                Some("notifications/progress")
                    if message["params"]["progressToken"]
                        == token.clone().unwrap_or(Value::Null) =>
                {
                    if let Some(progress) = &request.progress {
                        relay_progress(progress, &message["params"]).await;
                    }
                }
                Some(method) if message.get("id").is_some() => {
                    // A request from the server to the client.
                    let refusal = json!({"jsonrpc": "2.0", "id": message["id"], "error": {
                        "code": -32601,
                        "message": format!("mcp-gateway's /mcp does not relay server-to-client requests ({method}); call this adapter at /adapters/{}/mcp for that", request.adapter)}});
                    let _ = wire.post(&era, session, &refusal).await;
                }
                _ => {}
            }
        }
    }

    /// A 2025 session for calls, in the revision the server speaks.
    async fn open_session(&self, wire: &Wire<'_>, era: &Era) -> Result<Opened, Failure> {
        let version = match era {
            Era::Sessions { version } => version.as_str(),
            Era::Stateless => wire::STATELESS,
        };
        let hello = lister::initialize(wire, self.next_id(), version, self.settings.timeout)
            .await
            .map_err(|err| self.unreachable(wire.adapter, err))?;
        let version = match hello.era {
            Era::Sessions { version } => version,
            Era::Stateless => version.to_string(),
        };
        Ok(Opened {
            token: hello.session,
            version,
            owner: wire.caller.clone(),
        })
    }

    /// The failure for an upstream that did not answer; its lister relists (and withdraws its
    /// entries if it is really gone).
    fn unreachable(&self, adapter: &str, err: WireError) -> Failure {
        if let WireError::Rpc(error) = err {
            return Failure::Rpc(error);
        }
        self.poke(adapter);
        Failure::Unavailable(format!("adapter \"{adapter}\" did not answer: {err}"))
    }
}

/// Sends the caller the upstream's progress, under the caller's own token.
async fn relay_progress(progress: &Progress, params: &Value) {
    let mut params = params.clone();
    params["progressToken"] = serde_json::to_value(&progress.token).unwrap_or(Value::Null);
    match serde_json::from_value::<ProgressNotificationParam>(params) {
        Ok(param) => {
            if let Err(err) = progress.peer.notify_progress(param).await {
                tracing::debug!(%err, "progress not delivered: the client has gone");
            }
        }
        Err(err) => {
            tracing::debug!(%err, "an upstream progress notification does not fit MCP; dropped")
        }
    }
}

/// Tells a 2025 upstream that a request was cancelled, unless disarmed (it answered). A 2026
/// upstream learns it from the closed stream.
struct CancelUpstream<'a, 'w> {
    shared: &'a Shared,
    wire: &'a Wire<'w>,
    era: &'a Era,
    session: Option<&'a str>,
    id: Value,
    armed: bool,
}

impl CancelUpstream<'_, '_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelUpstream<'_, '_> {
    fn drop(&mut self) {
        if !self.armed || *self.era == Era::Stateless {
            return;
        }
        let note = wire::notification(
            "notifications/cancelled",
            Some(json!({"requestId": self.id, "reason": "cancelled by the client of /mcp"})),
        );
        let port = self.shared.port.clone();
        let adapter = self.wire.adapter.to_string();
        let caller = self.wire.caller.clone();
        let peer = self.wire.peer;
        let era = self.era.clone();
        let session = self.session.map(str::to_string);
        tokio::spawn(async move {
            let wire = Wire {
                port: port.as_ref(),
                adapter: &adapter,
                caller: &caller,
                peer,
            };
            match wire.post(&era, session.as_deref(), &note).await {
                Ok(_) => tracing::debug!(%adapter, "cancellation relayed upstream"),
                Err(err) => tracing::debug!(%adapter, %err, "cancellation not delivered upstream"),
            }
        });
    }
}
