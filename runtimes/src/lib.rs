//! The `Runtime` trait: how mcp-gateway turns a stored resource into running replicas.
//!
//! This crate owns everything that talks to a container platform. Nothing outside it knows which
//! platform is in use: the gateway builds a [`WorkloadSpec`] from a stored adapter or tool, hands it
//! to [`Runtime::apply`], and asks for [`Runtime::status`], [`Runtime::logs`] (or
//! [`Runtime::follow_logs`]) and [`Runtime::endpoints`]. Implementations: [`none::NoneRuntime`] (remote `url` servers only) here;
//! Docker and Kubernetes behind cargo features.
//!
//! Contract every implementation keeps:
//! - `apply` is idempotent: calling it again with the same spec changes nothing; with a changed spec
//!   it converges the platform to it (create, replace drifted replicas, scale, replace dead ones).
//! - everything a runtime creates carries labels naming the gateway, the kind, the name, the replica
//!   and the spec hash, so [`Runtime::list_managed`] can find it again after a gateway restart.
//! - no method panics on platform errors: they come back as [`RuntimeError`] with words a person can
//!   act on, because status pages show them verbatim.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod none;

#[cfg(feature = "docker")]
pub mod docker;

#[cfg(feature = "kubernetes")]
pub mod kubernetes;

/// The two kinds of workload the gateway deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// An MCP server, reached through the data-plane proxy.
    Adapter,
    /// A tool server, called by the tool router.
    Tool,
}

impl WorkloadKind {
    /// The lowercase word used in labels and names (`adapter`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Adapter => "adapter",
            WorkloadKind::Tool => "tool",
        }
    }

    /// Parses the word written by [`WorkloadKind::as_str`].
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "adapter" => Some(WorkloadKind::Adapter),
            "tool" => Some(WorkloadKind::Tool),
            _ => None,
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names one workload: its kind and its (already validated) resource name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadId {
    pub kind: WorkloadKind,
    pub name: String,
}

impl WorkloadId {
    pub fn new(kind: WorkloadKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What the gateway wants running for one image-based resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub id: WorkloadId,
    /// The full image reference, registry prefix included (`localhost:5000/mcp-example:1.0.0`).
    pub image: String,
    /// Environment variables of every replica.
    pub env: BTreeMap<String, String>,
    /// How many replicas (0 is allowed: the workload exists but runs nothing).
    pub replicas: u32,
    /// The port the server listens on inside the container.
    pub port: u16,
    /// Whether the workload runs with the platform's workload identity (Kubernetes only).
    pub use_workload_identity: bool,
    /// Replaces the image's entrypoint when not empty (Kubernetes `command` semantics).
    pub command: Vec<String>,
    /// Replaces the image's command (its default arguments) when not empty (Kubernetes `args`).
    pub args: Vec<String>,
    /// The server speaks MCP on stdin/stdout: replicas are created with stdin open (not closed
    /// after the first attach, no TTY) and reached through [`Runtime::attach`], not a port.
    pub stdio: bool,
}

impl WorkloadSpec {
    /// A stable hash of everything that requires a replica to be recreated when it changes.
    ///
    /// Stable across gateway versions and Rust releases (FNV-1a over a canonical text form, not
    /// `std`'s hasher), because it is written into labels and compared after a restart.
    pub fn spec_hash(&self) -> String {
        let mut canonical = String::new();
        canonical.push_str(self.id.kind.as_str());
        canonical.push('\0');
        canonical.push_str(&self.id.name);
        canonical.push('\0');
        canonical.push_str(&self.image);
        canonical.push('\0');
        canonical.push_str(&self.port.to_string());
        canonical.push('\0');
        canonical.push_str(if self.use_workload_identity {
            "wi"
        } else {
            "-"
        });
        for (key, value) in &self.env {
            canonical.push('\0');
            canonical.push_str(key);
            canonical.push('=');
            canonical.push_str(value);
        }
        // Added later: written only when set, so the hashes of existing workloads (and so their
        // adoption after an upgrade) do not change.
        if self.stdio {
            canonical.push_str("\0stdio");
        }
        for (tag, list) in [("command", &self.command), ("args", &self.args)] {
            if !list.is_empty() {
                canonical.push('\0');
                canonical.push_str(tag);
                for item in list {
                    canonical.push('\x1f');
                    canonical.push_str(item);
                }
            }
        }
        format!("{:016x}", fnv1a64(canonical.as_bytes()))
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The state of one replica, in words a person can read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    pub instance: u32,
    /// `running`, `starting`, `exited (code 1)`, `image not found: ...`.
    pub state: String,
    /// Accepts connections, so the gateway routes to it.
    pub ready: bool,
}

/// The status of one workload as the platform sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadStatus {
    pub desired_replicas: u32,
    pub ready_replicas: u32,
    pub updated_replicas: u32,
    pub available_replicas: u32,
    pub image: String,
    pub replicas: Vec<ReplicaStatus>,
    /// A platform-level problem (image missing, engine unreachable), if any.
    pub message: Option<String>,
}

/// Where the gateway reaches one replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub instance: u32,
    /// Scheme, host and port, without a path: `http://127.0.0.1:49153`.
    pub base_url: String,
    /// Only ready replicas receive new sessions or calls.
    pub ready: bool,
}

/// A workload found on the platform by its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedWorkload {
    pub id: WorkloadId,
    /// The spec hashes found on its replicas (several while a rolling update is under way).
    pub spec_hashes: Vec<String>,
}

/// A replica's log output as it is written: the last `tail` lines first, then whatever it writes
/// next, in chunks of bytes (not split at lines). It ends when the replica stops or the platform
/// closes the stream; dropping the receiver stops the runtime's reading.
pub type LogFollow = tokio::sync::mpsc::Receiver<Result<Vec<u8>, RuntimeError>>;

/// How many chunks of a followed log may wait for a slow reader before the runtime stops reading.
pub const LOG_FOLLOW_BUFFER: usize = 64;

/// A replica's stdin and stdout, attached (see [`Runtime::attach`]). Dropping both detaches;
/// the process keeps running. stderr is not here: it stays in the replica's logs.
pub struct Attachment {
    /// Bytes written here reach the process's stdin.
    pub stdin: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// The process's stdout, demultiplexed from stderr.
    pub stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attachment")
    }
}

/// Errors from a runtime. The text is shown to users in status pages and API errors.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The workload (or one of its replicas) does not exist on the platform.
    #[error("{0}")]
    NotFound(String),
    /// The runtime cannot do this at all (the `none` runtime asked to deploy an image).
    #[error("{0}")]
    Unsupported(String),
    /// The platform could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The platform refused or failed the operation.
    #[error("{0}")]
    Failed(String),
}

/// One container platform. See the crate docs for the contract.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// `none`, `docker` or `kubernetes`.
    fn name(&self) -> &'static str;

    /// Whether this runtime can deploy image-based resources at all.
    fn deploys_images(&self) -> bool;

    /// Checks that the platform answers (used by `/readyz`).
    async fn ping(&self) -> Result<(), RuntimeError>;

    /// Creates or converges the workload to `spec`. Idempotent.
    async fn apply(&self, spec: &WorkloadSpec) -> Result<(), RuntimeError>;

    /// Removes everything belonging to the workload. Removing a missing workload is not an error.
    async fn remove(&self, id: &WorkloadId) -> Result<(), RuntimeError>;

    /// The workload's status; [`RuntimeError::NotFound`] when nothing of it exists.
    async fn status(&self, id: &WorkloadId) -> Result<WorkloadStatus, RuntimeError>;

    /// The last `tail` lines of stdout and stderr of replica `instance`.
    async fn logs(&self, id: &WorkloadId, instance: u32, tail: u32)
    -> Result<String, RuntimeError>;

    /// Like [`Runtime::logs`], then follows the replica's output as it is written (see
    /// [`LogFollow`]). A runtime that cannot stream logs answers [`RuntimeError::Unsupported`].
    async fn follow_logs(
        &self,
        id: &WorkloadId,
        _instance: u32,
        _tail: u32,
    ) -> Result<LogFollow, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "{id}: the {} runtime cannot follow logs; read them without follow",
            self.name()
        )))
    }

    /// Attaches to replica `instance` of a workload applied with [`WorkloadSpec::stdio`]: its
    /// stdin and stdout as byte streams. Attaching again after a detach (or a gateway restart)
    /// reaches the same running process. [`RuntimeError::NotFound`] when the replica is not there.
    async fn attach(&self, id: &WorkloadId, _instance: u32) -> Result<Attachment, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "{id}: the {} runtime cannot attach to a replica's stdio",
            self.name()
        )))
    }

    /// Names the process now running as replica `instance` of a stdio workload; it changes
    /// whenever that process is restarted (a new container, or the same one started again). The
    /// gateway keeps what a stdio server told it at `initialize` under this name, so after its
    /// own restart it re-attaches without a second `initialize` when (and only when) the
    /// process is still the one it initialized. `None`: the runtime cannot tell (then the
    /// gateway initializes again).
    async fn process_identity(
        &self,
        _id: &WorkloadId,
        _instance: u32,
    ) -> Result<Option<String>, RuntimeError> {
        Ok(None)
    }

    /// Where each replica can be reached, with its readiness.
    async fn endpoints(&self, id: &WorkloadId) -> Result<Vec<Endpoint>, RuntimeError>;

    /// Every workload carrying this gateway's labels, for reconciling after a restart.
    async fn list_managed(&self) -> Result<Vec<ManagedWorkload>, RuntimeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            id: WorkloadId::new(WorkloadKind::Adapter, "demo"),
            image: "mcp-example:1.0.0".into(),
            env: BTreeMap::from([("A".into(), "1".into())]),
            replicas: 2,
            port: 8000,
            use_workload_identity: false,
            command: Vec::new(),
            args: Vec::new(),
            stdio: false,
        }
    }

    #[test]
    fn spec_hash_is_stable_and_ignores_replica_count() {
        let a = spec();
        let mut b = spec();
        b.replicas = 5;
        assert_eq!(a.spec_hash(), b.spec_hash());
        // Pinned: labels written by an earlier gateway must still match after an upgrade.
        assert_eq!(a.spec_hash(), "2744e79ebc80e7b1");
    }

    #[test]
    fn spec_hash_changes_with_env_image_and_port() {
        let base = spec().spec_hash();
        let mut s = spec();
        s.env.clear();
        assert_ne!(s.spec_hash(), base);
        let mut s = spec();
        s.image = "mcp-example:1.0.1".into();
        assert_ne!(s.spec_hash(), base);
        let mut s = spec();
        s.port = 9000;
        assert_ne!(s.spec_hash(), base);
    }

    #[test]
    fn spec_hash_changes_with_stdio_command_and_args() {
        let base = spec().spec_hash();
        let mut s = spec();
        s.stdio = true;
        assert_ne!(s.spec_hash(), base);
        let mut command = spec();
        command.command = vec!["mcp-server-time".into()];
        assert_ne!(command.spec_hash(), base);
        let mut args = spec();
        args.args = vec!["mcp-server-time".into()];
        assert_ne!(args.spec_hash(), base);
        // The same word as command or as args are different workloads.
        assert_ne!(args.spec_hash(), command.spec_hash());
        // Item boundaries count: ["a b"] is not ["a", "b"].
        let mut joined = spec();
        joined.args = vec!["a b".into()];
        let mut split = spec();
        split.args = vec!["a".into(), "b".into()];
        assert_ne!(joined.spec_hash(), split.spec_hash());
    }

    #[test]
    fn kind_words_round_trip() {
        for kind in [WorkloadKind::Adapter, WorkloadKind::Tool] {
            assert_eq!(WorkloadKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(WorkloadKind::parse("pod"), None);
    }
}
