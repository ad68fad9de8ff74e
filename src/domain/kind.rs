//! The two kinds of resource the gateway manages. Its own module so that the model and the
//! counters it carries can both name it without naming each other.

use mcp_gateway_runtimes::WorkloadKind;

/// Which collection a resource lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Adapter,
    Tool,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 2] = [ResourceKind::Adapter, ResourceKind::Tool];

    /// `adapter` or `tool`: the word stored in SQLite and used in messages.
    pub fn as_str(self) -> &'static str {
        self.workload_kind().as_str()
    }

    /// The URL collection: `adapters` or `tools`.
    pub fn collection(self) -> &'static str {
        match self {
            ResourceKind::Adapter => "adapters",
            ResourceKind::Tool => "tools",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "adapter" => Some(ResourceKind::Adapter),
            "tool" => Some(ResourceKind::Tool),
            _ => None,
        }
    }

    pub fn workload_kind(self) -> WorkloadKind {
        match self {
            ResourceKind::Adapter => WorkloadKind::Adapter,
            ResourceKind::Tool => WorkloadKind::Tool,
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
