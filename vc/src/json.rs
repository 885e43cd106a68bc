//! What verification reads a document through ([`JsonNode`]), and [`Json`], a tree borrowed
//! from the bytes a verifier was sent.
//!
//! A credential presented for verification is read once and thrown away. As a
//! `serde_json::Value` every member name is copied into a map of owned strings: parsing a
//! 2.4 KB credential cost about as much as a fifth of its Ed25519 verification (measured with
//! the hashed index maps of serde_json's `preserve_order`, which the workspace used until
//! 2026-12-07). [`Json`] keeps the members of an object in a vector and borrows every string
//! without escapes from the input: about a third of the parse. The verification rules
//! ([`crate::verify`], [`crate::verify_proof`], [`crate::logged`]) are written once, over
//! [`JsonNode`], for both trees.
//!
//! A member name given twice keeps the last value, as `serde_json::Value` does, at the place
//! of the first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

/// One JSON value as the JCS writer and the verification rules see it.
pub enum View<'a, N> {
    Null,
    Bool(bool),
    Number(&'a Number),
    String(&'a str),
    Array(&'a [N]),
    /// Members in document order.
    Object(Vec<(&'a str, &'a N)>),
}

/// A JSON tree verification can read: `serde_json::Value` or [`Json`].
pub trait JsonNode: Sized + PartialEq + Serialize + fmt::Display {
    fn view(&self) -> View<'_, Self>;

    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Self>;

    /// The same value as a `serde_json::Value` (borrowed when it is one): for the few places
    /// that read a small part of a document with serde.
    fn to_value(&self) -> Cow<'_, Value>;

    fn as_str(&self) -> Option<&str> {
        match self.view() {
            View::String(s) => Some(s),
            _ => None,
        }
    }

    fn is_object(&self) -> bool {
        matches!(self.view(), View::Object(_))
    }
}

impl JsonNode for Value {
    fn view(&self) -> View<'_, Value> {
        match self {
            Value::Null => View::Null,
            Value::Bool(b) => View::Bool(*b),
            Value::Number(n) => View::Number(n),
            Value::String(s) => View::String(s),
            Value::Array(items) => View::Array(items),
            Value::Object(map) => View::Object(map.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    fn to_value(&self) -> Cow<'_, Value> {
        Cow::Borrowed(self)
    }

    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }

    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
}

/// A JSON value whose strings borrow from the text it was read from where they can.
#[derive(Debug, Clone)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in document order, each name once.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Reads `text` (one JSON value, whitespace around it allowed).
    pub fn parse(text: &'a str) -> Result<Json<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// [`Json::parse`] of bytes that must be UTF-8 JSON. The bytes are checked as UTF-8 once,
    /// as a whole (reading them as bytes checks every string on its own, twice as slow).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Json::parse(text),
            // serde_json's own error then, which says where.
            Err(_) => serde_json::from_slice(bytes),
        }
    }
}

impl JsonNode for Json<'_> {
    fn view(&self) -> View<'_, Self> {
        match self {
            Json::Null => View::Null,
            Json::Bool(b) => View::Bool(*b),
            Json::Number(n) => View::Number(n),
            Json::String(s) => View::String(s),
            Json::Array(items) => View::Array(items),
            Json::Object(members) => View::Object(members.iter().map(|(k, v)| (&**k, v)).collect()),
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn to_value(&self) -> Cow<'_, Value> {
        Cow::Owned(match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(items) => {
                Value::Array(items.iter().map(|i| i.to_value().into_owned()).collect())
            }
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value().into_owned()))
                    .collect::<Map<_, _>>(),
            ),
        })
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }
}

/// As `serde_json::Value` compares: objects as maps (member order does not matter).
impl PartialEq for Json<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Json::Null, Json::Null) => true,
            (Json::Bool(a), Json::Bool(b)) => a == b,
            (Json::Number(a), Json::Number(b)) => a == b,
            (Json::String(a), Json::String(b)) => a == b,
            (Json::Array(a), Json::Array(b)) => a == b,
            (Json::Object(a), Json::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| other.get(k) == Some(v))
            }
            _ => false,
        }
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Compact JSON, as `serde_json::Value` displays.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        // As serde_json::Value: a float JSON cannot hold (never parsed from text) is null.
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        // Most objects of a credential have a few members: start with room for them.
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::with_capacity(8);
        // Names seen, once an object is too big to search them one by one.
        let mut seen: Option<HashMap<Cow<'de, str>, usize>> = None;
        while let Some(Name(name)) = map.next_key()? {
            let value: Json<'de> = map.next_value()?;
            const SCAN: usize = 16;
            if members.len() == SCAN {
                let index = members.iter().enumerate().map(|(i, (k, _))| (k.clone(), i));
                seen = Some(index.collect());
            }
            let earlier = match &mut seen {
                Some(seen) => seen.get(&name).copied(),
                None => members.iter().position(|(k, _)| *k == name),
            };
            match earlier {
                Some(i) => members[i].1 = value,
                None => {
                    if let Some(seen) = &mut seen {
                        seen.insert(name.clone(), members.len());
                    }
                    members.push((name, value));
                }
            }
        }
        Ok(Json::Object(members))
    }
}

/// A member name, borrowed when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s)))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests;
