//! Ed25519 witness cosignatures, v1 (<https://c2sp.org/tlog-cosignature>, signature type
//! 0x04).
//!
//! A cosigner signs `"cosignature/v1\ntime <T>\n" || checkpoint body` and publishes, as a
//! note signature line, `key id || T as 8 bytes big-endian || 64-byte signature`. The
//! timestamp states when the cosigner last saw this as the log's largest consistent tree head;
//! the message does not commit to the cosigner's name, so one key serves one cosigner only.

use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::checkpoint::Checkpoint;
use crate::note::{NoteError, NoteSignature, SIG_COSIGNATURE_V1, VerifiedSig, VerifierKey};
use crate::note::{check_name, key_id};

/// Cosignature timestamps must not exceed 2^63 - 1 (the spec's bound).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a v1 cosigner signs for checkpoint `body` at `timestamp` (POSIX seconds).
pub fn signed_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// Splits a cosignature (the bytes after the key id) into timestamp and Ed25519 signature.
pub(crate) fn split(signature: &[u8]) -> Result<(u64, &[u8]), NoteError> {
    if signature.len() != 8 + 64 {
        return Err(NoteError::Cosignature(
            "not an 8-byte timestamp and a 64-byte signature",
        ));
    }
    let (time, sig) = signature.split_at(8);
    let timestamp = u64::from_be_bytes(time.try_into().expect("8 bytes"));
    if timestamp > MAX_TIMESTAMP {
        return Err(NoteError::Cosignature("timestamp above 2^63 - 1"));
    }
    Ok((timestamp, sig))
}

/// The cosignature of `checkpoint` by `key` under the cosigner name `name` at `timestamp`:
/// a signature line to add to the checkpoint's note.
pub fn cosign(
    checkpoint: &Checkpoint,
    name: &str,
    key: &Ed25519KeyPair,
    timestamp: u64,
) -> Result<NoteSignature, NoteError> {
    checkpoint.validate()?;
    check_name(name)?;
    if timestamp > MAX_TIMESTAMP {
        return Err(NoteError::Cosignature("timestamp above 2^63 - 1"));
    }
    let message = signed_message(&checkpoint.body(), timestamp);
    let mut signature = Vec::with_capacity(8 + 64);
    signature.extend_from_slice(&timestamp.to_be_bytes());
    signature.extend_from_slice(key.sign(message.as_bytes()).as_ref());
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, SIG_COSIGNATURE_V1, key.public_key().as_ref()),
        signature,
    })
}

/// The timestamp a cosignature claims, read without verifying it.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Result<u64, NoteError> {
    split(&sig.signature).map(|(timestamp, _)| timestamp)
}

/// Verifies a cosignature of checkpoint `body` by `key` (a [`VerifierKey::cosigner`]) and
/// returns its timestamp.
pub fn verify_cosignature(
    body: &str,
    sig: &NoteSignature,
    key: &VerifierKey,
) -> Result<u64, NoteError> {
    if key.sig_type() != SIG_COSIGNATURE_V1 {
        return Err(NoteError::UnsupportedType(key.sig_type()));
    }
    let VerifiedSig { timestamp, .. } = key.verify(body, sig)?;
    Ok(timestamp.expect("cosigner keys yield a timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_header_time_and_body() {
        // The example message of c2sp.org/tlog-cosignature.
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            signed_message(body, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn split_checks_length_and_timestamp_bound() {
        assert!(split(&[0; 71]).is_err());
        assert!(split(&[0; 73]).is_err());
        let mut sig = vec![0x80, 0, 0, 0, 0, 0, 0, 0];
        sig.extend([0; 64]);
        assert!(split(&sig).is_err());
        sig[0] = 0x7f;
        assert_eq!(split(&sig).unwrap().0, 0x7f00_0000_0000_0000);
    }
}
