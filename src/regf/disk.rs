//! Putting an edited hive on disk: a new file written atomically (temporary file in the target
//! directory, fsync, rename, fsync of the directory), or the hive patched in place behind an
//! undo journal that holds the original bytes of every changed range and is written and
//! fsynced before the hive is touched.

use super::base_block::{self, OFF_SEQ1, OFF_SEQ2};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The base block: the first 4096 bytes (reference/regf.md §1).
const BASE_BLOCK_END: usize = base_block::BASE_BLOCK_SIZE;

/// Changed ranges are found and journaled in units of this many bytes (a log page).
pub const JOURNAL_GRAIN: usize = 512;
/// The journal's format tag.
pub const JOURNAL_FORMAT: &str = "coldpatch-regf-journal-1";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {0} already exists; it may be the only undo of an earlier run")]
    JournalExists(PathBuf),
    #[error("journal {path}: {what}")]
    BadJournal { path: PathBuf, what: String },
    #[error("{path} changed since it was read (expected {expected}, found {found}); not written")]
    Changed {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// How far an in-place write goes: all the way, or (for crash tests) it stops after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The whole write.
    Never,
    /// After the first base block (sequence numbers differ) is on disk.
    AfterFirstBaseBlock,
    /// After the hive bins are on disk, before the final base block.
    AfterBins,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// fsync of a directory, so that a rename in it is durable.
fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` as `target`: a temporary file in the same directory, fsync, rename over the
/// target, fsync of the directory. An interrupted run leaves no file that looks finished.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = parent_dir(target);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
    tmp.write_all(bytes).map_err(io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io(target))?;
    tmp.persist(target).map_err(|e| WriteError::Io {
        path: target.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(&dir)
}

/// One changed range and its original bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRange {
    pub offset: u64,
    /// Original bytes, hex; shorter than `length` where the file grew past its old end.
    pub original: String,
    pub length: u64,
}

/// The undo journal of an in-place write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: String,
    pub file: PathBuf,
    pub original_size: u64,
    pub new_size: u64,
    pub ranges: Vec<JournalRange>,
    /// SHA-256 (hex) of the hive before the write; undo restores only a hive that, with the
    /// recorded ranges put back, gives exactly this (journals from before it was kept lack
    /// it and are undone unchecked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
}

/// The ranges (offset, length) where `new` differs from `old`, in `JOURNAL_GRAIN` units,
/// adjacent ones merged; growth past the old end is one more range.
pub fn changed_ranges(old: &[u8], new: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let len = old.len().max(new.len());
    let mut at = 0;
    while at < len {
        let end = (at + JOURNAL_GRAIN).min(len);
        let a = old.get(at..end.min(old.len())).unwrap_or(&[]);
        let b = new.get(at..end.min(new.len())).unwrap_or(&[]);
        if a != b {
            match out.last_mut() {
                Some(last) if last.0 + last.1 == at => last.1 += end - at,
                _ => out.push((at, end - at)),
            }
        }
        at = end;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// SHA-256 of `bytes` with their length, for "changed since it was read" messages.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    format!("{:#x} bytes, SHA-256 {}", bytes.len(), hex(&d))
}

/// Writes `bytes` as a new file `target` (temporary file, fsync, link without replacing,
/// fsync of the directory). Fails with `JournalExists` when `target` exists, also when it
/// appears between a check and the write.
fn write_new(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = parent_dir(target);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
    tmp.write_all(bytes).map_err(io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io(target))?;
    tmp.persist_noclobber(target).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            WriteError::JournalExists(target.to_path_buf())
        } else {
            WriteError::Io {
                path: target.to_path_buf(),
                source: e.error,
            }
        }
    })?;
    sync_dir(&dir)
}

/// Patches `hive` in place from `old` (its bytes as read) to `new` (a finished hive, both
/// sequence numbers equal). Returns the journal. Order, each step followed by an fsync:
///
/// 1. the undo journal, as a new file (never over an existing one), holding the hive's
///    absolute path and the original bytes of every range that changes (the base block's
///    first 512 bytes always among them);
/// 2. the new base block with the primary sequence number new and the secondary one old
///    (checksum right): from here until step 4 the hive on disk is dirty, as Windows leaves
///    a hive it is writing;
/// 3. the changed ranges of the hive bins (and the new size);
/// 4. the final base block, both sequence numbers equal.
///
/// An interrupted write thus leaves a hive that `verify` reports dirty, and `undo JOURNAL`
/// restores the original bytes.
pub fn write_in_place(
    hive: &Path,
    old: &[u8],
    new: &[u8],
    journal: &Path,
) -> Result<Journal, WriteError> {
    write_in_place_until(hive, old, new, journal, Stop::Never)
}

/// [`write_in_place`], stopping after the step `stop` names (for crash tests).
#[doc(hidden)]
pub fn write_in_place_until(
    hive: &Path,
    old: &[u8],
    new: &[u8],
    journal: &Path,
    stop: Stop,
) -> Result<Journal, WriteError> {
    if new.len() < BASE_BLOCK_END || old.len() < BASE_BLOCK_END {
        return Err(WriteError::Changed {
            path: hive.to_path_buf(),
            expected: format!("a hive of at least {BASE_BLOCK_END:#x} bytes"),
            found: format!("{:#x} (old) and {:#x} (new) bytes", old.len(), new.len()),
        });
    }
    let abs = std::fs::canonicalize(hive).map_err(io(hive))?;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&abs)
        .map_err(io(hive))?;
    // The file must still hold exactly the bytes the edit started from.
    let mut now = Vec::with_capacity(old.len());
    f.read_to_end(&mut now).map_err(io(hive))?;
    if now != old {
        return Err(WriteError::Changed {
            path: abs,
            expected: fingerprint(old),
            found: fingerprint(&now),
        });
    }
    drop(now);
    let mut ranges = changed_ranges(old, new);
    // The base block is always rewritten (step 2), so its first grain is always journaled.
    match ranges.first_mut() {
        Some(first) if first.0 == 0 => {}
        Some(first) if first.0 == JOURNAL_GRAIN => {
            first.1 += JOURNAL_GRAIN;
            first.0 = 0;
        }
        _ => ranges.insert(0, (0, JOURNAL_GRAIN)),
    }
    let j = Journal {
        format: JOURNAL_FORMAT.into(),
        file: abs.clone(),
        original_size: old.len() as u64,
        new_size: new.len() as u64,
        ranges: ranges
            .iter()
            .map(|&(o, l)| JournalRange {
                offset: o as u64,
                original: hex(old.get(o..(o + l).min(old.len())).unwrap_or(&[])),
                length: l as u64,
            })
            .collect(),
        original_sha256: Some(sha256_hex(old)),
    };
    let text = serde_json::to_vec_pretty(&j).map_err(|e| WriteError::BadJournal {
        path: journal.to_path_buf(),
        what: e.to_string(),
    })?;
    write_new(journal, &text)?;

    let write_at = |f: &mut File, o: usize, bytes: &[u8]| -> Result<(), WriteError> {
        f.seek(SeekFrom::Start(o as u64)).map_err(io(hive))?;
        f.write_all(bytes).map_err(io(hive))
    };
    // Step 2: the base block of a write in progress.
    let mut first = new[..BASE_BLOCK_END].to_vec();
    let new_seq = u32::from_le_bytes([
        new[OFF_SEQ1],
        new[OFF_SEQ1 + 1],
        new[OFF_SEQ1 + 2],
        new[OFF_SEQ1 + 3],
    ]);
    let old_seq2 = u32::from_le_bytes([
        old[OFF_SEQ2],
        old[OFF_SEQ2 + 1],
        old[OFF_SEQ2 + 2],
        old[OFF_SEQ2 + 3],
    ]);
    let pending = if old_seq2 == new_seq {
        new_seq.wrapping_sub(1)
    } else {
        old_seq2
    };
    first[OFF_SEQ2..OFF_SEQ2 + 4].copy_from_slice(&pending.to_le_bytes());
    base_block::put_checksum(&mut first);
    write_at(&mut f, 0, &first)?;
    f.sync_all().map_err(io(hive))?;
    if stop == Stop::AfterFirstBaseBlock {
        return Ok(j);
    }
    // Step 3: the bins.
    for &(o, l) in &ranges {
        let from = o.max(BASE_BLOCK_END);
        let to = (o + l).min(new.len());
        if from < to {
            write_at(&mut f, from, &new[from..to])?;
        }
    }
    if new.len() < old.len() {
        f.set_len(new.len() as u64).map_err(io(hive))?;
    }
    f.sync_all().map_err(io(hive))?;
    if stop == Stop::AfterBins {
        return Ok(j);
    }
    // Step 4: the final base block.
    write_at(&mut f, 0, &new[..BASE_BLOCK_END])?;
    f.sync_all().map_err(io(hive))?;
    Ok(j)
}

/// Restores the original bytes recorded in a journal (also after a crash mid-write).
pub fn undo_journal(journal: &Path) -> Result<Journal, WriteError> {
    let bad = |what: String| WriteError::BadJournal {
        path: journal.to_path_buf(),
        what,
    };
    let mut text = Vec::new();
    File::open(journal)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(io(journal))?;
    let j: Journal = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if j.format != JOURNAL_FORMAT {
        return Err(bad(format!(
            "format {:?}, expected {JOURNAL_FORMAT:?}",
            j.format
        )));
    }
    let mut originals = Vec::with_capacity(j.ranges.len());
    for r in &j.ranges {
        let bytes =
            unhex(&r.original).ok_or_else(|| bad(format!("range at {:#x}: bad hex", r.offset)))?;
        if r.offset
            .checked_add(bytes.len() as u64)
            .map_or(true, |e| e > j.original_size)
        {
            return Err(bad(format!(
                "range at {:#x} runs past the original size",
                r.offset
            )));
        }
        originals.push((r.offset, bytes));
    }
    // Check before writing: the hive as it is, with the recorded original bytes put back,
    // must be exactly the original. A hive changed since outside the journaled ranges, or
    // another file in its place, is refused and left as it is.
    if let Some(want) = &j.original_sha256 {
        let mut restored = Vec::new();
        File::open(&j.file)
            .and_then(|mut f| f.read_to_end(&mut restored))
            .map_err(io(&j.file))?;
        restored.resize(j.original_size as usize, 0);
        for (o, bytes) in &originals {
            restored[*o as usize..*o as usize + bytes.len()].copy_from_slice(bytes);
        }
        let got = sha256_hex(&restored);
        if &got != want {
            return Err(WriteError::Changed {
                path: j.file.clone(),
                expected: format!("a hive that the journal restores to SHA-256 {want}"),
                found: format!(
                    "one that would become SHA-256 {got}: it changed outside the journaled \
                     ranges since the write (or another file is in its place); nothing was \
                     written"
                ),
            });
        }
    }
    let mut f = OpenOptions::new()
        .write(true)
        .open(&j.file)
        .map_err(io(&j.file))?;
    for (o, bytes) in &originals {
        f.seek(SeekFrom::Start(*o)).map_err(io(&j.file))?;
        f.write_all(bytes).map_err(io(&j.file))?;
    }
    f.set_len(j.original_size).map_err(io(&j.file))?;
    f.sync_all().map_err(io(&j.file))?;
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_change_and_growth() {
        let old = vec![0u8; 4096];
        let mut new = old.clone();
        new[10] = 1;
        new[600] = 1;
        new[1023] = 1;
        new.extend([5u8; 100]);
        let r = changed_ranges(&old, &new);
        assert_eq!(r, vec![(0, 1024), (4096, 100)]);
        assert!(changed_ranges(&old, &old).is_empty());
    }
}
