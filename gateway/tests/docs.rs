//! The integrator docs must not drift from the code: every problem code, every per-record error
//! code and every configuration key is documented, and the example configuration is valid and
//! shows the real defaults.
//!
//! Per-record codes are found in the sources themselves: every string literal of the form
//! `"word.word"` (lowercase letters and `_` on both sides of one dot) in the crates that produce
//! errors is taken to be an error code, except the few listed in [`NOT_CODES`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use gateway::config::Config;
use serde_json::Value;

/// Dotted string literals in the scanned sources that are not error codes. When the
/// `documented_codes` test names a literal that is not an error code (a file name, a config
/// key used as an error context), add it here; otherwise document it in docs/errors.md.
const NOT_CODES: &[&str] = &[
    // audit actions (the `action` column of the audit trail; listed in README.md)
    "audit.search",
    "audit.unusual_report",
    "certificate.lookup",
    "certificate.lookup_by_holder",
    "records.query",
    // a test literal
    "x.y",
    // native field paths named in adapter error messages
    "youxiao_qi.qi",
    // file names
    "gateway.toml",
    "catalog.json",
    "ca.crt",
    "ca.key",
    "node.crt",
    "node.key",
    "principals.json",
    // a configuration key, used as an error context
    "node.region",
];

/// Source folders whose dotted string literals are error codes (scanned recursively).
const CODE_SOURCES: &[&str] = &["domain/src", "adapters/src", "gateway/src"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate is in the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable folder").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The string literals of a Rust source file, comments skipped. Knows escapes, raw strings
/// (`r"…"`, `r#"…"#`, with `b`/`c` prefixes too) and char literals such as `'"'`, which would
/// otherwise open a string; a lifetime (`'a`) is not a char literal.
fn string_literals(src: &str) -> Vec<String> {
    let s: Vec<char> = src.chars().collect();
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            '/' if at(i + 1) == '/' => {
                while i < s.len() && s[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < s.len() {
                    if s[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if s[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            'r' if {
                // `r`, `br` or `cr` starting a token, then `#`s and a quote.
                let prefix_start = if i > 0 && matches!(s[i - 1], 'b' | 'c') {
                    i - 1
                } else {
                    i
                };
                let mut j = i + 1;
                while at(j) == '#' {
                    j += 1;
                }
                at(j) == '"' && (prefix_start == 0 || !is_ident(s[prefix_start - 1]))
            } =>
            {
                let mut hashes = 0;
                i += 1;
                while s[i] == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the opening quote
                let start = i;
                loop {
                    if i >= s.len() {
                        break;
                    }
                    if s[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                        out.push(s[start..i].iter().collect());
                        i += 1 + hashes;
                        break;
                    }
                    i += 1;
                }
            }
            '"' => {
                i += 1;
                let mut text = String::new();
                while i < s.len() && s[i] != '"' {
                    if s[i] == '\\' {
                        // Keep the escape as written; codes never contain one.
                        text.push(s[i]);
                        i += 1;
                    }
                    if i < s.len() {
                        text.push(s[i]);
                        i += 1;
                    }
                }
                out.push(text);
                i += 1;
            }
            '\'' if at(i + 1) == '\\' => {
                // An escaped char literal: '\n', '\'', '\u{FF01}'.
                i += 3;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if at(i + 2) == '\'' => i += 3, // 'x', '"'
            _ => i += 1,                         // anything else, lifetimes included
        }
    }
    out
}

/// `word.word`, both words non-empty lowercase ASCII letters and `_`.
fn looks_like_code(s: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    match s.split_once('.') {
        Some((a, b)) => word(a) && word(b),
        None => false,
    }
}

/// Code-like literals in `files`, each with the first file it was found in.
fn codes_in(files: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for file in files {
        let src = std::fs::read_to_string(file).expect("readable source");
        for lit in string_literals(&src) {
            if looks_like_code(&lit)
                && !NOT_CODES.contains(&lit.as_str())
                && seen.insert(lit.clone())
            {
                out.push((lit, file.clone()));
            }
        }
    }
    out
}

fn undocumented<'a>(doc: &str, codes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    codes
        .into_iter()
        .filter(|c| !doc.contains(&format!("`{c}`")))
        .collect()
}

#[test]
fn scanner_reads_literals_not_comments_or_chars() {
    let src = r####"
        // "comment.code" in a line comment
        /* "block.code" /* nested "inner.code" */ still "comment.code" */
        let q = '"'; let e = '\''; let u = '\u{FF01}';
        fn f<'a>(x: &'a str) -> &'a str { x }
        p.push(path, "field.missing", format!("'{k}' is \"quoted\""));
        let raw = r#"raw "with" quotes"#; let b = b"bytes.only"; let br = br"raw.bytes";
        let lifetime_then = "after.lifetime";
    "####;
    let lits = string_literals(src);
    assert_eq!(
        lits,
        [
            "field.missing",
            r#"'{k}' is \"quoted\""#,
            r#"raw "with" quotes"#,
            "bytes.only",
            "raw.bytes",
            "after.lifetime",
        ]
    );
    assert!(looks_like_code("credit_code.check_digit"));
    assert!(!looks_like_code("catalog.v1.schema.json"));
    assert!(!looks_like_code("schema.{keyword}"));
    assert!(!looks_like_code("."));
}

#[test]
fn problem_codes_are_documented() {
    let doc = read("docs/errors.md");
    // One table row per code, starting with the code and its HTTP status.
    let missing: Vec<String> = gateway::api::problem::CODES
        .iter()
        .map(|(code, status, _)| format!("| `{code}` | {status} |"))
        .filter(|row| !doc.contains(row.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "problem codes missing from the table in docs/errors.md, or with another status: \
         {missing:?}"
    );
}

#[test]
fn national_code_errors_are_documented() {
    let doc = read("docs/errors.md");
    let found = codes_in(&[workspace().join("domain/src/codes/error.rs")]);
    assert!(
        found.len() >= 19,
        "the scanner found only {} codes in domain/src/codes/error.rs: {found:?}",
        found.len()
    );
    let missing = undocumented(&doc, found.iter().map(|(c, _)| c.as_str()));
    assert!(
        missing.is_empty(),
        "CodeError codes missing from docs/errors.md (write each in backticks): {missing:?}"
    );
}

#[test]
fn documented_codes() {
    let doc = read("docs/errors.md");
    let mut files = Vec::new();
    for dir in CODE_SOURCES {
        rust_files(&workspace().join(dir), &mut files);
    }
    files.sort();
    let found = codes_in(&files);
    // The scanner must see the codes of every layer, or it is broken.
    for known in [
        "payload.count_mismatch",
        "field.missing",
        "encoding.invalid",
        "record.not_object",
        "service_item.unknown",
        "timestamps.order",
        "credit_code.legacy_check_digit",
        "record.version_conflict",
        "payload.too_many_records",
    ] {
        assert!(
            found.iter().any(|(c, _)| c == known),
            "scanner missed {known}"
        );
    }
    let missing: Vec<String> = found
        .iter()
        .filter(|(code, _)| !doc.contains(&format!("`{code}`")))
        .map(|(code, file)| {
            let file = file.strip_prefix(workspace()).unwrap_or(file);
            format!("{code} ({})", file.display())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "error codes missing from docs/errors.md (write each in backticks), or, if one is not an \
         error code, add it to NOT_CODES in gateway/tests/docs.rs: {missing:?}"
    );
    // The schema family is produced with format!, so the scanner cannot see it.
    assert!(doc.contains("`schema.<keyword>`") && doc.contains("`schema.required`"));
}

/// Dotted keys of every leaf (scalar, array or null) of a JSON object.
fn leaf_keys(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(&key, v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn config_keys_are_documented() {
    let doc = read("docs/configuration.md");
    let defaults = serde_json::to_value(Config::default()).expect("config serializes");
    let mut keys = Vec::new();
    leaf_keys("", &defaults, &mut keys);
    assert!(
        keys.contains(&"database.embedded.port".to_owned()),
        "{keys:?}"
    );
    let missing = undocumented(&doc, keys.iter().map(String::as_str));
    assert!(
        missing.is_empty(),
        "configuration keys missing from docs/configuration.md (write each dotted, in \
         backticks): {missing:?}"
    );
}

#[test]
fn example_configuration_is_valid_and_shows_the_defaults() {
    let doc = read("docs/configuration.md");
    let start = doc
        .find("```toml\n")
        .expect("docs/configuration.md has a ```toml example")
        + "```toml\n".len();
    let len = doc[start..].find("```").expect("the example is closed");
    let example = &doc[start..start + len];
    // Unknown keys are refused (deny_unknown_fields), so a misspelt key fails here.
    let parsed: Config = Figment::from(Toml::string(example))
        .extract()
        .unwrap_or_else(|e| panic!("the example gateway.toml does not load: {e}"));
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        serde_json::to_value(Config::default()).unwrap(),
        "the example gateway.toml must show exactly the defaults"
    );
}
