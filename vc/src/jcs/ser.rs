//! JCS written straight from a `Serialize` value, as [`super::write_exact`] writes it from a
//! `serde_json::Value`, without building the `Value` first: the ingest path canonicalizes
//! every record, and the tree (built, walked, dropped) was the larger part of that work.
//!
//! Each object's members are serialized into a scratch buffer, then written in UTF-16 key
//! order; everything else goes straight to the output. Same boundary as `write_exact`: a
//! float, or an integer beyond 2^53 in magnitude, makes [`to_vec_exact`] give up (`None`), and
//! the caller takes the general path. The bytes are `serde_json`'s encoding of the value,
//! canonicalized: enums as serde_json writes them (`"Unit"`, `{"Variant": …}`), byte strings
//! as arrays of numbers, map keys that are integers as strings.

use std::cell::Cell;
use std::fmt::Display;
use std::io::Write;
use std::ops::Range;

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{SAFE, utf16_cmp, write_string};

/// The JCS bytes of `value` and, when its top level is an object with a member named
/// `member`, the bytes to leave out to drop that member: the member with the comma before it
/// (or, when it comes first, the comma after it). `None` when the value holds a number that
/// JCS would reprint (or a map key that is not a string or an integer).
pub fn to_vec_exact<T: Serialize + ?Sized>(
    value: &T,
    member: &'static str,
) -> Option<(Vec<u8>, Option<Range<usize>>)> {
    let mut out = Vec::with_capacity(2048);
    let found = Cell::new(None);
    value
        .serialize(Writer {
            out: &mut out,
            track: Some((member, &found)),
        })
        .ok()?;
    Some((out, found.get().map(|(start, end)| start..end)))
}

/// Why the direct writer gave up: the caller takes the general path, which says more.
#[derive(Debug)]
pub struct Inexact;

impl Display for Inexact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value JCS's general writer must handle")
    }
}

impl std::error::Error for Inexact {}

impl ser::Error for Inexact {
    fn custom<T: Display>(_: T) -> Self {
        Inexact
    }
}

/// Where a top-level member's byte range is reported (start, end), as a `Cell` so that the
/// serializer, which serde passes by value, can hand it down to the top-level object.
type Track<'a> = Option<(&'static str, &'a Cell<Option<(usize, usize)>>)>;

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    track: Track<'a>,
}

impl Writer<'_> {
    fn integer(self, v: impl Into<i128>) -> Result<(), Inexact> {
        let v: i128 = v.into();
        if v.unsigned_abs() > SAFE as u128 {
            return Err(Inexact);
        }
        write!(self.out, "{v}").expect("writing to a Vec cannot fail");
        Ok(())
    }
}

/// Integers that fit an `i128`, written when JCS prints them as they are.
macro_rules! integers {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name(self, v: $ty) -> Result<(), Inexact> {
            self.integer(v)
        })*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Inexact;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Inexact> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64);

    fn serialize_u128(self, v: u128) -> Result<(), Inexact> {
        i128::try_from(v).map_err(|_| Inexact)?;
        self.integer(v as i128)
    }
    fn serialize_f32(self, _: f32) -> Result<(), Inexact> {
        Err(Inexact)
    }
    fn serialize_f64(self, _: f64) -> Result<(), Inexact> {
        Err(Inexact)
    }
    fn serialize_char(self, v: char) -> Result<(), Inexact> {
        write_string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Inexact> {
        write_string(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Inexact> {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), Inexact> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Inexact> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Inexact> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Inexact> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Inexact> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Inexact> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Inexact> {
        // `{"Variant": value}`: one member, nothing to sort.
        self.out.push(b'{');
        write_string(self.out, variant);
        self.out.push(b':');
        value.serialize(Writer {
            out: &mut *self.out,
            track: None,
        })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Inexact> {
        self.out.push(b'[');
        Ok(Seq {
            out: self.out,
            first: true,
            closes_variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Inexact> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Inexact> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a>, Inexact> {
        self.out.push(b'{');
        write_string(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Seq {
            out: self.out,
            first: true,
            closes_variant: true,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Inexact> {
        Ok(Object::new(self.out, self.track, false))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'a>, Inexact> {
        Ok(Object::new(self.out, self.track, false))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object<'a>, Inexact> {
        self.out.push(b'{');
        write_string(self.out, variant);
        self.out.push(b':');
        Ok(Object::new(self.out, None, true))
    }
}

/// An array (or a tuple variant's array, then the `}` of its one-member object).
struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    closes_variant: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Inexact> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Writer {
            out: &mut *self.out,
            track: None,
        })
    }
    fn close(self) -> Result<(), Inexact> {
        self.out.push(b']');
        if self.closes_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// The four sequence traits of serde, all one array.
macro_rules! seq_traits {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Seq<'_> {
            type Ok = ();
            type Error = Inexact;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Inexact> {
                self.element(value)
            }
            fn end(self) -> Result<(), Inexact> {
                self.close()
            }
        }
    )*};
}

seq_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// An object: members written to `scratch` as they come, then out in JCS order.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    track: Track<'a>,
    closes_variant: bool,
    scratch: Vec<u8>,
    /// Name, and where its value is in `scratch`.
    members: Vec<(std::borrow::Cow<'static, str>, Range<usize>)>,
    /// A map's key waiting for its value.
    key: Option<String>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, track: Track<'a>, closes_variant: bool) -> Self {
        Object {
            out,
            track,
            closes_variant,
            scratch: Vec::with_capacity(512),
            members: Vec::with_capacity(16),
            key: None,
        }
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: std::borrow::Cow<'static, str>,
        value: &T,
    ) -> Result<(), Inexact> {
        let start = self.scratch.len();
        value.serialize(Writer {
            out: &mut self.scratch,
            track: None,
        })?;
        self.members.push((name, start..self.scratch.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Inexact> {
        // Stable, and not reversed first: members mostly arrive in order (a struct's fields),
        // which the sort then only checks; reversed, its insertion sort went quadratic.
        self.members.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
        // serde_json keeps the last of repeated keys (a map that serializes one twice).
        self.members.dedup_by(|later, kept| {
            let repeated = later.0 == kept.0;
            if repeated {
                std::mem::swap(later, kept);
            }
            repeated
        });
        self.out.push(b'{');
        let mut found = None;
        for (i, (name, range)) in self.members.iter().enumerate() {
            let start = self.out.len();
            if i > 0 {
                self.out.push(b',');
            }
            write_string(self.out, name);
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[range.clone()]);
            if self
                .track
                .is_some_and(|(member, _)| member == name.as_ref())
            {
                found = Some(if i > 0 {
                    (start, self.out.len())
                } else {
                    (start, self.out.len() + 1)
                });
            }
        }
        self.out.push(b'}');
        if let (Some((_, cell)), Some((start, end))) = (self.track, found) {
            // A lone member: up to the closing brace.
            cell.set(Some((start, end.min(self.out.len() - 1))));
        }
        if self.closes_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Inexact;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Inexact> {
        self.key = Some(key.serialize(KeyWriter)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Inexact> {
        let key = self.key.take().ok_or(Inexact)?;
        self.member(key.into(), value)
    }
    fn end(self) -> Result<(), Inexact> {
        self.close()
    }
}

/// A struct and a struct variant's fields: named members.
macro_rules! struct_traits {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Object<'_> {
            type Ok = ();
            type Error = Inexact;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Inexact> {
                self.member(key.into(), value)
            }
            fn end(self) -> Result<(), Inexact> {
                self.close()
            }
        }
    )*};
}

struct_traits!(SerializeStruct, SerializeStructVariant);

/// Map keys as serde_json takes them: strings, chars, integers (written as their digits).
struct KeyWriter;

macro_rules! integer_keys {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name(self, v: $ty) -> Result<String, Inexact> {
            Ok(v.to_string())
        })*
    };
}

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = Inexact;
    type SerializeSeq = Impossible<String, Inexact>;
    type SerializeTuple = Impossible<String, Inexact>;
    type SerializeTupleStruct = Impossible<String, Inexact>;
    type SerializeTupleVariant = Impossible<String, Inexact>;
    type SerializeMap = Impossible<String, Inexact>;
    type SerializeStruct = Impossible<String, Inexact>;
    type SerializeStructVariant = Impossible<String, Inexact>;

    integer_keys!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);

    fn serialize_str(self, v: &str) -> Result<String, Inexact> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, Inexact> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Inexact> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Inexact> {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_f32(self, _: f32) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_f64(self, _: f64) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_none(self) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_unit(self) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Inexact> {
        Err(Inexact)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Inexact> {
        Err(Inexact)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Inexact> {
        Err(Inexact)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Inexact> {
        Err(Inexact)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Inexact> {
        Err(Inexact)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Inexact> {
        Err(Inexact)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Inexact> {
        Err(Inexact)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Inexact> {
        Err(Inexact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, HashMap};

    /// The direct writer against `write_exact` over `serde_json::to_value` of the same value.
    fn same<T: Serialize>(value: &T) {
        let tree = serde_json::to_value(value).unwrap();
        let mut expected = Vec::new();
        assert!(super::super::write_exact(&mut expected, &tree), "{tree}");
        let (bytes, _) = to_vec_exact(value, "ingested_at").expect("exact");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[derive(Serialize)]
    enum Kind {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { b: bool, a: Option<i64> },
    }

    #[derive(Serialize)]
    struct Inner {
        z: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        a: Vec<Kind>,
    }

    #[derive(Serialize)]
    struct Outer {
        ingested_at: &'static str,
        nested: Inner,
        #[serde(flatten)]
        extra: BTreeMap<String, Value>,
        bytes: serde_bytes_like::Bytes,
        tuple: (u8, char),
        keys: HashMap<u32, &'static str>,
    }

    /// `serialize_bytes` without a dependency on serde_bytes.
    mod serde_bytes_like {
        pub struct Bytes(pub &'static [u8]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }

    #[test]
    fn agrees_with_the_tree_writer() {
        let outer = Outer {
            ingested_at: "2026-12-05T12:00:00+08:00",
            nested: Inner {
                z: "\u{0}\u{1f}\u{7f}\"\\/\n é € 😀",
                skipped: None,
                a: vec![
                    Kind::Unit,
                    Kind::New(7),
                    Kind::Tuple(1, "x".into()),
                    Kind::Struct { b: true, a: None },
                ],
            },
            extra: BTreeMap::from([
                ("\u{fb33}".to_string(), json!(1)),
                ("\u{1f600}".to_string(), json!({"b": [], "a": {}})),
                ("\r".to_string(), json!(-9007199254740992_i64)),
            ]),
            bytes: serde_bytes_like::Bytes(&[0, 255]),
            tuple: (3, 'c'),
            keys: HashMap::from([(10, "ten"), (9, "nine")]),
        };
        same(&outer);
        same(&json!({"only": 9007199254740992_u64}));
        same(&json!([]));
        same(&"plain");
    }

    #[test]
    fn a_repeated_member_keeps_its_last_value_like_serde_json() {
        #[derive(Serialize)]
        struct Repeats {
            b: u8,
            a: u8,
            #[serde(flatten)]
            extra: BTreeMap<String, Value>,
        }
        let value = Repeats {
            b: 1,
            a: 2,
            extra: BTreeMap::from([("a".to_string(), json!(3)), ("b".to_string(), json!(4))]),
        };
        same(&value);
        let (bytes, _) = to_vec_exact(&value, "ingested_at").unwrap();
        assert_eq!(bytes, br#"{"a":3,"b":4}"#);
    }

    #[test]
    fn the_member_range_drops_the_member_and_one_comma() {
        for doc in [
            json!({"a": 1, "ingested_at": "x", "z": 2}),
            json!({"ingested_at": "x", "z": [1]}),
            json!({"a": {"ingested_at": "nested stays"}, "ingested_at": "x"}),
            json!({"ingested_at": "x"}),
        ] {
            let (bytes, range) = to_vec_exact(&doc, "ingested_at").unwrap();
            let range = range.expect("found");
            let mut without = doc.clone();
            without.as_object_mut().unwrap().remove("ingested_at");
            let mut expected = Vec::new();
            super::super::write_exact(&mut expected, &without);
            let mut dropped = bytes[..range.start].to_vec();
            dropped.extend_from_slice(&bytes[range.end..]);
            assert_eq!(
                String::from_utf8(dropped).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
        assert_eq!(
            to_vec_exact(&json!({"a": 1}), "ingested_at").unwrap().1,
            None
        );
    }

    #[test]
    fn numbers_jcs_would_reprint_give_up() {
        for doc in [
            json!({"a": 1.5}),
            json!([9007199254740993_u64]),
            json!({"a": [-9007199254740993_i64]}),
            json!(5.0),
        ] {
            assert!(to_vec_exact(&doc, "ingested_at").is_none(), "{doc}");
        }
        assert!(to_vec_exact(&HashMap::from([((1, 2), 3)]), "x").is_none());
    }
}
