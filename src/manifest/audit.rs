//! `audit.jsonl`: one JSON object per changed byte range — file, offset, length, old bytes,
//! new bytes (hex) and why. Applying the log to the inputs reproduces the outputs exactly:
//! [`apply_entry`] is that replay, used by the tests and by anyone checking a run.
//!
//! A range past the input's end (a hive that grew) has fewer old bytes than new ones: the old
//! bytes are those the input had there, the rest did not exist.

use crate::manifest::sums::push_hex;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};

/// One changed range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The file, relative to the image (and to the output directory).
    pub file: String,
    pub offset: u64,
    pub length: u64,
    pub old: String,
    pub new: String,
    pub why: String,
}

/// Streams entries to a writer, one line each.
pub struct AuditWriter<W: Write> {
    out: BufWriter<W>,
    entries: u64,
    bytes_changed: u64,
    /// The line being encoded (reused).
    line: Vec<u8>,
}

impl<W: Write> AuditWriter<W> {
    pub fn new(out: W) -> AuditWriter<W> {
        AuditWriter {
            out: BufWriter::with_capacity(1 << 20, out),
            entries: 0,
            bytes_changed: 0,
            line: Vec::with_capacity(256),
        }
    }

    /// Writes one entry: `old` as found in the input (may be shorter than `new` past the
    /// input's end), `new` as written.
    pub fn write(
        &mut self,
        file: &str,
        offset: u64,
        old: &[u8],
        new: &[u8],
        why: &str,
    ) -> std::io::Result<()> {
        // The bytes `serde_json` writes for an [`AuditEntry`] (a test holds them equal),
        // encoded by hand: on a large store this line is written millions of times.
        let line = &mut self.line;
        let mut number = itoa::Buffer::new();
        line.clear();
        line.extend_from_slice(b"{\"file\":");
        push_json_str(line, file);
        line.extend_from_slice(b",\"offset\":");
        line.extend_from_slice(number.format(offset).as_bytes());
        line.extend_from_slice(b",\"length\":");
        line.extend_from_slice(number.format(new.len()).as_bytes());
        line.extend_from_slice(b",\"old\":\"");
        push_hex(line, old);
        line.extend_from_slice(b"\",\"new\":\"");
        push_hex(line, new);
        line.extend_from_slice(b"\",\"why\":");
        push_json_str(line, why);
        line.extend_from_slice(b"}\n");
        self.out.write_all(line)?;
        self.entries += 1;
        self.bytes_changed += new.len() as u64;
        Ok(())
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn bytes_changed(&self) -> u64 {
        self.bytes_changed
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// The inner writer (flush first).
    pub fn get_mut(&mut self) -> &mut W {
        self.out.get_mut()
    }

    /// Sets the counters back (the log was truncated to an earlier mark).
    pub fn reset_counts(&mut self, entries: u64, bytes_changed: u64) {
        self.entries = entries;
        self.bytes_changed = bytes_changed;
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            push_hex(out, &[b]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Applies one entry to a file's bytes: checks the old bytes are there, writes the new ones
/// (growing the file when the range runs past its end). `Err` says what did not match.
pub fn apply_entry(file: &mut Vec<u8>, e: &AuditEntry) -> Result<(), String> {
    let old = unhex(&e.old).ok_or("old bytes are not hex")?;
    let new = unhex(&e.new).ok_or("new bytes are not hex")?;
    if new.len() as u64 != e.length || old.len() > new.len() {
        return Err(format!("offset {:#x}: lengths disagree", e.offset));
    }
    let start = usize::try_from(e.offset).map_err(|_| "offset too large")?;
    let have = file.get(start..).map_or(0, |t| t.len().min(new.len()));
    if file.get(start..start + have) != Some(&old[..]) && !(have == 0 && old.is_empty()) {
        return Err(format!(
            "{} offset {:#x}: the input does not hold the recorded old bytes",
            e.file, e.offset
        ));
    }
    if file.len() < start + new.len() {
        file.resize(start + new.len(), 0);
    }
    file[start..start + new.len()].copy_from_slice(&new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-made line is byte for byte what `serde_json` writes for the same entry.
    #[test]
    fn lines_are_what_serde_json_writes() {
        let whys = [
            "Msg.SourceGuid row MsgId=12",
            "quote \" backslash \\ tab \t nl \n cr \r bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f}",
            "ünïcødé ✓ 𝄞",
            "",
        ];
        for (i, why) in whys.iter().enumerate() {
            let (old, new) = (vec![0u8, 0x7f, 0xff, i as u8], vec![0xab; i + 1]);
            let mut w = AuditWriter::new(Vec::new());
            let file = format!("C/dir\\{why}");
            w.write(&file, u64::MAX - i as u64, &old, &new, why)
                .unwrap();
            let entry = AuditEntry {
                file: file.clone(),
                offset: u64::MAX - i as u64,
                length: new.len() as u64,
                old: crate::manifest::sums::hex(&old),
                new: crate::manifest::sums::hex(&new),
                why: why.to_string(),
            };
            let mut want = serde_json::to_vec(&entry).unwrap();
            want.push(b'\n');
            assert_eq!(
                String::from_utf8(w.finish().unwrap()).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn written_entries_replay_onto_the_input() {
        let mut w = AuditWriter::new(Vec::new());
        w.write("C/SYSTEM", 2, b"cd", b"XY", "value").unwrap();
        w.write("C/SYSTEM", 5, b"", b"ZZ", "new bin").unwrap();
        assert_eq!(w.entries(), 2);
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let mut file = b"abcde".to_vec();
        for line in text.lines() {
            let e: AuditEntry = serde_json::from_str(line).unwrap();
            apply_entry(&mut file, &e).unwrap();
        }
        assert_eq!(file, b"abXYeZZ");
        let stale: AuditEntry = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(apply_entry(&mut file, &stale).is_err());
    }
}
