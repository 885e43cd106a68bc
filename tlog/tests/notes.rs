//! Signed notes, checkpoints and cosignatures against published examples.
//!
//! Vectors (data only):
//! - golang.org/x/mod `sumdb/note/note_test.go` (github.com/golang/mod): the PeterNeumann and
//!   EnochRoot keys, the signed example note, its malformed-message table.
//! - c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature (github.com/C2SP/C2SP): the
//!   example checkpoint with a log signature and a witness cosignature.
//! - github.com/transparency-dev/formats `note/note_cosigv1_test.go`: a cosignature whose
//!   timestamp is 1727964367, and a plain signature that is not a cosignature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest::{SHA256, digest};
use ring::signature::{Ed25519KeyPair, KeyPair};
use tlog::{
    Checkpoint, MemoryLog, Note, NoteError, NoteSignature, SIG_COSIGNATURE_V1, SIG_ED25519,
    VerifiedSig, VerifierKey, cosign, cosignature_timestamp, open_note, sign_note,
    verify_cosignature,
};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const SPEC_CHECKPOINT: &str = "example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

/// The Ed25519 key pair of a Go `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>` signer key.
fn go_signer(skey: &str) -> Ed25519KeyPair {
    // PRIVATE, KEY, name, id, then the base64 (which may itself contain '+').
    let b64 = skey.splitn(5, '+').nth(4).unwrap();
    let raw = BASE64.decode(b64).unwrap();
    assert_eq!(raw[0], SIG_ED25519);
    Ed25519KeyPair::from_seed_unchecked(&raw[1..]).unwrap()
}

fn test_key(seed_byte: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed_byte; 32]).unwrap()
}

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

fn enoch() -> VerifierKey {
    VerifierKey::parse(ENOCH_VKEY).unwrap()
}

fn sig(name: &str, key_id: u32) -> VerifiedSig {
    VerifiedSig {
        name: name.into(),
        key_id,
        sig_type: SIG_ED25519,
        timestamp: None,
    }
}

#[test]
fn vkeys_parse_and_format() {
    let key = peter();
    assert_eq!(key.name(), "PeterNeumann");
    assert_eq!(key.key_id(), 0xc74f20a3);
    assert_eq!(key.sig_type(), SIG_ED25519);
    assert_eq!(key.to_string(), PETER_VKEY);
    assert_eq!(enoch().to_string(), ENOCH_VKEY);
    assert_eq!(PETER_VKEY.parse::<VerifierKey>().unwrap(), key);
    // The key id is SHA-256(name || "\n" || 0x01 || key)[:4].
    let mut preimage = b"PeterNeumann\n\x01".to_vec();
    preimage.extend_from_slice(key.public_key());
    assert_eq!(
        digest(&SHA256, &preimage).as_ref()[..4],
        0xc74f20a3u32.to_be_bytes()
    );
    // The signer key of the Go example has this public key.
    assert_eq!(
        go_signer(PETER_SKEY).public_key().as_ref(),
        key.public_key()
    );
}

#[test]
fn mangled_vkeys_are_rejected() {
    // note_test.go's TestNewVerifier: every proper substring and every single-byte change.
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if (i, j) != (0, bytes.len()) {
                let sub = &PETER_VKEY[i..j];
                assert!(VerifierKey::parse(sub).is_err(), "accepted {sub:?}");
            }
        }
    }
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] += 1;
        let s = String::from_utf8(b).unwrap();
        assert!(VerifierKey::parse(&s).is_err(), "accepted {s:?}");
    }
    for bad in [
        // Wrong key length, with adjusted key id.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        // Unknown algorithm (0x65), with adjusted key id.
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        // Upper-case key id: Go accepts it, this crate only reads what it writes.
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(VerifierKey::parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn signing_reproduces_the_go_example_byte_for_byte() {
    // Ed25519 is deterministic, so the same seed and text give the published note.
    let note = sign_note(TEXT, "PeterNeumann", &go_signer(PETER_SKEY)).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));

    let key = go_signer(PETER_SKEY);
    assert!(matches!(
        sign_note("abc", "PeterNeumann", &key),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        sign_note(TEXT, "a+b", &key),
        Err(NoteError::InvalidName(_))
    ));
    assert!(matches!(
        sign_note("tab\there\n", "x", &key),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn open_verifies_known_keys_and_keeps_the_others() {
    let text = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = Note::parse(&text).unwrap();
    assert_eq!(note.body, TEXT);
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(note.to_text(), text);

    // One known key: its signature counts, Enoch's is kept but ignored.
    assert_eq!(
        note.verify(&[peter()]).unwrap(),
        [sig("PeterNeumann", 0xc74f20a3)]
    );
    assert_eq!(
        note.verify(&[peter(), enoch()]).unwrap(),
        [
            sig("PeterNeumann", 0xc74f20a3),
            sig("EnochRoot", 0xaf0cfe78)
        ]
    );
    assert_eq!(note.verify(&[]), Err(NoteError::Unverified));
    // The same key listed twice is not ambiguous.
    Note::parse(format!("{TEXT}\n{ENOCH_SIG}"))
        .unwrap()
        .verify(&[enoch(), peter(), enoch()])
        .unwrap();
}

#[test]
fn signature_limits_and_bad_signatures() {
    let many = |n| format!("{TEXT}\n{}", PETER_SIG.repeat(n));
    assert_eq!(
        Note::parse(many(100))
            .unwrap()
            .verify(&[peter()])
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        Note::parse(many(101)),
        Err(NoteError::Malformed(_))
    ));

    // A corrupted signature from a known key rejects the whole note...
    let corrupt = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        Note::parse(&corrupt).unwrap().verify(&[peter()]),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // ...but from an unknown key it is ignored.
    let corrupt_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let text = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{corrupt_enoch}");
    let note = Note::parse(&text).unwrap();
    assert_eq!(note.signatures.len(), 5);
    assert_eq!(
        note.verify(&[peter()]).unwrap(),
        [sig("PeterNeumann", 0xc74f20a3)]
    );
}

#[test]
fn malformed_notes_are_rejected() {
    let text_bytes = |prefix: &[u8], rest: &str| [prefix, rest.as_bytes()].concat();
    let bad: Vec<Vec<u8>> = vec![
        TEXT.into(),
        format!("{TEXT}\n").into(),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]).into(),
        text_bytes(b"\x01", &format!("{TEXT}\n{PETER_SIG}")),
        text_bytes(b"\xff", &format!("{TEXT}\n{PETER_SIG}")),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
        // Beyond the Go table: a hyphen instead of the em dash, CRLF, short signature.
        format!("{TEXT}\n{}", PETER_SIG.replace('\u{2014}', "-")).into(),
        format!("{TEXT}\n{}", PETER_SIG.replace('\n', "\r\n")).into(),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n").into(),
        format!("{TEXT}\n\u{2014} PeterNeumann \n").into(),
    ];
    for msg in bad {
        assert!(
            matches!(Note::parse(&msg), Err(NoteError::Malformed(_))),
            "accepted {:?}",
            String::from_utf8_lossy(&msg)
        );
    }
}

#[test]
fn the_spec_checkpoint_and_its_cosignature_parse() {
    let note = Note::parse(SPEC_CHECKPOINT).unwrap();
    assert_eq!(note.to_text(), SPEC_CHECKPOINT);
    let cp = Checkpoint::parse(&note.body).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("example.com/behind-the-sofa", 20852163)
    );
    let [log_sig, witness] = &note.signatures[..] else {
        panic!("two signatures expected");
    };
    assert_eq!(log_sig.signature.len(), 64);
    assert_eq!(witness.name, "witness.example.com/w1");
    assert_eq!(witness.key_id, 0x8d66cf3f);
    // The spec's example message is signed at "time 1679315147".
    assert_eq!(cosignature_timestamp(witness).unwrap(), 1679315147);
    assert!(cosignature_timestamp(log_sig).is_err());
    // Without the keys nothing verifies.
    assert_eq!(open_note(SPEC_CHECKPOINT, &[]), Err(NoteError::Unverified));
}

#[test]
fn transparency_dev_cosignature_timestamps() {
    let decode = |b64: &str| {
        let raw = BASE64.decode(b64).unwrap();
        NoteSignature {
            name: "w".into(),
            key_id: u32::from_be_bytes(raw[..4].try_into().unwrap()),
            signature: raw[4..].to_vec(),
        }
    };
    let cosig = decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    );
    assert_eq!(cosignature_timestamp(&cosig).unwrap(), 1727964367);
    let plain = decode(
        "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
    );
    assert!(cosignature_timestamp(&plain).is_err());
}

/// A log key, a checkpoint of a real tree, and its signed note.
fn signed_checkpoint() -> (Ed25519KeyPair, VerifierKey, Checkpoint, String) {
    let mut log = MemoryLog::new();
    for i in 0u32..13 {
        log.push(&i.to_be_bytes());
    }
    let key = test_key(7);
    let vkey = VerifierKey::ed25519("example.gov.cn/tlog", key.public_key().as_ref()).unwrap();
    let cp = Checkpoint::new("example.gov.cn/tlog", log.size(), log.root());
    let text = sign_note(&cp.body(), "example.gov.cn/tlog", &key).unwrap();
    (key, vkey, cp, text)
}

#[test]
fn checkpoint_sign_open_round_trip() {
    let (_, vkey, cp, text) = signed_checkpoint();
    let (opened, sigs) = open_note(&text, std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(sigs, [sig("example.gov.cn/tlog", vkey.key_id())]);
    // Any change to the body breaks the signature.
    let forged = text.replacen("\n13\n", "\n14\n", 1);
    assert!(matches!(
        open_note(&forged, std::slice::from_ref(&vkey)),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A note that verifies but is not a checkpoint is refused by open_note.
    let key = test_key(7);
    let not_cp = sign_note("hello\n", "example.gov.cn/tlog", &key).unwrap();
    assert!(matches!(
        open_note(&not_cp, &[vkey]),
        Err(NoteError::Checkpoint(_))
    ));
}

#[test]
fn cosignature_round_trip() {
    let (_, log_vkey, cp, text) = signed_checkpoint();
    let witness = test_key(9);
    let witness_vkey =
        VerifierKey::cosigner("witness.example.gov.cn", witness.public_key().as_ref()).unwrap();
    assert_eq!(witness_vkey.sig_type(), SIG_COSIGNATURE_V1);
    // The cosigner vkey carries type 0x04 and round-trips.
    assert_eq!(
        witness_vkey.to_string().parse::<VerifierKey>().unwrap(),
        witness_vkey
    );
    let mut preimage = b"witness.example.gov.cn\n\x04".to_vec();
    preimage.extend_from_slice(witness.public_key().as_ref());
    assert_eq!(
        digest(&SHA256, &preimage).as_ref()[..4],
        witness_vkey.key_id().to_be_bytes()
    );

    let cosig = cosign(&cp, "witness.example.gov.cn", &witness, 1_700_000_000).unwrap();
    assert_eq!(cosig.key_id, witness_vkey.key_id());
    assert_eq!(cosig.signature.len(), 8 + 64);
    assert_eq!(
        verify_cosignature(&cp.body(), &cosig, &witness_vkey).unwrap(),
        1_700_000_000
    );

    let mut note = Note::parse(&text).unwrap();
    note.add_signature(cosig.clone());
    let cosigned = note.to_text();
    let (_, sigs) = open_note(&cosigned, &[log_vkey.clone(), witness_vkey.clone()]).unwrap();
    assert_eq!(sigs[1].timestamp, Some(1_700_000_000));
    assert_eq!(sigs[1].sig_type, SIG_COSIGNATURE_V1);
    // The log's verifier alone still opens the cosigned note.
    assert_eq!(
        open_note(&cosigned, std::slice::from_ref(&log_vkey))
            .unwrap()
            .1
            .len(),
        1
    );
    // Re-cosigning replaces the earlier cosignature by the same key.
    note.add_signature(cosign(&cp, "witness.example.gov.cn", &witness, 1_700_000_060).unwrap());
    assert_eq!(note.signatures.len(), 2);

    // The same public key as a plain Ed25519 key has another key id: the cosignature is
    // someone else's to it, and does not count.
    let plain =
        VerifierKey::ed25519("witness.example.gov.cn", witness.public_key().as_ref()).unwrap();
    assert_ne!(plain.key_id(), witness_vkey.key_id());
    assert_eq!(open_note(&cosigned, &[plain]), Err(NoteError::Unverified));

    // A changed timestamp, or a cosignature over another checkpoint, does not verify.
    let mut moved = cosig.clone();
    moved.signature[7] ^= 1;
    assert!(verify_cosignature(&cp.body(), &moved, &witness_vkey).is_err());
    let mut other = cp.clone();
    other.size += 1;
    assert!(verify_cosignature(&other.body(), &cosig, &witness_vkey).is_err());
    // Extension lines are signed too.
    let mut extended = cp.clone();
    extended.extensions.push("note: one".into());
    let ext_sig = cosign(&extended, "witness.example.gov.cn", &witness, 5).unwrap();
    extended.extensions[0] = "note: two".into();
    assert!(verify_cosignature(&extended.body(), &ext_sig, &witness_vkey).is_err());
    // A plain key cannot verify a cosignature.
    assert_eq!(
        verify_cosignature(&cp.body(), &cosig, &log_vkey),
        Err(NoteError::UnsupportedType(SIG_ED25519))
    );
}

#[test]
fn cosign_refuses_bad_input() {
    let (_, _, cp, _) = signed_checkpoint();
    let witness = test_key(9);
    assert!(cosign(&cp, "bad name", &witness, 1).is_err());
    assert!(cosign(&cp, "w", &witness, 1 << 63).is_err());
    let mut broken = cp.clone();
    broken.origin.push('\n');
    assert!(cosign(&broken, "w", &witness, 1).is_err());
}
