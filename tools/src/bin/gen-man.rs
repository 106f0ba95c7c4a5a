//! `gen-man DIR`: writes the man pages of `coldpatch` ([`coldpatch_tools::man::pages`]) into
//! DIR, created when missing, and removes the `coldpatch*.1` pages there that the command line
//! no longer has. The checked-in pages: `cargo run -q -p coldpatch-tools --bin gen-man -- man`
//! from the repository root.

use clap::Parser;
use coldpatch_tools::man;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Write the man pages of coldpatch, rendered from its clap definitions, into DIR.
#[derive(Parser, Debug)]
#[command(name = "gen-man")]
struct Args {
    /// The directory for the pages (created when missing); `man` at the repository root for
    /// the checked-in ones.
    dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match write_pages(&args.dir) {
        Ok(summary) => {
            println!("gen-man: {}: {summary}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-man: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page whose bytes differ, removes stale ones, and says what it did.
fn write_pages(dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pages = man::pages();
    let mut written = 0;
    for (name, roff) in &pages {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(roff.as_slice()) {
            std::fs::write(&path, roff).map_err(|e| format!("{}: {e}", path.display()))?;
            written += 1;
        }
    }
    let names: BTreeSet<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("coldpatch") && name.ends_with(".1");
        if ours && !names.contains(name.as_str()) && entry.path().is_file() {
            std::fs::remove_file(entry.path())
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            removed.push(name);
        }
    }
    removed.sort();
    let mut summary = format!(
        "{} pages, {written} written, {} unchanged",
        pages.len(),
        pages.len() - written
    );
    if !removed.is_empty() {
        summary.push_str(&format!(", removed {}", removed.join(" ")));
    }
    Ok(summary)
}
