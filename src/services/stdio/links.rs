//! The bridge's links to its replicas' processes: one per replica, attached on first use and
//! again after its process ends, named by the process it is attached to (the generation its
//! sessions carry).

use std::sync::Arc;

use mcp_gateway_runtimes::WorkloadId;
use serde_json::Value;

use super::upstream::{Link, Opening};
use super::{StdioBridge, lock, sessions};
use crate::domain::model::Resource;

/// One replica's link, made on first use and again after its process ends.
#[derive(Default)]
pub(super) struct Slot {
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
}

/// How often attaching (and initializing) is tried before a request fails.
const ATTACH_ATTEMPTS: u64 = 4;

impl StdioBridge {
    /// The name of replica `instance`'s current process (`None`: the runtime cannot name it).
    async fn process_identity(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<Option<String>, String> {
        let mut identity = self.runtime.process_identity(id, instance).await;
        if identity.is_err() {
            // Just started, the engine may not list it as running yet: once more, a bit later.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            identity = self.runtime.process_identity(id, instance).await;
        }
        identity.map_err(|err| err.to_string())
    }

    /// Replica `instance`'s link: the live one, or a new attachment.
    pub(super) async fn link(
        &self,
        adapter: &Resource,
        instance: u32,
    ) -> Result<Arc<Link>, String> {
        self.link_to(&adapter.workload_id(), instance, None).await
    }

    /// Replica `instance` of workload `id`: its live link, or a new attachment (initialized
    /// with `client_init` when given and the process is new).
    pub(super) async fn link_to(
        &self,
        id: &WorkloadId,
        instance: u32,
        client_init: Option<Value>,
    ) -> Result<Arc<Link>, String> {
        let slot = lock(&self.slots)
            .entry((id.name.clone(), instance))
            .or_default()
            .clone();
        let mut current = slot.link.lock().await;
        if let Some(link) = current.as_ref()
            && !link.closed.is_cancelled()
        {
            return Ok(link.clone());
        }
        let id = id.clone();
        let key = sessions::init_key(&id.name, instance);
        // An attachment made just as the process starts sometimes ends at once (the engine
        // closes it; the process runs on): attach again, a few times, before giving up.
        let mut attempt = 0;
        let (link, fresh, identity) = loop {
            attempt += 1;
            let identity = self.process_identity(&id, instance).await?;
            let attachment = match self.runtime.attach(&id, instance).await {
                Ok(attachment) => attachment,
                // Just started, the engine may not list it as running yet.
                Err(err) if attempt < ATTACH_ATTEMPTS => {
                    again(&id, instance, attempt, &err).await;
                    continue;
                }
                Err(err) => return Err(err.to_string()),
            };
            // The process attached to is the one named only if the name still holds after
            // attaching: one that ended as the name was read (killed, say) and was restarted
            // by the engine before the attachment is another process, whose sessions are not
            // the ended one's (they must be refused, not served by it).
            if identity.is_some() {
                let after = self.runtime.process_identity(&id, instance).await.ok();
                if after.as_ref() != Some(&identity) {
                    let err = "the replica's process changed while attaching";
                    if attempt >= ATTACH_ATTEMPTS {
                        return Err(err.into());
                    }
                    again(&id, instance, attempt, &err).await;
                    continue;
                }
            }
            let known_init = match &identity {
                Some(identity) => {
                    let store = self.store.clone();
                    let key = key.clone();
                    let kept = tokio::task::spawn_blocking(move || store.setting(&key))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten();
                    sessions::kept_init(kept.as_deref(), identity)
                }
                None => None,
            };
            let observed = self.observed.clone();
            let opened = Link::open(Opening {
                attachment,
                generation: sessions::generation(identity.as_deref()),
                known_init,
                client_init: client_init.clone(),
                // A process that ended is restarted by the reconciler: ask it to look now.
                on_close: Box::new(move || observed.wake()),
            })
            .await;
            match opened {
                Ok((link, fresh)) => break (link, fresh, identity),
                Err(err) if attempt < ATTACH_ATTEMPTS => again(&id, instance, attempt, &err).await,
                Err(err) => return Err(err),
            }
        };
        tracing::info!(
            workload = %id,
            instance,
            initialized = fresh,
            "attached to a stdio replica"
        );
        if fresh && let Some(identity) = identity {
            let value = sessions::kept_value(&identity, &link.init);
            let store = self.store.clone();
            let _ =
                tokio::task::spawn_blocking(move || store.put_setting(&key, Some(&value))).await;
        }
        *current = Some(link.clone());
        Ok(link)
    }
}

/// Says why attempt `attempt` to attach failed, and waits a little longer after each.
async fn again(id: &WorkloadId, instance: u32, attempt: u64, err: &(dyn std::fmt::Display + Sync)) {
    tracing::info!(workload = %id, instance, %err, "attaching again");
    tokio::time::sleep(std::time::Duration::from_millis(250 * attempt)).await;
}
