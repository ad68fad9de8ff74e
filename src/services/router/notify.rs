//! `notifications/tools/list_changed` and `notifications/prompts/list_changed`, for each
//! connected client whose visible tools (registered or federated) or prompts changed.
//!
//! The router publishes every new tool table on a watch channel. Each 2025-era session (from its
//! `notifications/initialized`) and each 2026-07-28 `subscriptions/listen` stream runs one small
//! loop over that channel with its own caller: it fingerprints what that caller may see and
//! notifies only when the fingerprint moves, so a tool registered for team A never wakes team B.
//! A loop ends with its session or stream; nothing is kept per client after that.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::service::{Peer, SubscriptionContext};
use tokio::sync::watch;

use super::Core;
use super::table::ToolTable;
use crate::infra::auth::Caller;
use std::sync::Arc;

/// How often an idle session follower checks that its session still exists (sessions end by
/// DELETE or idle timeout inside rmcp, which tells nobody).
const SESSION_CHECK: Duration = Duration::from_secs(30);
/// How long one notification may take to hand to a session before it is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Follows the table for one 2025-era session until its transport closes.
pub async fn follow_session(core: Arc<Core>, caller: Caller, peer: Peer<RoleServer>) {
    let mut tables = core.subscribe();
    let mut seen = fingerprints(&mut tables, &caller);
    loop {
        tokio::select! {
            changed = tables.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(SESSION_CHECK) => {
                if peer.is_transport_closed() {
                    return;
                }
                continue;
            }
        }
        if peer.is_transport_closed() {
            return;
        }
        let now = fingerprints(&mut tables, &caller);
        let (tools, prompts) = (now.0 != seen.0, now.1 != seen.1);
        seen = now;
        for (changed, what) in [(tools, List::Tools), (prompts, List::Prompts)] {
            if !changed {
                continue;
            }
            let sent = match what {
                List::Tools => {
                    tokio::time::timeout(SEND_TIMEOUT, peer.notify_tool_list_changed()).await
                }
                List::Prompts => {
                    tokio::time::timeout(SEND_TIMEOUT, peer.notify_prompt_list_changed()).await
                }
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::debug!(user = %caller.user_id, %err, "session gone; no more notifications");
                    return;
                }
                Err(_) => {
                    tracing::warn!(user = %caller.user_id, "a session's stream is not draining; skipped one list_changed");
                }
            }
        }
    }
}

/// Which list changed.
#[derive(Clone, Copy)]
enum List {
    Tools,
    Prompts,
}

/// Follows the table for one `subscriptions/listen` stream until the client closes it.
pub async fn follow_subscription(core: &Core, caller: &Caller, context: &SubscriptionContext) {
    let wants_tools = context.accepted().tools_list_changed == Some(true);
    let wants_prompts = context.accepted().prompts_list_changed == Some(true);
    if !wants_tools && !wants_prompts {
        // The client asked for nothing the router sends; keep the stream until it goes.
        context.cancelled().await;
        return;
    }
    let mut tables = core.subscribe();
    let mut seen = fingerprints(&mut tables, caller);
    loop {
        tokio::select! {
            _ = context.cancelled() => return,
            changed = tables.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let now = fingerprints(&mut tables, caller);
        let (tools, prompts) = (now.0 != seen.0, now.1 != seen.1);
        seen = now;
        let mut sent = Ok(());
        if tools && wants_tools {
            sent = context.sink().notify_tool_list_changed().await;
        }
        if prompts && wants_prompts && sent.is_ok() {
            sent = context.sink().notify_prompt_list_changed().await;
        }
        if let Err(err) = sent {
            tracing::debug!(user = %caller.user_id, %err, "listen stream gone");
            return;
        }
    }
}

/// What `caller` sees of the newest table: the tools' and the prompts' fingerprints.
fn fingerprints(tables: &mut watch::Receiver<Arc<ToolTable>>, caller: &Caller) -> (u64, u64) {
    let table = tables.borrow_and_update().clone();
    (table.fingerprint(caller), table.prompt_fingerprint(caller))
}
