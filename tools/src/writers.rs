//! The one place `mkimage` calls the ESE and hive builders.
//!
//! PLACEHOLDER until `ese::build` and `regf::build` land: the bodies below write the builders'
//! *inputs* (as JSON lines, streamed) instead of real files, so that everything else compiles
//! and runs. At merge, each body becomes one call:
//!
//! * [`write_database`] → `coldpatch::ese::build::build_database(out, opts, tables)`;
//! * [`write_hive`] → `std::fs::write(out, coldpatch::regf::build::build_hive(root, opts)?)`;
//! * [`write_dirty_hive`] → the regf function that turns a clean hive and edits into a dirty
//!   hive and its old-format `.LOG`;
//!
//! and [`PLACEHOLDER`] becomes `false`.

use coldpatch::ese::build::{BuildOptions, BuildReport, TableInput};
use coldpatch::regf::build::{HiveOptions, KeySpec, ValueSpec};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `true` while the bodies below write placeholders instead of real databases and hives.
/// PLACEHOLDER until ese::build and regf::build land.
pub const PLACEHOLDER: bool = true;

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

fn json_line<W: Write, T: Serialize>(w: &mut W, path: &Path, v: &T) -> Result<(), WriteError> {
    serde_json::to_writer(&mut *w, v).map_err(|e| WriteError::Build {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    w.write_all(b"\n").map_err(io(path))
}

/// Writes a complete ESE database at `out` (a new file) from the table streams.
pub fn write_database(
    out: &Path,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
) -> Result<BuildReport, WriteError> {
    // PLACEHOLDER until ese::build lands: the options, each table definition and every row as
    // JSON lines, streamed row by row.
    let file = File::create(out).map_err(io(out))?;
    let mut w = BufWriter::new(file);
    json_line(&mut w, out, &("mkimage placeholder database", opts))?;
    let mut report = BuildReport::default();
    for t in tables {
        json_line(&mut w, out, &t.def)?;
        let mut n = 0u64;
        for row in t.rows {
            json_line(&mut w, out, &row)?;
            n += 1;
        }
        report.rows.push((t.def.name.clone(), n));
    }
    let file = w.into_inner().map_err(|e| WriteError::Io {
        path: out.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(out))?;
    report.bytes = file.metadata().map_err(io(out))?.len();
    Ok(report)
}

/// Writes a clean hive at `out` (a new file).
pub fn write_hive(out: &Path, root: &KeySpec, opts: &HiveOptions) -> Result<(), WriteError> {
    // PLACEHOLDER until regf::build lands.
    let file = File::create(out).map_err(io(out))?;
    let mut w = BufWriter::new(file);
    json_line(&mut w, out, &("mkimage placeholder hive", opts, root))?;
    finish(w, out)
}

/// Writes a dirty hive at `out_hive` and its old-format transaction log at `out_log`: the hive
/// as `clean_root` with differing sequence numbers, the log holding `edits`.
pub fn write_dirty_hive(
    out_hive: &Path,
    out_log: &Path,
    clean_root: &KeySpec,
    opts: &HiveOptions,
    edits: &[HiveEdit],
) -> Result<(), WriteError> {
    // PLACEHOLDER until the regf dirty-hive function lands.
    let file = File::create(out_hive).map_err(io(out_hive))?;
    let mut w = BufWriter::new(file);
    json_line(
        &mut w,
        out_hive,
        &("mkimage placeholder dirty hive", opts, clean_root),
    )?;
    finish(w, out_hive)?;
    let file = File::create(out_log).map_err(io(out_log))?;
    let mut w = BufWriter::new(file);
    json_line(&mut w, out_log, &("mkimage placeholder hive log", edits))?;
    finish(w, out_log)
}

fn finish(w: BufWriter<File>, path: &Path) -> Result<(), WriteError> {
    let file = w.into_inner().map_err(|e| WriteError::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(path))
}
