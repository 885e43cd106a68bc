//! Exhaustive checks on every tree up to 70 leaves: the node-based computations agree with a
//! direct transcription of the RFC 6962 definitions over the leaf list, every generated proof
//! verifies, tampered proofs do not, and the `nodes_for_*` lists are exactly what is read.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use tlog::{
    Hash, MemoryLog, NodeId, NodeReader, TreeError, append_batch_nodes, append_nodes,
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, nodes_for_append,
    nodes_for_append_batch, nodes_for_consistency, nodes_for_inclusion, nodes_for_root, root,
    verify_consistency, verify_inclusion,
};

const MAX: u64 = 70;

/// Largest power of two strictly below n.
fn k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) straight from RFC 6962 §2.1.
fn ref_root(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => node_hash(&ref_root(&d[..k(n)]), &ref_root(&d[k(n)..])),
    }
}

/// PATH(m, D[n]) straight from RFC 6962 §2.1.1.
fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k(n);
    if m < k {
        [ref_path(m, &d[..k]), vec![ref_root(&d[k..])]].concat()
    } else {
        [ref_path(m - k, &d[k..]), vec![ref_root(&d[..k])]].concat()
    }
}

/// SUBPROOF(m, D[n], b) straight from RFC 6962 §2.1.2.
fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![ref_root(d)] };
    }
    let k = k(n);
    if m <= k {
        [ref_subproof(m, &d[..k], b), vec![ref_root(&d[k..])]].concat()
    } else {
        [ref_subproof(m - k, &d[k..], false), vec![ref_root(&d[..k])]].concat()
    }
}

/// A reader that records every node asked for.
struct Recording<'a> {
    log: &'a MemoryLog,
    reads: RefCell<Vec<NodeId>>,
}

impl<'a> Recording<'a> {
    fn new(log: &'a MemoryLog) -> Self {
        Recording {
            log,
            reads: RefCell::new(Vec::new()),
        }
    }

    /// The reads so far, asserting none was repeated.
    fn take(&self) -> BTreeSet<NodeId> {
        let reads = self.reads.take();
        let set: BTreeSet<NodeId> = reads.iter().copied().collect();
        assert_eq!(set.len(), reads.len(), "a node was read twice: {reads:?}");
        set
    }
}

impl NodeReader for Recording<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TreeError> {
        self.reads.borrow_mut().push((level, index));
        self.log.node(level, index)
    }
}

fn listed(ids: Vec<NodeId>) -> BTreeSet<NodeId> {
    let set: BTreeSet<NodeId> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "a node was listed twice: {ids:?}");
    set
}

fn leaves() -> Vec<Hash> {
    (0..MAX).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

#[test]
fn roots_match_the_definition() {
    let d = leaves();
    let log = MemoryLog::from_leaf_hashes(d.iter().copied());
    let rec = Recording::new(&log);
    for size in 0..=MAX {
        assert_eq!(
            root(size, &rec).unwrap(),
            ref_root(&d[..size as usize]),
            "size {size}"
        );
        assert_eq!(
            rec.take(),
            listed(nodes_for_root(size)),
            "nodes for root {size}"
        );
    }
}

#[test]
fn every_inclusion_proof_matches_verifies_and_resists_tampering() {
    let d = leaves();
    let log = MemoryLog::from_leaf_hashes(d.iter().copied());
    let rec = Recording::new(&log);
    for size in 1..=MAX {
        let r = ref_root(&d[..size as usize]);
        for index in 0..size {
            let proof = inclusion_proof(index, size, &rec).unwrap();
            assert_eq!(
                rec.take(),
                listed(nodes_for_inclusion(index, size).unwrap())
            );
            assert_eq!(proof, ref_path(index as usize, &d[..size as usize]));
            let leaf = d[index as usize];
            verify_inclusion(&leaf, index, size, &proof, &r)
                .unwrap_or_else(|e| panic!("({index}, {size}): {e}"));

            let fails = |i: u64, l: &Hash, p: &[Hash], root: &Hash| {
                verify_inclusion(l, i, size, p, root).is_err()
            };
            for (i, bit) in (0..proof.len()).flat_map(|i| [(i, 0), (i, 255)]) {
                let mut p = proof.clone();
                p[i][bit / 8] ^= 1 << (bit % 8);
                assert!(
                    fails(index, &leaf, &p, &r),
                    "flip {i}:{bit} at ({index}, {size})"
                );
            }
            for other in (0..size).filter(|&i| i != index) {
                assert!(
                    fails(other, &leaf, &proof, &r),
                    "index {other} for ({index}, {size})"
                );
            }
            assert!(fails(
                index,
                &d[(index as usize + 1) % MAX as usize],
                &proof,
                &r
            ));
            assert!(fails(
                index,
                &leaf,
                &proof,
                &ref_root(&d[..size as usize - 1])
            ));
            assert!(fails(index, &leaf, &[proof.clone(), vec![r]].concat(), &r));
            assert!(fails(
                index,
                &leaf,
                &[vec![leaf], proof.clone()].concat(),
                &r
            ));
            if let Some((_, shorter)) = proof.split_last() {
                assert!(fails(index, &leaf, shorter, &r));
            }
        }
        assert!(matches!(
            inclusion_proof(size, size, &log),
            Err(TreeError::IndexOutOfRange { .. })
        ));
    }
}

#[test]
fn every_consistency_proof_matches_verifies_and_resists_tampering() {
    let d = leaves();
    let log = MemoryLog::from_leaf_hashes(d.iter().copied());
    let rec = Recording::new(&log);
    for new in 0..=MAX {
        let r2 = ref_root(&d[..new as usize]);
        for old in 0..=new {
            let proof = consistency_proof(old, new, &rec).unwrap();
            assert_eq!(rec.take(), listed(nodes_for_consistency(old, new).unwrap()));
            let want = if old == 0 {
                vec![]
            } else {
                ref_subproof(old as usize, &d[..new as usize], true)
            };
            assert_eq!(proof, want, "({old}, {new})");
            let r1 = ref_root(&d[..old as usize]);
            verify_consistency(old, new, &r1, &r2, &proof)
                .unwrap_or_else(|e| panic!("({old}, {new}): {e}"));

            let fails = |m: u64, a: &Hash, b: &Hash, p: &[Hash]| {
                verify_consistency(m, new, a, b, p).is_err()
            };
            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i][31] ^= 1;
                assert!(fails(old, &r1, &r2, &p), "flip {i} at ({old}, {new})");
            }
            for other in (1..new).filter(|&m| m != old) {
                let r = ref_root(&d[..other as usize]);
                // Another old size with its own root still needs its own proof.
                assert!(
                    fails(other, &r, &r2, &proof),
                    "size {other} for ({old}, {new})"
                );
            }
            let wrong = leaf_hash(b"wrong");
            assert!(
                fails(old, &wrong, &r2, &proof),
                "old root at ({old}, {new})"
            );
            // The empty tree is a prefix of any tree, so only 0 < old < new binds the new root.
            if 0 < old && old < new {
                assert!(
                    fails(old, &r1, &wrong, &proof),
                    "new root at ({old}, {new})"
                );
                assert!(fails(old, &r1, &r2, &[proof.clone(), vec![r2]].concat()));
                assert!(fails(old, &r1, &r2, &[vec![r1], proof.clone()].concat()));
            }
            if let Some((_, shorter)) = proof.split_last() {
                assert!(fails(old, &r1, &r2, shorter), "truncated at ({old}, {new})");
            }
        }
        assert!(matches!(
            consistency_proof(new + 1, new, &log),
            Err(TreeError::SizeOrder { .. })
        ));
    }
}

#[test]
fn append_nodes_read_what_they_list_and_build_the_log() {
    let d = leaves();
    let full = MemoryLog::from_leaf_hashes(d.iter().copied());
    let mut built: BTreeMap<NodeId, Hash> = BTreeMap::new();
    for (n, leaf) in d.iter().enumerate() {
        let n = n as u64;
        let rec = Recording::new(&full);
        let created = append_nodes(n, *leaf, &rec).unwrap();
        assert_eq!(rec.take(), listed(nodes_for_append(n)), "leaf {n}");
        assert_eq!(created.len(), 1 + n.trailing_ones() as usize);
        // From only the nodes built so far, too.
        assert_eq!(append_nodes(n, *leaf, &built).unwrap(), created);
        built.extend(created);
    }
    assert_eq!(built, full.nodes().collect::<BTreeMap<_, _>>());
}

#[test]
fn batch_append_equals_one_by_one() {
    let d = leaves();
    let full = MemoryLog::from_leaf_hashes(d.iter().copied());
    for start in 0..=MAX {
        for count in 0..=(MAX - start) {
            let before = MemoryLog::from_leaf_hashes(d[..start as usize].iter().copied());
            let rec = Recording::new(&before);
            let batch = &d[start as usize..(start + count) as usize];
            let created = append_batch_nodes(start, batch, &rec).unwrap();
            assert_eq!(
                rec.take(),
                listed(nodes_for_append_batch(start, count).unwrap()),
                "batch {start}+{count}"
            );
            let mut one_by_one = Vec::new();
            for (n, leaf) in (start..).zip(batch) {
                one_by_one.extend(append_nodes(n, *leaf, &full).unwrap());
            }
            assert_eq!(created, one_by_one, "batch {start}+{count}");
        }
    }
}

#[test]
fn every_stored_node_is_the_root_of_its_leaves() {
    let d = leaves();
    let log = MemoryLog::from_leaf_hashes(d.iter().copied());
    for ((level, index), hash) in log.nodes() {
        let start = (index << level) as usize;
        assert_eq!(
            hash,
            ref_root(&d[start..start + (1 << level)]),
            "({level}, {index})"
        );
    }
}
