//! The session-token keys, from config or generated once and kept in the store.

use std::sync::Arc;

use super::ServeError;
use crate::infra::config::LoadedConfig;
use crate::infra::store::Store;
use crate::services::edge::session::SessionKeys;

/// The session-token keys: from config, or one generated at first start and kept in the store
/// (so tokens survive restarts and every process sharing the store agrees).
pub(super) async fn session_keys(
    config: &LoadedConfig,
    store: &Arc<Store>,
) -> Result<SessionKeys, ServeError> {
    let configured = &config.config.proxy.session_keys;
    if let Some((first, rest)) = configured.split_first() {
        let decode = |k: &crate::infra::config::SessionKeyConfig| {
            k.bytes().map(|b| (k.id, b)).map_err(ServeError::config)
        };
        let current = decode(first)?;
        let previous = rest.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        return Ok(SessionKeys::new(current, &previous));
    }
    let store = store.clone();
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh)
        .map_err(|err| ServeError::runtime(format!("no OS randomness for a session key: {err}")))?;
    let stored =
        tokio::task::spawn_blocking(move || store.setting_or_insert("session_key.1", &fresh))
            .await
            .map_err(|err| ServeError::runtime(err.to_string()))?
            .map_err(|err| ServeError::runtime(format!("cannot read the session key: {err}")))?;
    let key: [u8; 32] = stored.try_into().map_err(|_| {
        ServeError::runtime("the stored session key is not 32 bytes; the store is damaged")
    })?;
    Ok(SessionKeys::new((1, key), &[]))
}
