//! The command line: clap definitions, dispatch, output and exit codes.
//!
//! Exit codes (product.md): 0 done / all good; 1 refused or problems found, nothing written;
//! 2 usage error or unreadable input; 3 a failure while writing.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub mod exit;
pub mod inspect;
pub mod patch;
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
    /// Where a GUID lives in an ESE database: every column of every table (fixed, variable,
    /// tagged, long values; its 16 bytes, or its text in a code page or UTF-16, any case),
    /// then raw bytes elsewhere (keys, free space, unused pages). Writes nothing.
    Census {
        /// The database (.EDB).
        file: PathBuf,
        /// A GUID to look for (repeatable); default the store's base GUID from `Globals`.
        #[arg(long, value_name = "GUID")]
        guid: Vec<crate::exchange::guid::Guid>,
    },
    /// Show what an image holds and whether it needs the patch (a directory, or --volume), or
    /// what one ESE database holds: its header (as eseutil /mh shows it) and every table with
    /// its row count, columns and indexes (a file).
    Inspect {
        /// An image directory (volumes as single-letter subdirectories) or an ESE database.
        target: Option<PathBuf>,
        #[command(flatten)]
        image: ImageFlags,
        /// An image read in seconds whatever its size: the hives, each database's header,
        /// catalog and Globals, and the patch needed and why; not the page checks, the row
        /// counts and the census, which read every page (`rows` and `census` are null,
        /// `pages_read` false; plan and apply still check every page).
        #[arg(long)]
        quick: bool,
    },
    /// Compute the patch of an image and print it; --out saves it for `apply --plan`.
    Plan {
        #[command(flatten)]
        image: ImageArgs,
        /// Derive the new base GUIDs from this text (reproducible lab runs).
        #[arg(long)]
        seed: Option<String>,
        /// Save the plan as JSON.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Patch an image: patched copies under --out DIR, or the files in place behind a journal.
    Apply {
        #[command(flatten)]
        image: ImageArgs,
        /// Write patched copies of the changed files, manifests, report and audit log here
        /// (new or empty); the image is only read.
        #[arg(
            long,
            conflicts_with = "in_place",
            required_unless_present = "in_place"
        )]
        out: Option<PathBuf>,
        /// Patch the image's files where they are, behind an undo journal.
        #[arg(long, requires = "journal")]
        in_place: bool,
        /// The undo journal for --in-place (outside the image; must not exist).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Apply exactly this plan (from `plan --out`); refused if any input changed.
        #[arg(long, conflicts_with_all = ["seed", "server_name"])]
        plan: Option<PathBuf>,
        /// Derive the new base GUIDs from this text (reproducible lab runs).
        #[arg(long)]
        seed: Option<String>,
        /// Patch even when nothing needs it.
        #[arg(long)]
        force: bool,
    },
    /// Offline registry access: export, import, get.
    #[command(subcommand)]
    Reg(RegVerb),
    /// Write the case file (report.html) of an apply again from its report.json and audit
    /// log, after checking the two agree page by page: DIR of an `apply --out`, or the
    /// journal of an `apply --in-place` (its FILE.report.json beside it).
    Report {
        /// The output directory of `apply --out`, or the journal of `apply --in-place`.
        #[arg(value_name = "DIR|JOURNAL")]
        target: PathBuf,
        /// Write the case file here instead of beside the report (an existing file is
        /// replaced).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore the exact original bytes recorded in the journal of an in-place write
    /// (`reg import --in-place --journal FILE`), also after a crash mid-write.
    Undo {
        /// The journal the in-place write left.
        journal: PathBuf,
    },
    /// Print the completion script for a shell on stdout.
    ///
    /// Save it where the shell looks for completions, e.g. `coldpatch completions bash >
    /// ~/.local/share/bash-completion/completions/coldpatch`.
    Completions {
        /// The shell the script is for.
        shell: CompletionShell,
    },
}

/// The shells `completions` writes a script for.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// The image's volumes and the choices discovery needs.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageFlags {
    /// Map a drive letter to a directory (repeatable), alone or on top of IMAGE_DIR's
    /// single-letter subdirectories: `--volume Q:=/mnt/quorum`.
    #[arg(long, value_name = "X:=PATH")]
    pub volume: Vec<crate::image::VolumeArg>,
    /// The target server name (default: the cluster's Exchange virtual server, else the
    /// computer name).
    #[arg(long)]
    pub server_name: Option<String>,
    /// Patch although the cluster checkpoint of the store key is missing (the cluster will
    /// undo the registry edits when the resource comes online).
    #[arg(long)]
    pub skip_checkpoint: bool,
    /// Patch although the old base GUID also lives in this column, one the store model does
    /// not rewrite (repeatable; found by the census; recorded in report.json as a warning).
    #[arg(long, value_name = "TABLE.COLUMN")]
    pub allow_uncovered: Vec<String>,
}

/// An image: its directory and the flags.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageArgs {
    /// The image directory: one subdirectory per volume, named by its drive letter.
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub flags: ImageFlags,
}

impl std::ops::Deref for ImageArgs {
    type Target = ImageFlags;
    fn deref(&self) -> &ImageFlags {
        &self.flags
    }
}

#[derive(Subcommand, Debug)]
pub enum RegVerb {
    /// Print a key tree as a .reg file.
    ///
    /// A damaged hive (a wrong base-block checksum, a file cut short, a broken cell) is read
    /// as far as it goes: everything that can be read is printed, and stderr has one warning
    /// per problem (its offset) and per part left out (its key path). Exit status: 0 a sound
    /// hive; 1 a damaged hive (the output holds what could be read), or no such key; 2 not a
    /// hive at all, or the file cannot be read.
    Export {
        /// The hive file (SYSTEM, SOFTWARE, CLUSDB, a checkpoint, ...).
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
        /// The hive file (SYSTEM, SOFTWARE, CLUSDB, a checkpoint, ...).
        hive: PathBuf,
        /// The .reg file to apply: REGEDIT4 or version 5.00, in UTF-8, UTF-16LE with a byte-order
        /// mark, or (REGEDIT4) code page 1252.
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
        /// Replace the --out file when it exists (refused otherwise).
        #[arg(long, requires = "out")]
        force: bool,
        /// Replay the hive's transaction log first when it is dirty.
        #[arg(long)]
        replay_log: bool,
        /// Where the hive is mounted in the registry: every key path in the file must start
        /// with it (as `hivexregedit --prefix`); default none: paths are `\`-rooted.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Print one key's values, or one value.
    ///
    /// A damaged hive is read as far as it goes, as by `reg export`: the values that can be
    /// read are printed, one warning per problem and per part left out on stderr. Exit status:
    /// 0 a sound hive; 1 a damaged hive, or no such key or value; 2 not a hive at all, or the
    /// file cannot be read.
    Get {
        /// The hive file (SYSTEM, SOFTWARE, CLUSDB, a checkpoint, ...).
        hive: PathBuf,
        /// The key, as a path inside the hive (no prefix).
        key: String,
        /// The value name; default every value of the key.
        value: Option<String>,
    },
}

/// Parses the command line, runs the verb, and returns the process exit code.
pub fn main() -> i32 {
    // A write past `ulimit -f` fails with EFBIG and is reported, instead of killing the run.
    crate::image::guard::ignore_file_size_signal();
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
            say(format_args!("coldpatch: {failure}"));
            failure.exit.code()
        }
    }
}

/// One line on stderr. A stderr that cannot be written (a file past `ulimit -f`, a full disk)
/// loses the line but not the exit code, as `eprintln!` would by panicking.
pub fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs one parsed command.
pub fn run(cli: &Cli) -> Result<Exit, Failure> {
    match &cli.verb {
        Verb::Verify { files } => verify::run(&cli.global, files),
        Verb::Census { file, guid } => census(&cli.global, file, guid),
        Verb::Inspect {
            target,
            image,
            quick,
        } => {
            let is_file = target.as_deref().is_some_and(|t| t.is_file());
            match target {
                Some(t) if is_file && image.volume.is_empty() => {
                    if *quick {
                        return Err(Failure::usage(format!(
                            "{}: --quick is for an image (a directory of volumes); a database \
                             alone is shown from its header and catalog without it",
                            t.display()
                        )));
                    }
                    inspect::run(&cli.global, t)
                }
                _ => patch::inspect(
                    &cli.global,
                    &ImageArgs {
                        image: target.clone(),
                        flags: image.clone(),
                    },
                    *quick,
                ),
            }
        }
        Verb::Plan { image, seed, out } => {
            patch::plan(&cli.global, image, seed.as_deref(), out.as_deref())
        }
        Verb::Apply {
            image,
            out,
            in_place,
            journal,
            plan,
            seed,
            force,
        } => patch::apply(
            &cli.global,
            &patch::ApplyArgs {
                image,
                out: out.as_deref(),
                in_place: *in_place,
                journal: journal.as_deref(),
                plan: plan.as_deref(),
                seed: seed.as_deref(),
                force: *force,
            },
        ),
        Verb::Reg(r) => reg::run(r, &cli.global),
        Verb::Undo { journal } => undo(&cli.global, journal),
        Verb::Completions { shell } => completions(*shell),
        Verb::Report { target, out } => patch::report(&cli.global, target, out.as_deref()),
    }
}

/// `completions SHELL`: the completion script, generated from these clap definitions, on
/// stdout; exit 0, or 3 when stdout cannot be written.
fn completions(shell: CompletionShell) -> Result<Exit, Failure> {
    use clap::CommandFactory;
    use std::io::Write;
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut cmd, name, &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::write(format!("cannot write the completion script: {e}")))?;
    Ok(Exit::Ok)
}

/// `census FILE [--guid GUID]...`: exit 0 with the census, 2 when the file cannot be read.
fn census(
    global: &GlobalArgs,
    file: &std::path::Path,
    guids: &[crate::exchange::guid::Guid],
) -> Result<Exit, Failure> {
    use std::io::IsTerminal;
    let show = std::io::stderr().is_terminal() && !global.quiet && !global.json;
    let bar = indicatif::ProgressBar::hidden();
    if show {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(file.display().to_string());
    }
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let c = crate::patch::census::census_file(
        file,
        guids,
        &crate::exchange::Profile::exchange55(),
        &progress,
    )
    .map_err(|e| Failure::usage(e.to_string()))?;
    bar.finish_and_clear();
    if global.json {
        let text = serde_json::to_string_pretty(&c)
            .map_err(|e| Failure::usage(format!("cannot format the JSON report: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", c.text());
    }
    Ok(Exit::Ok)
}

/// `undo JOURNAL`: puts back every byte range the journal recorded and each file's old size
/// (`apply --in-place`, `reg import --in-place`). The journal and every file are checked
/// first; a file in a state the journal cannot explain is refused and nothing is written.
fn undo(global: &GlobalArgs, journal: &std::path::Path) -> Result<Exit, Failure> {
    use crate::journal::{JournalError, UndoAction};
    if let Err(e) = std::fs::File::open(journal) {
        return Err(Failure::usage(format!(
            "{}: {e}; nothing was written",
            journal.display()
        )));
    }
    match crate::journal::undo(journal) {
        Ok(r) => {
            if global.json {
                let files: Vec<serde_json::Value> = r
                    .files
                    .iter()
                    .map(|(p, a)| {
                        let (action, ranges) = match a {
                            UndoAction::AlreadyOriginal => ("already original", 0),
                            UndoAction::Restored { ranges } => ("restored", *ranges),
                        };
                        serde_json::json!({"path": p.display().to_string(), "action": action, "ranges": ranges})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"sealed": r.sealed, "committed": r.committed, "files": files})
                );
            } else if !global.quiet {
                if !r.sealed {
                    println!(
                        "{}: the run stopped before its journal was sealed: nothing had been \
                         written to the image; nothing to undo",
                        journal.display()
                    );
                }
                for (p, a) in &r.files {
                    match a {
                        UndoAction::AlreadyOriginal => {
                            println!("{}: already original", p.display())
                        }
                        UndoAction::Restored { ranges } => {
                            println!(
                                "{}: restored {}",
                                p.display(),
                                crate::text::count(*ranges, "range", "ranges")
                            )
                        }
                    }
                }
            }
            Ok(Exit::Ok)
        }
        Err(e @ JournalError::NotJournal(_)) => Err(Failure::usage(e.to_string())),
        Err(e @ JournalError::Refused { .. }) => Err(Failure::refused(e.to_string())),
        Err(e @ JournalError::Locked { .. }) => Err(Failure::refused(e.to_string())),
        Err(e @ JournalError::Damaged { .. }) => Err(Failure::usage(format!(
            "{e}; nothing was written to any file. Keep the journal as it is; check the files \
             it names with coldpatch verify, and restore any that do not verify from the backup"
        ))),
        Err(e @ JournalError::Exists(_)) => Err(Failure::usage(e.to_string())),
        Err(e @ (JournalError::Io { .. } | JournalError::NotWritable { .. })) => {
            Err(Failure::write(format!(
                "{e}; the journal {} is kept: run undo again once the file can be written",
                journal.display()
            )))
        }
    }
}
