//! The `none` runtime: for gateways that only front remote (`url`) servers.
//!
//! It deploys nothing and manages nothing; asking it to deploy an image is an error that says how
//! to get a runtime that can.

use async_trait::async_trait;

use crate::{
    Endpoint, LogFollow, ManagedWorkload, Runtime, RuntimeError, WorkloadId, WorkloadSpec,
    WorkloadStatus,
};

/// A runtime that runs nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoneRuntime;

const NO_IMAGES: &str = "runtime.kind is \"none\": this gateway only proxies remote servers given by `url`; \
set runtime.kind = \"docker\" or \"kubernetes\" in config.toml to deploy images";

#[async_trait]
impl Runtime for NoneRuntime {
    fn name(&self) -> &'static str {
        "none"
    }

    fn deploys_images(&self) -> bool {
        false
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn apply(&self, _spec: &WorkloadSpec) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported(NO_IMAGES.into()))
    }

    async fn remove(&self, _id: &WorkloadId) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn status(&self, id: &WorkloadId) -> Result<WorkloadStatus, RuntimeError> {
        Err(RuntimeError::NotFound(format!(
            "{id} has no workload: {NO_IMAGES}"
        )))
    }

    async fn logs(
        &self,
        id: &WorkloadId,
        _instance: u32,
        _tail: u32,
    ) -> Result<String, RuntimeError> {
        Err(RuntimeError::NotFound(format!(
            "{id} has no running instance: {NO_IMAGES}"
        )))
    }

    async fn follow_logs(
        &self,
        id: &WorkloadId,
        _instance: u32,
        _tail: u32,
    ) -> Result<LogFollow, RuntimeError> {
        Err(RuntimeError::NotFound(format!(
            "{id} has no running instance: {NO_IMAGES}"
        )))
    }

    async fn endpoints(&self, _id: &WorkloadId) -> Result<Vec<Endpoint>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn list_managed(&self) -> Result<Vec<ManagedWorkload>, RuntimeError> {
        Ok(Vec::new())
    }
}
