//! The RFC 6962 test vectors published by Certificate Transparency.
//!
//! Data (hex only, no code) from github.com/transparency-dev/merkle, the Go successor of
//! google/certificate-transparency-go's merkle package:
//! - `testonly/constants.go`: the 8 leaf inputs, every complete node hash, the roots of sizes
//!   0..=8;
//! - `proof/verify_test.go` and `testonly/reference_test.go`: inclusion and consistency proofs
//!   (verify_test.go numbers leaves from 1; converted to 0-based indexes here).

use std::collections::BTreeMap;

use tlog::{
    Hash, MemoryLog, NodeId, ProofError, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    nodes_for_consistency, nodes_for_inclusion, nodes_for_root, root, verify_consistency,
    verify_inclusion,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `NODES[level][index]`: every complete subtree of the 8-leaf tree.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// `ROOTS[size]` for the first `size` leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path).
const INCLUSION: &[(u64, u64, &[&str])] = &[
    (0, 1, &[]),
    (
        0,
        2,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        1,
        2,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex: &str) -> Hash {
    hex::decode(hex).unwrap().try_into().unwrap()
}

fn hs(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|x| h(x)).collect()
}

fn log() -> MemoryLog {
    let mut log = MemoryLog::new();
    for leaf in LEAVES {
        log.push(&hex::decode(leaf).unwrap());
    }
    log
}

/// Only the listed nodes, copied out of the log: what a caller would prefetch.
fn prefetch(log: &MemoryLog, ids: &[NodeId]) -> BTreeMap<NodeId, Hash> {
    let all: BTreeMap<NodeId, Hash> = log.nodes().collect();
    ids.iter().map(|id| (*id, all[id])).collect()
}

#[test]
fn leaf_hashes_match() {
    for (leaf, want) in LEAVES.iter().zip(NODES[0]) {
        assert_eq!(
            leaf_hash(&hex::decode(leaf).unwrap()),
            h(want),
            "leaf {leaf:?}"
        );
    }
}

#[test]
fn stored_nodes_are_exactly_the_published_complete_subtrees() {
    let expected: Vec<(NodeId, Hash)> = NODES
        .iter()
        .enumerate()
        .flat_map(|(level, hashes)| {
            hashes
                .iter()
                .enumerate()
                .map(move |(index, x)| ((level as u8, index as u64), h(x)))
        })
        .collect();
    assert_eq!(log().nodes().collect::<Vec<_>>(), expected);
}

#[test]
fn roots_of_every_size() {
    let log = log();
    assert_eq!(empty_root(), h(ROOTS[0]));
    for (size, want) in ROOTS.iter().enumerate() {
        let size = size as u64;
        assert_eq!(log.root_at(size).unwrap(), h(want), "size {size}");
        // The same from only the prefetched nodes.
        let map = prefetch(&log, &nodes_for_root(size));
        assert_eq!(
            root(size, &map).unwrap(),
            h(want),
            "size {size} from prefetch"
        );
    }
}

#[test]
fn append_yields_the_published_nodes_incrementally() {
    // Growing leaf by leaf reproduces each published root on the way.
    let mut log = MemoryLog::new();
    for (n, leaf) in LEAVES.iter().enumerate() {
        log.push(&hex::decode(leaf).unwrap());
        assert_eq!(log.root(), h(ROOTS[n + 1]));
    }
}

#[test]
fn inclusion_proofs() {
    let log = log();
    for &(index, size, want) in INCLUSION {
        let want = hs(want);
        let map = prefetch(&log, &nodes_for_inclusion(index, size).unwrap());
        assert_eq!(
            inclusion_proof(index, size, &map).unwrap(),
            want,
            "({index}, {size})"
        );
        let leaf = h(NODES[0][index as usize]);
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaf, index, size, &want, &root).unwrap();

        // The probes of verify_test.go's corruptInclusionProof that apply to fixed-size hashes.
        let mut bad: Vec<(u64, u64, Hash, Vec<Hash>, Hash)> = vec![
            (index.wrapping_sub(1), size, leaf, want.clone(), root),
            (index + 1, size, leaf, want.clone(), root),
            (index ^ 2, size, leaf, want.clone(), root),
            (index, size * 2, leaf, want.clone(), root),
            (index, size / 2, leaf, want.clone(), root),
            (index, size, leaf_hash(b"WrongLeaf"), want.clone(), root),
            (index, size, leaf, want.clone(), empty_root()),
            (
                index,
                size,
                leaf,
                want.clone(),
                h(ROOTS[0]).map(|b| b ^ 0x5a),
            ),
            (
                index,
                size,
                leaf,
                [want.clone(), vec![[0; 32]]].concat(),
                root,
            ),
            (index, size, leaf, [want.clone(), vec![root]].concat(), root),
            (
                index,
                size,
                leaf,
                [vec![[0; 32]], want.clone()].concat(),
                root,
            ),
            (index, size, leaf, [vec![root], want.clone()].concat(), root),
        ];
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i][0] ^= 8;
            bad.push((index, size, leaf, flipped, root));
        }
        if !want.is_empty() {
            bad.push((index, size, leaf, want[..want.len() - 1].to_vec(), root));
        }
        for (i, s, l, p, r) in bad {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "tampered probe verified: index {i} size {s} proof len {}",
                p.len()
            );
        }
    }
}

#[test]
fn consistency_proofs() {
    let log = log();
    for &(old, new, want) in CONSISTENCY {
        let want = hs(want);
        let map = prefetch(&log, &nodes_for_consistency(old, new).unwrap());
        assert_eq!(
            consistency_proof(old, new, &map).unwrap(),
            want,
            "({old}, {new})"
        );
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(old, new, &r1, &r2, &want).unwrap();
        if want.is_empty() {
            continue;
        }

        // The probes of verify_test.go's corruptConsistencyProof.
        let wrong = leaf_hash(b"WrongRoot");
        let mut bad: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (old - 1, new, r1, r2, want.clone()),
            (old + 1, new, r1, r2, want.clone()),
            (old ^ 2, new, r1, r2, want.clone()),
            (old, new * 2, r1, r2, want.clone()),
            (old, new / 2, r1, r2, want.clone()),
            (old, new, wrong, r2, want.clone()),
            (old, new, r1, wrong, want.clone()),
            (old, new, r2, r1, want.clone()),
            (old, new, r1, r2, vec![]),
            (old, new, r1, r2, [want.clone(), vec![[0; 32]]].concat()),
            (old, new, r1, r2, [want.clone(), vec![r1]].concat()),
            (old, new, r1, r2, [want.clone(), vec![r2]].concat()),
            (old, new, r1, r2, [vec![[0; 32]], want.clone()].concat()),
            (old, new, r1, r2, [vec![r1], want.clone()].concat()),
            (old, new, r1, r2, [vec![r2], want.clone()].concat()),
            (old, new, r1, r2, [vec![want[0]], want.clone()].concat()),
            (old, new, r1, r2, want[..want.len() - 1].to_vec()),
        ];
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i][0] ^= 16;
            bad.push((old, new, r1, r2, flipped));
        }
        for (m, n, a, b, p) in bad {
            assert!(
                verify_consistency(m, n, &a, &b, &p).is_err(),
                "tampered probe verified: {m} -> {n}, proof len {}",
                p.len()
            );
        }
    }
}

#[test]
fn consistency_edge_cases() {
    // verify_test.go's TestVerifyConsistency table, with one deliberate difference: for an
    // old size of 0 the reference ignores the old root; this crate requires it to be the
    // empty tree's root, which is what a size-0 checkpoint carries.
    let (r1, r2) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let empty = empty_root();
    for (m, n, a, b) in [(0, 0, empty, empty), (0, 1, empty, r2), (1, 1, r2, r2)] {
        verify_consistency(m, n, &a, &b, &[]).unwrap();
    }
    let size_order = |old, new| ProofError::SizeOrder { old, new };
    for (m, n, a, b, p, err) in [
        (0, 0, r1, r2, vec![], ProofError::RootMismatch),
        (1, 1, r1, r2, vec![], ProofError::RootMismatch),
        (0, 1, r1, r2, vec![], ProofError::RootMismatch),
        (1, 0, r1, r2, vec![], size_order(1, 0)),
        (2, 1, r1, r2, vec![], size_order(2, 1)),
        (1, 2, r1, r2, vec![], ProofError::TooShort),
        (0, 0, empty, empty, vec![empty], ProofError::TooLong),
        (0, 1, empty, empty, vec![empty], ProofError::TooLong),
        (1, 1, empty, empty, vec![empty], ProofError::TooLong),
    ] {
        assert_eq!(verify_consistency(m, n, &a, &b, &p), Err(err), "{m} -> {n}");
    }
}

#[test]
fn inclusion_edge_cases() {
    // verify_test.go's TestVerifyInclusion probes: no leaf is in an empty tree, and an index
    // must be below the size.
    let some = leaf_hash(b"some");
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert_eq!(
            verify_inclusion(&some, index, size, &[], &empty_root()),
            Err(ProofError::IndexOutOfRange { index, size })
        );
    }
    // A one-leaf tree: the root is the leaf hash, the proof is empty.
    verify_inclusion(&some, 0, 1, &[], &some).unwrap();
    assert_eq!(
        verify_inclusion(&some, 0, 1, &[], &empty_root()),
        Err(ProofError::RootMismatch)
    );
}
