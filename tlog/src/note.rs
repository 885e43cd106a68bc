//! C2SP signed notes (<https://c2sp.org/signed-note>) and verifier keys ("vkeys").
//!
//! A signed note is a text ending in a newline, a blank line, then one or more lines
//! `— <key name> <base64(4-byte key id || signature)>` (U+2014 EM DASH, space). Parsing is
//! strict, as in the reference implementation (golang.org/x/mod/sumdb/note): valid UTF-8, no
//! control characters but newline, canonical standard base64, at most [`MAX_SIGNATURES`].
//!
//! Verification follows the specification: signatures from keys the caller does not know are
//! kept (a note carries the log's signature and witnesses' cosignatures side by side) but never
//! count; every signature from a known key is checked and one bad signature rejects the whole
//! note; a note with no good signature from a known key is rejected.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest::{Context, SHA256};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use thiserror::Error;

use crate::cosignature;

/// Signature type of plain Ed25519 note signatures.
pub const SIG_ED25519: u8 = 0x01;
/// Signature type of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, v1).
pub const SIG_COSIGNATURE_V1: u8 = 0x04;
/// The most signature lines a note may carry (the spec requires accepting at least 16; the
/// reference implementation stops at 100, which also bounds the work an attacker can cause).
pub const MAX_SIGNATURES: usize = 100;

/// The start of every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, key, checkpoint or cosignature was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// The note text breaks the signed-note syntax.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key name is empty or contains a space or `+`.
    #[error("invalid key name {0:?}")]
    InvalidName(String),
    /// A verifier key string is not `<name>+<8 hex key id>+<base64(type || public key)>`.
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    /// A key of a signature type this crate does not implement.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedType(u8),
    /// Two different known keys share a name and key id; which one signed is unknowable.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey { name: String, key_id: u32 },
    /// A signature from a known key does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    /// No signature from a known key.
    #[error("note has no signature from a known key")]
    Unverified,
    /// The note text is not a c2sp.org/tlog-checkpoint body.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
    /// A cosignature cannot be made or read.
    #[error("malformed cosignature: {0}")]
    Cosignature(&'static str),
}

/// One signature line of a note, verified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id (big-endian in the encoding).
    pub key_id: u32,
    /// The signature bytes after the key id (for a cosignature: timestamp || signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line does not start with an em dash",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no signature"))?;
        check_name(name).map_err(|_| NoteError::Malformed("invalid key name in signature line"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not standard base64"))?;
        // A key id and at least one byte of signature.
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(raw[..4].try_into().expect("4 bytes")),
            signature: raw[4..].to_vec(),
        })
    }
}

/// A parsed signed note: the signed text and every signature line, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline but not the blank line.
    pub body: String,
    /// All signature lines, known keys or not.
    pub signatures: Vec<NoteSignature>,
}

/// A signature that verified under one of the caller's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSig {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// [`SIG_ED25519`] or [`SIG_COSIGNATURE_V1`].
    pub sig_type: u8,
    /// The cosignature's timestamp (POSIX seconds); `None` for plain signatures.
    pub timestamp: Option<u64>,
}

/// The key names of a note's signature lines, in order, read without checking anything else
/// (cheap: no decoding): to choose the keys to open it with. [`Note::parse`] and
/// [`crate::open_note`] check the note; a line this cannot read is left out, and so is every
/// line after the first [`MAX_SIGNATURES`] (a note with more is refused when opened: the
/// caller's work per name stays bounded whatever a note holds).
pub fn signer_names(text: &str) -> impl Iterator<Item = &str> {
    let sigs = text.rfind("\n\n").map_or("", |split| &text[split + 2..]);
    sigs.lines()
        .take(MAX_SIGNATURES)
        .filter_map(|line| line.strip_prefix(SIG_PREFIX)?.split_once(' '))
        .map(|(name, _)| name)
}

impl Note {
    /// Parses a signed note without verifying anything (syntax only).
    pub fn parse(text: impl AsRef<[u8]>) -> Result<Note, NoteError> {
        let text = std::str::from_utf8(text.as_ref())
            .map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("control character"));
        }
        // The text may contain blank lines itself: the last one separates the signatures.
        let split = text
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (body, sigs) = (&text[..=split], &text[split + 2..]);
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("missing signature or final newline"))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The note in its text form.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(self.body.len() + 1 + 120 * self.signatures.len());
        text.push_str(&self.body);
        text.push('\n');
        for sig in &self.signatures {
            text.push_str(&sig.line());
        }
        text
    }

    /// Adds a signature, replacing an earlier one by the same key (same name and key id).
    pub fn add_signature(&mut self, sig: NoteSignature) {
        self.signatures
            .retain(|s| s.name != sig.name || s.key_id != sig.key_id);
        self.signatures.push(sig);
    }

    /// Verifies the signatures made by `verifiers`; see the module docs for the rules.
    /// Returns one entry per known key that signed, in the order of the note.
    pub fn verify(&self, verifiers: &[VerifierKey]) -> Result<Vec<VerifiedSig>, NoteError> {
        let mut verified: Vec<VerifiedSig> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = find_key(verifiers, &sig.name, sig.key_id)? else {
                continue;
            };
            let good = key.verify(&self.body, sig)?;
            if !verified
                .iter()
                .any(|v| v.name == good.name && v.key_id == good.key_id)
            {
                verified.push(good);
            }
        }
        if verified.is_empty() {
            return Err(NoteError::Unverified);
        }
        Ok(verified)
    }
}

/// The one key matching (name, key id), if any; two different ones are an error.
fn find_key<'a>(
    verifiers: &'a [VerifierKey],
    name: &str,
    key_id: u32,
) -> Result<Option<&'a VerifierKey>, NoteError> {
    let mut found: Option<&VerifierKey> = None;
    for key in verifiers
        .iter()
        .filter(|k| k.name == name && k.key_id == key_id)
    {
        match found {
            // The same key listed twice is harmless.
            Some(earlier) if earlier != key => {
                return Err(NoteError::AmbiguousKey {
                    name: name.to_owned(),
                    key_id,
                });
            }
            _ => found = Some(key),
        }
    }
    Ok(found)
}

/// Signs `body` with an Ed25519 key and returns the signed note (one signature line).
pub fn sign_note(body: &str, name: &str, key: &Ed25519KeyPair) -> Result<String, NoteError> {
    let note = Note {
        body: body.to_owned(),
        signatures: vec![ed25519_signature(body, name, key)?],
    };
    Ok(note.to_text())
}

/// The Ed25519 signature line of `body` by `key` under `name`, to add to a [`Note`].
pub fn ed25519_signature(
    body: &str,
    name: &str,
    key: &Ed25519KeyPair,
) -> Result<NoteSignature, NoteError> {
    check_text(body)?;
    check_name(name)?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, SIG_ED25519, key.public_key().as_ref()),
        signature: key.sign(body.as_bytes()).as_ref().to_vec(),
    })
}

/// `SHA-256(name || 0x0A || sig_type || public_key)[:4]`, big-endian: the recommended key id.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> u32 {
    let mut ctx = Context::new(&SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[sig_type]);
    ctx.update(public_key);
    let digest = ctx.finish();
    u32::from_be_bytes(digest.as_ref()[..4].try_into().expect("4 bytes"))
}

/// Checks that `body` can be the text of a signed note.
pub(crate) fn check_text(body: &str) -> Result<(), NoteError> {
    if !body.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end with a newline"));
    }
    if body.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    Ok(())
}

/// Key names are non-empty, without Unicode spaces or `+` (which separates vkey fields).
pub(crate) fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// A public key a note may be verified with: Ed25519 ([`SIG_ED25519`]) or an Ed25519
/// cosigner ([`SIG_COSIGNATURE_V1`]). Its text form is the vkey
/// `<name>+<hex key id>+<base64(type || public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    sig_type: u8,
    public_key: [u8; 32],
}

impl VerifierKey {
    /// A key of `sig_type` ([`SIG_ED25519`] or [`SIG_COSIGNATURE_V1`]) with its derived key id.
    pub fn new(name: &str, sig_type: u8, public_key: &[u8]) -> Result<VerifierKey, NoteError> {
        check_name(name)?;
        if sig_type != SIG_ED25519 && sig_type != SIG_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedType(sig_type));
        }
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| NoteError::VerifierKey("an Ed25519 public key is 32 bytes"))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: key_id(name, sig_type, &public_key),
            sig_type,
            public_key,
        })
    }

    /// A plain Ed25519 note key (a log's checkpoint key).
    pub fn ed25519(name: &str, public_key: &[u8]) -> Result<VerifierKey, NoteError> {
        VerifierKey::new(name, SIG_ED25519, public_key)
    }

    /// An Ed25519 cosigner key (a witness).
    pub fn cosigner(name: &str, public_key: &[u8]) -> Result<VerifierKey, NoteError> {
        VerifierKey::new(name, SIG_COSIGNATURE_V1, public_key)
    }

    /// Parses a vkey; the key id must be the one derived from name, type and key.
    pub fn parse(vkey: &str) -> Result<VerifierKey, NoteError> {
        // The name has no '+', the id is hex: only the base64 part may contain '+'.
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::VerifierKey("expected <name>+<id>+<key>"))?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or(NoteError::VerifierKey("expected <name>+<id>+<key>"))?;
        check_name(name)?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if id_hex.len() != 8 || !id_hex.bytes().all(lower_hex) {
            return Err(NoteError::VerifierKey(
                "key id is not 8 lower-case hex digits",
            ));
        }
        let id = u32::from_str_radix(id_hex, 16).expect("8 hex digits fit a u32");
        let raw = BASE64
            .decode(key_b64)
            .map_err(|_| NoteError::VerifierKey("key is not standard base64"))?;
        let (&sig_type, public_key) = raw
            .split_first()
            .ok_or(NoteError::VerifierKey("empty key"))?;
        let key = VerifierKey::new(name, sig_type, public_key)?;
        if key.key_id != id {
            return Err(NoteError::VerifierKey("key id does not match the key"));
        }
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// [`SIG_ED25519`] or [`SIG_COSIGNATURE_V1`].
    pub fn sig_type(&self) -> u8 {
        self.sig_type
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// Verifies `sig` over the note text `body` (the caller matched name and key id).
    pub fn verify(&self, body: &str, sig: &NoteSignature) -> Result<VerifiedSig, NoteError> {
        let invalid = || NoteError::InvalidSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        if sig.name != self.name || sig.key_id != self.key_id {
            return Err(invalid());
        }
        let key = UnparsedPublicKey::new(&ED25519, &self.public_key);
        let timestamp = match self.sig_type {
            SIG_ED25519 => {
                key.verify(body.as_bytes(), &sig.signature)
                    .map_err(|_| invalid())?;
                None
            }
            _ => {
                let (timestamp, signature) =
                    cosignature::split(&sig.signature).map_err(|_| invalid())?;
                let message = cosignature::signed_message(body, timestamp);
                key.verify(message.as_bytes(), signature)
                    .map_err(|_| invalid())?;
                Some(timestamp)
            }
        };
        Ok(VerifiedSig {
            name: self.name.clone(),
            key_id: self.key_id,
            sig_type: self.sig_type,
            timestamp,
        })
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.sig_type);
        raw.extend_from_slice(&self.public_key);
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<VerifierKey, NoteError> {
        VerifierKey::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_different_keys_with_one_name_and_id_are_ambiguous() {
        // A 32-bit id collision cannot be produced here; build the second key by hand.
        let a = VerifierKey::ed25519("log", &[1; 32]).unwrap();
        let mut b = VerifierKey::ed25519("log", &[2; 32]).unwrap();
        b.key_id = a.key_id;
        let note = Note {
            body: "text\n".into(),
            signatures: vec![NoteSignature {
                name: "log".into(),
                key_id: a.key_id,
                signature: vec![0; 64],
            }],
        };
        assert!(matches!(
            note.verify(&[a.clone(), b]),
            Err(NoteError::AmbiguousKey { .. })
        ));
        // Listing one key twice is not ambiguous (the signature is simply bad).
        assert!(matches!(
            note.verify(&[a.clone(), a]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    /// The names of the signature lines after the last blank line, in order; a line that is
    /// not a signature line is left out (opening the note refuses it).
    #[test]
    fn signer_names_are_read_from_the_signature_lines() {
        let text = "origin\n\nblank line above is the body's\n\n\u{2014} log.example/a AAAA\n\u{2014} w/b BBBB\nnot a signature\n";
        assert_eq!(
            signer_names(text).collect::<Vec<_>>(),
            ["log.example/a", "w/b"]
        );
        assert_eq!(signer_names("no signatures\n").count(), 0);
        let many = format!(
            "origin\n\n{}",
            "\u{2014} w/b BBBB\n".repeat(MAX_SIGNATURES + 5)
        );
        assert_eq!(signer_names(&many).count(), MAX_SIGNATURES);
    }

    #[test]
    fn key_names() {
        for good in ["example.com/log", "PeterNeumann", "oid/1.3.6.1", "日志"] {
            check_name(good).unwrap();
        }
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{3000}b", "a\tb"] {
            assert!(check_name(bad).is_err(), "accepted {bad:?}");
        }
    }
}
