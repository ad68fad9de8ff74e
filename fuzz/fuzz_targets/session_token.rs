//! Session tokens: opening any string, and seal/open round trips with edits that must never open.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mcp_gateway::services::edge::session::{SessionClaims, SessionKeys};

#[path = "../../tests/invariants/mod.rs"]
mod invariants;

#[derive(Arbitrary, Debug)]
enum Input {
    /// What a client can send as `Mcp-Session-Id` (or an upstream as its own).
    Open(String),
    Seal {
        adapter: String,
        user: String,
        replica: u32,
        upstream: String,
        issued_at: u64,
        nonce: [u8; 12],
        edit_at: usize,
        replacement: u8,
    },
}

static KEYS: LazyLock<SessionKeys> = LazyLock::new(invariants::session_keys);

fuzz_target!(|input: Input| match input {
    Input::Open(token) => {
        invariants::check_session_id_rule(token.as_bytes());
        invariants::check_open_any(&KEYS, &token);
    }
    Input::Seal {
        adapter,
        user,
        replica,
        upstream,
        issued_at,
        nonce,
        edit_at,
        replacement,
    } => {
        let claims = SessionClaims {
            adapter,
            user,
            replica,
            upstream,
            issued_at,
        };
        invariants::check_seal_open(&KEYS, &claims, nonce, edit_at, replacement);
    }
});
