//! The audit log: one JSON object per changed byte range — file, offset, length, old bytes,
//! new bytes (hex) and why — one per line, compressed with zstd (`audit.jsonl.zst`; read it
//! with `zstd -dc`). Applying the log to the inputs reproduces the outputs exactly:
//! [`apply_entry`] is that replay, used by the tests and by anyone checking a run.
//!
//! On a large store the log runs to millions of lines (about 170 MB of text per GB of
//! database): compressed it is about an eighteenth of that, and it stays out of the way of the
//! disk.
//! The file is a series of zstd frames ([`AuditWriter::between_frames`] starts a new one), which
//! `zstd -dc` and [`read_entries`] read as one text.
//!
//! A range past the input's end (a hive that grew) has fewer old bytes than new ones: the old
//! bytes are those the input had there, the rest did not exist.

use crate::manifest::sums::push_hex;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// The file name of the audit log.
pub const AUDIT_FILE: &str = "audit.jsonl.zst";
/// zstd's level 1: 180 MB of log text per GB of database in about 0.17 s of one core, to an
/// eighteenth of its size, with the hash table below.
const LEVEL: i32 = 1;
/// A hash table of 2^10 entries instead of level 1's 2^14: a line's matches are in the lines
/// just before it, and the small table stays in the core's cache. On the log of a 1 GB
/// database: about a quarter less time than level 1's own table, and 15 % fewer bytes.
const HASH_LOG: u32 = 10;
/// Lines are handed to the compressor in batches of about this much text.
const BATCH: usize = 256 << 10;

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

/// Streams entries to a writer, one line each, compressed on a thread of its own (the
/// patch's pass is not kept waiting for the compressor).
pub struct AuditWriter<W: Write + Send + 'static> {
    /// The frame being written (`None` only after a failure).
    frame: Option<Frame<W>>,
    entries: u64,
    bytes_changed: u64,
    /// Lines not yet handed to the compressor.
    text: Vec<u8>,
    /// The last file and reason written, and their JSON strings: most lines repeat the file
    /// of the line before, and many its reason, which are then not escaped again.
    file: Escaped,
    why: Escaped,
}

/// A string and its JSON form.
#[derive(Default)]
struct Escaped {
    text: String,
    json: Vec<u8>,
}

impl Escaped {
    /// Appends `s` as a JSON string to `out`.
    fn push(&mut self, out: &mut Vec<u8>, s: &str) {
        if self.text != s || self.json.is_empty() {
            self.text.clear();
            self.text.push_str(s);
            self.json.clear();
            push_json_str(&mut self.json, s);
        }
        out.extend_from_slice(&self.json);
    }
}

/// One zstd frame being written: the compressor thread and the batches on their way to it.
struct Frame<W> {
    batches: SyncSender<Vec<u8>>,
    compressor: JoinHandle<std::io::Result<W>>,
}

/// Batches queued for the compressor at most.
const QUEUED: usize = 4;

impl<W: Write + Send + 'static> Frame<W> {
    fn start(out: W) -> std::io::Result<Frame<W>> {
        let (batches, rx) = sync_channel::<Vec<u8>>(QUEUED);
        let compressor = std::thread::Builder::new()
            .name("audit-zstd".into())
            .spawn(move || {
                let mut e = zstd::stream::write::Encoder::new(out, LEVEL)?;
                e.set_parameter(zstd::zstd_safe::CParameter::HashLog(HASH_LOG))?;
                // Self-checking: a content checksum per frame.
                e.include_checksum(true)?;
                for text in rx {
                    e.write_all(&text)?;
                }
                e.finish()
            })?;
        Ok(Frame {
            batches,
            compressor,
        })
    }

    /// Ends the frame: everything handed over is compressed and written to `W`.
    fn end(self) -> std::io::Result<W> {
        drop(self.batches);
        self.compressor
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the audit compressor panicked")))
    }
}

impl<W: Write + Send + 'static> AuditWriter<W> {
    pub fn new(out: W) -> std::io::Result<AuditWriter<W>> {
        Ok(AuditWriter {
            frame: Some(Frame::start(out)?),
            entries: 0,
            bytes_changed: 0,
            text: Vec::with_capacity(BATCH + 4096),
            file: Escaped::default(),
            why: Escaped::default(),
        })
    }

    fn closed() -> std::io::Error {
        std::io::Error::other("the audit log was closed after an error")
    }

    /// Hands the pending lines to the compressor (a compressor that stopped gives its error).
    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        let text = std::mem::replace(&mut self.text, Vec::with_capacity(BATCH + 4096));
        let frame = self.frame.as_ref().ok_or_else(Self::closed)?;
        if frame.batches.send(text).is_err() {
            return match self.frame.take().map(Frame::end) {
                Some(Err(e)) => Err(e),
                _ => Err(Self::closed()),
            };
        }
        Ok(())
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
        let line = &mut self.text;
        let mut number = itoa::Buffer::new();
        line.extend_from_slice(b"{\"file\":");
        self.file.push(line, file);
        line.extend_from_slice(b",\"offset\":");
        line.extend_from_slice(number.format(offset).as_bytes());
        line.extend_from_slice(b",\"length\":");
        line.extend_from_slice(number.format(new.len()).as_bytes());
        line.extend_from_slice(b",\"old\":\"");
        push_hex(line, old);
        line.extend_from_slice(b"\",\"new\":\"");
        push_hex(line, new);
        line.extend_from_slice(b"\",\"why\":");
        self.why.push(line, why);
        line.extend_from_slice(b"}\n");
        self.entries += 1;
        self.bytes_changed += new.len() as u64;
        if self.text.len() >= BATCH {
            self.hand_over()?;
        }
        Ok(())
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn bytes_changed(&self) -> u64 {
        self.bytes_changed
    }

    /// Ends the frame being written (everything so far is then complete on `W`), runs `f` on
    /// the writer (to note or cut its position), and starts a new frame.
    pub fn between_frames<T>(
        &mut self,
        f: impl FnOnce(&mut W) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        self.hand_over()?;
        let mut w = self.frame.take().ok_or_else(Self::closed)?.end()?;
        let result = f(&mut w);
        self.frame = Some(Frame::start(w)?);
        result
    }

    /// Sets the counters back (the log was cut to an earlier mark).
    pub fn reset_counts(&mut self, entries: u64, bytes_changed: u64) {
        self.entries = entries;
        self.bytes_changed = bytes_changed;
    }

    /// Ends the last frame and returns the inner writer (not synced).
    pub fn finish(mut self) -> std::io::Result<W> {
        self.hand_over()?;
        self.frame.take().ok_or_else(Self::closed)?.end()
    }
}

/// Reads an audit log (`audit.jsonl.zst`) entry by entry; an entry that does not parse is an
/// error naming its line.
pub fn read_entries(
    input: impl Read,
) -> std::io::Result<impl Iterator<Item = std::io::Result<AuditEntry>>> {
    read_lines(input)
}

/// What [`read_places`] gives of an entry: where and why, not the bytes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AuditPlace {
    pub file: String,
    pub offset: u64,
    pub length: u64,
    pub why: String,
}

/// Reads an audit log's entries without their bytes (faster: nothing is kept of them).
pub fn read_places(
    input: impl Read,
) -> std::io::Result<impl Iterator<Item = std::io::Result<AuditPlace>>> {
    read_lines(input)
}

fn read_lines<T: serde::de::DeserializeOwned>(
    input: impl Read,
) -> std::io::Result<impl Iterator<Item = std::io::Result<T>>> {
    let text = BufReader::with_capacity(1 << 20, zstd::stream::read::Decoder::new(input)?);
    Ok(text.lines().enumerate().map(|(i, line)| {
        let line = line?;
        serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("audit log line {}: {e}", i + 1),
            )
        })
    }))
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape: one test over all their bytes (no early exit, so that
    // the compiler can use vector registers), then one copy.
    let plain = !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
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

    /// The hand-made line is byte for byte what `serde_json` writes for the same entry, in
    /// one log, with files and reasons repeated from the line before or not.
    #[test]
    fn lines_are_what_serde_json_writes() {
        let whys = [
            "",
            "Msg.SourceGuid row MsgId=12",
            "Msg.SourceGuid row MsgId=12",
            "quote \" backslash \\ tab \t nl \n cr \r bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f}",
            "ünïcødé ✓ 𝄞",
            "ünïcødé ✓ 𝄞",
            "",
        ];
        let mut w = AuditWriter::new(Vec::new()).unwrap();
        let mut want = Vec::new();
        for (i, why) in whys.iter().enumerate() {
            let (old, new) = (vec![0u8, 0x7f, 0xff, i as u8], vec![0xab; i + 1]);
            let file = format!("C/dir\\{}", whys[i / 2 * 2]);
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
            want.extend(serde_json::to_vec(&entry).unwrap());
            want.push(b'\n');
        }
        let text = zstd::stream::decode_all(&w.finish().unwrap()[..]).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }

    #[test]
    fn written_entries_replay_onto_the_input() {
        let mut w = AuditWriter::new(Vec::new()).unwrap();
        w.write("C/SYSTEM", 2, b"cd", b"XY", "value").unwrap();
        w.write("C/SYSTEM", 5, b"", b"ZZ", "new bin").unwrap();
        assert_eq!(w.entries(), 2);
        let log = w.finish().unwrap();
        let mut file = b"abcde".to_vec();
        let entries: Vec<AuditEntry> = read_entries(&log[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for e in &entries {
            apply_entry(&mut file, e).unwrap();
        }
        assert_eq!(file, b"abXYeZZ");
        assert!(apply_entry(&mut file, &entries[0]).is_err());
    }

    /// A log cut back to the end of a frame and written on reads as if the cut part had never
    /// been written: what a database pass run again relies on.
    #[test]
    fn a_log_cut_between_frames_reads_without_the_cut_part() {
        let mut w = AuditWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
        w.write("A", 0, b"a", b"b", "kept").unwrap();
        let mark = w.between_frames(|c| Ok(c.position())).unwrap();
        for i in 0..10_000 {
            w.write("A", i, b"x", b"y", "dropped").unwrap();
        }
        w.between_frames(|c| {
            c.get_mut().truncate(mark as usize);
            c.set_position(mark);
            Ok(())
        })
        .unwrap();
        w.reset_counts(1, 1);
        w.write("A", 9, b"c", b"d", "again").unwrap();
        assert_eq!(w.entries(), 2);
        let log = w.finish().unwrap().into_inner();
        let whys: Vec<String> = read_entries(&log[..])
            .unwrap()
            .map(|e| e.unwrap().why)
            .collect();
        assert_eq!(whys, ["kept", "again"]);
        let mut text = String::new();
        zstd::stream::read::Decoder::new(&log[..])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
