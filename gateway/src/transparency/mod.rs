//! The node's transparency log (RFC 6962, C2SP tlog-checkpoint and tlog-cosignature): every
//! credential this node issues and every status change it makes is a leaf of an append-only
//! Merkle tree, so nobody — not even the node's operator — can quietly rewrite what was issued.
//!
//! - [`sequencer`]: one process at a time (advisory lock) appends the new leaves, stores the
//!   complete subtrees' hashes (`tlog_nodes`) and signs a checkpoint with the node's checkpoint
//!   key (separate from the signing key).
//! - [`witness`]: checkpoints go to the witnesses — a node's parent; the root's go to its
//!   children — which cosign only after checking consistency with what they cosigned before,
//!   so no node can show different verifiers different histories.
//! - [`proof`]: inclusion proofs (`GET /v1/certificates/{id}/proof`), consistency proofs
//!   (`GET /v1/log/consistency`) and the latest checkpoint (`GET /v1/log/checkpoint`).
//! - [`audit`]: `gateway log audit` recomputes the tree from the stored rows.
//! - [`fork`]: the fork guard — no checkpoint is signed that contradicts one the parent
//!   cosigned (after a restore); `gateway log-fork` resolves it.

pub mod audit;
pub mod fork;
pub mod proof;
pub mod sequencer;
pub mod store;
pub mod witness;

use anyhow::Context;
use domain::codes::region::RegionCode;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::config::Config;

/// The advisory lock key of the sequencer ("tlog" in ASCII).
pub const SEQUENCER_LOCK: i64 = 0x746c_6f67;

/// This node's log identity: its origin and checkpoint key, and its name as a witness.
pub struct Log {
    pub origin: String,
    pub witness_name: String,
    pub key: Ed25519KeyPair,
}

impl Log {
    /// Load the checkpoint key; names come from the network's base URL (the trust bundle's).
    pub fn load(config: &Config, node: &RegionCode, base_url: &str) -> anyhow::Result<Log> {
        let path = config.checkpoint_key();
        let pk8 = std::fs::read(&path)
            .with_context(|| format!("cannot read checkpoint key {}", path.display()))?;
        let key = Ed25519KeyPair::from_pkcs8(&pk8)
            .map_err(|_| anyhow::anyhow!("{} is not a PKCS#8 Ed25519 key", path.display()))?;
        Ok(Log {
            origin: vc::trust::log_origin(base_url, node),
            witness_name: vc::trust::witness_name(base_url, node),
            key,
        })
    }

    /// The checkpoint key as a did:key (how the trust bundle lists it).
    pub fn did(&self) -> String {
        let pk: [u8; 32] = self.key.public_key().as_ref().try_into().expect("32 bytes");
        vc::did_key::did_from_ed25519(&pk)
    }
}
