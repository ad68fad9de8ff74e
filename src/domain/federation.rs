//! The names adapters' tools and prompts get on `/mcp` when it federates them (the federation
//! issue builds on this): `{adapter}_{name}`, always matching `^[a-zA-Z0-9_-]{1,64}$` (the
//! strictest rule MCP clients apply), deterministic, and the same after a restart.
//!
//! - The separator is `_`, which adapter names never contain (`^[a-z0-9-]+$`), so the first `_`
//!   tells the adapter from the tool, and two (adapter, tool) pairs never share a plain name.
//! - A name that needs changing to fit (a character outside `A-Za-z0-9_-`, more than 64
//!   characters) or that a registered tool already uses becomes `{start}-{hash}`: as much of the
//!   plain name as fits in 55 characters, a `-`, and 8 hex digits of a 64-bit FNV-1a hash of
//!   `adapter/tool` as the upstream spells it. The hash, not the cut, keeps such names apart.
//!
//! Pure: no I/O; the caller says which names registered tools hold.

/// Longest name MCP clients accept (Claude Desktop, Cursor, the OpenAI function-name rule).
pub const MAX_NAME: usize = 64;
/// Between the adapter's name and the upstream's.
pub const SEPARATOR: char = '_';
/// Hex digits of the hash in a shortened name.
const HASH_DIGITS: usize = 8;

/// The exposed name of upstream tool (or prompt) `name` of `adapter`. `registered` tells
/// whether a registered tool already has a name (registered tools keep theirs).
pub fn exposed(adapter: &str, name: &str, registered: impl Fn(&str) -> bool) -> String {
    let plain = format!("{adapter}{SEPARATOR}{name}");
    let fits = plain.len() <= MAX_NAME && plain.bytes().all(allowed);
    if fits && !registered(&plain) {
        return plain;
    }
    shortened(adapter, name)
}

/// `{start}-{hash}`: the plain name with every other character as `-`, cut to leave room for
/// the hash.
fn shortened(adapter: &str, name: &str) -> String {
    let keep = MAX_NAME - 1 - HASH_DIGITS;
    let start: String = format!("{adapter}{SEPARATOR}{name}")
        .chars()
        .map(|c| match c.is_ascii() && allowed(c as u8) {
            true => c,
            false => '-',
        })
        .take(keep)
        .collect();
    let hash = fnv1a(format!("{adapter}/{name}").as_bytes());
    format!(
        "{start}-{:0width$x}",
        hash >> (64 - 4 * HASH_DIGITS),
        width = HASH_DIGITS
    )
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// FNV-1a, 64-bit: a fixed, documented function, so names never change between builds or
/// platforms (std's hasher is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Whether `name` matches `glob`: `*` is any run of characters (none included), `?` exactly one,
/// anything else itself. Iterative with one backtrack point: linear-ish, no recursion.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (glob, name): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((star_g, star_n)) => {
                    g = star_g + 1;
                    n = star_n + 1;
                    star = Some((star_g, star_n + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// The adapter an exposed name belongs to, when it is a plain `{adapter}_{name}` (shortened
/// names are looked up in the table that made them).
pub fn adapter_of(exposed: &str) -> Option<&str> {
    exposed.split_once(SEPARATOR).map(|(adapter, _)| adapter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        !name.is_empty() && name.len() <= MAX_NAME && name.bytes().all(allowed)
    }

    #[test]
    fn plain_names_are_adapter_separator_tool() {
        assert_eq!(exposed("mcp-example", "add", |_| false), "mcp-example_add");
        assert_eq!(exposed("git", "git_status", |_| false), "git_git_status");
        assert_eq!(adapter_of("git_git_status"), Some("git"));
    }

    #[test]
    fn names_that_do_not_fit_are_shortened_with_a_stable_hash() {
        let dotted = exposed("time", "get.current/time", |_| false);
        assert!(valid(&dotted), "{dotted}");
        assert!(dotted.starts_with("time_get-current-time-"), "{dotted}");
        // A different spelling that cleans up the same way still gets its own name.
        let slashed = exposed("time", "get/current.time", |_| false);
        assert_ne!(dotted, slashed);
        let long_adapter = "a".repeat(63);
        let long = exposed(&long_adapter, "read_the_whole_file_please", |_| false);
        assert!(valid(&long), "{long}");
        assert_eq!(long.len(), MAX_NAME);
        // Deterministic: the same inputs, the same name, in every process and build.
        assert_eq!(
            long,
            exposed(&long_adapter, "read_the_whole_file_please", |_| false)
        );
        let unicode = exposed("x", "ünïcödé", |_| false);
        assert!(
            unicode.starts_with("x_-n-c-d--") && valid(&unicode),
            "{unicode}"
        );
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn globs_match_like_shell_patterns() {
        for (glob, name, want) in [
            ("*", "anything", true),
            ("*", "", true),
            ("git_*", "git_status", true),
            ("git_*", "status_git", false),
            ("get_?", "get_a", true),
            ("get_?", "get_ab", false),
            ("*time*", "get_current_time", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("read_file", "read_file", true),
            ("read_file", "read_files", false),
            ("**x", "x", true),
        ] {
            assert_eq!(glob_matches(glob, name), want, "{glob} vs {name}");
        }
    }

    #[test]
    fn registered_tools_keep_their_names() {
        let taken = |name: &str| name == "weather_lookup";
        let federated = exposed("weather", "lookup", taken);
        assert_ne!(federated, "weather_lookup");
        assert!(
            valid(&federated) && federated.starts_with("weather_lookup-"),
            "{federated}"
        );
    }

    #[test]
    fn every_name_is_valid_whatever_the_upstream_sends() {
        let long = "x".repeat(200);
        let upstream_names = [
            "",
            "_",
            "-",
            "a b",
            "tool:with:colons",
            "🙂",
            &long,
            "read_file",
            "Read-File",
            "a/b/c",
            "\u{0}",
            "emoji🙂tool",
        ];
        for adapter in ["a", "mcp-example", &"z".repeat(63)] {
            for name in upstream_names {
                let exposed = exposed(adapter, name, |_| false);
                assert!(valid(&exposed), "{adapter} / {name:?} -> {exposed}");
            }
        }
    }
}
