//! The SQLite store (source of truth) and its in-memory mirror.
//!
//! Every write is one transaction on the single writer connection, committed with
//! `synchronous = FULL` before the caller answers, so a `201` survives `kill -9` and power loss.
//! Reads never touch SQLite: the gateway is the file's only writer, so the in-memory catalog,
//! updated under the same lock right after each commit, is exactly the database's content. That
//! keeps `GET /adapters`, the proxy and the router off the disk entirely.
//!
//! The methods are blocking: call them from `spawn_blocking`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;

use crate::domain::counters::ResourceMetrics;
use crate::domain::model::{Resource, ResourceKind, ResourceSpec, Source};

/// Versioned schema migrations; `PRAGMA user_version` holds how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: resources and settings.
    "CREATE TABLE resources (
        kind TEXT NOT NULL CHECK (kind IN ('adapter', 'tool')),
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_updated_at TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('api', 'config')),
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} \"{name}\" already exists")]
    Exists { kind: ResourceKind, name: String },
    #[error("{kind} \"{name}\" does not exist")]
    NotFound { kind: ResourceKind, name: String },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The in-memory mirror: one map per kind, so lookups by `&str` allocate nothing.
#[derive(Clone, Default)]
struct Catalog {
    by_kind: [BTreeMap<String, Arc<Resource>>; 2],
}

impl Catalog {
    fn slot(kind: ResourceKind) -> usize {
        match kind {
            ResourceKind::Adapter => 0,
            ResourceKind::Tool => 1,
        }
    }

    fn map(&self, kind: ResourceKind) -> &BTreeMap<String, Arc<Resource>> {
        &self.by_kind[Self::slot(kind)]
    }

    fn get(&self, kind: ResourceKind, name: &str) -> Option<&Arc<Resource>> {
        self.map(kind).get(name)
    }

    fn insert(&mut self, resource: Arc<Resource>) {
        self.by_kind[Self::slot(resource.kind)].insert(resource.name().to_string(), resource);
    }

    fn remove(&mut self, kind: ResourceKind, name: &str) {
        self.by_kind[Self::slot(kind)].remove(name);
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Resource>> {
        self.by_kind.iter().flat_map(|map| map.values())
    }
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
    catalog: RwLock<Catalog>,
    changes: watch::Sender<u64>,
}

impl Store {
    /// Opens (creating if needed) the database, runs pending migrations and loads the catalog.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| {
                StoreError::Invalid(format!("cannot create {}: {err}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "{} cannot use write-ahead logging (journal_mode is {mode})",
                path.display()
            )));
        }
        // FULL: the WAL is synced at every commit, so an answered write is on disk.
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn, path)?;
        let catalog = load_all(&conn, &Catalog::default())?;
        let (changes, _) = watch::channel(0);
        Ok(Store {
            conn: Mutex::new(conn),
            catalog: RwLock::new(catalog),
            changes,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn catalog_write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }

    fn catalog_read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver that changes whenever a resource is created, updated or deleted.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Checks the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn get(&self, kind: ResourceKind, name: &str) -> Option<Arc<Resource>> {
        self.catalog_read().get(kind, name).cloned()
    }

    /// All resources of a kind, by name.
    pub fn list(&self, kind: ResourceKind) -> Vec<Arc<Resource>> {
        self.catalog_read().map(kind).values().cloned().collect()
    }

    /// Every resource of every kind.
    pub fn all(&self) -> Vec<Arc<Resource>> {
        self.catalog_read().all().cloned().collect()
    }

    /// Inserts a new resource; [`StoreError::Exists`] if the name is taken.
    pub fn create(&self, resource: Resource) -> Result<Arc<Resource>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM resources WHERE kind = ?1 AND name = ?2",
                params![resource.kind.as_str(), resource.name()],
                |row| row.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Exists {
                kind: resource.kind,
                name: resource.name().to_string(),
            });
        }
        insert(&tx, &resource)?;
        tx.commit()?;
        let resource = Arc::new(resource);
        self.catalog_write().insert(resource.clone());
        drop(conn);
        self.changed();
        Ok(resource)
    }

    /// Replaces a resource with what `change` makes of the current one. `change` runs under the
    /// write lock, so its checks (permissions, ownership) see the version it replaces.
    pub fn update<E>(
        &self,
        kind: ResourceKind,
        name: &str,
        change: impl FnOnce(&Resource) -> Result<Resource, E>,
    ) -> Result<Result<Arc<Resource>, E>, StoreError> {
        let mut conn = self.conn();
        let Some(current) = self.get(kind, name) else {
            return Err(StoreError::NotFound {
                kind,
                name: name.to_string(),
            });
        };
        let updated = match change(&current) {
            Ok(updated) => updated,
            Err(err) => return Ok(Err(err)),
        };
        if updated.kind != kind || updated.name() != name {
            return Err(StoreError::Invalid(
                "an update cannot change a resource's kind or name".into(),
            ));
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows = tx.execute(
            "UPDATE resources SET spec = ?3, created_by = ?4, created_at = ?5,
                 last_updated_at = ?6, source = ?7
             WHERE kind = ?1 AND name = ?2",
            params![
                kind.as_str(),
                name,
                spec_json(&updated.spec)?,
                updated.created_by,
                updated.created_at,
                updated.last_updated_at,
                updated.source.as_str(),
            ],
        )?;
        if rows != 1 {
            return Err(StoreError::NotFound {
                kind,
                name: name.to_string(),
            });
        }
        tx.commit()?;
        let updated = Arc::new(updated);
        self.catalog_write().insert(updated.clone());
        drop(conn);
        self.changed();
        Ok(Ok(updated))
    }

    /// Deletes a resource if `allow` accepts the current version (checked under the write lock).
    pub fn delete<E>(
        &self,
        kind: ResourceKind,
        name: &str,
        allow: impl FnOnce(&Resource) -> Result<(), E>,
    ) -> Result<Result<Arc<Resource>, E>, StoreError> {
        let conn = self.conn();
        let Some(current) = self.get(kind, name) else {
            return Err(StoreError::NotFound {
                kind,
                name: name.to_string(),
            });
        };
        if let Err(err) = allow(&current) {
            return Ok(Err(err));
        }
        conn.execute(
            "DELETE FROM resources WHERE kind = ?1 AND name = ?2",
            params![kind.as_str(), name],
        )?;
        self.catalog_write().remove(kind, name);
        drop(conn);
        self.changed();
        Ok(Ok(current))
    }

    /// Makes the config-owned resources exactly `declared`, in one transaction: inserts new ones,
    /// updates changed ones, deletes config-owned ones no longer declared. A declared name that the
    /// API already owns is an error (nothing is changed): the file must not silently take over a
    /// user's resource.
    pub fn sync_config(
        &self,
        declared: &[(ResourceKind, ResourceSpec)],
        now: &str,
    ) -> Result<SyncSummary, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = self.catalog_read().clone();
        let mut summary = SyncSummary::default();
        for (kind, spec) in declared {
            match current.get(*kind, &spec.name) {
                Some(existing) if existing.source == Source::Api => {
                    return Err(StoreError::Invalid(format!(
                        "{kind} \"{}\" is declared in the config file but was created through the API by {}; \
                         rename one of them, or DELETE /{}/{} first",
                        spec.name,
                        existing.created_by,
                        kind.collection(),
                        spec.name
                    )));
                }
                Some(existing) if existing.spec == *spec => {}
                Some(existing) => {
                    let updated = Resource {
                        spec: spec.clone(),
                        last_updated_at: now.to_string(),
                        ..(**existing).clone()
                    };
                    tx.execute(
                        "UPDATE resources SET spec = ?3, last_updated_at = ?4 WHERE kind = ?1 AND name = ?2",
                        params![kind.as_str(), spec.name, spec_json(&updated.spec)?, now],
                    )?;
                    summary.updated += 1;
                }
                None => {
                    insert(
                        &tx,
                        &Resource {
                            kind: *kind,
                            spec: spec.clone(),
                            created_by: "config".into(),
                            created_at: now.to_string(),
                            last_updated_at: now.to_string(),
                            source: Source::Config,
                            metrics: ResourceMetrics::new(*kind),
                        },
                    )?;
                    summary.created += 1;
                }
            }
        }
        for existing in current.all() {
            let (kind, name) = (&existing.kind, existing.name());
            let still_declared = declared.iter().any(|(k, s)| k == kind && s.name == name);
            if existing.source == Source::Config && !still_declared {
                tx.execute(
                    "DELETE FROM resources WHERE kind = ?1 AND name = ?2",
                    params![kind.as_str(), name],
                )?;
                summary.deleted += 1;
            }
        }
        tx.commit()?;
        *self.catalog_write() = load_all(&conn, &current)?;
        drop(conn);
        if summary != SyncSummary::default() {
            self.changed();
        }
        Ok(summary)
    }

    /// A stored setting (keys, generated secrets).
    pub fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Stores `value` under `key`, replacing what was there (`None`: removes the key). For
    /// state the gateway keeps across its restarts, such as what a stdio server answered at
    /// `initialize`.
    pub fn put_setting(&self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let conn = self.conn();
        match value {
            Some(value) => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?,
            None => conn.execute("DELETE FROM settings WHERE key = ?1", params![key])?,
        };
        Ok(())
    }

    /// Stores `value` under `key` unless a value exists; returns the value now stored. Safe
    /// against two processes racing to initialise the same key.
    pub fn setting_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, value],
        )?;
        let stored: Vec<u8> = tx.query_row(
            "SELECT value FROM settings WHERE key = ?1",
            params![key],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok(stored)
    }
}

/// What [`Store::sync_config`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Invalid(format!(
            "{} was written by a newer mcp-gateway (schema version {version}, this one knows {known}); \
             upgrade the gateway or point store.path at another file",
            path.display()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn spec_json(spec: &ResourceSpec) -> Result<String, StoreError> {
    serde_json::to_string(spec).map_err(|err| StoreError::Invalid(err.to_string()))
}

fn insert(tx: &rusqlite::Transaction<'_>, resource: &Resource) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO resources (kind, name, spec, created_by, created_at, last_updated_at, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            resource.kind.as_str(),
            resource.name(),
            spec_json(&resource.spec)?,
            resource.created_by,
            resource.created_at,
            resource.last_updated_at,
            resource.source.as_str(),
        ],
    )?;
    Ok(())
}

/// Every stored resource. One that `previous` also holds keeps its live counters: reloading
/// after a config sync is not a new resource.
fn load_all(conn: &Connection, previous: &Catalog) -> Result<Catalog, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT kind, name, spec, created_by, created_at, last_updated_at, source FROM resources",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Catalog::default();
    for row in rows {
        let (kind, name, spec, created_by, created_at, last_updated_at, source) = row?;
        let corrupt = |what: &str| StoreError::Invalid(format!("stored {kind} \"{name}\": {what}"));
        let kind_parsed = ResourceKind::parse(&kind).ok_or_else(|| corrupt("unknown kind"))?;
        let spec: ResourceSpec =
            serde_json::from_str(&spec).map_err(|err| corrupt(&format!("bad spec: {err}")))?;
        let source = Source::parse(&source).ok_or_else(|| corrupt("unknown source"))?;
        let metrics = previous
            .get(kind_parsed, &name)
            .map(|resource| resource.metrics.clone())
            .unwrap_or_else(|| ResourceMetrics::new(kind_parsed));
        out.insert(Arc::new(Resource {
            kind: kind_parsed,
            spec,
            created_by,
            created_at,
            last_updated_at,
            source,
            metrics,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
