//! Upstream sessions for federated calls to 2025-era adapters: one per (client session,
//! adapter), opened on the first call, so a stateful server sees each client as its own
//! session, as if the client talked to it directly. Stateless callers (2026-07-28 clients) are
//! keyed by user instead. A session the upstream forgot (404) is opened again by the caller;
//! sessions idle for [`IDLE`] and those of ended client sessions are closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// An upstream session unused this long is closed.
pub const IDLE: Duration = Duration::from_secs(15 * 60);

/// Who a call is made for: a client's `/mcp` session, or a stateless caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Session(String),
    User(String),
}

/// One upstream session: `None` until opened (or after it was found gone).
pub struct Slot {
    pub opened: tokio::sync::Mutex<Option<Opened>>,
    used: Mutex<Instant>,
}

/// An open upstream session.
#[derive(Clone)]
pub struct Opened {
    /// The data plane's token for it (absent when the server keeps no sessions).
    pub token: Option<String>,
    /// The revision the server answered `initialize` with.
    pub version: String,
    /// Whose it is (the data plane binds the token to them).
    pub owner: crate::infra::auth::Caller,
}

/// Every open upstream session.
#[derive(Default)]
pub struct Sessions {
    slots: Mutex<HashMap<(ClientKey, String), Arc<Slot>>>,
}

impl Sessions {
    /// The slot of (`key`, `adapter`), made empty if there is none.
    pub fn slot(&self, key: &ClientKey, adapter: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .entry((key.clone(), adapter.to_string()))
            .or_insert_with(|| {
                Arc::new(Slot {
                    opened: tokio::sync::Mutex::new(None),
                    used: Mutex::new(Instant::now()),
                })
            })
            .clone();
        *slot.used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        slot
    }

    /// Removes the slots of client session `key` (it ended) and those idle past [`IDLE`];
    /// returns the (adapter, session) pairs to close upstream.
    pub fn take_ended(&self, key: Option<&ClientKey>) -> Vec<(String, Opened)> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = Vec::new();
        slots.retain(|(client, adapter), slot| {
            let idle = now.duration_since(*slot.used.lock().unwrap_or_else(|p| p.into_inner()));
            let keep = Some(client) != key && idle < IDLE;
            if !keep
                && let Ok(opened) = slot.opened.try_lock()
                && let Some(opened) = opened.clone()
            {
                ended.push((adapter.clone(), opened));
            }
            keep
        });
        ended
    }

    /// Forgets every session with `adapter` (deleted, or its upstream replaced).
    pub fn forget_adapter(&self, adapter: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|(_, name), _| name != adapter);
    }

    /// How many (client, adapter) slots exist.
    pub fn count(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_per_client_and_adapter_and_end_with_the_client() {
        let sessions = Sessions::default();
        let alice = ClientKey::Session("s1".into());
        let bob = ClientKey::User("bob".into());
        let a = sessions.slot(&alice, "git");
        assert!(Arc::ptr_eq(&a, &sessions.slot(&alice, "git")));
        assert!(!Arc::ptr_eq(&a, &sessions.slot(&alice, "time")));
        assert!(!Arc::ptr_eq(&a, &sessions.slot(&bob, "git")));
        *a.opened.lock().await = Some(Opened {
            token: Some("t".into()),
            version: "2025-06-18".into(),
            owner: crate::infra::auth::Caller {
                user_id: "alice".into(),
                roles: Vec::new(),
                is_admin: false,
            },
        });
        let ended = sessions.take_ended(Some(&alice));
        assert_eq!(ended.len(), 1, "only the opened one needs closing");
        assert_eq!(ended[0].0, "git");
        assert_eq!(sessions.count(), 1, "bob's is kept");
        sessions.forget_adapter("git");
        assert_eq!(sessions.count(), 0);
    }
}
