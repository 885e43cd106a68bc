//! Inclusion and consistency proofs: generation per RFC 6962 §2.1.1 (PATH) and §2.1.2
//! (PROOF), verification per RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Generation runs the RFC recursion over leaf ranges only, yielding the ranges whose
//! `MTH` makes up the proof; each range is then hashed from stored nodes. The same ranges give
//! the `nodes_for_*` lists, so what a caller prefetches is exactly what the computation reads.

use thiserror::Error;

use crate::hash::{Hash, empty_root, node_hash};
use crate::tree::{NodeId, NodeReader, TreeError, range_hash, range_nodes, split_point};

/// Why a proof did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// The old tree is larger than the new one.
    #[error("tree size {old} is larger than tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    /// The proof has more hashes than the tree shape allows.
    #[error("proof has too many hashes")]
    TooLong,
    /// The proof has fewer hashes than the tree shape needs.
    #[error("proof has too few hashes")]
    TooShort,
    /// The hashes do not lead to the expected root(s).
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// The leaf ranges whose hashes form `PATH(index, D[0:size])`, from the leaf upwards.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    // Walk down from the root; the sibling met at each split is one proof element, and the
    // RFC lists them bottom-up.
    let (mut lo, mut hi) = (0, size);
    let mut ranges = Vec::new();
    while hi - lo > 1 {
        let k = lo + split_point(hi - lo);
        if index < k {
            ranges.push((k, hi));
            hi = k;
        } else {
            ranges.push((lo, k));
            lo = k;
        }
    }
    ranges.reverse();
    ranges
}

/// The leaf ranges whose hashes form `PROOF(old, D[0:new])`, for `0 < old < new`.
fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    // SUBPROOF(m, D[lo:hi], b) with m absolute; `whole` is the RFC's flag b ("the old tree is
    // this whole subtree, so the verifier already knows its hash").
    let (mut lo, mut hi, mut whole) = (0, new, true);
    let mut ranges = Vec::new();
    while old != hi {
        let k = lo + split_point(hi - lo);
        if old <= k {
            ranges.push((k, hi));
            hi = k;
        } else {
            ranges.push((lo, k));
            lo = k;
            whole = false;
        }
    }
    if !whole {
        ranges.push((lo, hi));
    }
    ranges.reverse();
    ranges
}

fn nodes_of(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut ids = Vec::new();
    for &(start, end) in ranges {
        range_nodes(start, end, &mut ids);
    }
    ids
}

fn hashes_of(ranges: &[(u64, u64)], reader: &impl NodeReader) -> Result<Vec<Hash>, TreeError> {
    ranges
        .iter()
        .map(|&(start, end)| range_hash(start, end, reader))
        .collect()
}

fn check_index(index: u64, size: u64) -> Result<(), TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_order(old: u64, new: u64) -> Result<(), TreeError> {
    if old > new {
        return Err(TreeError::SizeOrder { old, new });
    }
    Ok(())
}

/// The nodes [`inclusion_proof`] reads; each appears once.
pub fn nodes_for_inclusion(index: u64, size: u64) -> Result<Vec<NodeId>, TreeError> {
    check_index(index, size)?;
    Ok(nodes_of(&inclusion_ranges(index, size)))
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1),
/// from the leaf's sibling up to the root's child.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &impl NodeReader,
) -> Result<Vec<Hash>, TreeError> {
    check_index(index, size)?;
    hashes_of(&inclusion_ranges(index, size), reader)
}

/// The nodes [`consistency_proof`] reads; each appears once.
pub fn nodes_for_consistency(old: u64, new: u64) -> Result<Vec<NodeId>, TreeError> {
    check_order(old, new)?;
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    Ok(nodes_of(&consistency_ranges(old, new)))
}

/// The proof that the tree of size `old` is a prefix of the tree of size `new`
/// (RFC 6962 §2.1.2). Empty when `old` is 0 or equal to `new`.
pub fn consistency_proof(
    old: u64,
    new: u64,
    reader: &impl NodeReader,
) -> Result<Vec<Hash>, TreeError> {
    check_order(old, new)?;
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    hashes_of(&consistency_ranges(old, new), reader)
}

/// Checks that `leaf` is entry `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::TooLong);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // Skip the levels where this node is the right edge and has no sibling.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooShort);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of size `old` with root `old_root` is a prefix of the tree of size
/// `new` with root `new_root` (RFC 9162 §2.1.4.2).
///
/// The RFC covers `0 < old < new`; the edges follow from the definitions: equal sizes need
/// equal roots and an empty proof, and the empty tree (whose root must be `SHA-256("")`) is a
/// prefix of every tree, also with an empty proof.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == 0 || old == new {
        if !proof.is_empty() {
            return Err(ProofError::TooLong);
        }
        let expected = if old == 0 { empty_root() } else { *new_root };
        if *old_root != expected {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let (first, rest) = match proof.split_first() {
        Some(split) => split,
        None => return Err(ProofError::TooShort),
    };
    // When the old tree is a perfect subtree the generator leaves its root out of the proof
    // (the verifier has it): put it back in front.
    let (seed, path) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in path {
        if snode == 0 {
            return Err(ProofError::TooLong);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooShort);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_ranges_follow_path() {
        // PATH(5, D[8]) = [leaf 4, D[6:8], D[0:4]].
        assert_eq!(inclusion_ranges(5, 8), vec![(4, 5), (6, 8), (0, 4)]);
        // PATH(6, D[7]): leaf 6 is the right edge, its first sibling is D[4:6].
        assert_eq!(inclusion_ranges(6, 7), vec![(4, 6), (0, 4)]);
        assert_eq!(inclusion_ranges(0, 1), vec![]);
    }

    #[test]
    fn consistency_ranges_follow_proof() {
        // RFC 6962 §2.1.3 example: PROOF(3, D[7]) = [c, d, g, l].
        assert_eq!(
            consistency_ranges(3, 7),
            vec![(2, 3), (3, 4), (0, 2), (4, 7)]
        );
        // PROOF(4, D[7]) = [l]: the old tree is the left subtree itself.
        assert_eq!(consistency_ranges(4, 7), vec![(4, 7)]);
        // PROOF(6, D[7]) = [i, j, k].
        assert_eq!(consistency_ranges(6, 7), vec![(4, 6), (6, 7), (0, 4)]);
    }
}
