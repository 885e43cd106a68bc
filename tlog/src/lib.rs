//! Transparency log core of the exchange gateway: pure, storage-agnostic, no I/O.
//!
//! The log is an RFC 6962 Merkle tree stored as the hashes of its complete aligned subtrees
//! ("nodes"); roots and proofs are computed from those through [`NodeReader`], and every
//! computation has a `nodes_for_*` twin listing exactly the nodes it reads, so the gateway can
//! fetch them from PostgreSQL in one query and compute in memory. Tree heads are published as
//! C2SP checkpoints in signed notes, which witnesses cosign.
//!
//! ```
//! use tlog::{MemoryLog, leaf_hash, verify_consistency, verify_inclusion};
//! let mut log = MemoryLog::new();
//! for entry in [&b"a"[..], b"b", b"c"] {
//!     log.push(entry);
//! }
//! let old_root = log.root_at(2)?;
//! let proof = log.inclusion_proof(1, 3)?;
//! assert!(verify_inclusion(&leaf_hash(b"b"), 1, 3, &proof, &log.root()).is_ok());
//! let proof = log.consistency_proof(2, 3)?;
//! assert!(verify_consistency(2, 3, &old_root, &log.root(), &proof).is_ok());
//! # Ok::<(), tlog::TreeError>(())
//! ```
//!
//! # Layout
//!
//! - [`hash`]: RFC 6962 leaf and node hashing, [`Hash`](type@Hash).
//! - [`tree`]: the node model ([`NodeId`], [`NodeReader`], [`TreeError`]), [`root`], and
//!   [`append_nodes`] (the nodes an append completes).
//! - [`proof`]: [`inclusion_proof`] and [`consistency_proof`] (RFC 6962 §2.1.1/§2.1.2) and
//!   their verifiers (RFC 9162 §2.1.3.2/§2.1.4.2); tests replay the Certificate
//!   Transparency test vectors.
//! - [`memory`]: [`MemoryLog`], the whole store in memory (tests, offline audit).
//! - [`note`]: C2SP signed notes, verifier keys (vkeys), [`sign_note`].
//! - [`checkpoint`]: C2SP checkpoints, [`open_note`].
//! - [`cosignature`]: C2SP Ed25519 cosignatures v1, [`cosign`].

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod memory;
pub mod note;
pub mod proof;
pub mod tree;

pub use checkpoint::{Checkpoint, open_note};
pub use cosignature::{cosign, cosignature_timestamp, verify_cosignature};
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use memory::MemoryLog;
pub use note::{
    MAX_SIGNATURES, Note, NoteError, NoteSignature, SIG_COSIGNATURE_V1, SIG_ED25519, VerifiedSig,
    VerifierKey, ed25519_signature, key_id, sign_note,
};
pub use proof::{
    ProofError, consistency_proof, inclusion_proof, nodes_for_consistency, nodes_for_inclusion,
    verify_consistency, verify_inclusion,
};
pub use tree::{
    NodeId, NodeReader, TreeError, append_batch_nodes, append_nodes, nodes_for_append,
    nodes_for_append_batch, nodes_for_root, root,
};
