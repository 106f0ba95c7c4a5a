//! Putting an edited hive on disk: a new file written atomically (temporary file in the target
//! directory, fsync, rename, fsync of the directory), or the hive patched in place behind an
//! undo journal that holds the original bytes of every changed range and is written and
//! fsynced before the hive is touched.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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
    #[error("{path} changed since it was read (size {found}, expected {expected}); not written")]
    Changed {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
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

/// Patches `hive` in place from `old` (its bytes as read) to `new`: the journal first
/// (written atomically and fsynced), then the changed ranges of the hive bins, then the base
/// block, each followed by an fsync. Returns the journal.
pub fn write_in_place(
    hive: &Path,
    old: &[u8],
    new: &[u8],
    journal: &Path,
) -> Result<Journal, WriteError> {
    if journal.exists() {
        return Err(WriteError::JournalExists(journal.to_path_buf()));
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(hive)
        .map_err(io(hive))?;
    let size = f.metadata().map_err(io(hive))?.len();
    if size != old.len() as u64 {
        return Err(WriteError::Changed {
            path: hive.to_path_buf(),
            expected: old.len() as u64,
            found: size,
        });
    }
    let ranges = changed_ranges(old, new);
    let j = Journal {
        format: JOURNAL_FORMAT.into(),
        file: hive.to_path_buf(),
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
    };
    let text = serde_json::to_vec_pretty(&j).map_err(|e| WriteError::BadJournal {
        path: journal.to_path_buf(),
        what: e.to_string(),
    })?;
    write_atomic(journal, &text)?;
    // Bins first, base block (the first 4096 bytes) last, as Windows orders its writes.
    let write_range = |f: &mut File, o: usize, l: usize| -> Result<(), WriteError> {
        let end = (o + l).min(new.len());
        if o < end {
            f.seek(SeekFrom::Start(o as u64)).map_err(io(hive))?;
            f.write_all(&new[o..end]).map_err(io(hive))?;
        }
        Ok(())
    };
    for &(o, l) in &ranges {
        let o2 = o.max(4096);
        if o + l > o2 {
            write_range(&mut f, o2, o + l - o2)?;
        }
    }
    if new.len() < old.len() {
        f.set_len(new.len() as u64).map_err(io(hive))?;
    }
    f.sync_all().map_err(io(hive))?;
    for &(o, l) in &ranges {
        if o < 4096 {
            write_range(&mut f, o, (o + l).min(4096) - o)?;
        }
    }
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
    let mut f = OpenOptions::new()
        .write(true)
        .open(&j.file)
        .map_err(io(&j.file))?;
    for r in &j.ranges {
        let bytes =
            unhex(&r.original).ok_or_else(|| bad(format!("range at {:#x}: bad hex", r.offset)))?;
        f.seek(SeekFrom::Start(r.offset)).map_err(io(&j.file))?;
        f.write_all(&bytes).map_err(io(&j.file))?;
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
