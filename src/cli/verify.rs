//! `coldpatch verify FILE...`: a full check of ESE databases (and, through the regf engine,
//! registry hives). Writes nothing.
//!
//! Exit 0 when every file is intact, 1 when anything is wrong, 2 when a file cannot be read
//! as what it claims to be (or at all). `--json`: a JSON array with one [`FileReport`] per file.

use crate::cli::{Exit, Failure, GlobalArgs};
use crate::ese;
use crate::image::MappedFile;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;

/// ESE magic at offset 4 (reference/ese.md §1).
const ESE_MAGIC_OFFSET: usize = ese::header::MAGIC_OFFSET;
/// A registry hive starts with `regf` (reference/regf.md, base block).
const REGF_SIGNATURE: &[u8; 4] = b"regf";
/// Threads for the page loop (the goal machine has 2 cores).
const VERIFY_THREADS: usize = 2;

/// One error found in a file: where it is and what is wrong.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReportError {
    /// Absolute file offset.
    pub offset: u64,
    /// ESE page number (or regf bin offset / cell offset for hives), when there is one.
    pub page: Option<u64>,
    pub what: String,
}

/// The verify result of one file, shared by both kinds (`ese`, `regf`).
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `ese` or `regf`; `unknown` when the file's kind could not be told.
    pub kind: &'static str,
    pub ok: bool,
    /// Database pages checked (ESE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    /// Cells checked (regf).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<u64>,
    /// The file's recorded state: `clean_shutdown`, `dirty_shutdown`, ... for ESE; `clean`
    /// or `dirty` for hives. A dirty state is a state, not an error.
    pub state: Option<String>,
    /// Hives: the sequence numbers differ (a state, not corruption).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// Hives: transaction logs found beside a dirty hive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
    /// Hives: whether the logs of a dirty hive replay to a hive that verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_replay: Option<String>,
    pub errors: Vec<ReportError>,
    /// Facts worth knowing that are not damage (ESE: a page dbtime above a clean database's
    /// header dbtime, as Windows leaves them). Never change `ok` or the exit code.
    pub notes: Vec<ReportError>,
    /// Set when the file could not be read as its kind at all (exit 2).
    #[serde(skip)]
    pub unreadable: bool,
}

impl FileReport {
    fn unreadable(path: &Path, kind: &'static str, offset: u64, what: String) -> FileReport {
        FileReport {
            path: path.display().to_string(),
            kind,
            ok: false,
            pages: None,
            cells: None,
            state: None,
            dirty: None,
            logs: None,
            log_replay: None,
            errors: vec![ReportError {
                offset,
                page: None,
                what,
            }],
            notes: Vec::new(),
            unreadable: true,
        }
    }
}

/// Runs `verify` over `files`.
pub fn run(global: &GlobalArgs, files: &[std::path::PathBuf]) -> Result<Exit, Failure> {
    let mut reports = Vec::new();
    for path in files {
        let report = verify_path(path, global);
        if !global.json {
            print_report(&report, global);
        }
        reports.push(report);
    }
    if global.json {
        let text = serde_json::to_string_pretty(&reports)
            .map_err(|e| Failure::usage(format!("cannot format the JSON report: {e}")))?;
        println!("{text}");
    }
    Ok(if reports.iter().any(|r| r.unreadable) {
        Exit::Usage
    } else if reports.iter().any(|r| !r.ok) {
        Exit::Problems
    } else {
        Exit::Ok
    })
}

fn print_report(r: &FileReport, global: &GlobalArgs) {
    if r.unreadable {
        // Each message names the file already.
        for e in &r.errors {
            eprintln!("coldpatch: {}", e.what);
        }
        return;
    }
    for e in &r.errors {
        match e.page {
            Some(p) => println!("{}: page {p} (offset {:#x}): {}", r.path, e.offset, e.what),
            None => println!("{}: offset {:#x}: {}", r.path, e.offset, e.what),
        }
    }
    if global.quiet && r.ok {
        return;
    }
    for n in &r.notes {
        let at = match n.page {
            Some(p) => format!("page {p} (offset {:#x})", n.offset),
            None => format!("offset {:#x}", n.offset),
        };
        println!("{}: note: {at}: {} (not damage)", r.path, n.what);
    }
    let units = match (r.pages, r.cells) {
        (Some(p), _) => format!("{p} pages"),
        (_, Some(c)) => format!("{c} cells"),
        _ => String::new(),
    };
    println!(
        "{}: {} {}, {}, state {}: {}",
        r.path,
        r.kind,
        if r.ok { "intact" } else { "DAMAGED" },
        units,
        r.state.as_deref().unwrap_or("unknown"),
        if r.ok {
            "no errors".to_string()
        } else {
            format!("{} error(s)", r.errors.len())
        }
    );
}

/// Verifies one file, telling ESE from regf by its magic.
pub fn verify_path(path: &Path, global: &GlobalArgs) -> FileReport {
    let map = match MappedFile::open(path) {
        Ok(m) => m,
        Err(e) => return FileReport::unreadable(path, "unknown", 0, e.to_string()),
    };
    let bytes = map.bytes();
    if bytes.get(0..4) == Some(REGF_SIGNATURE.as_slice()) {
        return match verify_regf_file(path, bytes, global) {
            Ok(report) => report,
            Err(f) => FileReport::unreadable(path, "regf", 0, f.message),
        };
    }
    let magic = bytes
        .get(ESE_MAGIC_OFFSET..ESE_MAGIC_OFFSET + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if magic != Some(ese::header::MAGIC) {
        return FileReport::unreadable(
            path,
            "unknown",
            0,
            format!(
                "{}: neither an ESE database (magic 0x89abcdef at offset 4) nor a registry \
                 hive (\"regf\" at offset 0)",
                path.display()
            ),
        );
    }
    map.advise_sequential();
    verify_ese_bytes(path, bytes, global)
}

/// Verifies an ESE database already in memory.
pub fn verify_ese_bytes(path: &Path, bytes: &[u8], global: &GlobalArgs) -> FileReport {
    let page_size = crate::bytes::Bytes::new(bytes, 0)
        .u32("page size", ese::header::PAGE_SIZE_OFFSET)
        .ok()
        .filter(|&cb| cb != 0)
        .unwrap_or(ese::header::DEFAULT_PAGE_SIZE);
    let total = (bytes.len() as u64 / u64::from(page_size)).max(1);
    let bar = if std::io::stderr().is_terminal() && !global.quiet && !global.json {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} pages")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(path.display().to_string());
        Some(bar)
    } else {
        None
    };
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let result = ese::verify::verify_file(bytes, VERIFY_THREADS, &progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(report) => FileReport {
            path: path.display().to_string(),
            kind: "ese",
            ok: report.ok(),
            pages: Some(report.pages),
            cells: None,
            state: Some(report.header.state.key()),
            dirty: None,
            logs: None,
            log_replay: None,
            errors: report
                .findings
                .iter()
                .map(|f| ReportError {
                    offset: f.offset,
                    page: f.page.map(u64::from),
                    what: f.problem.to_string(),
                })
                .collect(),
            notes: report
                .notes
                .iter()
                .map(|f| ReportError {
                    offset: f.offset,
                    page: f.page.map(u64::from),
                    what: f.problem.to_string(),
                })
                .collect(),
            unreadable: false,
        },
        Err(e) => FileReport::unreadable(path, "ese", 0, format!("{}: {e}", path.display())),
    }
}

/// Verifies a registry hive with the regf engine, in the report form both kinds share.
/// `path` names it and is where its transaction logs are looked for; when the hive is dirty,
/// `log_replay` says whether replaying those logs gives a hive that verifies (what
/// `reg import --replay-log` does).
pub fn verify_regf_file(
    path: &Path,
    bytes: &[u8],
    _global: &GlobalArgs,
) -> Result<FileReport, Failure> {
    let r = crate::regf::verify(bytes);
    let (state, logs, log_replay) = if r.dirty {
        let logs: Vec<String> = crate::regf::log::find_logs(path)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let state = format!(
            "dirty (sequence numbers {} / {}; logs: {})",
            r.sequence1,
            r.sequence2,
            if logs.is_empty() {
                "none".to_string()
            } else {
                logs.join(", ")
            }
        );
        (state, Some(logs), Some(regf_log_replay(path)))
    } else {
        ("clean".to_string(), None, None)
    };
    Ok(FileReport {
        path: path.display().to_string(),
        kind: "regf",
        ok: r.ok(),
        pages: None,
        cells: Some(r.cells),
        state: Some(state),
        dirty: Some(r.dirty),
        logs,
        log_replay,
        errors: r
            .errors
            .into_iter()
            .map(|f| ReportError {
                offset: f.offset,
                page: None,
                what: f.what,
            })
            .collect(),
        notes: Vec::new(),
        unreadable: false,
    })
}

/// Whether the logs beside a dirty hive replay to a hive that verifies, and how (or why not).
fn regf_log_replay(path: &Path) -> String {
    match crate::regf::log::replay_files(path) {
        Ok(rep) => {
            let after = crate::regf::verify(&rep.data);
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
    }
}
