//! Which settings a reloaded config.toml changes that only take effect at start.
//!
//! Everything outside `[[adapters]]`/`[[tools]]` is read once while the gateway starts (the
//! listener, the store, the runtime, auth, the proxy's and the router's settings are built from
//! it), so a reload names those keys and leaves them alone rather than half-applying them. The
//! comparison is on the typed, defaulted values, so writing out a default or reordering a file
//! changes nothing, and a key added to [`Config`] later is covered without a list to keep.

use serde_json::Value;

use super::Config;

/// Dotted keys (`server.listen`, `auth.jwt.issuer`) whose value in `new` differs from the one the
/// gateway runs with, leaving out the settings a reload applies (`server.watch_config`). Never
/// carries values: some are secrets (`proxy.session_keys`).
pub fn restart_needed(running: &Config, new: &Config) -> Vec<String> {
    // Settings a reload applies are made equal, so they never count as changes.
    let mut new = new.clone();
    new.server.watch_config = running.server.watch_config;
    match (serde_json::to_value(running), serde_json::to_value(&new)) {
        (Ok(old), Ok(new)) => {
            let mut keys = Vec::new();
            changed_keys("", &old, &new, &mut keys);
            keys
        }
        // Only a path that is not UTF-8 fails to serialise: fall back to whole sections.
        _ => changed_sections(running, &new),
    }
}

fn changed_keys(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                changed_keys(
                    &key,
                    old.get(name).unwrap_or(&Value::Null),
                    new.get(name).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (old, new) if old != new => out.push(prefix.to_string()),
        _ => {}
    }
}

fn changed_sections(running: &Config, new: &Config) -> Vec<String> {
    [
        ("server", running.server != new.server),
        ("store", running.store != new.store),
        ("runtime", running.runtime != new.runtime),
        ("auth", running.auth != new.auth),
        ("proxy", running.proxy != new.proxy),
        ("router", running.router != new.router),
        ("metrics", running.metrics != new.metrics),
        ("upstreams", running.upstreams != new.upstreams),
        ("console", running.console != new.console),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(section, _)| section.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::infra::config::parse;

    fn config(text: &str) -> Config {
        parse(text, "c.toml", PathBuf::from("."))
            .expect("valid")
            .config
    }

    #[test]
    fn names_each_changed_key_at_any_depth() {
        let running = config("[server]\nlisten = \"127.0.0.1:8000\"\n");
        let new = config(
            "[server]\nlisten = \"127.0.0.1:9000\"\n[runtime]\nkind = \"none\"\n\
             [runtime.docker]\nmemory = \"1g\"\n[auth]\nmode = \"dev\"\n\
             [proxy]\nsession_keys = [{ id = 1, key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" }]\n",
        );
        assert_eq!(
            restart_needed(&running, &new),
            [
                "auth.mode",
                "proxy.session_keys",
                "runtime.docker.memory",
                "runtime.kind",
                "server.listen"
            ]
        );
    }

    #[test]
    fn optional_keys_count_when_set_or_removed() {
        let running = config("");
        let new = config("[server]\npublic_url = \"https://gw.example.com\"\n");
        assert_eq!(restart_needed(&running, &new), ["server.public_url"]);
        assert_eq!(restart_needed(&new, &running), ["server.public_url"]);
    }

    #[test]
    fn defaults_written_out_resources_and_watch_config_are_not_restart_keys() {
        let running = config("");
        let new = config(
            "[server]\nlisten = \"127.0.0.1:8000\"\nwatch_config = false\n\
             [runtime]\nkind = \"docker\"\n\
             [[adapters]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/mcp\"\n",
        );
        assert!(restart_needed(&running, &new).is_empty());
    }

    #[test]
    fn never_carries_secret_values() {
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let running = config("");
        let new = config(&format!(
            "[proxy]\nsession_keys = [{{ id = 1, key = \"{key}\" }}]\n"
        ));
        let keys = restart_needed(&running, &new).join(" ");
        assert!(!keys.contains(key), "{keys}");
    }
}
