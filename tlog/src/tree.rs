//! The storage model: a log keeps only the hashes of *complete aligned subtrees*.
//!
//! Node `(level, index)` is the root of the perfect subtree over leaves
//! `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf hashes. A node is written once,
//! when its last leaf is appended, and never changes afterwards, so the nodes of a log of size
//! `n` also answer every question about any earlier size. Every hash the RFC 6962 algorithms
//! need that is not such a node lies on the right edge of some tree and is folded on the fly
//! from at most 64 stored nodes.
//!
//! The computations read nodes through [`NodeReader`], which is synchronous on purpose: a
//! database-backed caller asks the matching `nodes_for_*` function which nodes a computation
//! will read, fetches them in one query into a map (maps implement [`NodeReader`]), then runs
//! the computation in memory.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use thiserror::Error;

use crate::hash::{Hash, empty_root, node_hash};

/// `(level, index)` of a stored node: the subtree over leaves `[index << level, (index+1) << level)`.
pub type NodeId = (u8, u64);

/// Why a hash could not be computed from stored nodes.
#[derive(Debug, Error)]
pub enum TreeError {
    /// An inclusion proof was asked for a leaf the tree does not have.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("tree size {old} is larger than tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    /// A size beyond what the log (or the appended batch) holds.
    #[error("tree size {size} is beyond the log's size {log_size}")]
    BeyondLog { size: u64, log_size: u64 },
    /// Appending would take the tree past `u64::MAX` leaves.
    #[error("the tree cannot grow past u64::MAX leaves")]
    Full,
    /// The reader has no hash for a node the computation needs (not yet complete, or not
    /// prefetched).
    #[error("node (level {level}, index {index}) is not stored")]
    MissingNode { level: u8, index: u64 },
    /// The reader's own failure (database, I/O, corrupt row).
    #[error("node store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Read access to stored node hashes.
///
/// Implementations return [`TreeError::MissingNode`] for a node they do not hold and
/// [`TreeError::Store`] for their own failures.
pub trait NodeReader {
    /// The hash of node `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError>;
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        (**self).node(level, index)
    }
}

impl<S: BuildHasher> NodeReader for HashMap<NodeId, Hash, S> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        self.get(&(level, index))
            .copied()
            .ok_or(TreeError::MissingNode { level, index })
    }
}

impl NodeReader for BTreeMap<NodeId, Hash> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        self.get(&(level, index))
            .copied()
            .ok_or(TreeError::MissingNode { level, index })
    }
}

/// The largest power of two strictly below `n` (the RFC 6962 split point `k`); `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The stored nodes whose fold is `MTH(D[start:end])`, left to right.
///
/// Valid for the ranges the RFC 6962 recursion produces: `start` is a multiple of a power of
/// two that is at least `end - start`, so the range splits into perfect subtrees of strictly
/// decreasing size (the binary digits of its length, high to low).
pub(crate) fn range_nodes(start: u64, end: u64, out: &mut Vec<NodeId>) {
    debug_assert!(start < end);
    let mut at = start;
    while at < end {
        let level = (end - at).ilog2();
        debug_assert!(
            at.trailing_zeros() >= level,
            "range [{start}, {end}) is not RFC 6962 shaped"
        );
        out.push((level as u8, at >> level));
        at += 1 << level;
    }
}

/// `MTH(D[start:end])` from stored nodes (see [`range_nodes`] for which ranges are valid).
pub(crate) fn range_hash(
    start: u64,
    end: u64,
    reader: &impl NodeReader,
) -> Result<Hash, TreeError> {
    let mut ids = Vec::with_capacity(64);
    range_nodes(start, end, &mut ids);
    // MTH splits off the largest left subtree first, so the right edge folds from the right.
    let (&(level, index), rest) = ids.split_last().expect("a non-empty range has a node");
    let mut acc = reader.node(level, index)?;
    for &(level, index) in rest.iter().rev() {
        acc = node_hash(&reader.node(level, index)?, &acc);
    }
    Ok(acc)
}

/// The nodes [`root`] reads for a tree of `size` leaves (none for the empty tree).
pub fn nodes_for_root(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::new();
    if size > 0 {
        range_nodes(0, size, &mut ids);
    }
    ids
}

/// The RFC 6962 Merkle tree hash of the first `size` leaves.
pub fn root(size: u64, reader: &impl NodeReader) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, reader)
}

/// The left siblings [`append_nodes`] reads when leaf number `n` (0-based) is appended.
pub fn nodes_for_append(n: u64) -> Vec<NodeId> {
    // Every trailing one bit of n is a level where the new node is a right child.
    (0..n.trailing_ones())
        .map(|level| (level as u8, (n >> level) - 1))
        .collect()
}

/// The nodes that become complete when leaf number `n` (0-based) with hash `leaf` is appended
/// to a tree of size `n`: the leaf itself at level 0, then one parent per level for as long as
/// the new node is a right child. Persist all of them.
pub fn append_nodes(
    n: u64,
    leaf: Hash,
    reader: &impl NodeReader,
) -> Result<Vec<(NodeId, Hash)>, TreeError> {
    if n == u64::MAX {
        return Err(TreeError::Full);
    }
    let mut out = Vec::with_capacity(1 + n.trailing_ones() as usize);
    let mut hash = leaf;
    out.push(((0, n), hash));
    for level in 0..n.trailing_ones() {
        let index = n >> level;
        let left = reader.node(level as u8, index - 1)?;
        hash = node_hash(&left, &hash);
        out.push(((level as u8 + 1, index >> 1), hash));
    }
    Ok(out)
}

/// The already stored nodes [`append_batch_nodes`] reads when `count` leaves are appended to
/// a tree of size `start` (siblings completed inside the batch are not listed).
pub fn nodes_for_append_batch(start: u64, count: u64) -> Result<Vec<NodeId>, TreeError> {
    let end = start.checked_add(count).ok_or(TreeError::Full)?;
    // Only the perfect subtrees making up the tree of size `start` are complete before the
    // batch; each is a left child, read once its parent completes, i.e. once the tree
    // reaches the end of the parent's range.
    Ok(nodes_for_root(start)
        .into_iter()
        .filter(|&(level, index)| {
            let parent_end = (u128::from(index >> 1) + 1) << (level + 1);
            parent_end <= u128::from(end)
        })
        .collect())
}

/// [`append_nodes`] for `leaves` appended in order to a tree of size `start`: every node that
/// becomes complete, in creation order. Siblings created earlier in the batch are taken from
/// the batch itself, so `reader` only needs [`nodes_for_append_batch`].
pub fn append_batch_nodes(
    start: u64,
    leaves: &[Hash],
    reader: &impl NodeReader,
) -> Result<Vec<(NodeId, Hash)>, TreeError> {
    let end = start
        .checked_add(leaves.len() as u64)
        .ok_or(TreeError::Full)?;
    let mut batch = Overlay {
        new: HashMap::new(),
        base: reader,
    };
    let mut out = Vec::new();
    for (n, &leaf) in (start..end).zip(leaves) {
        let created = append_nodes(n, leaf, &batch)?;
        batch.new.extend(created.iter().copied());
        out.extend(created);
    }
    Ok(out)
}

/// Nodes created so far in a batch, in front of the store.
struct Overlay<'a, R: NodeReader> {
    new: HashMap<NodeId, Hash>,
    base: &'a R,
}

impl<R: NodeReader> NodeReader for Overlay<'_, R> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        match self.new.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => self.base.node(level, index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (u64::MAX, 1 << 63),
        ] {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn root_nodes_are_the_binary_digits_of_the_size() {
        assert_eq!(nodes_for_root(0), Vec::<NodeId>::new());
        assert_eq!(nodes_for_root(1), vec![(0, 0)]);
        assert_eq!(nodes_for_root(8), vec![(3, 0)]);
        assert_eq!(nodes_for_root(7), vec![(2, 0), (1, 2), (0, 6)]);
        assert_eq!(nodes_for_root(u64::MAX).len(), 64);
    }

    #[test]
    fn append_reads_one_left_sibling_per_completed_level() {
        assert_eq!(nodes_for_append(0), Vec::<NodeId>::new());
        assert_eq!(nodes_for_append(4), Vec::<NodeId>::new());
        assert_eq!(nodes_for_append(7), vec![(0, 6), (1, 2), (2, 0)]);
        assert_eq!(nodes_for_append_batch(5, 3).unwrap(), vec![(2, 0), (0, 4)]);
        // At the top of the index space nothing overflows.
        assert!(nodes_for_append_batch(u64::MAX - 1, 1).unwrap().is_empty());
        assert!(matches!(
            nodes_for_append_batch(u64::MAX, 1),
            Err(TreeError::Full)
        ));
        assert_eq!(
            nodes_for_append_batch(0, 100).unwrap(),
            Vec::<NodeId>::new()
        );
    }

    #[test]
    fn a_missing_sibling_is_reported_not_guessed() {
        let empty = BTreeMap::new();
        let err = append_nodes(1, [0; 32], &empty).unwrap_err();
        assert!(matches!(err, TreeError::MissingNode { level: 0, index: 0 }));
        assert!(matches!(
            append_nodes(u64::MAX, [0; 32], &empty),
            Err(TreeError::Full)
        ));
    }
}
