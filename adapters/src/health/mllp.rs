//! MLLP (Minimal Lower Layer Protocol, HL7 v2 transport): every message travels as
//! `0x0B` (start block) + message + `0x1C 0x0D` (end block + carriage return). The health
//! adapter accepts framed payloads over HTTP too, so a capture of an MLLP session can be posted
//! as is; the gateway's MLLP listener will use [`frame`] for its ACKs.

use std::ops::Range;

/// Start block, VT.
pub const START: u8 = 0x0B;
/// End block, FS.
pub const END: u8 = 0x1C;
/// Carriage return after the end block.
pub const CR: u8 = 0x0D;

/// Wrap one message for sending.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&[END, CR]);
    out
}

/// True when the payload, after white space, begins with a start block.
pub fn is_framed(payload: &[u8]) -> bool {
    payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&START)
}

/// The byte ranges of the frames' contents. Between frames only white space (CR, LF, space,
/// tab) may occur. A frame must end with `0x1C 0x0D` and may not contain another start block.
pub fn split_frames(payload: &[u8]) -> Result<Vec<Range<usize>>, String> {
    let mut frames = Vec::new();
    let mut i = 0;
    loop {
        while i < payload.len() && payload[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == payload.len() {
            return Ok(frames);
        }
        let n = frames.len() + 1;
        if payload[i] != START {
            return Err(format!(
                "byte {i}: expected the start block 0x0B of MLLP frame {n}, found 0x{:02X}",
                payload[i]
            ));
        }
        let start = i + 1;
        let end = start
            + payload[start..]
                .iter()
                .position(|&b| b == END || b == START)
                .ok_or_else(|| format!("MLLP frame {n} (byte {i}) has no end block 0x1C"))?;
        if payload[end] == START {
            return Err(format!(
                "MLLP frame {n} (byte {i}) holds another start block at byte {end}"
            ));
        }
        if payload.get(end + 1) != Some(&CR) {
            return Err(format!(
                "MLLP frame {n}: the end block at byte {end} is not followed by 0x0D"
            ));
        }
        frames.push(start..end);
        i = end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut payload = frame(b"MSH|a\r");
        payload.extend_from_slice(b"\r\n");
        payload.extend_from_slice(&frame(b"MSH|b\r"));
        assert!(is_framed(&payload));
        assert!(is_framed(b"\r\n\x0bMSH"));
        assert!(!is_framed(b"MSH|"));
        let frames = split_frames(&payload).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(&payload[frames[0].clone()], b"MSH|a\r");
        assert_eq!(&payload[frames[1].clone()], b"MSH|b\r");
        assert_eq!(split_frames(b"  ").unwrap(), Vec::<Range<usize>>::new());
    }

    #[test]
    fn broken_frames_are_refused() {
        for (bad, why) in [
            (b"\x0bMSH|a".as_slice(), "no end block"),
            (b"\x0bMSH|a\x1c", "not followed"),
            (b"\x0bMSH|a\x1cX", "not followed"),
            (b"\x0bMSH|a\x0bMSH|b\x1c\r", "another start block"),
            (b"\x0bMSH|a\x1c\rjunk", "expected the start block"),
        ] {
            let e = split_frames(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
