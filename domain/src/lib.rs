//! The canonical model every tier shares: national code newtypes, the region table, the service
//! item catalog, the canonical case-record schema, and normalization of adapter drafts into
//! validated canonical records.
//!
//! Nothing here does I/O: the gateway feeds bytes in and stores what comes out, adapters build
//! drafts, and both can be tested without a server.
//!
//! # Layout
//! - [`codes`]: newtypes for region codes, credit codes, identity numbers, item codes and
//!   certificate identifiers. Each is made only by parsing, so an invalid one cannot exist.
//! - [`regions`]: the administrative division table and level-based ancestry.
//! - [`department`]: the departmental networks the gateway knows.
//! - [`catalog`]: the province's catalog list (items, aliases, status).
//! - [`schema`]: the canonical JSON Schema, compiled once, and its error reports.
//! - [`record`]: the typed canonical case record.
//! - [`rfc3339`]: its date-times read and written as chrono does, faster.
//! - [`normalize`]: draft (from an adapter) → stamped, catalog-mapped, validated record.
//! - [`field_error`]: the per-field error every stage reports (JSON Pointer path, stable code).

pub mod calendar;
pub mod catalog;
pub mod codes;
pub mod department;
pub mod field_error;
pub mod masking;
pub mod normalize;
pub mod purposes;
pub mod record;
pub mod regions;
pub mod rfc3339;
pub mod schema;
pub mod sharing;

pub use field_error::FieldError;
