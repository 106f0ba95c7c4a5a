//! `reg import` as a library: a `.reg` file's operations applied to one hive file with the
//! write discipline of product.md — read, replay the logs of a dirty hive when asked, verify,
//! edit, verify the result, then write it atomically to a new file (`--out`) or in place behind
//! an undo journal written first (`--in-place`). Nothing is written unless every step before
//! the write succeeded. Errors are typed; the CLI maps them to exit codes.

use super::disk::{self, WriteError};
use super::ops::{apply_ops, check_paths, ApplySummary, OpError};
use super::regfile::{self, RegOp};
use super::{log, verify, Editor, RegfError};
use std::path::{Path, PathBuf};

/// Where an import writes.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A new file, written atomically; the input hive is not modified. A file already there
    /// is refused unless `replace`.
    Out { path: &'a Path, replace: bool },
    /// The hive itself, behind an undo journal written first.
    InPlace { journal: &'a Path },
}

/// What an import did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    pub written: String,
    pub journal: Option<String>,
    pub replayed_log: Vec<String>,
    pub summary: ApplySummary,
}

/// Why an import wrote nothing (or, for [`ImportError::InPlace`], may have written part).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The `.reg` file or the hive could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The `.reg` file is not one, or names a key outside the prefix.
    #[error("{}: {source}; nothing was written", path.display())]
    RegFile { path: PathBuf, source: RegFileError },
    /// The input is no registry hive at all (empty, too short, no signature).
    #[error("{}: {why}; nothing was written", path.display())]
    NotAHive { path: PathBuf, why: String },
    /// `--out` names the input hive.
    #[error(
        "--out {} is the input hive; use --in-place --journal FILE to patch it where it is",
        .0.display()
    )]
    OutIsInput(PathBuf),
    /// `--in-place` on a hive that cannot be written (marked read-only, a read-only mount,
    /// more than one hard link): refused before the journal.
    #[error(
        "{}: cannot be patched in place: {why}. Nothing was written (no journal either); \
         write a new hive with --out NEWHIVE instead",
        path.display()
    )]
    NotWritable { path: PathBuf, why: String },
    /// `--in-place` on a hive whose directory another run writing in place holds locked.
    #[error(
        "{}: locked by {holder}, another run writing these files; wait for it to end, then run \
         again. Nothing was written",
        path.display()
    )]
    Locked { path: PathBuf, holder: String },
    /// `--out` names a file that exists (and `--force` was not given).
    #[error("--out {}: the file exists; give --force to replace it; nothing was written", .0.display())]
    OutExists(PathBuf),
    /// A dirty hive and no `--replay-log`.
    #[error(
        "{}: the hive is dirty (primary sequence number {sequence1}, secondary {sequence2}); \
         logs beside it: {}. Re-run with --replay-log to replay them first",
        path.display(),
        list(logs)
    )]
    Dirty {
        path: PathBuf,
        sequence1: u32,
        sequence2: u32,
        logs: Vec<PathBuf>,
    },
    /// The hive (or its logs) could not be read or edited as a hive.
    #[error("{}: {source}", path.display())]
    Hive { path: PathBuf, source: RegfError },
    /// An operation of the `.reg` file failed on this hive.
    #[error("{}: {source}; nothing was written", path.display())]
    Op { path: PathBuf, source: OpError },
    /// The edited hive does not verify (an editor bug caught before writing).
    #[error(
        "{}: the edited hive does not verify (at {offset:#x}: {what}); nothing was written",
        path.display()
    )]
    EditedInvalid {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// Writing `--out` failed; the temporary file is gone and the target untouched.
    #[error("{0}")]
    Out(WriteError),
    /// Writing in place failed. `touched`: the journal was sealed, so the hive may be partly
    /// written and `coldpatch undo JOURNAL` restores it; otherwise nothing was written.
    #[error(
        "{source}; {}",
        if *touched {
            format!("the hive may be partly written: run coldpatch undo {} to restore it", journal.display())
        } else {
            "nothing was written".to_string()
        }
    )]
    InPlace {
        source: WriteError,
        journal: PathBuf,
        touched: bool,
    },
}

/// Why the text of a `.reg` file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegFileError {
    #[error("{0}")]
    Decode(#[from] regfile::RegDecodeError),
    #[error("{0}")]
    Parse(#[from] regfile::RegParseError),
    #[error("{0}")]
    Paths(#[from] OpError),
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        "none".into()
    } else {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The bytes of a `.reg` file (named `path`) → its operations, every key path checked against
/// `prefix`; refused before any hive is opened.
pub fn reg_file_ops(bytes: &[u8], path: &Path, prefix: &str) -> Result<Vec<RegOp>, ImportError> {
    let fail = |source: RegFileError| ImportError::RegFile {
        path: path.to_path_buf(),
        source,
    };
    let text = regfile::decode_reg_bytes(bytes).map_err(|e| fail(e.into()))?;
    let file = regfile::parse_reg(&text).map_err(|e| fail(e.into()))?;
    check_paths(&file.ops, prefix).map_err(|e| fail(e.into()))?;
    Ok(file.ops)
}

/// Applies the operations of a parsed `.reg` file (key paths below `prefix`) to a hive: every
/// key path is checked first; a dirty hive is refused unless `replay_log` (then its logs
/// are replayed first); a hive that `verify` flags is refused; nothing is written unless every
/// operation succeeded and the result verifies. `now` is the write time (a FILETIME).
pub fn import_ops(
    hive: &Path,
    ops: &[RegOp],
    prefix: &str,
    target: Target<'_>,
    replay_log: bool,
    now: u64,
) -> Result<ImportReport, ImportError> {
    check_paths(ops, prefix).map_err(|source| ImportError::Op {
        path: hive.to_path_buf(),
        source,
    })?;
    let original = std::fs::read(hive).map_err(|source| ImportError::Read {
        path: hive.to_path_buf(),
        source,
    })?;
    if let Some(why) = super::base_block::not_a_hive(&original) {
        return Err(ImportError::NotAHive {
            path: hive.to_path_buf(),
            why,
        });
    }
    if let Target::Out { path: out, replace } = target {
        let same = match (std::fs::canonicalize(hive), std::fs::canonicalize(out)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(ImportError::OutIsInput(out.to_path_buf()));
        }
        if !replace && std::fs::symlink_metadata(out).is_ok() {
            return Err(ImportError::OutExists(out.to_path_buf()));
        }
    }
    let hive_error = |source: RegfError| ImportError::Hive {
        path: hive.to_path_buf(),
        source,
    };
    let mut data = original.clone();
    let mut replayed = Vec::new();
    let pre = verify(&data);
    // A bad base-block checksum also means an unfinished write (reference/regf.md §4); with
    // --replay-log its log is tried (matched by the first bin's timestamp).
    let bad_checksum = pre
        .errors
        .iter()
        .any(|e| e.offset == super::base_block::OFF_CHECKSUM as u64);
    if pre.dirty || (bad_checksum && replay_log) {
        if !replay_log {
            return Err(ImportError::Dirty {
                path: hive.to_path_buf(),
                sequence1: pre.sequence1,
                sequence2: pre.sequence2,
                logs: log::find_logs(hive),
            });
        }
        let r = log::replay_files(hive).map_err(hive_error)?;
        data = r.data;
        replayed = r.applied;
    }
    let mut ed = Editor::open(data, now).map_err(hive_error)?;
    let summary = apply_ops(&mut ed, ops, prefix).map_err(|source| ImportError::Op {
        path: hive.to_path_buf(),
        source,
    })?;
    let new = ed.finish();
    let check = verify(&new);
    if let Some(first) = check.errors.first() {
        return Err(ImportError::EditedInvalid {
            path: hive.to_path_buf(),
            offset: first.offset,
            what: first.what.clone(),
        });
    }
    let (written, journal) = match target {
        Target::Out { path: out, replace } => {
            if replace {
                disk::write_atomic(out, &new).map_err(ImportError::Out)?;
            } else {
                // A file that appeared since the check above is not replaced either.
                disk::write_new(out, &new).map_err(|e| match e {
                    WriteError::Io { ref source, .. }
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        ImportError::OutExists(out.to_path_buf())
                    }
                    e => ImportError::Out(e),
                })?;
            }
            (out.display().to_string(), None)
        }
        Target::InPlace { journal } => {
            if let Some(why) = crate::image::guard::not_writable(hive) {
                return Err(ImportError::NotWritable {
                    path: hive.to_path_buf(),
                    why,
                });
            }
            // No other in-place run (apply, reg import, undo) on this hive meanwhile.
            let _locked = crate::image::guard::lock_file_dirs([hive]).map_err(|e| match e {
                crate::image::guard::LockError::Held { path, holder } => {
                    ImportError::Locked { path, holder }
                }
                crate::image::guard::LockError::Io { path, source } => {
                    ImportError::Read { path, source }
                }
            })?;
            disk::write_in_place(hive, &original, &new, journal).map_err(|source| {
                // The hive is written only after the journal is sealed; a journal that was
                // already there is someone else's and says nothing about this run.
                let touched = !matches!(source, WriteError::JournalExists(_))
                    && crate::journal::read(journal).is_ok_and(|j| j.sealed);
                ImportError::InPlace {
                    source,
                    journal: journal.to_path_buf(),
                    touched,
                }
            })?;
            (
                hive.display().to_string(),
                Some(journal.display().to_string()),
            )
        }
    };
    Ok(ImportReport {
        written,
        journal,
        replayed_log: replayed,
        summary,
    })
}
