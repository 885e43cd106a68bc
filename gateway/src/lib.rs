//! exchange-gateway: receives case records from departmental systems, normalizes them to one
//! canonical schema, stores them durably in PostgreSQL and (in later stages) signs the
//! certificates they carry and forwards them up the tiers. See ARCHITECTURE.md for the map.
//!
//! # Layout
//! - [`cli`]: the `gateway` command line; each subcommand is a small function.
//! - [`config`]: defaults → TOML file → `GATEWAY_*` environment.
//! - [`db`]: the database URL (configured or the embedded private PostgreSQL), pool, migrations.
//! - [`tls`]: rustls server/client configs and the client certificate → principal id mapping.
//! - [`server`]: the TLS accept loop feeding hyper and the axum router; graceful shutdown.
//! - [`mllp`]: the MLLP listener for HL7 messages (health), answering HL7 ACKs.
//! - [`ops`]: what operators watch: Prometheus metrics of the ingest paths, the node's
//!   per-minute totals across its processes, `GET /v1/ops/series` and the `/ops` page.
//! - [`api`]: HTTP handlers, authentication, RFC 9457 problems.
//! - [`ingest`]: decode → normalize → one transaction per batch → receipt.
//! - [`federation`]: forwarding up the tiers (outbox drainer) and receiving from children.
//! - [`reference`]: catalog, region table and trust bundle versions, published top-down.
//! - [`transparency`]: the node's RFC 6962 log of issued credentials and status changes,
//!   checkpoints, witnessing, proofs and `gateway log audit`.
//! - [`supervision`]: electronic supervision (电子监察): entry delay, deadlines on the working-day
//!   calendar, warnings and alarms per case; the alerts and stats API.
//! - [`certificates`]: issuing signed credentials inside that transaction; the node's issuer.
//! - [`principals`]: the principal table (role, department, region, status).
//! - [`accounts`]: staff accounts (argon2id) and login sessions for the web listener.
//! - [`audit`]: the audit trail of shared-data lookups (purpose required, written first),
//!   hash-chained, its head acknowledged by the parent; `gateway audit verify`.
//! - [`grants`]: sharing grants (`gateway grants add|revoke|list`), published as reference data.
//! - [`keys`]: signing-key rotation (`gateway keys rotate|pending|publish`), requests up the tree.
//! - [`pki`]: the development PKI (`gateway pki init`).
//! - [`crl`]: the CA's revocation lists (`gateway pki revoke`), published down the tree and
//!   applied at every listener's TLS handshake without a restart.
//! - [`client`]: an mTLS HTTP client for tests, tools and peers.
//! - [`push`]: `gateway push`, batch files to a node with a progress bar and idempotent retries.
//! - [`offline`]: `gateway verify` and `gateway trust` (no network, no database).
//! - [`serve`]: wiring it all together for `gateway serve`.
//! - [`verify_page`]: the approvers' verification page `/verify` and the certificates' QR
//!   codes (`/v1/certificates/{id}/qr.svg`).
//! - [`webpage`]: what the web listener's pages share: assets inlined, a hash-based CSP.
//! - [`demo`]: `gateway demo`, a five-node network on loopback, with a smoke scenario.

// `Problem` is the error answer of a request: it is built once per failed request, so its size
// does not matter and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod accounts;
pub mod api;
pub mod archive;
pub mod audit;
pub mod certificates;
pub mod cli;
pub mod client;
pub mod config;
pub mod crl;
pub mod db;
pub mod demo;
pub mod federation;
pub mod grants;
pub mod ingest;
pub mod keys;
pub mod log_format;
pub mod log_writer;
pub mod mllp;
pub mod offline;
pub mod ops;
pub mod parallel;
pub mod pki;
pub mod principals;
pub mod push;
pub mod reference;
pub mod serve;
pub mod server;
pub mod supervision;
pub mod tls;
pub mod transparency;
pub mod verify_page;
pub mod webpage;
