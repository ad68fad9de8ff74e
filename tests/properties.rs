//! Property tests of the pieces that read client (and operator) input: session-token opening,
//! header hygiene, JSON-RPC envelopes and config parsing. The invariants live in
//! `tests/invariants/`, shared with the fuzz targets (`fuzz/`); here they run on a few hundred
//! generated inputs each, in a few seconds, on every test run.

mod invariants;

use std::net::SocketAddr;

use invariants as inv;
use mcp_gateway::services::edge::session::SessionClaims;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Session tokens

fn visible_ascii(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0x21u8..=0x7e, len)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

fn claims() -> impl Strategy<Value = SessionClaims> {
    (
        prop_oneof![".{0,40}", "[a-z0-9-]{250,260}"],
        // Users long enough to reach the longest token that opens.
        prop_oneof![4 => ".{0,40}".boxed(), 1 => visible_ascii(2950..3150).boxed()],
        any::<u32>(),
        visible_ascii(1..1025),
        any::<u64>(),
    )
        .prop_map(
            |(adapter, user, replica, upstream, issued_at)| SessionClaims {
                adapter,
                user,
                replica,
                upstream,
                issued_at,
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_string_opens_safely(token in prop_oneof![".*", "[A-Za-z0-9_-]{0,200}"]) {
        inv::check_open_any(&inv::session_keys(), &token);
    }

    #[test]
    fn the_session_id_rule(
        id in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(0x21u8..=0x7e, 1000..1030),
        ]
    ) {
        inv::check_session_id_rule(&id);
    }

    #[test]
    fn tokens_round_trip_and_edits_never_open(
        claims in claims(),
        nonce in any::<[u8; 12]>(),
        edit_at in any::<usize>(),
        replacement in any::<u8>(),
    ) {
        inv::check_seal_open(&inv::session_keys(), &claims, nonce, edit_at, replacement);
    }
}

// ---------------------------------------------------------------------------------------------
// Header hygiene

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (select(inv::NAMES.as_slice()), any::<bool>())
            .prop_map(|(name, upper)| if upper { name.to_uppercase() } else { name.to_string() }),
        1 => "[a-zA-Z0-9-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,30}".prop_map(String::into_bytes),
        // A `Connection` list naming other headers.
        prop::collection::vec(select(inv::NAMES.as_slice()), 1..4)
            .prop_map(|names| names.join(" , ").into_bytes()),
        // The same, with a name that is not visible ASCII among them.
        prop::collection::vec(select(inv::NAMES.as_slice()), 1..4).prop_map(|names| format!(
            "{}, caf\u{e9}",
            names.join(",")
        )
        .into_bytes()),
        "text/event-stream.{0,10}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn header_pairs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((header_name(), header_value()), 0..12)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,24}", ".{0,12}"]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn upstream_requests_are_clean(
        pairs in header_pairs(),
        authority in prop_oneof!["127.0.0.1:[0-9]{1,5}".boxed(), text().boxed()],
        user in text(),
        roles in prop::collection::vec(text(), 0..4),
        forwarded in text(),
        session in prop::option::of(text()),
    ) {
        let client = inv::header_map(&pairs);
        inv::check_upstream_request(&client, &authority, &user, &roles, &forwarded, session.as_deref());
    }

    #[test]
    fn downstream_responses_are_clean(pairs in header_pairs()) {
        inv::check_downstream_response(&inv::header_map(&pairs));
    }

    #[test]
    fn forwarded_elements_are_well_formed(
        peer in any::<SocketAddr>(),
        host in prop::option::of(prop_oneof!["[!-~]{0,30}".boxed(), text().boxed()]),
        https in any::<bool>(),
    ) {
        inv::check_forwarded(peer, host.as_deref(), https);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC envelopes

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z\\\\\"]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("id|method|[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let request = (json_value(), any::<bool>()).prop_map(|(id, batch)| {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call"});
        let body = if batch { json!([request]) } else { request };
        body.to_string().into_bytes()
    });
    prop_oneof![
        request,
        json_value().prop_map(|v| v.to_string().into_bytes()),
        "\\{\"id\": ?[-0-9a-z\"\\[\\]{}.,:]{0,12}\\}?".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_ids_are_the_requests_own(body in body()) {
        inv::check_request_id(&body);
    }
}

// ---------------------------------------------------------------------------------------------
// Config parsing

const SECTIONS: &[&str] = &[
    "[server]",
    "[store]",
    "[runtime]",
    "[runtime.docker]",
    "[runtime.kubernetes]",
    "[auth]",
    "[auth.jwt]",
    "[proxy]",
    "[[proxy.session_keys]]",
    "[router]",
    "[metrics]",
    "[[adapters]]",
    "[adapters.environment_variables]",
    "[[tools]]",
    "[tools.tool_definition.tool]",
];

const KEYS: &[&str] = &[
    "admin_role",
    "allowed_origins",
    "audience",
    "call_timeout_secs",
    "cluster_domain",
    "connect_timeout_ms",
    "context",
    "cors",
    "cpu_limit",
    "cpus",
    "endpoints",
    "host",
    "idle_timeout_secs",
    "image_pull_policy",
    "image_registry",
    "issuer",
    "kind",
    "listen",
    "max_body_bytes",
    "memory",
    "memory_limit",
    "mode",
    "name",
    "namespace",
    "network",
    "page_size",
    "path",
    "pids_limit",
    "public",
    "public_url",
    "reach",
    "ready_timeout_secs",
    "reconcile_interval_secs",
    "session_keys",
    "threads",
    "watch_config",
    "algorithms",
    "id",
    "key",
    "url",
    "image_name",
    "image_version",
    "replica_count",
    "required_roles",
    "description",
    "inputSchema",
    "tool_definition",
    "environment_variables",
    "jwks_url",
    "jwks_file",
    "run_as_user",
    "service_account",
];

const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "256",
    "4294967296",
    "1.5",
    "-0.0",
    "nan",
    "inf",
    "true",
    "\"\"",
    "\"none\"",
    "\"docker\"",
    "\"kubernetes\"",
    "\"dev\"",
    "\"jwt\"",
    "\"x\"",
    "\"a\\nb\"",
    "\"*\"",
    "\"512m\"",
    "\"127.0.0.1:0\"",
    "\"http://127.0.0.1:1/mcp\"",
    "\"https://gw.example.com\"",
    "\"ftp://x\"",
    "\"mcp-example\"",
    "\"1.0.0\"",
    "\"RS256\"",
    "\"HS256\"",
    "[]",
    "[\"*\"]",
    "[\"a\", \"b\"]",
    "{ type = \"object\" }",
    "{}",
    "[{ id = 1, key = \"\" }]",
    "1979-05-27T07:32:00Z",
];

fn config_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(SECTIONS).prop_map(str::to_string),
        6 => (select(KEYS), select(VALUES)).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => ".{0,20}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_text_never_panics_and_lines_are_true(
        lines in prop::collection::vec(config_line(), 0..24),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        inv::check_config(&text);
    }

    #[test]
    fn the_default_config_survives_edits(
        at in any::<prop::sample::Index>(),
        cut in 0usize..40,
        insert in ".{0,8}",
    ) {
        let text = mcp_gateway::infra::config::EMBEDDED_DEFAULT;
        let mut start = at.index(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        inv::check_config(&format!("{}{insert}{}", &text[..start], &text[end..]));
    }
}

/// Settings that are wrong, each in its section.
const BAD_SETTINGS: &[(&str, &str, &str)] = &[
    ("[server]", "threads", "0"),
    ("[runtime.docker]", "cpus", "-1.0"),
    ("[proxy]", "max_body_bytes", "0"),
    ("[router]", "page_size", "0"),
    ("[auth]", "mode", "\"jwt\""),
    ("[auth]", "admin_role", "\" \""),
];

/// Resource tables where a key of any name may stand (`{key}` is replaced).
const RESOURCE_TABLES: &[&str] = &[
    "[[adapters]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/mcp\"\n\
     [adapters.environment_variables]\n{key} = \"x\"\n",
    "[[tools]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/score\"\n\
     [tools.tool_definition.tool]\nname = \"w\"\n\
     [tools.tool_definition.tool.inputSchema.properties]\n{key} = { type = \"string\" }\n",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_setting_error_names_the_setting_not_a_resource_key(
        (section, key, bad) in select(BAD_SETTINGS),
        table in select(RESOURCE_TABLES),
        blank_lines in 0usize..3,
    ) {
        let text = format!(
            "[runtime]\nkind = \"none\"\n{}{}{section}\n{key} = {bad}\n",
            table.replace("{key}", key),
            "\n".repeat(blank_lines),
        );
        let expected = text.lines().count();
        inv::check_config(&text);
        let err = mcp_gateway::infra::config::parse(&text, inv::CONFIG_ORIGIN, ".".into())
            .expect_err("invalid")
            .0;
        let named = format!("{}, line {expected}: {key}:", inv::CONFIG_ORIGIN);
        prop_assert!(err.contains(&named), "{err}\n---\n{text}");
    }
}
