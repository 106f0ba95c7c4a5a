//! `faults`: crash consistency of `apply --in-place` and `undo` on a multi-GB image (not a
//! test: it prints a table of outcomes; it exits 1 when any run did not end byte-exact).
//!
//! It writes (or, with `--reuse`, reuses) an ESE97 cluster image of `--gib` GiB with the
//! `mkimage` beside this program (the same image as `bench`), records the SHA-256 of every file,
//! times one whole `apply --in-place` and its `undo`, and the moments the journal is sealed and
//! the writes done (`COLDPATCH_TEST_PAUSE_AT`). Then, for `--runs` runs (seeded), it starts
//! `coldpatch apply IMAGE --in-place --journal J`, kills it with SIGKILL at a random moment —
//! most spread over the whole run, one in five drawn near the start or the end of the writes,
//! where the hives are written — reads from the journal and the files which phase the kill hit,
//! runs `coldpatch undo J` when a journal exists (a share of these undos SIGKILLed too and run
//! again), and checks every file of the image against the original hashes. Then it tears the
//! journal of a whole run (cut at random lengths: undo must refuse and write nothing) and hands
//! undo crafted journals (huge sizes, offsets past the end, overflowing lengths, wrong file
//! counts, a file changed since, a file replaced by a symbolic link), and at last undoes with
//! the intact journal.
//!
//! Build first: `cargo build --release -p coldpatch -p coldpatch-tools`, then
//! `target/release/faults --gib 2 --runs 100`.

use clap::Parser;
use coldpatch_tools::bench_image::{beside, calibrate, image_args, size_of};
use coldpatch_tools::faults::{
    self, apply_args, differences, phase_of, remove_journal, run, run_killed, tree_hashes,
    undo_args, Hashes, Phase, Rng,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "faults",
    about = "apply --in-place killed at random moments, torn and crafted journals: undo must end byte-exact or refuse"
)]
struct Args {
    /// Image size, GiB.
    #[arg(long, default_value_t = 2.0)]
    gib: f64,
    /// SIGKILL runs.
    #[arg(long, default_value_t = 100)]
    runs: u32,
    /// Journal cuts.
    #[arg(long, default_value_t = 20)]
    torn: u32,
    /// Seed of the kill moments and cuts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of the undos that are SIGKILLed too (then run again).
    #[arg(long, default_value_t = 0.25)]
    undo_kills: f64,
    /// Where to work (the image and the journals); default `$TMPDIR`, else `target/faults`.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the image.
    #[arg(long)]
    keep: bool,
    /// Reuse an image of the same size left by `--keep`.
    #[arg(long)]
    reuse: bool,
}

fn mkimage(args: &[String]) -> Result<(), String> {
    let st = Command::new(beside("mkimage"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("mkimage: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("mkimage {args:?}: {st}"))
    }
}

fn hashes(image: &Path) -> Result<Hashes, String> {
    tree_hashes(image).map_err(|e| format!("{}: {e}", image.display()))
}

/// One kill run's outcome.
struct Outcome {
    phase: Phase,
    undo_killed: bool,
    exact: bool,
}

struct Driver {
    coldpatch: PathBuf,
    image: PathBuf,
    journal: PathBuf,
    original: Hashes,
    failures: Vec<String>,
}

impl Driver {
    /// Undo (when a journal exists) and the check against the original; a difference is a
    /// failure, named.
    fn undo_and_check(&mut self, what: &str, kill_undo: Option<Duration>) -> Result<bool, String> {
        let mut undo_killed = false;
        if self.journal.exists() {
            if let Some(after) = kill_undo {
                let (killed, _) = run_killed(&self.coldpatch, &undo_args(&self.journal), after)
                    .map_err(|e| e.to_string())?;
                undo_killed = killed;
            }
            let r = run(&self.coldpatch, &undo_args(&self.journal)).map_err(|e| e.to_string())?;
            if r.code != Some(0) {
                self.failures.push(format!(
                    "{what}: undo exited {:?}: {}",
                    r.code,
                    r.stderr.trim()
                ));
            }
        }
        let now = hashes(&self.image)?;
        let diff = differences(&self.original, &now);
        if !diff.is_empty() {
            self.failures
                .push(format!("{what}: not byte-exact: {}", diff.join(", ")));
        }
        remove_journal(&self.journal);
        Ok(undo_killed)
    }
}

fn main() -> ExitCode {
    match main_result() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("faults: {e}");
            ExitCode::from(2)
        }
    }
}

fn main_result() -> Result<bool, String> {
    let a = Args::parse();
    let started = Instant::now();
    let dir = a
        .dir
        .clone()
        .or_else(|| std::env::var_os("TMPDIR").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/faults"));
    let work = dir.join("coldpatch-faults");
    let image = work.join(format!("image-{}g", a.gib));
    let scratch = work.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    if !(a.reuse && image.join("image.json").exists()) {
        let _ = std::fs::remove_dir_all(&image);
        let (m, p) = calibrate(&work, a.gib, mkimage)?;
        let args = image_args(&image, m, p);
        println!("mkimage {}", args[1..].join(" "));
        mkimage(&args)?;
    }
    let coldpatch = beside("coldpatch");
    let journal = scratch.join("run.journal");
    remove_journal(&journal);
    let original = hashes(&image)?;
    let bytes: u64 = original.values().map(|v| v.0).sum();
    println!(
        "image {} ({:.2} GB in {} files); seed {}",
        image.display(),
        bytes as f64 / 1e9,
        original.len(),
        a.seed
    );
    let mut d = Driver {
        coldpatch: coldpatch.clone(),
        image: image.clone(),
        journal: journal.clone(),
        original,
        failures: Vec::new(),
    };

    // The timeline of a whole run.
    let full = run(&coldpatch, &apply_args(&image, &journal)).map_err(|e| e.to_string())?;
    if full.code != Some(0) {
        return Err(format!(
            "apply --in-place: {:?}: {}",
            full.code, full.stderr
        ));
    }
    let patched = hashes(&image)?;
    let journal_bytes = size_of(&journal)?;
    let undo_full = run(&coldpatch, &undo_args(&journal)).map_err(|e| e.to_string())?;
    d.undo_and_check("whole run", None)?;
    let sealed_at = faults::kill_at_point(&coldpatch, &apply_args(&image, &journal), "sealed")
        .map_err(|e| e.to_string())?;
    d.undo_and_check("paused at sealed", None)?;
    let written_at = faults::kill_at_point(&coldpatch, &apply_args(&image, &journal), "written")
        .map_err(|e| e.to_string())?;
    d.undo_and_check("paused at written", None)?;
    println!(
        "whole apply --in-place {:.2} s (sealed at {:.2} s, written at {:.2} s), journal {:.1} MB; undo {:.2} s",
        full.secs,
        sealed_at,
        written_at,
        journal_bytes as f64 / 1e6,
        undo_full.secs
    );

    // The kills.
    let mut rng = Rng::new(a.seed);
    let mut outcomes = Vec::new();
    let writes = (written_at - sealed_at).max(0.01);
    let kills_started = Instant::now();
    for i in 0..a.runs {
        let at = match i % 10 {
            // The start of the writes: hive headers in progress, the first hives' bins.
            0 => sealed_at + rng.unit() * 0.04 * writes,
            // The end of the writes: the last hive, the final headers, the commit.
            5 => written_at - 0.04 * writes + rng.unit() * 0.08 * writes,
            _ => rng.unit() * full.secs * 1.02,
        };
        let (killed, ran) = run_killed(
            &coldpatch,
            &apply_args(&image, &journal),
            Duration::from_secs_f64(at),
        )
        .map_err(|e| e.to_string())?;
        if !killed && ran.code != Some(0) {
            d.failures
                .push(format!("run {i}: apply exited {:?} unkilled", ran.code));
        }
        let phase = phase_of(&journal, !killed).unwrap_or_else(|e| {
            d.failures
                .push(format!("run {i}: the journal is unreadable: {e}"));
            Phase::Recording
        });
        let kill_undo = (phase >= Phase::SealedNothingWritten && rng.unit() < a.undo_kills)
            .then(|| Duration::from_secs_f64(rng.unit() * undo_full.secs));
        let before = d.failures.len();
        let undo_killed = d.undo_and_check(&format!("run {i} ({})", phase.name()), kill_undo)?;
        let exact = d.failures.len() == before;
        println!(
            "run {i:3}: kill at {at:6.2} s: {}{}: {}",
            phase.name(),
            if undo_killed { ", undo killed too" } else { "" },
            if exact { "byte-exact" } else { "FAILED" }
        );
        outcomes.push(Outcome {
            phase,
            undo_killed,
            exact,
        });
    }
    let kills_secs = kills_started.elapsed().as_secs_f64();

    // Torn and crafted journals, from one whole run.
    let full = run(&coldpatch, &apply_args(&image, &journal)).map_err(|e| e.to_string())?;
    if full.code != Some(0) {
        return Err(format!(
            "apply --in-place: {:?}: {}",
            full.code, full.stderr
        ));
    }
    if !differences(&patched, &hashes(&image)?).is_empty() {
        d.failures
            .push("a second whole run patched other bytes than the first".into());
    }
    let len = size_of(&journal)?;
    let commit_mark = len - 13;
    let silent = faults::silent_cuts(&journal)?;
    let mut cuts: Vec<u64> = vec![
        0,
        4,
        8,
        9,
        silent.start - 1,
        silent.start + 3,
        len - 1,
        len - 14,
    ];
    while cuts.len() < a.torn as usize {
        let c = rng.below(len);
        if c != commit_mark {
            cuts.push(c);
        }
    }
    let torn_started = Instant::now();
    let torn = faults::torn(&coldpatch, &image, &journal, &scratch, &cuts)?;
    let torn_secs = torn_started.elapsed().as_secs_f64();
    let crafted_started = Instant::now();
    let crafted = faults::crafted(&coldpatch, &image, &journal, &scratch)?;
    let crafted_secs = crafted_started.elapsed().as_secs_f64();
    for (cut, r, silent) in &torn {
        let ok = if *silent {
            r.code == Some(0) && r.changed.is_empty()
        } else {
            r.ok()
        };
        if !ok {
            d.failures.push(format!(
                "journal cut at {cut}: {:?} {} {:?}",
                r.code, r.message, r.changed
            ));
        }
    }
    for r in &crafted {
        if !r.ok() {
            d.failures.push(format!(
                "crafted: {}: {:?} {} {:?}",
                r.case, r.code, r.message, r.changed
            ));
        }
    }
    d.undo_and_check(
        "undo with the intact journal after the torn and crafted ones",
        None,
    )?;

    // The table.
    println!();
    println!(
        "## {} GiB image ({:.2} GB), seed {}: whole apply --in-place {:.2} s, undo {:.2} s",
        a.gib,
        bytes as f64 / 1e9,
        a.seed,
        full.secs,
        undo_full.secs
    );
    println!();
    println!("| phase the SIGKILL hit | runs | undo SIGKILLed too | byte-exact after undo |");
    println!("|---|---|---|---|");
    let mut by: BTreeMap<Phase, (u32, u32, u32)> = BTreeMap::new();
    for o in &outcomes {
        let e = by.entry(o.phase).or_default();
        e.0 += 1;
        e.1 += u32::from(o.undo_killed);
        e.2 += u32::from(o.exact);
    }
    for (p, (n, k, x)) in &by {
        println!("| {} | {n} | {k} | {x} |", p.name());
    }
    let exact = outcomes.iter().filter(|o| o.exact).count();
    let undo_killed = outcomes.iter().filter(|o| o.undo_killed).count();
    println!(
        "| **all** | **{}** | **{undo_killed}** | **{exact}** |",
        outcomes.len()
    );
    println!();
    println!("{} SIGKILL runs in {kills_secs:.0} s", outcomes.len());
    let silent_n = torn.iter().filter(|t| t.2).count();
    let refused = |code: i32| {
        torn.iter()
            .filter(|t| !t.2 && t.1.code == Some(code))
            .count()
    };
    let untouched = torn.iter().filter(|t| t.1.changed.is_empty()).count();
    println!();
    println!("| journal cut short ({} bytes whole) | cuts | exit 1 | exit 2 | exit 0, nothing to undo | image untouched |", len);
    println!("|---|---|---|---|---|---|");
    println!(
        "| random lengths and the frame edges | {} | {} | {} | {silent_n} | {untouched} |",
        torn.len(),
        refused(1),
        refused(2)
    );
    println!();
    println!("{} cuts in {torn_secs:.0} s", torn.len());
    println!();
    println!("| crafted journal or changed image | exit | image untouched | message |");
    println!("|---|---|---|---|");
    for r in &crafted {
        let msg: String = r.message.chars().take(110).collect();
        println!(
            "| {} | {} | {} | {} |",
            r.case,
            r.code.map_or("signal".into(), |c| c.to_string()),
            if r.changed.is_empty() { "yes" } else { "NO" },
            msg.replace('|', "\\|")
        );
    }
    println!();
    println!(
        "{} crafted cases in {crafted_secs:.0} s; total {:.0} s",
        crafted.len(),
        started.elapsed().as_secs_f64()
    );
    if !a.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    for f in &d.failures {
        println!("FAILURE: {f}");
    }
    Ok(d.failures.is_empty())
}
