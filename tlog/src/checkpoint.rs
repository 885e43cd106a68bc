//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the note text a log signs for one
//! tree head.
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeroes>
//! <base64 root hash>
//! [extension lines]
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::Hash;
use crate::note::{Note, NoteError, VerifiedSig, VerifierKey};

/// A log's tree head as a checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, conventionally a schema-less URL; the log's key name should match.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
    /// Opaque extra lines, each non-empty (not recommended by the spec: monitors cannot audit
    /// them).
    pub extensions: Vec<String>,
}

fn bad(reason: &'static str) -> NoteError {
    NoteError::Checkpoint(reason)
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: one line per field, each ending in a newline.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body strictly: exactly the form [`Checkpoint::body`] writes.
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let lines = body
            .strip_suffix('\n')
            .ok_or(bad("body does not end with a newline"))?;
        if lines.chars().any(|c| c < ' ' && c != '\n') {
            return Err(bad("control character"));
        }
        let mut lines = lines.split('\n');
        let mut next = |what| lines.next().ok_or(bad(what));
        let origin = next("missing origin line")?;
        let size = next("missing tree size line")?;
        let root = next("missing root hash line")?;
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        // u64::from_str would also take "+5" and "007".
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad("tree size is not a decimal without leading zeroes"));
        }
        let size = size.parse().map_err(|_| bad("tree size exceeds 64 bits"))?;
        let root: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|raw| raw.try_into().ok())
            .ok_or(bad("root hash is not 32 bytes of standard base64"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Checks that [`Checkpoint::body`] parses back to this checkpoint (an origin or extension
    /// containing a newline, or an empty one, would not).
    pub fn validate(&self) -> Result<(), NoteError> {
        if Checkpoint::parse(&self.body())? != *self {
            return Err(bad("a field contains a newline"));
        }
        Ok(())
    }
}

/// Opens a signed checkpoint: parses the note, verifies it with `verifiers` (signatures by
/// other keys are ignored, see [`Note::verify`]) and parses the body as a checkpoint.
pub fn open_note(
    text: impl AsRef<[u8]>,
    verifiers: &[VerifierKey],
) -> Result<(Checkpoint, Vec<VerifiedSig>), NoteError> {
    let note = Note::parse(text)?;
    let verified = note.verify(verifiers)?;
    Ok((Checkpoint::parse(&note.body)?, verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of c2sp.org/tlog-checkpoint.
    const SPEC_BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn parses_the_spec_example_and_writes_it_back() {
        let cp = Checkpoint::parse(SPEC_BODY).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(cp.body(), SPEC_BODY);
        assert!(cp.extensions.is_empty());
        cp.validate().unwrap();
    }

    #[test]
    fn keeps_extension_lines() {
        let body = format!("{SPEC_BODY}ext one\next two\n");
        let cp = Checkpoint::parse(&body).unwrap();
        assert_eq!(cp.extensions, ["ext one", "ext two"]);
        assert_eq!(cp.body(), body);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let bad_bodies = [
            "example.com/log\n1\n".to_owned(),        // no root line
            format!("example.com/log\n1\n{root}"),    // no final newline
            format!("\n1\n{root}\n"),                 // empty origin
            format!("example.com/log\n01\n{root}\n"), // leading zero
            format!("example.com/log\n+1\n{root}\n"), // sign
            format!("example.com/log\n-1\n{root}\n"), // negative
            format!("example.com/log\n\n{root}\n"),   // empty size
            format!("example.com/log\n18446744073709551616\n{root}\n"), // 2^64
            "example.com/log\n1\nAAAA\n".to_owned(),  // 3-byte root
            format!("example.com/log\n1\n{}\n", &root[..43]), // no padding
            format!("example.com/log\n1\n{root}\n\n"), // empty extension
            format!("example.com/log\n1\n{root}\r\n"), // CR
        ];
        for body in &bad_bodies {
            assert!(Checkpoint::parse(body).is_err(), "accepted {body:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
            0
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
    }

    #[test]
    fn validate_catches_fields_that_break_the_lines() {
        let mut cp = Checkpoint::new("example.com/log\n2", 1, [0; 32]);
        assert!(cp.validate().is_err());
        cp.origin = "example.com/log".into();
        cp.extensions.push(String::new());
        assert!(cp.validate().is_err());
    }
}
