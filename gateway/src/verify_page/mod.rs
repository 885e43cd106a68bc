//! The approvers' verification page (docs/verify-page.md): what a service-hall clerk uses to
//! check a certificate an applicant presents, or one the network holds.
//!
//! - [`page`]: `GET /verify`, one HTML document with its CSS and script inline, all embedded in
//!   the binary from `gateway/assets/verify/` (hand-written, no library), Chinese with an
//!   English toggle. Anyone may open it; it calls the node's own API: `POST
//!   /v1/certificates/verify` for a dropped, picked or pasted file (no login), `GET
//!   /v1/purposes`, `POST /v1/session`, and the audited, routed lookups `GET
//!   /v1/certificates/{id}` and `GET /v1/certificates?holder_code=…` (approvers and supervisors).
//! - [`qr`]: `GET /v1/certificates/{id}/qr.svg`, a QR code of the page's URL for one
//!   certificate (`/verify?id=…`), derived from the identifier alone: the credential never
//!   changes, and nothing about the certificate is looked up or disclosed.
//!
//! The page's checks are the verdict's (`vc::verify`), one line each, with a plain-language
//! reason in both languages; it shows what the answer carries (the signed credential, or the
//! `subject` view a grant limits, masked by the API), never more.

pub mod page;
pub mod qr;
