//! Live reload of config.toml while `serve` runs: on a file change (when `server.watch_config`)
//! and on SIGHUP.
//!
//! A reload reads and validates the whole file with the same strict parser as at start. An
//! invalid file is logged (key and line) and changes nothing. A valid one applies its
//! `[[adapters]]`/`[[tools]]` through [`Store::sync_config`], the path the start takes, so the
//! reconciler and the tool router follow as they follow the API; `server.watch_config` applies
//! too. Every other setting is read once at start: changed ones are named in a warning that asks
//! for a restart, and left alone (see [`restart_needed`]).
//!
//! The watch is on the file's directory, not the file: editors save by writing a new file and
//! renaming it over the old one, and a Kubernetes ConfigMap mount swaps a `..data` symlink, both
//! of which a watch on the file itself would lose. Events are debounced, so one save is one reload.
//! A watcher that cannot start (inotify limits) is logged; SIGHUP still reloads.
//!
//! Owns nothing but the watch: it never touches the runtime, the proxy or the router directly.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::infra::config::{self, Config, LoadedConfig, restart_needed};
use crate::infra::store::Store;

/// Quiet time after the last file event before reloading: an editor's save (write, rename,
/// chmod) or a ConfigMap swap is several events and one reload.
const QUIET: Duration = Duration::from_millis(300);

/// The symlink Kubernetes swaps (by rename) when a mounted ConfigMap changes.
const CONFIGMAP_DATA: &str = "..data";

/// What a reload compares with and obeys: the gateway as it was started.
pub struct Running {
    /// The file's settings at start, before command-line overrides (`--listen`).
    pub settings: Config,
    /// False with `runtime.kind = "none"`: declared image resources cannot be applied.
    pub deploys_images: bool,
}

/// Starts reloading `file` (the file `serve` read; `None` for the built-in defaults) into
/// `store`. Call from inside the runtime, before announcing that the gateway listens: SIGHUP is
/// taken over and the file watched before this returns, so no edit or signal from then on is
/// missed (and SIGHUP reloads instead of ending the process).
pub fn start(file: Option<PathBuf>, running: Running, store: Arc<Store>) -> JoinHandle<()> {
    let mut hangup = Hangup::register();
    let Some(file) = file else {
        tracing::info!("running on the built-in default config: no file to watch");
        return tokio::spawn(async move {
            loop {
                hangup.recv().await;
                tracing::info!("SIGHUP: running on the built-in default config, nothing to reload");
            }
        });
    };
    let (wake, events) = mpsc::channel::<()>(1);
    let watch = if running.settings.server.watch_config {
        let watch = FileWatch::start(&file, wake.clone());
        if watch.as_ref().is_some_and(|w| !w.watched.is_empty()) {
            tracing::info!(config = %file.display(), "watching the config file for changes");
        }
        watch
    } else {
        tracing::info!(
            config = %file.display(),
            "server.watch_config = false: edits to the config file apply on SIGHUP or restart"
        );
        None
    };
    let reloader = Reloader(Arc::new(Inner {
        origin: file.display().to_string(),
        file,
        running,
        store,
    }));
    tokio::spawn(reloader.run(watch, wake, events, hangup))
}

struct Inner {
    file: PathBuf,
    origin: String,
    running: Running,
    store: Arc<Store>,
}

struct Reloader(Arc<Inner>);

impl Reloader {
    async fn run(
        self,
        mut watch: Option<FileWatch>,
        wake: mpsc::Sender<()>,
        mut events: mpsc::Receiver<()>,
        mut hangup: Hangup,
    ) {
        loop {
            tokio::select! {
                () = hangup.recv() => {
                    tracing::info!(config = %self.0.origin, "SIGHUP: reloading the config file");
                }
                Some(()) = events.recv() => settle(&mut events, &mut hangup).await,
            }
            let checked = self.blocking(check).await.flatten();
            // The watch is brought up to date before the store changes, so an edit made once the
            // change shows is never missed.
            let was_watching = watch.is_some();
            let wants_watch = checked
                .as_ref()
                .map(|loaded| loaded.config.server.watch_config);
            if wants_watch == Some(true) && watch.is_none() {
                watch = FileWatch::start(&self.0.file, wake.clone());
            }
            // A symlinked file may point elsewhere now (a ConfigMap swap, `ln -sf`).
            if let Some(watch) = &mut watch {
                watch.follow(&self.0.file);
            }
            let Some(loaded) = checked else {
                continue;
            };
            let applied = self
                .blocking(move |inner| sync(inner, &loaded))
                .await
                .unwrap_or(false);
            match (applied, was_watching, watch.is_some()) {
                // Nothing applies from a refused file, server.watch_config included.
                (false, false, true) => watch = None,
                (true, false, true) => tracing::info!(
                    config = %self.0.origin,
                    "server.watch_config = true: watching the config file for changes"
                ),
                (true, true, true) if wants_watch == Some(false) => {
                    watch = None;
                    while events.try_recv().is_ok() {}
                    tracing::info!(
                        config = %self.0.origin,
                        "server.watch_config = false: stopped watching the config file; SIGHUP reloads"
                    );
                }
                _ => {}
            }
        }
    }

    /// Runs `work` on the blocking pool (file reads, SQLite); `None` if it panicked.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Option<T> {
        let inner = self.0.clone();
        match tokio::task::spawn_blocking(move || work(&inner)).await {
            Ok(done) => Some(done),
            Err(err) => {
                tracing::error!(%err, "config reload failed; the gateway keeps running as before");
                None
            }
        }
    }
}

/// Waits until file events have stopped for [`QUIET`] (or a SIGHUP asks for a reload now).
async fn settle(events: &mut mpsc::Receiver<()>, hangup: &mut Hangup) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(QUIET) => return,
            () = hangup.recv() => return,
            Some(()) = events.recv() => {}
        }
    }
}

/// Logs why a reload changed nothing.
fn not_applied<T>(inner: &Inner, why: &dyn std::fmt::Display) -> Option<T> {
    tracing::error!(
        config = %inner.origin,
        "config file not applied, the gateway keeps running as before: {why}"
    );
    None
}

/// Reads and validates the file (blocking), and warns about the settings that need a restart.
/// `None` (logged) if it cannot be applied. All or nothing: nothing has changed yet either way.
fn check(inner: &Inner) -> Option<LoadedConfig> {
    let text = match std::fs::read_to_string(&inner.file) {
        Ok(text) => text,
        Err(err) => {
            return not_applied(inner, &format_args!("cannot read {}: {err}", inner.origin));
        }
    };
    // Valid, but it would remove every declared resource, and it is what a file looks like
    // between a non-atomic save's truncate and its write.
    if text.trim().is_empty() {
        return not_applied(
            inner,
            &format_args!(
                "{} is empty (it would remove every declared resource); if that is meant, write a \
             comment in it",
                inner.origin
            ),
        );
    }
    let loaded = match config::parse_file(&text, &inner.file) {
        Ok(loaded) => loaded,
        // The parser's message names the file, the line and the key.
        Err(err) => return not_applied(inner, &format_args!("\n{err}")),
    };
    let restart = restart_needed(&inner.running.settings, &loaded.config);
    if !restart.is_empty() {
        tracing::warn!(
            config = %inner.origin,
            keys = %restart.join(", "),
            "changed settings apply only at start: restart the gateway to apply {} (it keeps \
             running with the previous values)",
            restart.join(", ")
        );
    }
    if !inner.running.deploys_images
        && let Some((kind, spec)) = loaded
            .resources
            .iter()
            .find(|(_, spec)| spec.image_name.is_some())
    {
        return not_applied(
            inner,
            &format_args!(
                "{kind} \"{}\" has an imageName, and the running gateway has runtime.kind = \"none\" \
             and deploys no images; restart the gateway to change runtime.kind",
                spec.name
            ),
        );
    }
    Some(loaded)
}

/// Applies the declared resources, the path the start takes (blocking); false (logged) if the
/// store refused them, in which case it changed nothing.
fn sync(inner: &Inner, loaded: &LoadedConfig) -> bool {
    match inner
        .store
        .sync_config(&loaded.resources, &crate::domain::clock::now())
    {
        Ok(summary) => {
            tracing::info!(
                config = %inner.origin,
                created = summary.created,
                updated = summary.updated,
                deleted = summary.deleted,
                "config file reloaded: resources synchronised"
            );
            true
        }
        Err(err) => {
            not_applied::<()>(inner, &err);
            false
        }
    }
}

/// The directory watch. Dropping it stops watching.
struct FileWatch {
    watcher: RecommendedWatcher,
    watched: Vec<PathBuf>,
    /// File names whose events mean "the config may have changed"; read by notify's thread.
    names: Arc<RwLock<Vec<OsString>>>,
}

impl FileWatch {
    /// Starts watching, or logs why it cannot (the gateway goes on; SIGHUP still reloads).
    fn start(file: &Path, wake: mpsc::Sender<()>) -> Option<FileWatch> {
        let names = Arc::new(RwLock::new(Vec::new()));
        let relevant = names.clone();
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                let names = relevant.read().unwrap_or_else(|p| p.into_inner());
                if concerns(&event, &names) {
                    // Full means a reload is already due: nothing is lost.
                    let _ = wake.try_send(());
                }
            }
            Err(err) => tracing::warn!(%err, "the config file watch reported an error"),
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(err) => {
                tracing::error!(
                    config = %file.display(),
                    %err,
                    "cannot watch the config file; edits apply on SIGHUP or restart (on Linux, \
                     raise fs.inotify.max_user_instances)"
                );
                return None;
            }
        };
        let mut watch = FileWatch {
            watcher,
            watched: Vec::new(),
            names,
        };
        watch.follow(file);
        Some(watch)
    }

    /// Watches the directories that decide the file's content, as the file now resolves.
    fn follow(&mut self, file: &Path) {
        let targets = targets(file);
        *self.names.write().unwrap_or_else(|p| p.into_inner()) = targets
            .iter()
            .map(|(_, name)| name.clone())
            .chain([OsString::from(CONFIGMAP_DATA)])
            .collect();
        let mut dirs: Vec<PathBuf> = targets.into_iter().map(|(dir, _)| dir).collect();
        dirs.dedup();
        for gone in self.watched.iter().filter(|dir| !dirs.contains(dir)) {
            // A directory that was deleted is no longer watched anyway.
            let _ = self.watcher.unwatch(gone);
        }
        self.watched.retain(|dir| dirs.contains(dir));
        for dir in dirs {
            if self.watched.contains(&dir) {
                continue;
            }
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched.push(dir),
                Err(err) => tracing::error!(
                    dir = %dir.display(),
                    %err,
                    "cannot watch the config file's directory; edits apply on SIGHUP or restart \
                     (on Linux, raise fs.inotify.max_user_watches)"
                ),
            }
        }
    }
}

/// (directory, file name) pairs to watch for `file`: its own directory, and where it really is
/// when it is a symlink (edits to a linked file happen there).
fn targets(file: &Path) -> Vec<(PathBuf, OsString)> {
    let mut out = Vec::new();
    let dir = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some(name) = file.file_name() {
        out.push((dir, name.to_os_string()));
    }
    if let Ok(real) = std::fs::canonicalize(file)
        && let (Some(dir), Some(name)) = (real.parent(), real.file_name())
        && !out.iter().any(|(d, n)| d == dir && n == name)
    {
        out.push((dir.to_path_buf(), name.to_os_string()));
    }
    out
}

/// Whether a file-system event may have changed the config: it names one of `names` (the file,
/// its symlink target, a ConfigMap's `..data`) and is not a mere read, or the kernel dropped
/// events (rescan).
fn concerns(event: &notify::Event, names: &[OsString]) -> bool {
    if event.need_rescan() {
        return true;
    }
    if let EventKind::Access(access) = event.kind
        && access != AccessKind::Close(AccessMode::Write)
    {
        return false;
    }
    event.paths.iter().any(|path| {
        path.file_name()
            .is_some_and(|name| names.iter().any(|n| n == name))
    })
}

/// SIGHUP, where there is such a thing.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn register() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(signal) => Hangup {
                    signal: Some(signal),
                },
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGHUP; the config reloads only when watched");
                    Hangup { signal: None }
                }
            }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    /// The next SIGHUP (never, without one).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, Flag, ModifyKind, RenameMode};
    use notify::{Event, EventKind};

    use super::*;

    fn names() -> Vec<OsString> {
        vec!["config.toml".into(), CONFIGMAP_DATA.into()]
    }

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_renames_and_configmap_swaps_concern_the_config() {
        for kind in [
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ] {
            assert!(
                concerns(&event(kind, "/etc/gw/config.toml"), &names()),
                "{kind:?}"
            );
        }
        let swap = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            "/etc/gw/..data",
        );
        assert!(concerns(&swap, &names()));
        let rescan = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert!(concerns(&rescan, &names()));
    }

    #[test]
    fn reads_and_neighbours_do_not() {
        let open = event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/etc/gw/config.toml",
        );
        assert!(!concerns(&open, &names()));
        let read_done = event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "/etc/gw/config.toml",
        );
        assert!(!concerns(&read_done, &names()));
        for neighbour in [
            "/etc/gw/gw.db-wal",
            "/etc/gw/config.toml.swp",
            "/etc/gw/..data_tmp",
        ] {
            let write = event(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                neighbour,
            );
            assert!(!concerns(&write, &names()), "{neighbour}");
        }
    }

    #[test]
    fn a_symlinked_file_is_watched_where_it_really_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        std::fs::write(elsewhere.join("real.toml"), "").expect("write");
        let link = dir.path().join("config.toml");
        #[cfg(unix)]
        std::os::unix::fs::symlink(elsewhere.join("real.toml"), &link).expect("symlink");
        #[cfg(not(unix))]
        std::fs::write(&link, "").expect("write");
        let base = std::fs::canonicalize(dir.path()).expect("canonical");
        let found = targets(&link);
        assert_eq!(found[0], (base.clone(), OsString::from("config.toml")));
        #[cfg(unix)]
        assert_eq!(
            found[1],
            (base.join("elsewhere"), OsString::from("real.toml"))
        );
    }

    #[tokio::test]
    async fn a_watch_that_cannot_start_is_logged_not_fatal() {
        let (wake, _events) = mpsc::channel(1);
        let watch = FileWatch::start(Path::new("/nonexistent/dir/config.toml"), wake)
            .expect("the watcher itself starts");
        assert!(watch.watched.is_empty());
    }
}
