//! National code newtypes: values that can only exist if they passed their standard's checks.
//!
//! | type | standard | module |
//! | --- | --- | --- |
//! | [`RegionCode`], [`Level`] | GB/T 2260 + NBS 12-digit statistical division codes | [`region`] |
//! | [`CreditCode`] | GB 32100-2015 unified social credit code | [`credit`] |
//! | [`IdNumber`] | GB 11643-1999 resident identity number | [`identity`] |
//! | [`ItemType`], [`BasicCode`], [`ImplCode`], [`CaseKind`] | GB/T 39046-2020 Appendix A item codes | [`item`] |
//! | [`CertIdentifier`] | GB/T 36904-2018 electronic certificate identifier | [`cert_id`] |
//!
//! Every string newtype follows the same pattern (the "parse, don't validate" rule): the inner
//! field is private, the only constructor is `parse(&str) -> Result<Self, CodeError>` (also
//! reachable through `FromStr` and `serde::Deserialize`), and `as_str()` / `Display` /
//! `serde::Serialize` give back exactly the parsed text. Nothing is trimmed or upper-cased:
//! adapters clean their input first, so a stray space here is a bug worth seeing.
//!
//! All failures are [`CodeError`]s with a stable [`CodeError::code`].

/// Implements `Display`, `FromStr`, `AsRef<str>`, `Serialize` (as the string) and
/// `Deserialize` (through `parse`) for a newtype that has `parse` and `as_str`.
macro_rules! string_code_impls {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::codes::CodeError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub mod cert_id;
pub mod credit;
pub mod error;
pub mod identity;
pub mod item;
pub mod region;

pub use cert_id::{CertIdentifier, mod37_36_check};
pub use credit::CreditCode;
pub use error::CodeError;
pub use identity::IdNumber;
pub use item::{BasicCode, CaseKind, ImplCode, ItemType};
pub use region::{Level, RegionCode};
