//! Putting an edited hive on disk: a new file written atomically (temporary file in the target
//! directory, fsync, rename, fsync of the directory), or the hive patched in place behind an
//! undo journal ([`crate::journal`]: the original and new bytes of every changed range, the
//! hive's size and SHA-256 before and after) that is written and fsynced before the hive is
//! touched.

use super::base_block::{self, OFF_SEQ1, OFF_SEQ2};
use crate::journal::{JournalError, JournalFile, JournalWriter};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The base block: the first 4096 bytes (reference/regf.md §1).
const BASE_BLOCK_END: usize = base_block::BASE_BLOCK_SIZE;

/// Changed ranges are found and journaled in units of this many bytes (a log page).
pub const JOURNAL_GRAIN: usize = 512;

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
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
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
    write_via_temp(target, bytes, true)
}

/// [`write_atomic`] to a path that must not exist yet: refused (`AlreadyExists`) when it does,
/// even when it appears while the bytes are written.
pub fn write_new(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_via_temp(target, bytes, false)
}

/// The temporary file, its fsync, the rename (over `target` or, without `replace`, only where
/// nothing is) and the directory's fsync.
fn write_via_temp(target: &Path, bytes: &[u8], replace: bool) -> Result<(), WriteError> {
    let dir = parent_dir(target);
    // Errors name the target, never the temporary file (whose name means nothing to a user).
    let at_target = |e: std::io::Error| WriteError::Io {
        path: target.to_path_buf(),
        source: std::io::Error::new(e.kind(), crate::image::write::reason(&e)),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(at_target)?;
    tmp.write_all(bytes).map_err(at_target)?;
    tmp.as_file().sync_all().map_err(at_target)?;
    let persisted = if replace {
        tmp.persist(target)
    } else {
        tmp.persist_noclobber(target)
    };
    persisted.map_err(|e| WriteError::Io {
        path: target.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(&dir)
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

fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    format!("{:#x} bytes, SHA-256 {}", bytes.len(), hex(&d))
}

/// Patches `hive` in place from `old` (its bytes as read) to `new` (a finished hive, both
/// sequence numbers equal). Returns the journal. Order, each step followed by an fsync:
///
/// 1. the undo journal ([`crate::journal`]), a new file (never over an existing one): every
///    changed 512-byte grain (the base block's first one always among them) with its original
///    and new bytes, the hive's absolute path, size and SHA-256 before and after, sealed;
/// 2. the new base block with the primary sequence number new and the secondary one old
///    (checksum right): from here until step 4 the hive on disk is dirty, as Windows leaves
///    a hive it is writing;
/// 3. the changed ranges of the hive bins (and the new size);
/// 4. the final base block, both sequence numbers equal.
///
/// 5. the journal marked committed.
///
/// An interrupted write thus leaves a hive that `verify` reports dirty, and `undo JOURNAL`
/// restores the original bytes (an uncommitted journal's ranges may hold the in-progress base
/// block; undo then relies on the hash of the restored hive).
pub fn write_in_place(
    hive: &Path,
    old: &[u8],
    new: &[u8],
    journal: &Path,
) -> Result<(), WriteError> {
    write_in_place_until(hive, old, new, journal, Stop::Never)
}

/// The base block Windows writes before it writes a hive's bins: `new`'s, but with the second
/// sequence number not equal to the first (a write in progress), checksum restamped. A reader
/// that finds it knows the bins may be half written. `old` and `new` are at least a base block.
pub fn in_progress_base_block(old: &[u8], new: &[u8]) -> Vec<u8> {
    let seq = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let mut first = new[..BASE_BLOCK_END.min(new.len())].to_vec();
    let new_seq = seq(new, OFF_SEQ1);
    let old_seq2 = seq(old, OFF_SEQ2);
    let pending = if old_seq2 == new_seq {
        new_seq.wrapping_sub(1)
    } else {
        old_seq2
    };
    if first.len() == BASE_BLOCK_END {
        first[OFF_SEQ2..OFF_SEQ2 + 4].copy_from_slice(&pending.to_le_bytes());
        base_block::put_checksum(&mut first);
    }
    first
}

/// [`write_in_place`], stopping after the step `stop` names (for crash tests).
#[doc(hidden)]
pub fn write_in_place_until(
    hive: &Path,
    old: &[u8],
    new: &[u8],
    journal: &Path,
    stop: Stop,
) -> Result<(), WriteError> {
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
    if new.len() < old.len() {
        return Err(WriteError::Changed {
            path: abs,
            expected: format!("an edited hive of at least the old {:#x} bytes", old.len()),
            found: format!("{:#x} bytes (hives never shrink)", new.len()),
        });
    }
    let digest = |b: &[u8]| -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(b).into()
    };
    let mut jw =
        JournalWriter::create(journal, std::slice::from_ref(&abs)).map_err(|e| match e {
            JournalError::Exists(p) => WriteError::JournalExists(p),
            e => WriteError::Journal(e),
        })?;
    for &(o, l) in &ranges {
        let end = (o + l).min(new.len());
        jw.record(0, o as u64, &old[o..end.min(old.len())], &new[o..end])?;
    }
    jw.seal(&[JournalFile {
        path: abs.clone(),
        size_before: old.len() as u64,
        sha256_before: digest(old),
        size_after: new.len() as u64,
        sha256_after: digest(new),
    }])?;

    let write_at = |f: &mut File, o: usize, bytes: &[u8]| -> Result<(), WriteError> {
        f.seek(SeekFrom::Start(o as u64)).map_err(io(hive))?;
        f.write_all(bytes).map_err(io(hive))
    };
    // Step 2: the base block of a write in progress.
    let first = in_progress_base_block(old, new);
    write_at(&mut f, 0, &first)?;
    f.sync_all().map_err(io(hive))?;
    if stop == Stop::AfterFirstBaseBlock {
        return Ok(());
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
        return Ok(());
    }
    // Step 4: the final base block.
    write_at(&mut f, 0, &new[..BASE_BLOCK_END])?;
    f.sync_all().map_err(io(hive))?;
    jw.commit()?;
    Ok(())
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
