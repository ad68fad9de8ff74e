//! Parsing config.toml: defaults, every rule, and the line numbers in errors.

use super::tables::{camel_to_snake, snake_to_camel};
use super::*;

#[test]
fn embedded_default_parses_to_the_defaults() {
    let loaded = parse(EMBEDDED_DEFAULT, "config.toml", PathBuf::from(".")).expect("parses");
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.resources.is_empty());
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = "[server]\nlisten = \"127.0.0.1:9000\"\nlistne = \"x\"\n";
    let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    assert!(err.contains("listne"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

/// The config `text` parses to.
fn accepted(text: &str) -> LoadedConfig {
    parse(text, "c.toml", PathBuf::from(".")).expect("valid")
}

/// The error `text` is refused with.
fn refused(text: &str) -> String {
    parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0
}

#[test]
fn threads_must_be_sensible() {
    let err = refused("[server]\nthreads = 0\n");
    assert!(err.contains("line 2") && err.contains("threads"), "{err}");
    let ok = accepted("[server]\nthreads = 1\n");
    assert_eq!(ok.config.server.serving_threads(), 1);
    let err = refused("[server]\nproxy_threads = 257\n");
    assert!(
        err.contains("line 2") && err.contains("proxy_threads") && err.contains("0 and 256"),
        "{err}"
    );
    let none = accepted("[server]\nproxy_threads = 0\n");
    assert_eq!(none.config.server.proxy_loops(), 0);
    assert!(accepted("").config.server.proxy_loops() >= 1);
}

#[test]
fn watch_config_is_a_strict_bool() {
    let off = accepted("[server]\nwatch_config = false\n");
    assert!(!off.config.server.watch_config);
    let err = refused("[server]\nwatch_config = \"no\"\n");
    assert!(
        err.contains("line 2") && err.contains("watch_config"),
        "{err}"
    );
}

#[test]
fn metrics_section_is_strict() {
    let on = parse("[metrics]\npublic = true\n", "c.toml", PathBuf::from(".")).expect("valid");
    assert!(on.config.metrics.public);
    let problem = |text: &str| parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    let err = problem("[metrics]\npublic = \"yes\"\n");
    assert!(err.contains("line 2") && err.contains("boolean"), "{err}");
    let err = problem("[metrics]\npublic = false\npublik = true\n");
    assert!(err.contains("line 3") && err.contains("publik"), "{err}");
}

#[test]
fn bad_value_names_line() {
    let text = "[runtime]\nkind = \"podman\"\n";
    let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("podman"), "{err}");
}

#[test]
fn resources_accept_snake_case_and_report_field_lines() {
    let text = r#"
[runtime]
kind = "none"

[[adapters]]
name = "remote"
url = "http://127.0.0.1:9000/mcp"
required_roles = ["team"]

[[adapters]]
name = "Bad_Name"
url = "ftp://x"
"#;
    let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    assert!(err.contains("line 11: adapters[1].name"), "{err}");
    assert!(err.contains("line 12: adapters[1].url"), "{err}");

    let good = &text[..text.find("[[adapters]]\nname = \"Bad").unwrap()];
    let loaded = parse(good, "c.toml", PathBuf::from(".")).expect("valid");
    assert_eq!(loaded.resources.len(), 1);
    assert_eq!(
        loaded.resources[0].1.required_roles,
        vec!["team".to_string()]
    );
}

#[test]
fn image_resources_need_a_runtime() {
    let text = "[runtime]\nkind = \"none\"\n[[adapters]]\nname = \"a\"\nimage_name = \"x\"\n";
    let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    assert!(err.contains("line 5: adapters[0].imageName"), "{err}");
}

#[test]
fn duplicate_declarations_are_errors() {
    let text = "[runtime]\nkind = \"none\"\n[[tools]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/score\"\n[tools.tool_definition.tool]\nname = \"w\"\ninputSchema = { type = \"object\" }\n[[tools]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/score\"\n[tools.tool_definition.tool]\nname = \"w\"\ninputSchema = { type = \"object\" }\n";
    let err = parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    assert!(err.contains("declared twice"), "{err}");
}

#[test]
fn case_conversion() {
    assert_eq!(snake_to_camel("image_name"), "imageName");
    assert_eq!(snake_to_camel("imageName"), "imageName");
    assert_eq!(camel_to_snake("replicaCount"), "replica_count");
}

#[test]
fn memory_sizes_parse_like_docker() {
    assert_eq!(parse_memory("512m"), Ok(512 << 20));
    assert_eq!(parse_memory("1g"), Ok(1 << 30));
    assert_eq!(parse_memory("1.5G"), Ok(3 << 29));
    assert_eq!(parse_memory("64 MiB"), Ok(64 << 20));
    assert_eq!(parse_memory("268435456"), Ok(268_435_456));
    assert_eq!(parse_memory("0"), Ok(0));
    for bad in ["", "lots", "12x", "-1m", "1..2m", "m"] {
        let err = parse_memory(bad).unwrap_err();
        assert!(err.contains("runtime.docker.memory"), "{bad}: {err}");
    }
    assert!(parse_memory("1m").unwrap_err().contains("minimum of 6m"));
}

#[test]
fn docker_values_are_checked_with_their_line() {
    let text = "[runtime.docker]\nreach = \"container\"\nmemory = \"1g\"\npids_limit = 0\n";
    let docker = parse(text, "c.toml", PathBuf::from("."))
        .expect("valid")
        .config
        .runtime
        .docker;
    assert_eq!(docker.reach, DockerReach::Container);
    assert_eq!(docker.memory, MemorySize(1 << 30));
    assert_eq!(docker.pids_limit, 0);

    let problem = |text: &str| parse(text, "c.toml", PathBuf::from(".")).unwrap_err().0;
    let err = problem("[runtime.docker]\nnetwork = \"x\"\nmemory = \"lots\"\n");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("runtime.docker.memory"), "{err}");
    let err = problem("[runtime.docker]\ncpus = -1.0\n");
    assert!(err.contains("line 2: cpus"), "{err}");
    let err = problem("[runtime.docker]\nreach = \"bridge\"\n");
    assert!(err.contains("line 2") && err.contains("bridge"), "{err}");
}

#[test]
fn list_keys_take_one_value_or_a_list() {
    let parse_auth = |audience: &str| {
        let text = format!(
            "[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"https://login.example.com\"\n\
             jwks_file = \"keys.json\"\naudience = {audience}\nscopes = \"mcp.use\"\n\
             [proxy]\nallowed_origins = \"https://app.example.com\"\n"
        );
        parse(&text, "c.toml", PathBuf::from("."))
    };
    let one = parse_auth("\"api://mcp-gateway\"").expect("one audience");
    let jwt = one.config.auth.jwt.expect("jwt");
    assert_eq!(jwt.audience, ["api://mcp-gateway"]);
    assert_eq!(jwt.scopes, ["mcp.use"]);
    assert_eq!(
        one.config.proxy.allowed_origins,
        ["https://app.example.com"]
    );
    let two = parse_auth("[\"api://a\", \"api://b\"]").expect("two audiences");
    assert_eq!(
        two.config.auth.jwt.expect("jwt").audience,
        ["api://a", "api://b"]
    );
    let err = parse_auth("42").expect_err("a number is no audience").0;
    assert!(err.contains("a string or a list of strings"), "{err}");
    assert!(err.contains("line 6"), "{err}");
}
