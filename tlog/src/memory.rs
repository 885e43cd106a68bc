//! [`MemoryLog`]: the whole node store in memory, one vector per level.
//!
//! Used by tests and by the offline audit, which rebuilds the tree from the leaf hashes and
//! compares every node and root with what the database holds.

use crate::hash::{Hash, leaf_hash};
use crate::proof::{consistency_proof, inclusion_proof};
use crate::tree::{NodeId, NodeReader, TreeError, append_nodes, root};

/// An in-memory log: `levels[l][i]` is node `(l, i)`; only complete nodes exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLog {
    levels: Vec<Vec<Hash>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// A log holding `leaves` (leaf hashes, not entry data) in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> MemoryLog {
        let mut log = MemoryLog::new();
        for leaf in leaves {
            log.push_leaf_hash(leaf);
        }
        log
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends an entry (hashed with [`leaf_hash`]); returns the nodes that became complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<(NodeId, Hash)> {
        self.push_leaf_hash(leaf_hash(data))
    }

    /// Appends a leaf hash; returns the nodes that became complete, as [`append_nodes`] does.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        // Every left sibling is complete and therefore held, and a Vec cannot reach u64::MAX
        // entries, so append_nodes cannot fail here.
        let created = append_nodes(self.size(), leaf, self)
            .expect("a MemoryLog holds every complete node below its size");
        for &((level, index), hash) in &created {
            let level = usize::from(level);
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, index);
            self.levels[level].push(hash);
        }
        created
    }

    /// The root of the whole log.
    pub fn root(&self) -> Hash {
        root(self.size(), self).expect("a MemoryLog holds every complete node below its size")
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        root(size, self)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        inclusion_proof(index, size, self)
    }

    /// The consistency proof from the first `old` leaves to the first `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(new)?;
        consistency_proof(old, new, self)
    }

    /// Every stored node, level by level, left to right.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        self.levels.iter().enumerate().flat_map(|(level, hashes)| {
            hashes
                .iter()
                .enumerate()
                .map(move |(index, hash)| ((level as u8, index as u64), *hash))
        })
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        if size > self.size() {
            return Err(TreeError::BeyondLog {
                size,
                log_size: self.size(),
            });
        }
        Ok(())
    }
}

impl NodeReader for MemoryLog {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        self.levels
            .get(usize::from(level))
            .and_then(|hashes| hashes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(TreeError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{empty_root, node_hash};

    #[test]
    fn holds_exactly_the_complete_nodes() {
        let mut log = MemoryLog::new();
        assert_eq!(log.root(), empty_root());
        for i in 0u8..5 {
            log.push(&[i]);
        }
        // 5 leaves: level 1 has (0,1),(2,3); level 2 has (0..4); leaf 4 has no parent yet.
        let counts: Vec<usize> = log.levels.iter().map(Vec::len).collect();
        assert_eq!(counts, vec![5, 2, 1]);
        assert_eq!(log.nodes().count(), 8);
        let expected = node_hash(&log.node(2, 0).unwrap(), &leaf_hash(&[4]));
        assert_eq!(log.root(), expected);
        assert!(matches!(
            log.root_at(6),
            Err(TreeError::BeyondLog {
                size: 6,
                log_size: 5
            })
        ));
    }
}
