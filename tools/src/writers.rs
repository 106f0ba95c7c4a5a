//! The one place `mkimage` calls the ESE and hive builders.
//!
//! * [`write_database`] calls `coldpatch::ese::write::build_database`;
//! * [`write_hive`] calls `coldpatch::regf::write::build_hive`;
//! * [`write_dirty_hive`] builds the clean state, then calls
//!   `coldpatch::regf::dirty::make_dirty_hive` with the edits.

use coldpatch::ese::write::{BuildOptions, BuildReport, TableInput};
use coldpatch::regf::dirty::make_dirty_hive;
use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec, ValueSpec};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One edit a hive's transaction log holds (logically: replaying the log applies it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HiveEdit {
    /// Set (create or replace) value `value.name` of the key at `key` (path below the root).
    SetValue { key: Vec<String>, value: ValueSpec },
}

/// A builder failed, or its output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Build { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn build_err(path: &Path, e: impl std::fmt::Display) -> WriteError {
    WriteError::Build {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Writes a complete ESE database at `out` (a new file) from the table streams.
pub fn write_database(
    out: &Path,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
) -> Result<BuildReport, WriteError> {
    coldpatch::ese::write::build_database(out, opts, tables).map_err(|e| build_err(out, e))
}

/// Writes a clean hive at `out` (a new file).
pub fn write_hive(out: &Path, root: &KeySpec, opts: &HiveOptions) -> Result<(), WriteError> {
    let bytes = build_hive(root, opts).map_err(|e| build_err(out, e))?;
    write_file(out, &bytes)
}

/// Writes a dirty hive at `out_hive` and its old-format transaction log at `out_log`, as a
/// crash in the middle of a write leaves them: the hive is `clean_root` written with
/// `clean_opts`; the write applies `edits` at time `now` (its sequence number is one more than
/// `clean_opts.sequence`); the primary file gets the new Sequence1 and timestamp but keeps the
/// old bins; the log holds the edited pages. Replaying the log gives the edited hive.
pub fn write_dirty_hive(
    out_hive: &Path,
    out_log: &Path,
    clean_root: &KeySpec,
    clean_opts: &HiveOptions,
    now: u64,
    edits: &[HiveEdit],
) -> Result<(), WriteError> {
    let clean = build_hive(clean_root, clean_opts).map_err(|e| build_err(out_hive, e))?;
    let dirty = make_dirty_hive(&clean, now, |ed| {
        for e in edits {
            match e {
                HiveEdit::SetValue { key, value } => {
                    ed.set_value(&key.join("\\"), &value.name, value.kind, &value.data)?
                }
            }
        }
        Ok(())
    })
    .map_err(|e| build_err(out_hive, e))?;
    write_file(out_log, &dirty.log)?;
    write_file(out_hive, &dirty.primary)
}
