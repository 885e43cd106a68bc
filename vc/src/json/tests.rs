use super::*;
use serde_json::json;

/// Both trees of `text` and what must agree between them.
fn both(text: &str) -> (Value, Json<'_>) {
    let value: Value = serde_json::from_str(text).unwrap();
    let json = Json::parse(text).unwrap();
    assert_eq!(json.to_value().into_owned(), value, "{text}");
    assert_eq!(serde_json::to_value(&json).unwrap(), value, "{text}");
    // Written back in document order (serde_json's `Value` writes its maps' name order).
    let written: Value = serde_json::from_str(&json.to_string()).unwrap();
    assert_eq!(written, value, "{text}");
    assert_eq!(
        crate::jcs::canonicalize(&json).unwrap(),
        crate::jcs::canonicalize(&value).unwrap(),
        "{text}"
    );
    (value, json)
}

#[test]
fn reads_what_serde_json_reads_and_writes_it_back_the_same() {
    for text in [
        r#"{"b": 1, "a": [true, false, null, -7, 2.5, 1e30, 18446744073709551615], "c": {}}"#,
        r#"{"esc": "a\"b\\c\n\u00e9\ud83d\ude00", "\u00e9": "名", "": ""}"#,
        r#"[[], {}, "", 0, -0, 9007199254740993]"#,
        r#""plain""#,
        "  42 ",
    ] {
        both(text);
    }
}

#[test]
fn strings_without_escapes_are_borrowed() {
    let (_, json) = both(r#"{"plain": "text", "esc\n": "a\tb"}"#);
    let Json::Object(members) = &json else {
        panic!("an object")
    };
    assert!(matches!(members[0].0, Cow::Borrowed("plain")));
    assert!(matches!(&members[0].1, Json::String(Cow::Borrowed("text"))));
    assert!(matches!(members[1].0, Cow::Owned(_)));
    assert!(matches!(&members[1].1, Json::String(Cow::Owned(_))));
}

#[test]
fn a_name_given_twice_keeps_the_last_value_at_the_first_place() {
    // Few members (searched one by one) and many (indexed): the same value as serde_json
    // reads, at the place of the first.
    let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
    for text in [
        r#"{"a": 1, "b": 2, "a": 3}"#.to_owned(),
        format!(
            r#"{{{}, "k3": "again", "k39": "last", "new": 0}}"#,
            many.join(", ")
        ),
    ] {
        both(&text);
    }
    let json = Json::parse(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
    assert_eq!(json.view_members(), ["a", "b"]);
    assert_eq!(json.get("a"), Some(&Json::Number(3.into())));
    let text = format!(
        r#"{{{}, "k3": "again", "k39": "last", "new": 0}}"#,
        many.join(", ")
    );
    let json = Json::parse(&text).unwrap();
    let mut names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    names.push("new".into());
    assert_eq!(json.view_members(), names);
    assert_eq!(json.get("k3").and_then(JsonNode::as_str), Some("again"));
    assert_eq!(json.get("k39").and_then(JsonNode::as_str), Some("last"));
}

#[test]
fn objects_compare_as_maps() {
    let a = Json::parse(r#"{"x": 1, "y": [1, {"p": 1, "q": 2}]}"#).unwrap();
    let b = Json::parse(r#"{"y": [1, {"q": 2, "p": 1}], "x": 1}"#).unwrap();
    let c = Json::parse(r#"{"y": [1, {"q": 2, "p": 1}], "x": 2}"#).unwrap();
    assert!(a == b && a != c);
    assert_ne!(
        Json::parse("[1, 2]").unwrap(),
        Json::parse("[2, 1]").unwrap()
    );
    assert_eq!(
        json!({"x": 1, "y": 2}),
        json!({"y": 2, "x": 1}),
        "serde_json agrees"
    );
}

#[test]
fn member_lookup_and_strings() {
    let (value, json) = both(r#"{"issuer": {"id": "did:key:z6Mk", "node": 7}, "n": null}"#);
    let id = |n: &Json| n.get("issuer")?.get("id")?.as_str().map(str::to_owned);
    assert_eq!(id(&json).as_deref(), Some("did:key:z6Mk"));
    assert_eq!(
        json.get("issuer")
            .and_then(|i| i.get("node"))
            .and_then(JsonNode::as_str),
        None
    );
    assert!(json.get("missing").is_none() && json.get("n").is_some());
    assert!(json.is_object() && JsonNode::is_object(&value));
    assert!(Json::parse("[]").unwrap().get("issuer").is_none());
}

impl Json<'_> {
    fn view_members(&self) -> Vec<String> {
        match self.view() {
            View::Object(members) => members.iter().map(|(k, _)| k.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Bytes read the same as the text they spell; bytes that are not UTF-8 are refused with
/// serde_json's own message, which says where.
#[test]
fn bytes_read_as_their_text() {
    let text = r#"{"名": "张三", "a": [1, "\u00e9"]}"#;
    assert_eq!(
        Json::parse_bytes(text.as_bytes()).unwrap(),
        Json::parse(text).unwrap()
    );
    let err = Json::parse_bytes(b"{\"a\": \"\xff\"}").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}
