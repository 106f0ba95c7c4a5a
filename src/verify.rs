//! `verify` as a library: tell what a file is (an ESE database or a registry hive) by its magic
//! and check all of it, in one report form for both kinds. Writes nothing. The CLI prints the
//! report and maps it to exit codes (`cli::verify`).

use crate::ese;
use crate::image::MappedFile;
use serde::Serialize;
use std::path::Path;

/// ESE magic at offset 4 (reference/ese.md §1).
const ESE_MAGIC_OFFSET: usize = ese::header::MAGIC_OFFSET;
/// A registry hive starts with `regf` (reference/regf.md, base block).
const REGF_SIGNATURE: &[u8; 4] = b"regf";
/// Threads for the page loop (the goal machine has 2 cores).
pub const VERIFY_THREADS: usize = 2;

/// What a file is, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The ESE magic at offset 4.
    Ese,
    /// `regf` at offset 0.
    Regf,
    /// Neither.
    Unknown,
}

impl FileKind {
    /// Tells the kind of a file from its bytes (only the first eight are looked at).
    pub fn detect(bytes: &[u8]) -> FileKind {
        if bytes.get(0..4) == Some(REGF_SIGNATURE.as_slice()) {
            return FileKind::Regf;
        }
        let magic = bytes
            .get(ESE_MAGIC_OFFSET..ESE_MAGIC_OFFSET + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if magic == Some(ese::header::MAGIC) {
            FileKind::Ese
        } else {
            FileKind::Unknown
        }
    }

    /// The name reports use: `ese`, `regf`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Ese => "ese",
            FileKind::Regf => "regf",
            FileKind::Unknown => "unknown",
        }
    }
}

/// Why a file could not be verified at all (the CLI's exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{}: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: neither an ESE database (magic 0x89abcdef at offset 4) nor a registry hive \
         (\"regf\" at offset 0)",
        path.display()
    )]
    UnknownKind { path: std::path::PathBuf },
    #[error("{}: {source}", path.display())]
    Ese {
        path: std::path::PathBuf,
        source: ese::header::HeaderError,
    },
}

impl VerifyError {
    /// The kind of file it was taken for.
    pub fn kind(&self) -> FileKind {
        match self {
            VerifyError::Open { .. } | VerifyError::UnknownKind { .. } => FileKind::Unknown,
            VerifyError::Ese { .. } => FileKind::Ese,
        }
    }
}

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
    /// The file's recorded state, one word: `clean_shutdown`, `dirty_shutdown`, ... for ESE;
    /// `clean` or `dirty` for hives. A dirty state is a state, not an error.
    pub state: Option<String>,
    /// Hives (always there for a hive): the sequence numbers differ (a state, not corruption).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// Hives: the primary and secondary sequence numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_numbers: Option<[u32; 2]>,
    /// Hives: transaction logs found beside a dirty hive (empty for a clean one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
    /// Hives: whether the logs of a dirty hive replay to a hive that verifies (`null` for a
    /// clean one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_replay: Option<Option<String>>,
    pub errors: Vec<ReportError>,
    /// Facts worth knowing that are not damage (ESE: a page dbtime above a clean database's
    /// header dbtime, as Windows leaves them). Never change `ok` or the exit code.
    pub notes: Vec<ReportError>,
    /// Set when the file could not be read as its kind at all (exit 2).
    #[serde(skip)]
    pub unreadable: bool,
}

impl FileReport {
    /// The report of a file that could not be verified (its one error says why).
    pub fn unreadable(path: &Path, error: &VerifyError) -> FileReport {
        FileReport::unreadable_as(path, error.kind().name(), 0, error.to_string())
    }

    fn unreadable_as(path: &Path, kind: &'static str, offset: u64, what: String) -> FileReport {
        FileReport {
            path: path.display().to_string(),
            kind,
            ok: false,
            pages: None,
            cells: None,
            state: None,
            dirty: None,
            sequence_numbers: None,
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

/// Verifies one file, telling ESE from regf by its magic. `progress(total, done)` is called as
/// an ESE database's pages are checked (`total` pages in all, `done` more since the last call).
pub fn verify_path(
    path: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<FileReport, VerifyError> {
    let map = MappedFile::open(path).map_err(|e| VerifyError::Open {
        path: e.path,
        source: e.source,
    })?;
    let bytes = map.bytes();
    match FileKind::detect(bytes) {
        FileKind::Regf => Ok(verify_regf_file(path, bytes)),
        FileKind::Ese => {
            map.advise_sequential();
            // The pages checked leave the process's resident memory as the check goes.
            let release = map.releasing(u64::from(ese_page_size(bytes)));
            let release_reads = map.releasing_reads();
            verify_ese_bytes_observed(path, bytes, progress, &release, &release_reads)
        }
        FileKind::Unknown => Err(VerifyError::UnknownKind {
            path: path.to_path_buf(),
        }),
    }
}

/// The page size an ESE header states (the default where it states none).
fn ese_page_size(bytes: &[u8]) -> u32 {
    crate::bytes::Bytes::new(bytes, 0)
        .u32("page size", ese::header::PAGE_SIZE_OFFSET)
        .ok()
        .filter(|&cb| cb != 0)
        .unwrap_or(ese::header::DEFAULT_PAGE_SIZE)
}

/// Verifies an ESE database already in memory; `progress` as for [`verify_path`].
pub fn verify_ese_bytes(
    path: &Path,
    bytes: &[u8],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<FileReport, VerifyError> {
    verify_ese_bytes_observed(path, bytes, progress, &|_| {}, &|_| {})
}

/// [`verify_ese_bytes`], telling `on_pages` of the pages passed and `on_read` of the pages
/// read out of order ([`ese::verify::verify_file_observed`]).
fn verify_ese_bytes_observed(
    path: &Path,
    bytes: &[u8],
    progress: &(dyn Fn(u64, u64) + Sync),
    on_pages: &(dyn Fn(u64) + Sync),
    on_read: &(dyn Fn(u64) + Sync),
) -> Result<FileReport, VerifyError> {
    let page_size = ese_page_size(bytes);
    let total = (bytes.len() as u64 / u64::from(page_size)).max(1);
    let step = |n: u64| progress(total, n);
    let report = ese::verify::verify_file_observed(bytes, VERIFY_THREADS, &step, on_pages, on_read)
        .map_err(|source| VerifyError::Ese {
            path: path.to_path_buf(),
            source,
        })?;
    let list = |findings: &[ese::verify::Finding]| {
        findings
            .iter()
            .map(|f| ReportError {
                offset: f.offset,
                page: f.page.map(u64::from),
                what: f.problem.to_string(),
            })
            .collect()
    };
    Ok(FileReport {
        path: path.display().to_string(),
        kind: "ese",
        ok: report.ok(),
        pages: Some(report.pages),
        cells: None,
        state: Some(report.header.state.key()),
        dirty: None,
        sequence_numbers: None,
        logs: None,
        log_replay: None,
        errors: list(&report.findings),
        notes: list(&report.notes),
        unreadable: false,
    })
}

/// Verifies a registry hive with the regf engine, in the report form both kinds share.
/// `path` names it and is where its transaction logs are looked for; when the hive is dirty,
/// `log_replay` says whether replaying those logs gives a hive that verifies (what
/// `reg import --replay-log` does).
pub fn verify_regf_file(path: &Path, bytes: &[u8]) -> FileReport {
    let r = crate::regf::verify(bytes);
    let (logs, log_replay) = if r.dirty {
        let logs: Vec<String> = crate::regf::log::find_logs(path)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        (logs, Some(regf_log_replay(path)))
    } else {
        (Vec::new(), None)
    };
    let state = if r.dirty { "dirty" } else { "clean" };
    FileReport {
        path: path.display().to_string(),
        kind: "regf",
        ok: r.ok(),
        pages: None,
        cells: Some(r.cells),
        state: Some(state.to_string()),
        dirty: Some(r.dirty),
        sequence_numbers: Some([r.sequence1, r.sequence2]),
        logs: Some(logs),
        log_replay: Some(log_replay),
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
    }
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
                    "replays ({}) but the result does not verify: {}",
                    rep.applied.join("; "),
                    crate::text::count(after.errors.len() as u64, "problem", "problems")
                )
            }
        }
        Err(e) => format!("does not replay: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_magic_and_unknown_files_are_typed_errors() {
        let mut ese = vec![0u8; 8];
        ese[4..8].copy_from_slice(&ese::header::MAGIC.to_le_bytes());
        assert_eq!(FileKind::detect(&ese), FileKind::Ese);
        assert_eq!(FileKind::detect(b"regf\0\0\0\0"), FileKind::Regf);
        for other in [&b""[..], b"reg", b"\0\0\0\0\xef\xcd\xab", b"random bytes"] {
            assert_eq!(FileKind::detect(other), FileKind::Unknown, "{other:?}");
        }

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, b"not a database, not a hive").unwrap();
        let e = verify_path(&junk, &|_, _| {}).unwrap_err();
        assert!(matches!(e, VerifyError::UnknownKind { .. }), "{e}");
        assert!(e.to_string().contains("junk.bin"), "{e}");
        let r = FileReport::unreadable(&junk, &e);
        assert!(r.unreadable && !r.ok && r.kind == "unknown");

        let missing = dir.path().join("missing.edb");
        let e = verify_path(&missing, &|_, _| {}).unwrap_err();
        assert!(matches!(e, VerifyError::Open { .. }), "{e}");
        assert!(e.to_string().contains("missing.edb"), "{e}");

        // An ESE magic on a file too short for a header: an ESE error naming the file.
        let short = dir.path().join("short.edb");
        std::fs::write(&short, &ese).unwrap();
        let e = verify_path(&short, &|_, _| {}).unwrap_err();
        assert!(matches!(e, VerifyError::Ese { .. }), "{e}");
        assert_eq!(e.kind(), FileKind::Ese);
    }
}
