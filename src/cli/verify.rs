//! `coldpatch verify FILE...`: a full check of ESE databases (and, through the regf engine,
//! registry hives). Writes nothing.
//!
//! Exit 0 when every file is intact, 1 when anything is wrong, 2 when a file cannot be read
//! as what it claims to be (or at all). `--json`: a JSON array with one [`FileReport`] per file.

use crate::cli::{Exit, Failure, GlobalArgs};
use crate::verify::FileReport;
use std::io::IsTerminal;
use std::path::Path;

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
            super::say(format_args!("coldpatch: {}", e.what));
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
    let mut state = r.state.clone().unwrap_or_else(|| "unknown".into());
    if let (Some(true), Some([primary, secondary])) = (r.dirty, r.sequence_numbers) {
        let logs = r.logs.as_deref().unwrap_or_default();
        state = format!(
            "{state} (sequence numbers {primary} / {secondary}; logs: {})",
            if logs.is_empty() {
                "none".to_string()
            } else {
                logs.join(", ")
            }
        );
    }
    println!(
        "{}: {} {}, {}, state {}: {}",
        r.path,
        r.kind,
        if r.ok { "intact" } else { "DAMAGED" },
        units,
        state,
        if r.ok {
            "no errors".to_string()
        } else {
            crate::text::count(r.errors.len() as u64, "error", "errors")
        }
    );
}

/// Verifies one file (see [`crate::verify::verify_path`]), with a progress bar on a terminal;
/// a file that cannot be verified gives its unreadable report.
pub fn verify_path(path: &Path, global: &GlobalArgs) -> FileReport {
    let show = std::io::stderr().is_terminal() && !global.quiet && !global.json;
    let bar: std::sync::OnceLock<indicatif::ProgressBar> = std::sync::OnceLock::new();
    let progress = |total: u64, n: u64| {
        if !show {
            return;
        }
        bar.get_or_init(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} pages")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(path.display().to_string());
            b
        })
        .inc(n);
    };
    let r = crate::verify::verify_path(path, &progress);
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    r.unwrap_or_else(|e| FileReport::unreadable(path, &e))
}
