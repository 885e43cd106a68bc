//! One RFC 8785 (JCS) serialization of a record body gives both its content hash (SHA-256 of
//! the JCS form without `ingested_at`) and the JSON text stored as `jsonb` — instead of a deep
//! copy, a JCS pass for the hash and a second serialization for the database. The direct
//! writers of `vc::jcs` handle what a canonical record holds (objects, arrays, strings, safe
//! integers): [`of_record`] from the typed record (no `serde_json::Value` built), [`canonical`]
//! from a JSON tree. A body with any other number (a float, an integer beyond ±2^53, where
//! JCS's IEEE-754 rules apply) takes the general path, which gives the same bytes.

use serde::Serialize;
use serde_json::Value;
use vc::jcs::{members, write_exact, write_string};

/// What the store needs of a body.
#[derive(Debug, Clone)]
pub struct Canonical {
    /// SHA-256 of the RFC 8785 form without the top-level `ingested_at`.
    pub content_hash: Vec<u8>,
    /// The body as JSON text (stored as `jsonb`, which keeps no formatting).
    pub json: Vec<u8>,
}

/// [`canonical`] of the JSON a typed record serializes to, written straight from the record.
pub fn of_record<T: Serialize>(record: &T) -> Canonical {
    match vc::jcs::to_vec_exact(record, "ingested_at") {
        Some((json, skip)) => {
            let skip = skip.unwrap_or(json.len()..json.len());
            Canonical {
                content_hash: hash_without(&json, skip),
                json,
            }
        }
        None => fallback(&serde_json::to_value(record).expect("a typed record serializes")),
    }
}

fn hash_without(json: &[u8], skip: std::ops::Range<usize>) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&json[..skip.start]);
    ctx.update(&json[skip.end..]);
    ctx.finish().as_ref().to_vec()
}

pub fn canonical(body: &Value) -> Canonical {
    let mut json = Vec::with_capacity(2048);
    let mut skip = 0..0;
    let fast = match body {
        Value::Object(map) => {
            json.push(b'{');
            let mut ok = true;
            for (i, (k, v)) in members(map).into_iter().enumerate() {
                let start = json.len();
                if i > 0 {
                    json.push(b',');
                }
                write_string(&mut json, k);
                json.push(b':');
                ok &= write_exact(&mut json, v);
                if k.as_str() == "ingested_at" {
                    // The member and its separating comma: before it, or after it when first.
                    skip = if i > 0 {
                        start..json.len()
                    } else {
                        start..json.len() + 1
                    };
                }
            }
            json.push(b'}');
            if skip.end > json.len() - 1 {
                skip.end = json.len() - 1; // `ingested_at` was the only member
            }
            ok
        }
        _ => false,
    };
    if !fast {
        return fallback(body);
    }
    Canonical {
        content_hash: hash_without(&json, skip),
        json,
    }
}

/// Deep copy without `ingested_at`, `vc::jcs`, then serde_json: the general path.
fn fallback(body: &Value) -> Canonical {
    let mut content = body.clone();
    if let Some(obj) = content.as_object_mut() {
        obj.remove("ingested_at");
    }
    let canonical =
        vc::jcs::canonicalize(&content).expect("a canonical record has only JCS-safe values");
    Canonical {
        content_hash: ring::digest::digest(&ring::digest::SHA256, &canonical)
            .as_ref()
            .to_vec(),
        json: serde_json::to_vec(body).expect("a JSON value serializes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference: the general path.
    fn reference(body: &Value) -> (Vec<u8>, Value) {
        let c = fallback(body);
        (c.content_hash, serde_json::from_slice(&c.json).unwrap())
    }

    fn check(body: Value) {
        let c = canonical(&body);
        let (hash, json) = reference(&body);
        assert_eq!(hex::encode(&c.content_hash), hex::encode(&hash), "{body}");
        let parsed: Value = serde_json::from_slice(&c.json).unwrap();
        assert_eq!(parsed, json, "stored JSON differs for {body}");
        assert_eq!(parsed, body);
    }

    #[test]
    fn same_hash_and_json_as_the_general_path() {
        check(json!({"ingested_at": "2026-01-01T00:00:00+08:00", "a": 1}));
        check(json!({"a": 1, "ingested_at": "x"}));
        check(json!({"ingested_at": "x"}));
        check(
            json!({"b": [1, -2, 9007199254740992_u64, -9007199254740992_i64], "a": {"z": null, "y": true, "x": false}}),
        );
        check(json!({"esc": "\u{0}\u{1f}\u{7f}\"\\/\n\t\r\u{8}\u{c} é € 😀", "k\u{1}": "v"}));
        // UTF-16 order: U+1F600 (D83D DE00) before U+FB33, unlike code point order.
        check(json!({"\u{fb33}": 1, "\u{1f600}": 2, "\u{20ac}": 3, "\r": 4, "1": 5, "\u{80}": 6}));
        check(json!({"nested": [{"ingested_at": "inner stays"}, [], {}], "ingested_at": "x"}));
        check(json!({}));
    }

    #[test]
    fn numbers_jcs_would_change_take_the_general_path() {
        for body in [
            json!({"a": 9007199254740993_u64, "ingested_at": "x"}),
            json!({"a": -9007199254740993_i64}),
            json!({"a": 1.5, "b": 1e30}),
            json!({"a": [0.1]}),
        ] {
            let c = canonical(&body);
            let (hash, json) = reference(&body);
            assert_eq!(c.content_hash, hash);
            assert_eq!(serde_json::from_slice::<Value>(&c.json).unwrap(), json);
        }
    }

    /// Every adapter's expected canonical records (real bodies: Chinese text, nested objects,
    /// certificates), stamped as the normalizer stamps them, with the file each came from.
    fn fixture_records() -> Vec<(String, Value)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../adapters/fixtures");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(root).unwrap() {
            let path = dir.unwrap().path().join("batch-valid.expected.json");
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for mut body in serde_json::from_slice::<Vec<Value>>(&bytes).unwrap() {
                body["ingested_at"] = json!("2026-11-25T17:00:00.123456+08:00");
                out.push((path.display().to_string(), body));
            }
        }
        assert!(
            out.len() >= 8,
            "only {} records found under {root}",
            out.len()
        );
        out
    }

    #[test]
    fn real_records_take_the_fast_path_with_the_same_results() {
        for (path, body) in fixture_records() {
            let mut json = Vec::new();
            assert!(write_exact(&mut json, &body), "{path} left the fast path");
            check(body);
        }
    }

    /// The typed path gives the bytes and hash the tree path gave (the records read into the
    /// typed model, as the normalizer makes it).
    #[test]
    fn typed_records_give_the_same_bytes_as_their_trees() {
        for (path, body) in fixture_records() {
            let record: domain::record::CaseRecord = serde_json::from_value(body).unwrap();
            let typed = of_record(&record);
            let tree = canonical(&serde_json::to_value(&record).unwrap());
            assert_eq!(
                String::from_utf8(typed.json).unwrap(),
                String::from_utf8(tree.json).unwrap(),
                "{path}"
            );
            assert_eq!(typed.content_hash, tree.content_hash);
        }
        // A float leaves the direct writer; the general path gives the same result.
        let float = json!({"a": 1.5, "ingested_at": "x"});
        assert_eq!(
            of_record(&float).content_hash,
            canonical(&float).content_hash
        );
    }

    /// The JCS bytes themselves, against the canonicalizer, for the hashed part.
    #[test]
    fn bytes_are_rfc_8785() {
        let body = json!({"ingested_at": "x", "numbers": [0, 1, -1, 4503599627370496_u64], "s": "\u{20ac}$\u{f}\nA'B\"\\\\\"/", "literals": [null, true, false]});
        let mut without = body.clone();
        without.as_object_mut().unwrap().remove("ingested_at");
        let c = canonical(&body);
        assert_eq!(c.json, vc::jcs::canonicalize(&body).unwrap());
        let expected = ring::digest::digest(
            &ring::digest::SHA256,
            &vc::jcs::canonicalize(&without).unwrap(),
        );
        assert_eq!(c.content_hash, expected.as_ref());
    }
}
