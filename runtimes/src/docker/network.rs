//! The user-defined network every replica joins: found by name, created (a labelled bridge) when
//! missing, and kept single.
//!
//! Docker 20.10 (API 1.41) creates a second network with an existing name unless the client
//! asks it not to, and bollard's request type cannot ask. Two gateways starting at once on a
//! fresh engine (tests do) may therefore both create one, and then no container on either can
//! start ("network ... is ambiguous"). So a gateway that created the network waits a moment,
//! looks again, and if several exist every gateway settles on the same one (the lowest id) and
//! the creators of the others remove theirs. [`dedupe`] repairs the rare case that slips
//! through, when a start fails on the ambiguity.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::{engine_error, naming, status_code};
use crate::RuntimeError;

/// How long a gateway that created the network waits for a competing creation to show.
const SETTLE: Duration = Duration::from_millis(750);

/// The id of the network called `name`, created if missing.
pub async fn ensure(docker: &Docker, name: &str) -> Result<String, RuntimeError> {
    if let Some(id) = lowest_id(&named(docker, name).await?) {
        return Ok(id);
    }
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        labels: Some(HashMap::from([(
            naming::LABEL_MANAGED_BY.to_string(),
            naming::MANAGED_BY.to_string(),
        )])),
        ..Default::default()
    };
    let ours = match docker.create_network(request).await {
        Ok(created) => Some(created.id),
        // Newer engines refuse a duplicate: someone else just made it, which is fine.
        Err(err) if status_code(&err) == Some(409) => None,
        Err(err) => {
            return Err(engine_error(
                &format!("cannot create the Docker network \"{name}\" (runtime.docker.network)"),
                err,
            ));
        }
    };
    if ours.is_some() {
        tokio::time::sleep(SETTLE).await;
    }
    let chosen = lowest_id(&named(docker, name).await?).ok_or_else(|| {
        RuntimeError::Failed(format!(
            "the Docker network \"{name}\" disappeared right after it was created; start again"
        ))
    })?;
    if let Some(ours) = ours.filter(|ours| *ours != chosen) {
        // Ours is the extra one and nothing uses it yet.
        let _ = docker.remove_network(&ours).await;
    } else {
        tracing::info!(network = name, "created the Docker network");
    }
    Ok(chosen)
}

/// After an "ambiguous network" error: removes the extra networks called `name` that carry our
/// label and have no containers (the engine refuses to remove used ones), and returns the id
/// to use from now on.
pub async fn dedupe(docker: &Docker, name: &str) -> Result<String, RuntimeError> {
    let networks = named(docker, name).await?;
    let chosen = lowest_id(&networks).ok_or_else(|| {
        RuntimeError::NotFound(format!("the Docker network \"{name}\" does not exist"))
    })?;
    for network in &networks {
        let ours = network
            .labels
            .as_ref()
            .and_then(|labels| labels.get(naming::LABEL_MANAGED_BY))
            .is_some_and(|value| value == naming::MANAGED_BY);
        if let Some(id) = network.id.as_deref().filter(|id| *id != chosen && ours)
            && docker.remove_network(id).await.is_ok()
        {
            tracing::warn!(network = name, id, "removed a duplicate Docker network");
        }
    }
    Ok(chosen)
}

/// The networks called exactly `name` (the engine's name filter matches substrings).
async fn named(docker: &Docker, name: &str) -> Result<Vec<Network>, RuntimeError> {
    let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(|err| engine_error("cannot list Docker networks", err))?;
    Ok(networks
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .collect())
}

/// The network every gateway agrees on when there are several: the lowest id.
fn lowest_id(networks: &[Network]) -> Option<String> {
    networks.iter().filter_map(|n| n.id.clone()).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gateway_picks_the_same_network() {
        let network = |id: &str| Network {
            id: Some(id.into()),
            ..Default::default()
        };
        assert_eq!(lowest_id(&[]), None);
        assert_eq!(
            lowest_id(&[network("bf36"), network("4d7b")]).as_deref(),
            Some("4d7b")
        );
        assert_eq!(
            lowest_id(&[network("4d7b"), network("bf36")]).as_deref(),
            Some("4d7b")
        );
    }
}
