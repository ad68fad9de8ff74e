//! One adapter's tools and prompts, kept listed: a background task per federated adapter.
//!
//! It learns how the adapter speaks (`server/discover` first, then `initialize`), lists every
//! page of tools and prompts, publishes them, then waits for a reason to list again: the
//! upstream's `list_changed` on its GET stream (2025) or `subscriptions/listen` stream (2026),
//! the end of that stream, a poke (a call found the adapter unreachable), or the TTL. A failed
//! listing withdraws the adapter's entries at once and retries with backoff, so a dead upstream
//! drops out of `/mcp` and comes back by itself; nothing here ever blocks a `tools/list`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{Prompt, Tool};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::wire::{self, Era, Reply, SESSIONS, Wire, WireError};
use super::{Listing, Shared};

/// Most pages read of one list (a server that never stops paging is cut off there).
const MAX_PAGES: usize = 100;
/// Backoff between failed listings.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Least time between two listings when a stream keeps ending at once.
const MIN_RELIST: Duration = Duration::from_millis(250);
/// How often an adapter without a notification stream is pinged.
const PROBE: Duration = Duration::from_secs(2);

/// What the handshake learnt.
pub struct Handshake {
    pub era: Era,
    pub session: Option<String>,
    pub capabilities: Value,
}

/// Finds how the adapter speaks: `server/discover` (2026-07-28) first, `initialize` (2025)
/// when the server does not know it.
pub async fn handshake(
    wire: &Wire<'_>,
    id: Value,
    timeout: Duration,
) -> Result<Handshake, WireError> {
    let discover = wire::message(&id, "server/discover", Map::new(), &Era::Stateless);
    match wire
        .request(&Era::Stateless, None, &discover, timeout)
        .await
    {
        Ok((_, result)) => {
            return Ok(Handshake {
                era: Era::Stateless,
                session: None,
                capabilities: result["capabilities"].clone(),
            });
        }
        // A 2025-only server refuses the method or the revision, in one way or another.
        Err(WireError::Status(status, _)) if status.is_client_error() => {}
        Err(WireError::Rpc(_)) | Err(WireError::NoAnswer) => {}
        Err(other) => return Err(other),
    }
    initialize(wire, id, SESSIONS, timeout).await
}

/// `initialize` and `notifications/initialized`: a 2025 session (or none, when the server keeps
/// no sessions).
pub async fn initialize(
    wire: &Wire<'_>,
    id: Value,
    version: &str,
    timeout: Duration,
) -> Result<Handshake, WireError> {
    let asking = Era::Sessions {
        version: version.to_string(),
    };
    let mut params = Map::new();
    params.insert("protocolVersion".into(), json!(version));
    params.insert("capabilities".into(), json!({}));
    params.insert("clientInfo".into(), wire::client_info());
    let init = wire::message(&id, "initialize", params, &asking);
    let (session, result) = wire.request(&asking, None, &init, timeout).await?;
    let version = result["protocolVersion"]
        .as_str()
        .unwrap_or(version)
        .to_string();
    let era = Era::Sessions { version };
    let note = wire::notification("notifications/initialized", None);
    tokio::time::timeout(timeout, wire.post(&era, session.as_deref(), &note))
        .await
        .map_err(|_| WireError::Timeout)??;
    Ok(Handshake {
        era,
        session,
        capabilities: result["capabilities"].clone(),
    })
}

/// Every page of `method` (`tools/list`, `prompts/list`): the items under `key`.
async fn list_all(
    shared: &Shared,
    wire: &Wire<'_>,
    era: &Era,
    session: Option<&str>,
    method: &str,
    key: &str,
) -> Result<Vec<Value>, WireError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = Map::new();
        if let Some(cursor) = &cursor {
            params.insert("cursor".into(), json!(cursor));
        }
        let message = wire::message(&shared.next_id(), method, params, era);
        let (_, result) = wire
            .request(era, session, &message, shared.settings.timeout)
            .await?;
        if let Some(Value::Array(page)) = result.get(key) {
            items.extend(page.iter().cloned());
        }
        cursor = result["nextCursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    Ok(items)
}

/// Lists `name` once: the listing, and the session it was made in (to follow, then end).
async fn list_once(shared: &Shared, wire: &Wire<'_>) -> Result<(Listing, Handshake), WireError> {
    let hello = handshake(wire, shared.next_id(), shared.settings.timeout).await?;
    let session = hello.session.as_deref();
    let tools = match hello.capabilities.get("tools") {
        Some(_) => list_all(shared, wire, &hello.era, session, "tools/list", "tools").await?,
        None => Vec::new(),
    };
    let prompts = match hello.capabilities.get("prompts") {
        Some(_) => list_all(shared, wire, &hello.era, session, "prompts/list", "prompts").await?,
        None => Vec::new(),
    };
    let adapter = wire.adapter;
    let listing = Listing {
        era: hello.era.clone(),
        tools: parse_items::<Tool>(adapter, "tool", tools),
        prompts: parse_items::<Prompt>(adapter, "prompt", prompts),
    };
    Ok((listing, hello))
}

/// The items that fit the MCP type; the others are logged and left out.
fn parse_items<T: serde::de::DeserializeOwned>(
    adapter: &str,
    what: &str,
    raw: Vec<Value>,
) -> Vec<T> {
    raw.into_iter()
        .filter_map(|item| match serde_json::from_value::<T>(item) {
            Ok(item) => Some(item),
            Err(err) => {
                tracing::warn!(adapter, %err, "an upstream {what} does not fit the MCP type; not federated");
                None
            }
        })
        .collect()
}

/// Keeps adapter `name` listed until the task is aborted.
pub async fn keep_listed(shared: Arc<Shared>, name: String, poke: Arc<Notify>) {
    let caller = super::lister_caller();
    let wire = Wire {
        port: shared.port.as_ref(),
        adapter: &name,
        caller: &caller,
        peer: super::LOCAL_PEER,
    };
    let mut backoff = MIN_BACKOFF;
    let mut up: Option<bool> = None;
    loop {
        match list_once(&shared, &wire).await {
            Ok((listing, hello)) => {
                if up != Some(true) {
                    tracing::info!(adapter = %name, tools = listing.tools.len(),
                        prompts = listing.prompts.len(), era = ?listing.era, "federating adapter");
                }
                up = Some(true);
                backoff = MIN_BACKOFF;
                shared.publish(&name, Some(listing));
                let started = tokio::time::Instant::now();
                follow(&shared, &wire, &hello, &poke).await;
                if let (Era::Sessions { version }, Some(session)) = (&hello.era, &hello.session) {
                    wire.end_session(version, session).await;
                }
                tokio::time::sleep_until(started + MIN_RELIST).await;
            }
            Err(err) => {
                if up != Some(false) {
                    tracing::warn!(adapter = %name, %err, "cannot list the adapter's tools; they are left out of /mcp until it answers");
                }
                up = Some(false);
                shared.publish(&name, None);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = poke.notified() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Waits for a reason to list again: a `list_changed` from the upstream, the end of its
/// stream, a poke, a failed liveness probe, or the TTL. A 2025 session's GET stream is held
/// even when the server announces no `listChanged`: its end is how a dead upstream shows at
/// once. Without any stream, a `ping` every [`PROBE`] finds out.
async fn follow(shared: &Shared, wire: &Wire<'_>, hello: &Handshake, poke: &Notify) {
    let ttl = tokio::time::sleep(shared.settings.ttl);
    tokio::pin!(ttl);
    let announces = ["tools", "prompts"]
        .iter()
        .any(|kind| hello.capabilities[kind]["listChanged"] == Value::Bool(true));
    let stream = match (announces, &hello.era) {
        (true, _) | (false, Era::Sessions { .. }) => open_stream(shared, wire, hello).await,
        (false, Era::Stateless) => None,
    };
    let Some(mut stream) = stream else {
        loop {
            tokio::select! {
                _ = &mut ttl => return,
                _ = poke.notified() => return,
                _ = tokio::time::sleep(PROBE) => {
                    let ping = wire::message(&shared.next_id(), "ping", Map::new(), &hello.era);
                    let session = hello.session.as_deref();
                    if wire.request(&hello.era, session, &ping, shared.settings.timeout).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = &mut ttl => return,
            _ = poke.notified() => return,
            message = stream.messages.next() => match message {
                Ok(Some(message)) => {
                    let method = message["method"].as_str().unwrap_or("");
                    if method == "notifications/tools/list_changed"
                        || method == "notifications/prompts/list_changed"
                    {
                        return;
                    }
                }
                // The stream ended or broke: list again (which finds out whether the
                // upstream is still there).
                _ => return,
            },
        }
    }
}

/// The upstream's notification stream: the 2025 session's GET stream, or a 2026
/// `subscriptions/listen`. `None` when it has none.
async fn open_stream(shared: &Shared, wire: &Wire<'_>, hello: &Handshake) -> Option<Reply> {
    let opening = async {
        match (&hello.era, &hello.session) {
            (Era::Sessions { version }, Some(session)) => {
                Some(wire.listen_session(version, session).await)
            }
            (Era::Sessions { .. }, None) => None,
            (Era::Stateless, _) => {
                let mut params = Map::new();
                params.insert(
                    "notifications".into(),
                    json!({"toolsListChanged": true, "promptsListChanged": true}),
                );
                let listen = wire::message(
                    &shared.next_id(),
                    "subscriptions/listen",
                    params,
                    &Era::Stateless,
                );
                Some(wire.post(&Era::Stateless, None, &listen).await)
            }
        }
    };
    match tokio::time::timeout(shared.settings.timeout, opening).await {
        Ok(Some(Ok(reply))) => Some(reply),
        _ => None,
    }
}
