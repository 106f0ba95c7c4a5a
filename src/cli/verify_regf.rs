//! `verify` for registry hives: runs [`crate::regf::verify()`] over a file and reports it, as
//! text or as the `--json` object of product.md (`path`, `kind` = `regf`, `ok`, `cells`,
//! `dirty`, `errors` with `offset` and `what`).

use super::{Exit, Failure, GlobalArgs};
use crate::image::map::MappedFile;
use crate::regf::{self, Finding};
use std::path::Path;

/// The result of verifying one hive file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RegfFileReport {
    pub path: String,
    /// Always `regf`.
    pub kind: &'static str,
    pub ok: bool,
    pub cells: u64,
    pub keys: u64,
    pub values: u64,
    pub minor_version: u32,
    pub sequence1: u32,
    pub sequence2: u32,
    /// Sequence numbers differ: a state (the log holds the rest), not corruption.
    pub dirty: bool,
    /// Allocated cells nothing references (leaked space, not an error).
    pub unreferenced: u64,
    /// Transaction logs found beside the hive (when dirty).
    pub logs: Vec<String>,
    /// When dirty: whether replaying those logs gives a hive that verifies, and how (or why
    /// not). `reg import --replay-log` does exactly this replay.
    pub log_replay: Option<String>,
    pub errors: Vec<Finding>,
}

impl RegfFileReport {
    /// The verb's exit code for this file: 0 clean (dirty or not), 1 problems found.
    pub fn exit(&self) -> Exit {
        if self.ok {
            Exit::Ok
        } else {
            Exit::Problems
        }
    }

    /// Human-readable lines (on stdout).
    pub fn print_human(&self, global: &GlobalArgs) {
        if global.quiet && self.ok {
            return;
        }
        let state = if self.dirty {
            format!(
                ", dirty (sequence {} / {}; logs: {})",
                self.sequence1,
                self.sequence2,
                if self.logs.is_empty() {
                    "none".to_string()
                } else {
                    self.logs.join(", ")
                }
            )
        } else {
            String::new()
        };
        let verdict = if self.ok { "ok" } else { "PROBLEMS" };
        println!(
            "{}: regf 1.{}, {} cells, {} keys, {} values{}: {verdict}",
            self.path, self.minor_version, self.cells, self.keys, self.values, state
        );
        if let Some(l) = &self.log_replay {
            println!("  log: {l}");
        }
        for e in &self.errors {
            println!("  at {:#x}: {}", e.offset, e.what);
        }
    }
}

/// Verifies one hive file. An unreadable file is a usage failure (exit 2).
pub fn verify_regf_file(path: &Path, _global: &GlobalArgs) -> Result<RegfFileReport, Failure> {
    let map = MappedFile::open(path).map_err(|e| Failure::usage(e.to_string()))?;
    map.advise_sequential();
    Ok(regf_report(path, map.bytes()))
}

/// Verifies a hive already in memory; `path` names it and is where its logs are looked for.
pub fn regf_report(path: &Path, bytes: &[u8]) -> RegfFileReport {
    let r = regf::verify(bytes);
    let (logs, log_replay) = if r.dirty {
        let logs = regf::log::find_logs(path)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let replay = match regf::log::replay_files(path) {
            Ok(rep) => {
                let after = regf::verify(&rep.data);
                if after.ok() {
                    format!("replays cleanly: {}", rep.applied.join("; "))
                } else {
                    format!(
                        "replays ({}) but the result does not verify: {} problem(s)",
                        rep.applied.join("; "),
                        after.errors.len()
                    )
                }
            }
            Err(e) => format!("does not replay: {e}"),
        };
        (logs, Some(replay))
    } else {
        (Vec::new(), None)
    };
    RegfFileReport {
        path: path.display().to_string(),
        kind: "regf",
        ok: r.ok(),
        cells: r.cells,
        keys: r.keys,
        values: r.values,
        minor_version: r.minor_version,
        sequence1: r.sequence1,
        sequence2: r.sequence2,
        dirty: r.dirty,
        unreferenced: r.unreferenced,
        logs,
        log_replay,
        errors: r.errors,
    }
}
