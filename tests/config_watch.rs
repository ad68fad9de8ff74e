//! Live reload of config.toml against the real binary: file edits (in place, by rename, by a
//! ConfigMap-style symlink swap) and SIGHUP apply declared resources through the store, an
//! invalid file changes nothing, settings read at start are named and left alone, and
//! `server.watch_config = false` turns watching off. Runtime `none` and `url` resources, so no
//! Docker is needed.
//!
//! The gateway logs JSON here so tests can wait for a reload's verdict (an error or a warning)
//! instead of sleeping; every wait polls with a generous deadline.
#![cfg(unix)] // SIGHUP, symlinks

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{client, config_none, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long any effect may take to show (reloads take milliseconds; this is for slow machines).
const DEADLINE: Duration = Duration::from_secs(10);

/// A gateway started on `config` whose JSON log lines the test can read. Killed on drop.
struct Gateway(common::Gateway);

impl Gateway {
    fn start(config: &Path) -> Gateway {
        Gateway(common::Gateway::start_logged(config))
    }

    fn url(&self, path: &str) -> String {
        self.0.url(path)
    }

    /// Replaces the config file's content in place (truncate and write, as `>` does).
    fn write(&self, text: &str) {
        std::fs::write(&self.0.config_path, text).expect("write config");
    }

    fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.0.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// How many log lines so far: pass to [`Gateway::wait_log`] to look only at later ones.
    fn mark(&self) -> usize {
        self.0.logs.lock().expect("logs").len()
    }

    /// The first log entry after `mark` at `level` whose message contains every one of `words`.
    async fn wait_log(&self, mark: usize, level: &str, words: &[&str]) -> Value {
        let what = format!("a {level} log line saying {words:?}");
        eventually(&what, DEADLINE, || {
            let found = self.0.logs.lock().expect("logs")[mark..]
                .iter()
                .find(|entry| {
                    let message = entry["fields"]["message"].as_str().unwrap_or("");
                    entry["level"] == level && words.iter().all(|w| message.contains(w))
                })
                .cloned();
            async move { found }
        })
        .await
    }

    /// The adapter, or None on 404.
    async fn adapter(&self, name: &str) -> Option<Value> {
        let response = client()
            .get(self.url(&format!("/adapters/{name}")))
            .send()
            .await
            .expect("get adapter");
        match response.status() {
            StatusCode::OK => Some(response.json().await.expect("json")),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET /adapters/{name}: unexpected {other}"),
        }
    }

    /// (name, source) of every adapter, as `GET /adapters` lists them.
    async fn adapters(&self) -> Vec<(String, String)> {
        let listed: Vec<Value> = client()
            .get(self.url("/adapters"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        listed
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap_or("").to_string(),
                    a["source"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Waits until the adapter exists with `description`, and returns it.
    async fn adapter_with(&self, name: &str, description: &str) -> Value {
        let what = format!("adapter {name} with description {description:?}");
        eventually(&what, DEADLINE, || async {
            self.adapter(name)
                .await
                .filter(|a| a["description"] == description)
        })
        .await
    }

    async fn adapter_gone(&self, name: &str) {
        eventually(&format!("adapter {name} to be gone"), DEADLINE, || async {
            self.adapter(name).await.is_none().then_some(())
        })
        .await
    }

    async fn healthy(&self) {
        let r = client()
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), StatusCode::OK, "the gateway must stay healthy");
    }
}

/// A test config (runtime `none`, store in `dir`, auth off) with `extra` appended.
fn config(dir: &Path, extra: &str) -> String {
    config_none(dir, "none", extra)
}

fn declared_adapter(name: &str, description: &str) -> String {
    format!(
        "[[adapters]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:1/mcp\"\ndescription = \"{description}\"\n"
    )
}

fn declared_tool(name: &str) -> String {
    format!(
        "[[tools]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:1/score\"\n\
         [tools.tool_definition.tool]\nname = \"{name}\"\ninputSchema = {{ type = \"object\" }}\n"
    )
}

fn start_in(dir: &Path, text: &str) -> Gateway {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    Gateway::start(&path)
}

async fn create_through_api(gw: &Gateway, name: &str) {
    let r = client()
        .post(gw.url("/adapters"))
        .json(&json!({"name": name, "url": "http://127.0.0.1:1/mcp", "description": "mine"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Checks that `name` is still the API's, unchanged.
async fn api_adapter_untouched(gw: &Gateway, name: &str) {
    let adapter = gw
        .adapter(name)
        .await
        .unwrap_or_else(|| panic!("the API-created adapter {name} was removed"));
    assert_eq!(
        (adapter["source"].as_str(), adapter["description"].as_str()),
        (Some("api"), Some("mine")),
        "the API-created adapter {name} was changed"
    );
}

#[tokio::test]
async fn file_edits_create_update_and_delete_config_resources_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_in(dir.path(), &config(dir.path(), ""));
    create_through_api(&gw, "api-made").await;

    // (a) Added to the file: appears, owned by the file, as if declared at start.
    gw.write(&config(
        dir.path(),
        &format!(
            "{}{}",
            declared_adapter("declared", "first"),
            declared_tool("lookup")
        ),
    ));
    let first = gw.adapter_with("declared", "first").await;
    assert_eq!(
        (first["source"].as_str(), first["createdBy"].as_str()),
        (Some("config"), Some("config"))
    );
    let listed = gw.adapters().await;
    assert!(
        listed.contains(&("declared".into(), "config".into()))
            && listed.contains(&("api-made".into(), "api".into())),
        "{listed:?}"
    );
    let tool = client()
        .get(gw.url("/tools/lookup"))
        .send()
        .await
        .expect("get tool");
    assert_eq!(tool.status(), StatusCode::OK, "the declared tool appears");
    // Still owned by the file: the API refuses to change it.
    let r = client()
        .delete(gw.url("/adapters/declared"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    api_adapter_untouched(&gw, "api-made").await;

    // (b) A field changed in the file: updated in place.
    gw.write(&config(
        dir.path(),
        &format!(
            "{}{}",
            declared_adapter("declared", "second"),
            declared_tool("lookup")
        ),
    ));
    let second = gw.adapter_with("declared", "second").await;
    assert_eq!(second["createdAt"], first["createdAt"]);
    assert_ne!(second["lastUpdatedAt"], first["lastUpdatedAt"]);
    api_adapter_untouched(&gw, "api-made").await;

    // (c) Removed from the file: gone; the API's adapter stays.
    gw.write(&config(dir.path(), ""));
    gw.adapter_gone("declared").await;
    eventually("tool lookup to be gone", DEADLINE, || async {
        let r = client()
            .get(gw.url("/tools/lookup"))
            .send()
            .await
            .expect("get tool");
        (r.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    api_adapter_untouched(&gw, "api-made").await;
    assert_eq!(gw.adapters().await, [("api-made".into(), "api".into())]);
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_a_later_valid_one_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_in(
        dir.path(),
        &config(dir.path(), &declared_adapter("kept", "as started")),
    );
    create_through_api(&gw, "api-made").await;
    let before = gw.adapters().await;

    // An unknown key, in a file that also drops "kept" and adds "new".
    let invalid = config(
        dir.path(),
        &format!("{}[server]\nbogus_key = 1\n", declared_adapter("new", "n")),
    );
    let line = invalid
        .lines()
        .position(|l| l.starts_with("bogus_key"))
        .expect("line")
        + 1;
    let mark = gw.mark();
    gw.write(&invalid);
    let error = gw
        .wait_log(mark, "ERROR", &["not applied", "bogus_key"])
        .await;
    let message = error["fields"]["message"].as_str().unwrap_or("");
    assert!(message.contains(&format!("line {line}")), "{message}");
    gw.healthy().await;
    assert_eq!(
        gw.adapters().await,
        before,
        "an invalid file changed resources"
    );
    assert_eq!(
        gw.adapter("kept").await.expect("kept")["description"],
        "as started"
    );

    // Valid, but it declares the API's adapter: refused as a whole, the API's adapter untouched.
    let mark = gw.mark();
    gw.write(&config(
        dir.path(),
        &format!(
            "{}{}",
            declared_adapter("new", "n"),
            declared_adapter("api-made", "taken over")
        ),
    ));
    gw.wait_log(mark, "ERROR", &["not applied", "created through the API"])
        .await;
    gw.healthy().await;
    assert_eq!(
        gw.adapters().await,
        before,
        "a refused file changed resources"
    );
    api_adapter_untouched(&gw, "api-made").await;

    // An empty file (a save between truncate and write) is not taken as "remove everything".
    let mark = gw.mark();
    gw.write("");
    gw.wait_log(mark, "ERROR", &["not applied", "is empty"])
        .await;
    assert_eq!(
        gw.adapters().await,
        before,
        "an empty file changed resources"
    );

    // A later valid file applies.
    gw.write(&config(dir.path(), &declared_adapter("new", "n")));
    gw.adapter_with("new", "n").await;
    gw.adapter_gone("kept").await;
    api_adapter_untouched(&gw, "api-made").await;
}

#[tokio::test]
async fn a_file_replaced_by_rename_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_in(dir.path(), &config(dir.path(), ""));
    // As vim and most IDEs save: write a new file beside it, then rename it over the old one.
    for description in ["renamed in", "renamed again"] {
        let temp = dir.path().join(".config.toml.swp");
        std::fs::write(
            &temp,
            config(dir.path(), &declared_adapter("swapped", description)),
        )
        .expect("write temp");
        std::fs::rename(&temp, &gw.0.config_path).expect("rename over");
        gw.adapter_with("swapped", description).await;
    }
}

#[tokio::test]
async fn a_configmap_style_symlink_swap_applies() {
    // A Kubernetes ConfigMap mount: config.toml -> ..data/config.toml, ..data -> ..<version>;
    // an update writes a new version directory and renames a new ..data link over the old one.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let version = |n: u32, text: &str| {
        let versioned = root.join(format!("..v{n}"));
        std::fs::create_dir(&versioned).expect("mkdir");
        std::fs::write(versioned.join("config.toml"), text).expect("write");
    };
    version(1, &config(root, ""));
    std::os::unix::fs::symlink("..v1", root.join("..data")).expect("link ..data");
    std::os::unix::fs::symlink("..data/config.toml", root.join("config.toml")).expect("link");
    let gw = Gateway::start(&root.join("config.toml"));

    for n in [2u32, 3] {
        let description = format!("version {n}");
        version(n, &config(root, &declared_adapter("mounted", &description)));
        std::os::unix::fs::symlink(format!("..v{n}"), root.join("..data_tmp")).expect("link");
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap ..data");
        // The swap alone must do it (the old version's removal, next, is another event).
        gw.adapter_with("mounted", &description).await;
        std::fs::remove_dir_all(root.join(format!("..v{}", n - 1))).expect("remove old");
    }
}

#[tokio::test]
async fn settings_read_at_start_are_named_and_not_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_in(
        dir.path(),
        &config(dir.path(), &declared_adapter("remote", "before")),
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "padding": "x".repeat(64)});
    let post = || {
        client()
            .post(gw.url("/adapters/remote/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
    };
    let baseline = post().await.expect("post").status();
    assert_ne!(baseline, StatusCode::PAYLOAD_TOO_LARGE);

    // A start-only setting and a resource change in one edit: the resource applies, the
    // setting is named in a warning and left as it was.
    let mark = gw.mark();
    gw.write(&config(
        dir.path(),
        &format!(
            "{}[proxy]\nmax_body_bytes = 16\n",
            declared_adapter("remote", "after")
        ),
    ));
    let warning = gw
        .wait_log(mark, "WARN", &["restart", "proxy.max_body_bytes"])
        .await;
    assert_eq!(warning["fields"]["keys"], "proxy.max_body_bytes");
    gw.adapter_with("remote", "after").await;
    let status = post().await.expect("post").status();
    assert_eq!(
        status, baseline,
        "proxy.max_body_bytes must not apply before a restart (413 means it did)"
    );

    // Image resources need a runtime that deploys them: a file switching runtime.kind and
    // declaring one is refused as a whole, with the restart named.
    let mark = gw.mark();
    let docker = config(dir.path(), "").replace("kind = \"none\"", "kind = \"docker\"");
    gw.write(&format!(
        "{docker}[[adapters]]\nname = \"image\"\nimage_name = \"mcp-example\"\n"
    ));
    gw.wait_log(mark, "WARN", &["restart", "runtime.kind"])
        .await;
    gw.wait_log(mark, "ERROR", &["not applied", "deploys no images"])
        .await;
    assert!(gw.adapter("image").await.is_none());
    assert_eq!(
        gw.adapter("remote").await.expect("kept")["description"],
        "after",
        "a refused file changed resources"
    );
    gw.healthy().await;
}

#[tokio::test]
async fn sighup_reloads_when_watching_is_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start_in(
        dir.path(),
        &config(dir.path(), "[server]\nwatch_config = false\n"),
    );
    gw.write(&config(
        dir.path(),
        &format!(
            "[server]\nwatch_config = false\n{}",
            declared_adapter("hup", "by signal")
        ),
    ));
    gw.sighup();
    gw.adapter_with("hup", "by signal").await;
    gw.healthy().await;

    // SIGHUP with an invalid file: logged, nothing changes, the gateway keeps serving.
    let mark = gw.mark();
    gw.write("[server]\nwatch_config = \"maybe\"\n");
    gw.sighup();
    gw.wait_log(mark, "ERROR", &["not applied", "watch_config"])
        .await;
    gw.healthy().await;
    assert!(gw.adapter("hup").await.is_some());
}

#[tokio::test]
async fn watch_config_false_ignores_edits_until_sighup_and_can_be_turned_on_live() {
    // Two gateways edited at the same moment: the watching one shows when an edit has had time
    // to apply, so the other's silence means something.
    let watching_dir = tempfile::tempdir().expect("tempdir");
    let reference = start_in(watching_dir.path(), &config(watching_dir.path(), ""));
    let dir = tempfile::tempdir().expect("tempdir");
    let off = "[server]\nwatch_config = false\n";
    let gw = start_in(dir.path(), &config(dir.path(), off));

    reference.write(&config(
        watching_dir.path(),
        &declared_adapter("edited", "e"),
    ));
    gw.write(&config(
        dir.path(),
        &format!("{off}{}", declared_adapter("edited", "e")),
    ));
    reference.adapter_with("edited", "e").await;
    // And then some: the unwatched gateway must stay unchanged for another second.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        assert!(
            gw.adapter("edited").await.is_none(),
            "an edit applied with server.watch_config = false"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    gw.sighup();
    gw.adapter_with("edited", "e").await;

    // watch_config applies live: switched on (by SIGHUP here), later edits apply by themselves.
    gw.write(&config(dir.path(), &declared_adapter("edited", "watching")));
    gw.sighup();
    gw.adapter_with("edited", "watching").await;
    gw.write(&config(
        dir.path(),
        &declared_adapter("edited", "no signal"),
    ));
    gw.adapter_with("edited", "no signal").await;
}
