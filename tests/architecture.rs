//! The layout's invariants, read from the source (as rust-analyzer's tidy tests do), so the
//! layering stays true after its authors have left:
//!
//! 1. Layers import only downwards: app → http → services → infra → domain (`src/lib.rs` has
//!    the table).
//! 2. A service never imports another service; what they share lives in `services::edge`.
//! 3. No import circle between modules (a module is `layer::name`, e.g. `services::proxy`).
//! 4. The lower layers stay free of the upper layers' crates: the domain names no HTTP
//!    framework, async runtime, database or network I/O; the infrastructure names no server
//!    framework or OpenAPI, and only its HTTP client names hyper.
//! 5. Files fit in a head: none over 600 lines.
//!
//! Imports are read as text: every `crate::…` path and every `super::…` path that leaves its
//! module, outside comments. A failure names the file, the line and the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: [&str; 5] = ["domain", "infra", "services", "http", "app"];

/// Crates (or paths) a layer's files must not name, and the files allowed to anyway.
const FORBIDDEN: &[(&str, &[&str], &[&str])] = &[
    (
        "domain",
        &[
            "axum",
            "hyper",
            "hyper_util",
            "tower",
            "tokio",
            "rusqlite",
            "notify",
            "reqwest",
            "bollard",
            "kube",
            "utoipa::openapi",
            "std::fs",
            "std::net",
        ],
        &[],
    ),
    (
        "infra",
        &["axum", "tower", "utoipa", "hyper", "hyper_util", "rmcp"],
        &["infra/http_client.rs"],
    ),
];

/// Longest file under `src/`.
const MAX_LINES: usize = 600;

struct Source {
    /// Relative to `src/`, with `/`.
    path: String,
    /// The module path: `["services", "proxy", "target"]`.
    module: Vec<String>,
    /// The code with comments blanked (line numbers kept).
    code: Vec<String>,
}

fn sources(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let path = file
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).expect("readable source");
            Source {
                module: module_of(&path),
                code: strip_comments(&text),
                path,
            }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `services/proxy/mod.rs` → `[services, proxy]`; `domain/model.rs` → `[domain, model]`.
fn module_of(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// Each line with comments removed (doc comments included: links there are not imports) and
/// the insides of string and character literals blanked, so neither `"http://…"` nor a `{` in a
/// format string is read as code.
fn strip_comments(text: &str) -> Vec<String> {
    let mut in_block = 0usize;
    let mut in_string = false;
    text.lines()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let mut out = String::new();
            let mut i = 0;
            while i < chars.len() {
                let c = chars[i];
                let next = chars.get(i + 1).copied();
                if in_block > 0 {
                    match (c, next) {
                        ('*', Some('/')) => (in_block -= 1, i += 2).1,
                        ('/', Some('*')) => (in_block += 1, i += 2).1,
                        _ => i += 1,
                    }
                    continue;
                }
                if in_string {
                    match c {
                        '\\' => (out.push_str("  "), i += 2).1,
                        '"' => (in_string = false, out.push('"'), i += 1).2,
                        _ => (out.push(' '), i += 1).1,
                    }
                    continue;
                }
                match (c, next) {
                    ('/', Some('/')) => break,
                    ('/', Some('*')) => (in_block += 1, i += 2).1,
                    ('"', _) => (in_string = true, out.push('"'), i += 1).2,
                    ('\'', Some('\\')) => {
                        // An escaped character literal: skip to its closing quote.
                        let close = chars[i + 2..].iter().position(|&c| c == '\'');
                        out.push_str("' '");
                        i += close.map_or(chars.len(), |at| at + 3);
                    }
                    ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => {
                        out.push_str("' '");
                        i += 3;
                    }
                    _ => (out.push(c), i += 1).1,
                }
            }
            out
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifiers of a path starting at `text` (after `crate::` or `super::`), up to `depth`
/// segments; a `{a::b, c}` group gives each member.
fn paths_at(text: &str, depth: usize) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut members = Vec::new();
        let mut level = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => level += 1,
                '}' if level == 0 => {
                    members.push(&group[start..i]);
                    break;
                }
                '}' => level -= 1,
                ',' if level == 0 => {
                    members.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return members
            .into_iter()
            .flat_map(|member| paths_at(member, depth))
            .filter(|p| !p.is_empty())
            .collect();
    }
    let mut segments = Vec::new();
    let mut rest = text;
    while segments.len() < depth {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            if let Some(after) = rest.strip_prefix('{') {
                let prefix = segments.clone();
                return paths_at(&format!("{{{after}"), depth - segments.len())
                    .into_iter()
                    .map(|tail| prefix.iter().cloned().chain(tail).collect())
                    .collect();
            }
            break;
        }
        segments.push(rest[..end].to_string());
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![segments]
}

/// Every module path a file refers to, with its line: `crate::a::b` as `[a, b]`, and
/// `super::…` resolved against the file's own module.
fn references(source: &Source) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open inside the file: `super` there is the file.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    for (n, line) in source.code.iter().enumerate() {
        let module: Vec<String> = source
            .module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(at) = words.iter().position(|w| *w == "mod")
            && words.len() == at + 3
            && words[at + 2] == "{"
        {
            inline.push((words[at + 1].to_string(), depth));
        }
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if inline.last().is_some_and(|(_, open)| *open == depth) {
                        inline.pop();
                    }
                }
                _ => {}
            }
        }
        for (at, _) in line.match_indices("crate::") {
            if line[..at].ends_with(|c: char| is_ident(c)) {
                continue; // `mcp_gateway_crate::` or the like
            }
            for path in paths_at(&line[at + "crate::".len()..], 2) {
                found.push((n + 1, path));
            }
        }
        let mut search = 0;
        while let Some(offset) = line[search..].find("super::") {
            let at = search + offset;
            search = at + 1;
            if line[..at].ends_with(|c: char| is_ident(c) || c == ':') {
                continue; // counted from the first `super::` of a chain
            }
            let mut ups = 0;
            let mut rest = &line[at..];
            while let Some(after) = rest.strip_prefix("super::") {
                ups += 1;
                rest = after;
            }
            // A file's own module is its path; `mod.rs` is the directory's module.
            let base: Vec<String> = match module.len().checked_sub(ups) {
                Some(keep) => module[..keep].to_vec(),
                None => continue,
            };
            for tail in paths_at(rest, 2) {
                let path: Vec<String> = base.iter().cloned().chain(tail).take(2).collect();
                found.push((n + 1, path));
            }
        }
    }
    found
}

fn layer_of(module: &[String]) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| module.first().is_some_and(|m| m == l))
}

/// `layer::name` for a module path (the layer alone for its root).
fn node(module: &[String]) -> String {
    module
        .iter()
        .take(2)
        .cloned()
        .collect::<Vec<_>>()
        .join("::")
}

/// Every rule broken, in words.
fn violations(root: &Path) -> Vec<String> {
    let sources = sources(root);
    let mut broken = Vec::new();
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for source in &sources {
        if source.code.len() > MAX_LINES {
            broken.push(format!(
                "src/{} has {} lines (at most {MAX_LINES}): split it by concept",
                source.path,
                source.code.len()
            ));
        }
        let Some(own) = layer_of(&source.module) else {
            continue; // lib.rs and main.rs: the crate's roots
        };
        for (line, target) in references(source) {
            let Some(theirs) = layer_of(&target) else {
                continue;
            };
            let at = format!("src/{}:{line}", source.path);
            if theirs > own {
                broken.push(format!(
                    "{at}: the {} layer imports `{}` from the {} layer above it",
                    LAYERS[own],
                    target.join("::"),
                    LAYERS[theirs]
                ));
            }
            let (from, to) = (node(&source.module), node(&target));
            let sibling_service = LAYERS[own] == "services"
                && theirs == own
                && source.module.len() > 1
                && target.len() > 1
                && from != to
                && target[1] != "edge";
            if sibling_service {
                broken.push(format!(
                    "{at}: service `{from}` imports service `{to}`; put what they share in services::edge"
                ));
            }
            if from != to && source.module.len() > 1 {
                graph.entry(from).or_default().entry(to).or_insert(at);
            }
        }
        for (layer, crates, allowed) in FORBIDDEN {
            if source.module[0] != *layer || allowed.contains(&source.path.as_str()) {
                continue;
            }
            for (n, line) in source.code.iter().enumerate() {
                for name in *crates {
                    let named = line.match_indices(name).any(|(at, _)| {
                        let before = line[..at].chars().next_back();
                        let after = &line[at + name.len()..];
                        !before.is_some_and(|c| is_ident(c) || c == ':')
                            && (after.starts_with("::") || after.starts_with(';'))
                    });
                    if named {
                        broken.push(format!(
                            "src/{}:{}: the {layer} layer names `{name}`",
                            source.path,
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    broken.extend(cycles(&graph));
    broken
}

/// Each import circle between modules, once, with where each arrow comes from.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).map(|m| m.keys()).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    // One report per circle, whichever module it was found from.
                    let min = circle.iter().min().expect("non-empty").clone();
                    let turn = circle.iter().position(|m| *m == min).expect("present");
                    circle.rotate_left(turn);
                    found.insert(circle);
                } else if !path.contains(next) && path.len() < 8 {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|circle| {
            let arrows: Vec<String> = circle
                .iter()
                .zip(circle.iter().cycle().skip(1))
                .map(|(a, b)| format!("{a} -> {b} ({})", graph[a][b]))
                .collect();
            format!("import circle: {}", arrows.join(", "))
        })
        .collect()
}

#[test]
fn the_layout_keeps_its_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let broken = violations(&root);
    assert!(
        broken.is_empty(),
        "the layout's rules are broken ({} place(s)); see src/lib.rs and the README's Layout:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// The checker itself: a tree with one of each fault, and one without.
#[test]
fn the_checker_finds_each_kind_of_fault() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    };
    write(
        "lib.rs",
        "pub mod domain;\npub mod services;\npub mod http;\n",
    );
    write("domain/model.rs", "use crate::domain::counters::X;\n");
    write(
        "domain/counters.rs",
        "// crate::http::AppState is only named in a comment\n",
    );
    write(
        "services/proxy/mod.rs",
        "use crate::services::edge::Door;\nuse super::super::domain::model;\n",
    );
    write("services/edge.rs", "use crate::infra::auth::Caller;\n");
    write(
        "http/mod.rs",
        "use crate::services::{proxy::Proxy, edge};\n",
    );
    assert_eq!(violations(root), Vec::<String>::new(), "a clean tree");

    write(
        "domain/counters.rs",
        "use crate::domain::model::Resource;\nuse axum::body::Body;\n",
    );
    write(
        "services/router.rs",
        "let x = \"http://x\"; use crate::services::proxy::ROUTE;\n",
    );
    write(
        "services/edge.rs",
        "fn f() -> crate::http::AppState { todo!() }\n",
    );
    write(
        "infra/store.rs",
        "use super::super::{http::ApiError, domain::model};\n",
    );
    write("infra/auth.rs", &"\n".repeat(MAX_LINES + 1));
    let broken = violations(root);
    let expect = [
        "src/domain/counters.rs:2: the domain layer names `axum`",
        "src/services/router.rs:1: service `services::router` imports service `services::proxy`",
        "src/services/edge.rs:1: the services layer imports `http::AppState` from the http layer above it",
        "src/infra/store.rs:1: the infra layer imports `http::ApiError` from the http layer above it",
        "src/infra/auth.rs has 601 lines",
        "import circle: domain::counters -> domain::model (src/domain/counters.rs:1), domain::model -> domain::counters (src/domain/model.rs:1)",
    ];
    for expected in expect {
        assert!(
            broken.iter().any(|b| b.starts_with(expected)),
            "expected `{expected}` among:\n{}",
            broken.join("\n")
        );
    }
    assert_eq!(broken.len(), expect.len(), "{}", broken.join("\n"));
}
