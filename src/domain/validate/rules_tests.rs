//! Each rule's pattern says what its function does, on hand-picked values and many made from them.

use serde_json::{Value, json};

use super::*;
use crate::domain::validate::corpus::{Random, validator};

/// `check_tool_name` as a pattern (the body schema leaves the tool's name out: it must equal the
/// resource name, which already follows the stricter name rule).
const TOOL_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,128}$";

/// `check` and the string schema agree on every value.
fn agree(what: &str, check: fn(&str) -> Result<(), String>, schema: Value, values: &[String]) {
    let schema = validator(&schema);
    let mut accepted = 0;
    for value in values {
        let by_rule = check(value).is_ok();
        let by_schema = schema.is_valid(&json!(value));
        assert_eq!(
            by_rule,
            by_schema,
            "{what}: {value:?} is {} by the rule but {} by the pattern",
            if by_rule { "valid" } else { "invalid" },
            if by_schema { "valid" } else { "invalid" }
        );
        accepted += usize::from(by_rule);
    }
    // A corpus where (nearly) everything passes or fails tests little.
    assert!(
        accepted >= 50 && values.len() - accepted >= 50,
        "{what}: {accepted} of {} valid; widen the corpus",
        values.len()
    );
}

fn pattern(pattern: &str, max: usize) -> Value {
    json!({"type": "string", "pattern": pattern, "maxLength": max})
}

fn corpus(
    random: &mut Random,
    alphabet: &[&str],
    seeds: &[&str],
    fixed: &[&str],
    max: usize,
) -> Vec<String> {
    let mut values: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    values.extend(random.strings(alphabet, seeds, max, 4000));
    values
}

#[test]
fn patterns_state_the_rules() {
    let mut random = Random(0x5eed_1234_abcd_0001);
    let names = corpus(
        &mut random,
        &["a", "z", "0", "9", "-", "A", "_", "."],
        &["ab", "a-b"],
        &[
            "",
            "a",
            "-",
            "a-",
            "-a",
            &"a".repeat(63),
            &"a".repeat(64),
            "a--b",
        ],
        70,
    );
    agree("name", check_name, pattern(NAME_PATTERN, 63), &names);

    let tool_names = corpus(
        &mut random,
        &["a", "Z", "0", "_", "-", ".", " ", "/"],
        &["get_weather"],
        &["", &"t".repeat(128), &"t".repeat(129)],
        140,
    );
    agree(
        "tool name",
        check_tool_name,
        pattern(TOOL_NAME_PATTERN, 128),
        &tool_names,
    );

    let env = corpus(
        &mut random,
        &["A", "z", "_", "0", "9", "-", " "],
        &[],
        &["", "_", "1A", "A1", "a b"],
        6,
    );
    agree(
        "env name",
        check_env_name,
        pattern(ENV_NAME_PATTERN, 1000),
        &env,
    );

    let roles = corpus(
        &mut random,
        &[
            "a", "B", "-", ".", ":", ",", " ", "\t", "\u{0}", "\u{7f}", "\u{85}", "\u{a0}",
            "\u{1680}", "\u{2000}", "\u{200a}", "\u{200b}", "\u{2028}", "\u{2029}", "\u{202f}",
            "\u{205f}", "\u{3000}", "\u{feff}", "\u{1f}", "\u{9f}",
        ],
        &["admin", "mcp.user"],
        &["", "a", "a,b", &"r".repeat(256), &"r".repeat(257)],
        3,
    );
    agree(
        "role",
        check_role,
        pattern(ROLE_PATTERN, MAX_ROLE_BYTES),
        &roles,
    );

    let images = corpus(
        &mut random,
        &["a", "z", "0", ".", "_", "-", "/", ":", "A", "@", "5", "+"],
        &[
            "localhost",
            "reg.io",
            "__",
            ":5000",
            ":65536",
            ":0",
            "/x",
            "..",
            "://",
        ],
        &[
            "",
            "a",
            "a.b",
            "a.b/c",
            "a_b.c/x",
            "localhost/x",
            "LOCALHOST/x",
            "localhost:5000/x",
            "Reg.IO/team/x",
            "reg.io:+80/x",
            "reg.io:0080/x",
            "reg.io:0/x",
            "a:5000",
            "a//b",
            "a/",
            "a___b",
            "a-_b",
            "a.-b",
            "x@sha256:abc",
            "[::1]:5000/x",
            ":5000/x",
            "https://reg/x",
            "a--b",
            &"a".repeat(255),
            &"a".repeat(256),
        ],
        24,
    );
    agree(
        "imageName",
        check_image_name,
        pattern(IMAGE_NAME_PATTERN, MAX_IMAGE_NAME_LEN),
        &images,
    );

    let digest = format!("sha256:{}", "a".repeat(64));
    let versions = corpus(
        &mut random,
        &["a", "Z", "0", "_", ".", "-", ":", "/"],
        &["sha256:", "..", &"f".repeat(64)],
        &[
            "",
            ".",
            "a.",
            "a..b",
            "-a",
            "_",
            &digest,
            &format!("sha256:{}", "A".repeat(64)),
            &"v".repeat(128),
            &"v".repeat(129),
            "sha256",
        ],
        12,
    );
    agree(
        "imageVersion",
        check_image_version,
        pattern(IMAGE_VERSION_PATTERN, MAX_IMAGE_VERSION_LEN),
        &versions,
    );

    let urls = corpus(
        &mut random,
        &[
            "a", "Z", "0", "9", ".", "-", "_", "/", ":", "?", "#", "@", "%", "[", "]", "!", "'",
            "~", " ", "\"", "{", "é",
        ],
        &[
            "http://",
            "https://",
            "HTTP://",
            "host",
            ":8080",
            ":0",
            ":65536",
            ":080",
            "/mcp",
            "[::1]",
            "[1:2:3:4:5:6:7:8:9]",
            "127.0.0.1",
            "%2F",
            "%zz",
            "?q=1",
            "user:pw@",
        ],
        &[
            "http://127.0.0.1:9000/mcp",
            "https://example.com",
            "HTTPS://EXAMPLE.COM/x",
            "http://[::1]:8080/mcp",
            "http://[::ffff:1.2.3.4]/",
            "http://[1::2:3:4:5:6:7:8]/",
            "http://[:]/",
            "http://[]",
            "http://h:0/",
            "http://h:65535",
            "http://h:65536",
            "http://h:/",
            "http://:80/",
            "http://user:pw@host/",
            "ftp://x",
            "/relative",
            "localhost:80",
            "http://h/#frag",
            "http://h/%2",
            "http://h/a%2Fb?x=%41",
            "http://h?x",
            "http://h/?a?b",
            "http://a..b/",
            "http://a./",
            "http://h/ a",
        ],
        40,
    );
    // Mostly well-formed pieces, each now and then a bad one, and a random tail.
    let mut urls = urls;
    let schemes = ["http://", "https://", "HtTp://", "ftp://", "http:/", ""];
    let hosts = [
        "h",
        "127.0.0.1",
        "a-b.c_d",
        "[::1]",
        "[1:2::3]",
        "[::ffff:1.2.3.4]",
        "[1:2:3:4:5:6:7:8]",
        "[1:2:3:4:5:6:7::]",
        "[::2:3:4:5:6:7:8]",
        "[1:2:3:4:5:6:1.2.3.4]",
        "[::]",
        "[::g]",
        "[1:2:3:4:5:6:7:8:9]",
        "[1::2:3:4:5:6:7:8]",
        "[::ffff:1.2.3.04]",
        "[::ffff:1.2.3]",
        "[::1.2.3.4:5]",
        "[:1::]",
        "[1:::2]",
        "[12345::]",
        "[1:2]",
        "[]",
        "[1.2.3.4]",
        "[::256.1.1.1]",
        "[1:2:3:4:5:6:7:1.2.3.4]",
        "[1::1.2.3.4]",
        "",
        "a..b",
        "user@h",
        "h%41",
        "é",
    ];
    let ports = [
        "", "", ":1", ":8080", ":65535", ":65536", ":0", ":08", ":", ":x",
    ];
    for _ in 0..4000 {
        let mut url = String::new();
        url.push_str(
            schemes[random.below(schemes.len())
                % if random.below(4) == 0 {
                    schemes.len()
                } else {
                    3
                }],
        );
        url.push_str(
            hosts[random.below(hosts.len())
                % if random.below(3) == 0 {
                    hosts.len()
                } else {
                    11
                }],
        );
        url.push_str(ports[random.below(ports.len())]);
        if random.below(3) > 0 {
            url.push('/');
            let tail = random.strings(
                &[
                    "a", "Z", "0", "/", ".", "-", "_", "~", "!", "$", "&", "'", "(", ")", "*", "+",
                    ",", ";", "=", ":", "@", "?", "%41", "%", "#", " ", "\"", "é",
                ],
                &[],
                12,
                1,
            );
            url.push_str(&tail[0]);
        }
        urls.push(url);
    }
    agree("url", check_url, pattern(URL_PATTERN, MAX_URL_LEN), &urls);
    for url in urls.iter().filter(|url| check_url(url).is_ok()) {
        assert!(
            url.parse::<http::Uri>().is_ok(),
            "{url:?} passes but http cannot read it"
        );
    }

    let paths = corpus(
        &mut random,
        &["a", "Z", "0", "/", ".", "-", "_", "~", "?", "%", " "],
        &["/..", "/.", "/..."],
        &[
            "",
            "/",
            "//",
            "/.",
            "/..",
            "/...",
            "/.a",
            "/a.",
            "/a/./b",
            "mcp",
            &format!("/{}", "p".repeat(1023)),
            &format!("/{}", "p".repeat(1024)),
        ],
        10,
    );
    agree(
        "path",
        check_path,
        pattern(PATH_PATTERN, MAX_PATH_LEN),
        &paths,
    );
}
