//! Making sure a replica's image is in the engine: a local image is always used as is; a missing
//! one is pulled only when `runtime.image_registry` is set, and otherwise reported in words that
//! say how to provide it.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::engine_error;
use crate::RuntimeError;

/// Why a missing image is not pulled, and what to do (shown verbatim in status).
pub fn missing_image_message(image: &str) -> String {
    format!(
        "image \"{image}\" is not in the local Docker engine and runtime.image_registry is empty, \
         so nothing is pulled; build it with `docker build -t {image} <dir>` (the sample servers: \
         scripts/build-images.sh) or set runtime.image_registry to a registry that has it"
    )
}

/// Ensures `image` is present, pulling it when a registry is configured.
pub async fn ensure(docker: &Docker, image: &str, registry: &str) -> Result<(), RuntimeError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(err) if super::status_code(&err) == Some(404) => {
            if registry.is_empty() {
                Err(RuntimeError::Failed(missing_image_message(image)))
            } else {
                pull(docker, image, registry).await
            }
        }
        Err(err) => Err(engine_error(
            &format!("cannot inspect image \"{image}\""),
            err,
        )),
    }
}

/// Pulls `image`, following the engine's progress stream to its end (errors arrive in it).
async fn pull(docker: &Docker, image: &str, registry: &str) -> Result<(), RuntimeError> {
    let (repository, tag) = split_reference(image);
    let mut options = CreateImageOptionsBuilder::default().from_image(repository);
    if let Some(tag) = tag {
        options = options.tag(tag);
    }
    tracing::info!(image, "pulling image");
    let mut progress = docker.create_image(Some(options.build()), None, None);
    while let Some(step) = progress.next().await {
        if let Err(err) = step {
            return Err(RuntimeError::Failed(format!(
                "cannot pull image \"{image}\" from runtime.image_registry \"{registry}\": {err}; \
                 check that the image and tag exist there and that the Docker engine can reach \
                 the registry (run `docker login {registry}` on the engine's host if it is private)"
            )));
        }
    }
    tracing::info!(image, "pulled image");
    Ok(())
}

/// Splits `registry:5000/team/name:tag` into the repository and the tag (or digest). A colon
/// before the last `/` belongs to the registry's port, not to a tag.
pub fn split_reference(image: &str) -> (&str, Option<&str>) {
    if let Some((repository, digest)) = image.split_once('@') {
        return (repository, Some(digest));
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&image[..at], Some(&image[at + 1..]))
        }
        None => (image, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("mcp-example:1.0.0"),
            ("mcp-example", Some("1.0.0"))
        );
        assert_eq!(
            split_reference("localhost:5000/team/mcp-example:1.0.0"),
            ("localhost:5000/team/mcp-example", Some("1.0.0"))
        );
        assert_eq!(
            split_reference("localhost:5000/mcp-example"),
            ("localhost:5000/mcp-example", None)
        );
        assert_eq!(
            split_reference("r.example.com/x@sha256:abc"),
            ("r.example.com/x", Some("sha256:abc"))
        );
    }

    #[test]
    fn missing_image_says_what_to_do() {
        let message = missing_image_message("mcp-example:9.9.9");
        assert!(message.contains("\"mcp-example:9.9.9\" is not in the local Docker engine"));
        assert!(message.contains("docker build -t mcp-example:9.9.9"));
        assert!(message.contains("runtime.image_registry"));
    }
}
