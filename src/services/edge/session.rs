//! Session tokens: the `Mcp-Session-Id` the client sees, minted by the gateway.
//!
//! A token is AES-256-GCM-sealed binary holding the adapter, the caller's user id, the replica, the
//! upstream server's own session id and the issue time. Any gateway process with the key, after a
//! restart too, routes a request to the session's replica with no lookup and no per-session memory.
//! A token that fails to open, or names another adapter or user, is simply not a session (404).
//!
//! Wire form: base64url (no padding) of `[version][key id][12-byte nonce][ciphertext + tag]`;
//! the version and key id are also authenticated as associated data. Visible ASCII only, as the
//! MCP spec requires of session ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const AAD_PREFIX: &[u8] = b"mcp-gateway session";

/// The longest token [`SessionKeys::open`] reads: anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a session token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionClaims {
    pub adapter: String,
    pub user: String,
    pub replica: u32,
    /// The upstream server's session id, restored on every forwarded request.
    pub upstream: String,
    /// Seconds since the Unix epoch.
    pub issued_at: u64,
}

/// The sealing keys: one current (seals and opens) and older ones (open only), by key id.
pub struct SessionKeys {
    current: u8,
    keys: Vec<(u8, Aes256Gcm)>,
    /// Tokens opened lately ([`SessionKeys::open_shared`]): a session's next request costs a
    /// lookup instead of base64 and AES-GCM. Bounded, so the gateway still keeps nothing per
    /// session that grows with their number.
    opened: Mutex<Opened>,
}

/// Two generations of opened tokens: when the current one is full it becomes the previous one
/// (the older is dropped), so the tokens in use stay and memory is bounded.
#[derive(Default)]
struct Opened {
    current: HashMap<Box<str>, Arc<SessionClaims>>,
    previous: HashMap<Box<str>, Arc<SessionClaims>>,
}

/// Tokens kept per generation of [`Opened`] (at most twice this many, a few hundred bytes each).
const OPENED_PER_GENERATION: usize = 512;

impl SessionKeys {
    /// `current` seals; `previous` keys still open tokens minted before a rotation.
    pub fn new(current: (u8, [u8; 32]), previous: &[(u8, [u8; 32])]) -> Self {
        let mut keys = vec![(current.0, Aes256Gcm::new(&current.1.into()))];
        for (id, key) in previous {
            if *id != current.0 {
                keys.push((*id, Aes256Gcm::new(&(*key).into())));
            }
        }
        Self {
            current: current.0,
            keys,
            opened: Mutex::default(),
        }
    }

    fn cipher(&self, id: u8) -> Option<&Aes256Gcm> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, c)| c)
    }

    /// Seals claims into a token. `nonce` must be fresh random bytes for every token. `None` when
    /// a token cannot carry the claims: an adapter name over 255 bytes, a user id over 65,535, or
    /// a token that would be longer than [`MAX_TOKEN_LEN`] (which `open` refuses).
    pub fn seal(&self, claims: &SessionClaims, nonce: [u8; NONCE_LEN]) -> Option<String> {
        let cipher = self.cipher(self.current)?;
        let plaintext = encode(claims)?;
        let header = [VERSION, self.current];
        let aad = [AAD_PREFIX, &header].concat();
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .ok()?;
        let mut raw = Vec::with_capacity(2 + NONCE_LEN + sealed.len());
        raw.extend_from_slice(&header);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        // A token `open` would refuse is no session: say so here rather than mint it.
        let token = URL_SAFE_NO_PAD.encode(raw);
        (token.len() <= MAX_TOKEN_LEN).then_some(token)
    }

    /// [`SessionKeys::open`], remembering the token: the same token again is not decrypted again
    /// (its claims cannot change; the keys that open it live as long as `self`).
    pub fn open_shared(&self, token: &str) -> Option<Arc<SessionClaims>> {
        {
            let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(claims) = opened
                .current
                .get(token)
                .or_else(|| opened.previous.get(token))
            {
                return Some(claims.clone());
            }
        }
        let claims = Arc::new(self.open(token)?);
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if opened.current.len() >= OPENED_PER_GENERATION {
            opened.previous = std::mem::take(&mut opened.current);
        }
        opened.current.insert(token.into(), claims.clone());
        Some(claims)
    }

    /// Opens a token; `None` for anything that is not a token sealed by one of our keys.
    pub fn open(&self, token: &str) -> Option<SessionClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() < 2 + NONCE_LEN + 16 || raw[0] != VERSION {
            return None;
        }
        let cipher = self.cipher(raw[1])?;
        let aad = [AAD_PREFIX, &raw[..2]].concat();
        let nonce: [u8; NONCE_LEN] = raw[2..2 + NONCE_LEN].try_into().ok()?;
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &raw[2 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .ok()?;
        decode(&plaintext)
    }
}

/// `[issued_at u64][replica u32][adapter len u8][adapter][user len u16][user][upstream...]`
fn encode(claims: &SessionClaims) -> Option<Vec<u8>> {
    let adapter_len = u8::try_from(claims.adapter.len()).ok()?;
    let user_len = u16::try_from(claims.user.len()).ok()?;
    let mut out = Vec::with_capacity(
        8 + 4 + 1 + claims.adapter.len() + 2 + claims.user.len() + claims.upstream.len(),
    );
    out.extend_from_slice(&claims.issued_at.to_be_bytes());
    out.extend_from_slice(&claims.replica.to_be_bytes());
    out.push(adapter_len);
    out.extend_from_slice(claims.adapter.as_bytes());
    out.extend_from_slice(&user_len.to_be_bytes());
    out.extend_from_slice(claims.user.as_bytes());
    out.extend_from_slice(claims.upstream.as_bytes());
    Some(out)
}

fn decode(bytes: &[u8]) -> Option<SessionClaims> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let issued_at = u64::from_be_bytes(take(8)?.try_into().ok()?);
    let replica = u32::from_be_bytes(take(4)?.try_into().ok()?);
    let adapter_len = usize::from(take(1)?[0]);
    let adapter = String::from_utf8(take(adapter_len)?.to_vec()).ok()?;
    let user_len = usize::from(u16::from_be_bytes(take(2)?.try_into().ok()?));
    let user = String::from_utf8(take(user_len)?.to_vec()).ok()?;
    let upstream = String::from_utf8(rest.to_vec()).ok()?;
    Some(SessionClaims {
        adapter,
        user,
        replica,
        upstream,
        issued_at,
    })
}

/// Fresh random bytes for one token's nonce.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    if getrandom::fill(&mut nonce).is_err() {
        // Never reuse a nonce under one key: fall back to a counter mixed with the clock.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        nonce[..8].copy_from_slice(&n.to_be_bytes());
        nonce[8..].copy_from_slice(&(crate::domain::clock::unix_now() as u32).to_be_bytes());
    }
    nonce
}

/// Whether an upstream session id is acceptable: 1 to 1024 visible ASCII characters (0x21–0x7E).
pub fn valid_session_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 1024 && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opened_tokens_are_remembered_within_bounds() {
        let keys = SessionKeys::new((1, [7; 32]), &[]);
        let token_of = |i: usize| {
            let claims = SessionClaims {
                adapter: "a".into(),
                user: "u".into(),
                replica: 0,
                upstream: format!("s{i}"),
                issued_at: 1,
            };
            keys.seal(&claims, [i as u8; NONCE_LEN]).expect("seals")
        };
        let first = token_of(0);
        let opened = keys.open_shared(&first).expect("opens");
        assert_eq!(opened.upstream, "s0");
        assert!(Arc::ptr_eq(
            &opened,
            &keys.open_shared(&first).expect("again")
        ));
        assert!(keys.open_shared("not-a-token").is_none());
        for i in 1..=2 * OPENED_PER_GENERATION {
            assert_eq!(
                keys.open_shared(&token_of(i)).expect("opens").upstream,
                format!("s{i}")
            );
        }
        let kept = keys.opened.lock().expect("lock");
        assert!(kept.current.len() + kept.previous.len() <= 2 * OPENED_PER_GENERATION);
        assert!(
            !kept.current.contains_key(first.as_str())
                && !kept.previous.contains_key(first.as_str())
        );
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            adapter: "demo".into(),
            user: "alice@example.com".into(),
            replica: 1,
            upstream: "aB_-x~9".into(),
            issued_at: 1_790_000_000,
        }
    }

    #[test]
    fn round_trip_and_visible_ascii() {
        let keys = SessionKeys::new((1, [7; 32]), &[]);
        let token = keys.seal(&claims(), [1; 12]).expect("seal");
        assert!(valid_session_id(token.as_bytes()), "{token}");
        assert_eq!(keys.open(&token), Some(claims()));
    }

    #[test]
    fn tampering_and_foreign_keys_fail() {
        let keys = SessionKeys::new((1, [7; 32]), &[]);
        let token = keys.seal(&claims(), [1; 12]).expect("seal");
        // Flip one character in the middle.
        let mut chars: Vec<char> = token.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(keys.open(&tampered), None);
        assert_eq!(keys.open("not a token"), None);
        assert_eq!(keys.open(""), None);
        let other = SessionKeys::new((1, [8; 32]), &[]);
        assert_eq!(other.open(&token), None);
        // The key id is authenticated: relabelling the token as key 2 fails even if key 2 exists.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        raw[1] = 2;
        let both = SessionKeys::new((1, [7; 32]), &[(2, [7; 32])]);
        assert_eq!(both.open(&URL_SAFE_NO_PAD.encode(raw)), None);
    }

    #[test]
    fn rotation_keeps_old_tokens_open() {
        let old = SessionKeys::new((1, [7; 32]), &[]);
        let token = old.seal(&claims(), [3; 12]).expect("seal");
        let rotated = SessionKeys::new((2, [9; 32]), &[(1, [7; 32])]);
        assert_eq!(rotated.open(&token), Some(claims()));
        let fresh = rotated.seal(&claims(), [4; 12]).expect("seal");
        assert_eq!(
            old.open(&fresh),
            None,
            "a token of the new key needs the new key"
        );
    }

    #[test]
    fn no_token_is_minted_that_would_not_open() {
        let keys = SessionKeys::new((1, [7; 32]), &[]);
        // Found by the property tests: a long user id (a dev-mode X-Dev-UserId, a JWT `sub`)
        // and a long upstream session id made a token `open` refused, so every request of the
        // session was answered 404.
        let mut long = claims();
        long.user = "u".repeat(2_000);
        long.upstream = "s".repeat(1_024);
        assert_eq!(keys.seal(&long, [1; 12]), None);
        long.user = "u".repeat(1_000);
        let token = keys.seal(&long, [1; 12]).expect("fits");
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(keys.open(&token), Some(long));
    }

    #[test]
    fn session_id_rule() {
        assert!(valid_session_id(b"0123abcd"));
        assert!(valid_session_id(b"a_b-c.d~e!"));
        assert!(!valid_session_id(b""));
        assert!(!valid_session_id(b"has space"));
        assert!(!valid_session_id("caf\u{e9}".as_bytes()));
    }
}
