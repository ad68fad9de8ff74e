//! Deciding, from the containers the engine reports, what `apply` must do and which container
//! stands for each replica. Pure, so every case has a unit test.
//!
//! Rules, per replica index below the desired count:
//! - a container that is not alive (exited, dead, created but never started) serves nothing:
//!   remove it at once;
//! - an alive container with the current spec hash is kept; if several exist (they cannot share
//!   a name, but an older gateway build might have made them), the newest is kept;
//! - nothing alive at all: create a new container (these are created together, since no
//!   traffic can be lost);
//! - an older version alive: roll it, one replica at a time, new ready before old removed.
//!
//! Containers of indices at or above the desired count, and those with an unreadable replica
//! label, are removed.

use std::collections::BTreeMap;

use super::observe::ReplicaContainer;

/// What one `apply` pass does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Containers to remove before anything else: dead ones, duplicates, scaled-down ones.
    pub remove: Vec<Retire>,
    /// Replica indices with nothing alive: create these, all at once.
    pub create: Vec<u32>,
    /// Replica indices where an older version still serves: replace these one at a time.
    pub roll: Vec<Roll>,
}

/// A container to remove, and whether it may be serving (then it gets a graceful stop first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retire {
    pub id: String,
    pub name: String,
    pub graceful: bool,
}

/// One replica to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roll {
    pub replica: u32,
    /// An alive current-spec container to wait for (created by an interrupted earlier pass);
    /// `None`: create one.
    pub current: Option<String>,
    /// The older containers to remove once the current one is ready.
    pub old: Vec<Retire>,
}

fn retire(container: &ReplicaContainer) -> Retire {
    Retire {
        id: container.id.clone(),
        name: container.name.clone(),
        graceful: container.is_alive(),
    }
}

/// The plan that converges `containers` (all of one workload) to `replicas` replicas of the
/// spec whose hash is `spec_hash`.
pub fn plan(spec_hash: &str, replicas: u32, containers: &[ReplicaContainer]) -> Plan {
    let mut plan = Plan::default();
    let mut by_replica: BTreeMap<u32, Vec<&ReplicaContainer>> = BTreeMap::new();
    for container in containers {
        match container.replica {
            Some(index) if index < replicas => by_replica.entry(index).or_default().push(container),
            _ => plan.remove.push(retire(container)),
        }
    }
    for index in 0..replicas {
        let group = by_replica.remove(&index).unwrap_or_default();
        let (alive, dead): (Vec<_>, Vec<_>) = group.into_iter().partition(|c| c.is_alive());
        plan.remove.extend(dead.into_iter().map(retire));
        let (mut current, old): (Vec<_>, Vec<_>) =
            alive.into_iter().partition(|c| c.spec_hash == spec_hash);
        // Newest first: keep it, remove the other current ones.
        current.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        let keeper = current.first().map(|c| c.id.clone());
        plan.remove
            .extend(current.iter().skip(1).map(|c| retire(c)));
        match (keeper, old.is_empty()) {
            (Some(_), true) => {}
            (None, true) => plan.create.push(index),
            (current, false) => plan.roll.push(Roll {
                replica: index,
                current,
                old: old.into_iter().map(retire).collect(),
            }),
        }
    }
    plan
}

/// The container that stands for replica `index` in status, logs and endpoints: a ready
/// current-spec one, else any ready one (an older version still serving during a roll), else a
/// current-spec one, else the newest. `ready` tells, by container id, which ones accept
/// connections.
pub fn representative<'a>(
    containers: &'a [ReplicaContainer],
    index: u32,
    spec_hash: &str,
    ready: &dyn Fn(&ReplicaContainer) -> bool,
) -> Option<&'a ReplicaContainer> {
    let mut candidates: Vec<&ReplicaContainer> = containers
        .iter()
        .filter(|c| c.replica == Some(index))
        .collect();
    candidates.sort_by_key(|c| {
        let current = c.spec_hash == spec_hash;
        let rank = match (ready(c), current) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        (rank, std::cmp::Reverse(c.created))
    });
    candidates.first().copied()
}

/// The spec hash to treat as current when the runtime has not been told one since it started
/// (status asked before the first apply): the newest container's.
pub fn newest_hash(containers: &[ReplicaContainer]) -> Option<String> {
    containers
        .iter()
        .max_by_key(|c| c.created)
        .map(|c| c.spec_hash.clone())
}

#[cfg(test)]
mod tests {
    use bollard::models::ContainerSummaryStateEnum as S;

    use super::*;
    use crate::{WorkloadId, WorkloadKind};

    fn c(id: &str, replica: Option<u32>, hash: &str, state: S, created: i64) -> ReplicaContainer {
        ReplicaContainer {
            id: id.into(),
            name: format!("name-{id}"),
            workload: WorkloadId::new(WorkloadKind::Adapter, "demo"),
            replica,
            spec_hash: hash.into(),
            image: "img".into(),
            state,
            status_text: String::new(),
            created,
            address: None,
            stdio: false,
        }
    }

    fn ids(retires: &[Retire]) -> Vec<&str> {
        retires.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn fresh_workload_creates_every_replica_at_once() {
        let plan = plan("h", 3, &[]);
        assert_eq!(plan.create, vec![0, 1, 2]);
        assert!(plan.remove.is_empty() && plan.roll.is_empty());
    }

    #[test]
    fn converged_workload_changes_nothing() {
        let containers = [
            c("a", Some(0), "h", S::RUNNING, 1),
            c("b", Some(1), "h", S::RESTARTING, 1),
        ];
        assert_eq!(plan("h", 2, &containers), Plan::default());
    }

    #[test]
    fn dead_replicas_are_replaced_and_extras_removed() {
        let containers = [
            c("a", Some(0), "h", S::EXITED, 1),
            c("b", Some(1), "h", S::RUNNING, 1),
            c("c", Some(2), "h", S::RUNNING, 1),
            c("d", None, "h", S::RUNNING, 1),
            c("e", Some(1), "h", S::CREATED, 2),
        ];
        let plan = plan("h", 2, &containers);
        let mut removed = ids(&plan.remove);
        removed.sort();
        assert_eq!(removed, vec!["a", "c", "d", "e"]);
        assert!(
            plan.remove
                .iter()
                .find(|r| r.id == "c")
                .expect("c")
                .graceful
        );
        assert!(
            !plan
                .remove
                .iter()
                .find(|r| r.id == "a")
                .expect("a")
                .graceful
        );
        assert_eq!(plan.create, vec![0]);
        assert!(plan.roll.is_empty());
    }

    #[test]
    fn changed_spec_rolls_one_replica_at_a_time() {
        let containers = [
            c("old0", Some(0), "old", S::RUNNING, 1),
            c("old1", Some(1), "old", S::RUNNING, 1),
            c("new1", Some(1), "new", S::RUNNING, 5),
        ];
        let plan = plan("new", 2, &containers);
        assert!(plan.remove.is_empty());
        assert!(plan.create.is_empty());
        assert_eq!(
            plan.roll,
            vec![
                Roll {
                    replica: 0,
                    current: None,
                    old: vec![Retire {
                        id: "old0".into(),
                        name: "name-old0".into(),
                        graceful: true
                    }],
                },
                Roll {
                    replica: 1,
                    current: Some("new1".into()),
                    old: vec![Retire {
                        id: "old1".into(),
                        name: "name-old1".into(),
                        graceful: true
                    }],
                },
            ]
        );
    }

    #[test]
    fn duplicates_keep_the_newest() {
        let containers = [
            c("older", Some(0), "h", S::RUNNING, 1),
            c("newer", Some(0), "h", S::RUNNING, 2),
        ];
        let plan = plan("h", 1, &containers);
        assert_eq!(ids(&plan.remove), vec!["older"]);
        assert!(plan.create.is_empty() && plan.roll.is_empty());
    }

    #[test]
    fn scale_to_zero_removes_everything() {
        let containers = [c("a", Some(0), "h", S::RUNNING, 1)];
        let plan = plan("h", 0, &containers);
        assert_eq!(ids(&plan.remove), vec!["a"]);
    }

    #[test]
    fn representative_prefers_ready_then_current() {
        let containers = [
            c("old", Some(0), "old", S::RUNNING, 1),
            c("new", Some(0), "new", S::RUNNING, 2),
            c("other", Some(1), "new", S::RUNNING, 2),
        ];
        let only_old_ready = |c: &ReplicaContainer| c.id == "old";
        let all_ready = |_: &ReplicaContainer| true;
        let none_ready = |_: &ReplicaContainer| false;
        let pick = |ready: &dyn Fn(&ReplicaContainer) -> bool| {
            representative(&containers, 0, "new", ready).map(|c| c.id.as_str())
        };
        assert_eq!(
            pick(&only_old_ready),
            Some("old"),
            "keep serving during a roll"
        );
        assert_eq!(pick(&all_ready), Some("new"));
        assert_eq!(pick(&none_ready), Some("new"));
        assert_eq!(representative(&containers, 2, "new", &all_ready), None);
        assert_eq!(newest_hash(&containers).as_deref(), Some("new"));
    }
}
