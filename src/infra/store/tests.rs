//! The store against real SQLite files: writes, restarts, concurrency and the mirror.

use super::*;

fn spec(name: &str) -> ResourceSpec {
    ResourceSpec::remote(name, "http://127.0.0.1:9/mcp")
}

fn resource(name: &str) -> Resource {
    Resource {
        kind: ResourceKind::Adapter,
        spec: spec(name),
        created_by: "alice".into(),
        created_at: "t0".into(),
        last_updated_at: "t0".into(),
        source: Source::Api,
        metrics: ResourceMetrics::new(ResourceKind::Adapter),
    }
}

#[test]
fn create_get_update_delete_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/store.db");
    {
        let store = Store::open(&path).expect("open");
        store.create(resource("a")).expect("create");
        assert!(matches!(
            store.create(resource("a")),
            Err(StoreError::Exists { .. })
        ));
        store.create(resource("b")).expect("create");
        let updated = store
            .update(ResourceKind::Adapter, "a", |r| {
                Ok::<_, ()>(Resource {
                    last_updated_at: "t1".into(),
                    ..r.clone()
                })
            })
            .expect("db")
            .expect("allowed");
        assert_eq!(updated.last_updated_at, "t1");
        store
            .delete(ResourceKind::Adapter, "b", |_| Ok::<_, ()>(()))
            .expect("db")
            .expect("allowed");
    }
    let store = Store::open(&path).expect("reopen");
    let names: Vec<_> = store
        .list(ResourceKind::Adapter)
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec!["a"]);
    assert_eq!(
        store
            .get(ResourceKind::Adapter, "a")
            .expect("a")
            .last_updated_at,
        "t1"
    );
    assert!(store.list(ResourceKind::Tool).is_empty());
}

#[test]
fn sync_config_adds_updates_removes_and_refuses_takeover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("s.db")).expect("open");
    let declared = vec![
        (ResourceKind::Adapter, spec("x")),
        (ResourceKind::Adapter, spec("y")),
    ];
    let summary = store.sync_config(&declared, "t0").expect("sync");
    assert_eq!(summary.created, 2);
    let mut changed = spec("x");
    changed.description = "new".into();
    let summary = store
        .sync_config(&[(ResourceKind::Adapter, changed)], "t1")
        .expect("sync");
    assert_eq!(
        (summary.created, summary.updated, summary.deleted),
        (0, 1, 1)
    );
    let x = store.get(ResourceKind::Adapter, "x").expect("x");
    assert_eq!(
        (x.source, x.created_at.as_str(), x.last_updated_at.as_str()),
        (Source::Config, "t0", "t1")
    );

    store.create(resource("mine")).expect("create");
    let err = store
        .sync_config(&[(ResourceKind::Adapter, spec("mine"))], "t2")
        .unwrap_err();
    assert!(
        err.to_string().contains("created through the API by alice"),
        "{err}"
    );
    // Nothing changed: x is still there.
    assert!(store.get(ResourceKind::Adapter, "x").is_some());
}

#[test]
fn live_counters_follow_a_resource_through_updates_and_syncs_not_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("s.db")).expect("open");
    let counters = |name: &str| {
        store
            .get(ResourceKind::Adapter, name)
            .expect(name)
            .metrics
            .clone()
    };

    store.create(resource("api")).expect("create");
    store
        .sync_config(&[(ResourceKind::Adapter, spec("file"))], "t0")
        .expect("sync");
    let (api, file) = (counters("api"), counters("file"));
    store
        .update(ResourceKind::Adapter, "api", |r| {
            Ok::<_, ()>(Resource {
                last_updated_at: "t1".into(),
                ..r.clone()
            })
        })
        .expect("db")
        .expect("allowed");
    let mut changed = spec("file");
    changed.description = "new".into();
    store
        .sync_config(&[(ResourceKind::Adapter, changed)], "t1")
        .expect("sync");
    assert!(
        counters("api").shares_counters_with(&api),
        "kept across update and sync"
    );
    assert!(
        counters("file").shares_counters_with(&file),
        "kept across a changed sync"
    );

    store
        .delete(ResourceKind::Adapter, "api", |_| Ok::<_, ()>(()))
        .expect("db")
        .expect("allowed");
    store.create(resource("api")).expect("create again");
    assert!(
        !counters("api").shares_counters_with(&api),
        "a new resource counts anew"
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.db");
    drop(Store::open(&path).expect("open"));
    Connection::open(&path)
        .expect("raw")
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    let err = Store::open(&path).err().expect("refused");
    assert!(err.to_string().contains("newer mcp-gateway"), "{err}");
}

#[test]
fn settings_insert_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("s.db")).expect("open");
    assert_eq!(store.setting("k").expect("read"), None);
    assert_eq!(
        store.setting_or_insert("k", b"one").expect("insert"),
        b"one"
    );
    assert_eq!(
        store.setting_or_insert("k", b"two").expect("insert"),
        b"one"
    );
}
