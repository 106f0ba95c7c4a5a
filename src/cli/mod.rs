//! The command line: clap definitions, dispatch, output and exit codes.
//!
//! Exit codes (product.md): 0 done / all good; 1 refused or problems found, nothing written;
//! 2 usage error or unreadable input; 3 a failure while writing.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub mod exit;
pub mod inspect;
pub mod reg;
pub mod verify;

pub use exit::{Exit, Failure};

/// Offline `isinteg -patch` for Exchange Server 5.5 restores, from Linux.
#[derive(Parser, Debug)]
#[command(name = "coldpatch", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub verb: Verb,
}

/// Flags every verb takes.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Full check of ESE databases and registry hives; writes nothing.
    Verify {
        /// ESE databases (.EDB) or registry hives.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what an ESE database holds: its header (as eseutil /mh shows it) and every table
    /// with its row count, columns and indexes.
    Inspect {
        /// An ESE database file.
        target: PathBuf,
    },
    /// Offline registry access: export, import, get.
    #[command(subcommand)]
    Reg(RegVerb),
    /// Restore the exact original bytes recorded in the journal of an in-place write
    /// (`reg import --in-place --journal FILE`), also after a crash mid-write.
    Undo {
        /// The journal the in-place write left.
        journal: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum RegVerb {
    /// Print a key tree as a .reg file.
    Export {
        hive: PathBuf,
        /// The key to export, as a path inside the hive (no prefix); default the root.
        key: Option<String>,
        /// The NT4 `REGEDIT4` form (code page 1252 bytes) instead of `Windows Registry Editor
        /// Version 5.00` (UTF-8 text unless --utf16).
        #[arg(long)]
        regedit4: bool,
        /// Write UTF-16LE with a byte-order mark, as Windows' regedit writes `.reg` files.
        #[arg(long, conflicts_with = "regedit4")]
        utf16: bool,
        /// Where the hive is mounted in the registry, put before every key path (as
        /// `hivexregedit --prefix`), e.g. `HKEY_LOCAL_MACHINE\SYSTEM`; default none: paths
        /// are `\`-rooted (`[\]`, `[\Select]`).
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Apply a .reg file to an offline hive.
    Import {
        hive: PathBuf,
        reg_file: PathBuf,
        /// Write the result to this new file; the input hive is not modified.
        #[arg(
            long,
            conflicts_with = "in_place",
            required_unless_present = "in_place"
        )]
        out: Option<PathBuf>,
        /// Patch the hive where it is, behind an undo journal.
        #[arg(long, requires = "journal")]
        in_place: bool,
        /// The undo journal for --in-place (kept outside the image).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Replay the hive's transaction log first when it is dirty.
        #[arg(long)]
        replay_log: bool,
        /// Where the hive is mounted in the registry: every key path in the file must start
        /// with it (as `hivexregedit --prefix`); default none: paths are `\`-rooted.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Print one key's values, or one value.
    Get {
        hive: PathBuf,
        key: String,
        value: Option<String>,
    },
}

/// Parses the command line, runs the verb, and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => Exit::Usage.code(),
            };
        }
    };
    match run(&cli) {
        Ok(exit) => exit.code(),
        Err(failure) => {
            eprintln!("coldpatch: {failure}");
            failure.exit.code()
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: &Cli) -> Result<Exit, Failure> {
    match &cli.verb {
        Verb::Verify { files } => verify::run(&cli.global, files),
        Verb::Inspect { target } => inspect::run(&cli.global, target),
        Verb::Reg(r) => reg::run(r, &cli.global),
        Verb::Undo { journal } => undo(&cli.global, journal),
    }
}

/// `undo JOURNAL`: puts back every byte range the journal recorded and the file's old size.
fn undo(global: &GlobalArgs, journal: &std::path::Path) -> Result<Exit, Failure> {
    use crate::regf::write::{undo_journal, WriteError};
    match undo_journal(journal) {
        Ok(j) => {
            if !global.quiet {
                println!(
                    "{}: restored {} range(s) and its original size of {} bytes from {}",
                    j.file.display(),
                    j.ranges.len(),
                    j.original_size,
                    journal.display()
                );
            }
            Ok(Exit::Ok)
        }
        // A journal that cannot be read or is not ours: nothing was written.
        Err(e @ WriteError::BadJournal { .. }) => Err(Failure::usage(e.to_string())),
        Err(e) => Err(Failure::write(format!(
            "{e}; the journal {} is kept: run undo again once the file can be written",
            journal.display()
        ))),
    }
}
