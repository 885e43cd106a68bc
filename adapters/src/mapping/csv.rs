//! A small RFC 4180 reader over the *bytes* of a CSV file, so that each row keeps its exact byte
//! range (the record's raw bytes for quarantine) and each cell is decoded on its own (one
//! undecodable cell fails its record, not the file).
//!
//! Splitting bytes before decoding is safe for the encodings a mapping may name: in UTF-8, GBK,
//! GB 18030, Big5 and the other ASCII-compatible encodings, the bytes of `"`, CR, LF and the
//! allowed delimiters (`,` `;` TAB) never occur inside a multi-byte character. (GBK trail bytes
//! start at 0x40, GB 18030's four-byte forms use 0x30-0x39; `|` would not be safe: 0x7C is a GBK
//! trail byte.)

use std::ops::Range;

/// Delimiters a mapping may choose, all safe to split on before decoding (see the module doc).
pub const DELIMITERS: &[u8] = b",;\t";

/// One row as found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Byte range of the row, without its line terminator.
    pub range: Range<usize>,
    /// 1-based line of the row's first byte (rows with quoted line breaks span several).
    pub line: usize,
    /// Cell contents, quotes removed and `""` unescaped, still in the file's encoding.
    pub cells: Vec<Vec<u8>>,
    /// Why the row is not well-formed CSV, if it is not.
    pub error: Option<String>,
}

impl Row {
    /// A row whose cells are all blank (an empty line, or `,,,` as spreadsheets export after
    /// the data); skipped by the reader's users.
    pub fn is_blank(&self) -> bool {
        self.error.is_none()
            && self
                .cells
                .iter()
                .all(|c| c.iter().all(u8::is_ascii_whitespace))
    }
}

/// Split `bytes` (from `start`) into rows. Line terminators: CRLF, LF or CR, outside quotes.
pub fn rows(bytes: &[u8], start: usize, delimiter: u8) -> Vec<Row> {
    let mut out = Vec::new();
    let mut i = start;
    let mut line = 1;
    while i < bytes.len() {
        let row_start = i;
        let row_line = line;
        let mut cells = Vec::new();
        let mut error = None;
        let end;
        loop {
            // One cell.
            let mut cell = Vec::new();
            if bytes.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            error.get_or_insert_with(|| {
                                format!("a quoted cell opened on line {line} is never closed")
                            });
                            break;
                        }
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                            cell.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&b) => {
                            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                                line += 1;
                            }
                            cell.push(b);
                            i += 1;
                        }
                    }
                }
                // After the closing quote: a delimiter, a line end or the end.
                if !matches!(bytes.get(i), None | Some(b'\r' | b'\n')) && bytes[i] != delimiter {
                    error.get_or_insert_with(|| {
                        format!("line {line}: text after the closing quote of a cell")
                    });
                    while !matches!(bytes.get(i), None | Some(b'\r' | b'\n')) {
                        i += 1;
                    }
                }
            } else {
                while let Some(&b) = bytes.get(i) {
                    if b == delimiter || b == b'\r' || b == b'\n' {
                        break;
                    }
                    cell.push(b);
                    i += 1;
                }
            }
            cells.push(cell);
            match bytes.get(i) {
                Some(&b) if b == delimiter => i += 1,
                _ => {
                    end = i;
                    break;
                }
            }
        }
        // The line terminator.
        match bytes.get(i) {
            Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'\r' | b'\n') => i += 1,
            _ => {}
        }
        line += 1;
        out.push(Row {
            range: row_start..end,
            line: row_line,
            cells,
            error,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(r: &Row) -> Vec<String> {
        r.cells
            .iter()
            .map(|c| String::from_utf8(c.clone()).unwrap())
            .collect()
    }

    #[test]
    fn quoting_line_ends_and_ranges() {
        let text = "a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,\"two\r\nlines\",\r3,,\n\n";
        let rows = rows(text.as_bytes(), 0, b',');
        assert_eq!(rows.len(), 5);
        assert_eq!(cells(&rows[0]), ["a", "b", "c"]);
        assert_eq!(cells(&rows[1]), ["1", "x,y", "say \"hi\""]);
        assert_eq!(&text[rows[1].range.clone()], "1,\"x,y\",\"say \"\"hi\"\"\"");
        assert_eq!(cells(&rows[2]), ["2", "two\r\nlines", ""]);
        assert_eq!(rows[2].line, 3);
        assert_eq!(cells(&rows[3]), ["3", "", ""]);
        assert_eq!(rows[3].line, 5);
        assert!(rows[4].is_blank());
        assert!(rows.iter().all(|r| r.error.is_none()));
    }

    #[test]
    fn malformed_rows_are_flagged_not_fatal() {
        let text = "a,b\n\"x\"y,1\n2,3\n\"open,4\n5,6";
        let rows = rows(text.as_bytes(), 0, b',');
        assert!(
            rows[1]
                .error
                .as_deref()
                .unwrap()
                .contains("after the closing quote")
        );
        assert_eq!(cells(&rows[2]), ["2", "3"]);
        assert!(rows[2].error.is_none());
        assert!(rows[3].error.as_deref().unwrap().contains("never closed"));
        assert_eq!(rows.len(), 4, "the open quote swallows the rest");
    }

    #[test]
    fn gbk_bytes_and_other_delimiters() {
        let text = "姓名;地址\n王億;\"环县;曲子镇\"\n";
        let gbk = encoding_rs::GBK.encode(text).0.into_owned();
        let rows = rows(&gbk, 0, b';');
        assert_eq!(rows.len(), 2);
        let decoded: Vec<String> = rows[1]
            .cells
            .iter()
            .map(|c| encoding_rs::GBK.decode(c).0.into_owned())
            .collect();
        assert_eq!(decoded, ["王億", "环县;曲子镇"]);
        let tsv = rows_of("a\tb\n1\t2");
        assert_eq!(tsv, [vec!["a", "b"], vec!["1", "2"]]);
    }

    fn rows_of(s: &str) -> Vec<Vec<String>> {
        rows(s.as_bytes(), 0, b'\t').iter().map(cells).collect()
    }
}
