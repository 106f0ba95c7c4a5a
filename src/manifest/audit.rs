//! `audit.jsonl`: one JSON object per changed byte range — file, offset, length, old bytes,
//! new bytes (hex) and why. Applying the log to the inputs reproduces the outputs exactly:
//! [`apply_entry`] is that replay, used by the tests and by anyone checking a run.
//!
//! A range past the input's end (a hive that grew) has fewer old bytes than new ones: the old
//! bytes are those the input had there, the rest did not exist.

use crate::manifest::sums::hex;
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
}

impl<W: Write> AuditWriter<W> {
    pub fn new(out: W) -> AuditWriter<W> {
        AuditWriter {
            out: BufWriter::with_capacity(1 << 20, out),
            entries: 0,
            bytes_changed: 0,
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
        let entry = AuditEntry {
            file: file.to_string(),
            offset,
            length: new.len() as u64,
            old: hex(old),
            new: hex(new),
            why: why.to_string(),
        };
        serde_json::to_writer(&mut self.out, &entry)?;
        self.out.write_all(b"\n")?;
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
