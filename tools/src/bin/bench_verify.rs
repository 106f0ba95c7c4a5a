//! `bench_verify`: how fast `coldpatch verify` reads an ESE database compared with `cat`.
//!
//! Builds (or reuses) a ~1 GiB ESE97 database of the store model (mkimage's PRIV.EDB rows)
//! with `ese::write::build_database`, reads it once to warm the page cache, then times `cat FILE >
//! /dev/null` and `coldpatch verify FILE` alternately, N runs each, and prints min / median /
//! max seconds, GB/s, and the ratio of verify's throughput to cat's (the goal is ≥ 0.8).
//!
//! The `coldpatch` binary is the release build next to this executable
//! (`cargo build --release -p coldpatch` first), or the one given with `--coldpatch`.
//!
//! ```text
//! cargo build --release -p coldpatch
//! cargo run --release -p coldpatch-tools --bin bench_verify -- [--dir DIR] [--size-mib 1024] [--runs 5]
//! ```

use clap::Parser;
use coldpatch::ese::write::{build_database, BuildReport};
use coldpatch::exchange::profile::{StoreKind, BODY_MAX};
use coldpatch_tools::mkimage::params::{FormatArg, ImageParams};
use coldpatch_tools::mkimage::rows::store_tables;
use coldpatch_tools::mkimage::run::build_options;
use coldpatch_tools::mkimage::spec::ImageSpec;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Time `coldpatch verify` against `cat` on a ~1 GiB ESE97 database")]
struct Args {
    /// Directory for the database (kept and reused). Default: $TMPDIR/coldpatch-bench if
    /// TMPDIR is set, else `bench` in the target directory this program runs from.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Database size to build, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Timed runs of each command.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The coldpatch binary to time. Default: `coldpatch` next to this executable.
    #[arg(long)]
    coldpatch: Option<PathBuf>,
    /// Rebuild the database even if one with the same parameters is present.
    #[arg(long)]
    rebuild: bool,
}

/// What a built database was made from; kept beside it so a later run can reuse it.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Built {
    format: String,
    seed: String,
    folders: u64,
    messages: u64,
    bytes: u64,
    pages: u64,
}

const SEED: &str = "bench-verify";
const FOLDERS: u64 = 500;
/// Messages of the calibration build that measures bytes per message.
const CALIBRATION_MESSAGES: u64 = 20_000;

/// The image parameters whose PRIV.EDB is the benchmark database: mkimage's store model rows
/// (`rows::store_tables`) with bodies of up to the model's maximum.
fn params(messages: u64) -> ImageParams {
    ImageParams {
        folders: FOLDERS,
        messages,
        body_bytes: BODY_MAX,
        format: FormatArg::Ese97,
        seed: SEED.into(),
        ..ImageParams::default()
    }
}

/// Builds PRIV.EDB of the image `params(messages)` at `out`.
fn build(out: &Path, messages: u64) -> Result<BuildReport, String> {
    let spec = ImageSpec::new(&params(messages));
    build_database(
        out,
        &build_options(&spec, StoreKind::Priv),
        store_tables(&spec, StoreKind::Priv),
    )
    .map_err(|e| format!("{}: {e}", out.display()))
}

/// Builds (or reuses) the database; returns its path and size.
fn prepare(dir: &Path, size: u64, rebuild: bool) -> Result<(PathBuf, u64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let db = dir.join("bench-ese97.edb");
    let meta_path = dir.join("bench-ese97.json");

    // Bytes per message, from a small build of the same rows.
    let calib = dir.join("calibration.edb");
    let small = build(&calib, CALIBRATION_MESSAGES)?;
    let _ = std::fs::remove_file(&calib);
    let per_message = small.bytes as f64 / CALIBRATION_MESSAGES as f64;
    let messages = (size as f64 / per_message).round() as u64;

    let wanted = |bytes: u64, pages: u64| Built {
        format: "Ese97".into(),
        seed: SEED.into(),
        folders: FOLDERS,
        messages,
        bytes,
        pages,
    };
    if !rebuild {
        if let (Ok(text), Ok(meta)) = (std::fs::read_to_string(&meta_path), db.metadata()) {
            if let Ok(old) = serde_json::from_str::<Built>(&text) {
                if old == wanted(meta.len(), old.pages) {
                    eprintln!(
                        "reusing {} ({} messages, {} bytes)",
                        db.display(),
                        old.messages,
                        old.bytes
                    );
                    return Ok((db, meta.len()));
                }
            }
        }
    }
    eprintln!(
        "building {} with {messages} messages (~{per_message:.0} bytes each)...",
        db.display()
    );
    let start = Instant::now();
    let report = build(&db, messages)?;
    eprintln!(
        "built {} bytes ({} pages) in {:.1} s",
        report.bytes,
        report.pages,
        start.elapsed().as_secs_f64()
    );
    let meta = wanted(report.bytes, report.pages);
    let text = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(&meta_path, text).map_err(|e| format!("{}: {e}", meta_path.display()))?;
    Ok((db, report.bytes))
}

/// Reads the whole file once so that every timed run reads from the page cache.
fn warm(path: &Path) -> Result<(), String> {
    let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
}

/// Runs `cmd` with stdout to /dev/null; returns the wall-clock seconds.
fn time_run(cmd: &mut Command, what: &str) -> Result<f64, String> {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(secs)
}

struct Stats {
    min: f64,
    median: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stats {
        min: v[0],
        median,
        max: v[n - 1],
    }
}

fn default_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        return PathBuf::from(t).join("coldpatch-bench");
    }
    // target/release/bench_verify → target/bench
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|t| t.join("bench")))
        .unwrap_or_else(|| PathBuf::from("coldpatch-bench"))
}

fn run(args: Args) -> Result<(), String> {
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let coldpatch = match args.coldpatch {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("coldpatch"),
    };
    if !coldpatch.is_file() {
        return Err(format!(
            "{} not found: run `cargo build --release -p coldpatch` first, or pass --coldpatch",
            coldpatch.display()
        ));
    }
    let dir = args.dir.unwrap_or_else(default_dir);
    let (db, bytes) = prepare(&dir, args.size_mib << 20, args.rebuild)?;

    // The database must verify clean, or the timing means nothing.
    let out = Command::new(&coldpatch)
        .arg("verify")
        .arg(&db)
        .output()
        .map_err(|e| format!("{}: {e}", coldpatch.display()))?;
    if !out.status.success() {
        return Err(format!(
            "verify of the benchmark database failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim_end());

    warm(&db)?;
    let (mut cat, mut verify) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        cat.push(time_run(Command::new("cat").arg(&db), "cat")?);
        verify.push(time_run(
            Command::new(&coldpatch)
                .arg("--quiet")
                .arg("verify")
                .arg(&db),
            "coldpatch verify",
        )?);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "file: {} ({} bytes, {:.3} GiB), {} runs each, {} CPUs",
        db.display(),
        bytes,
        bytes as f64 / f64::from(1u32 << 30),
        args.runs,
        threads
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>12}",
        "command", "min s", "median s", "max s", "GB/s (med)"
    );
    let gbs = |s: f64| bytes as f64 / 1e9 / s;
    let c = stats(cat);
    let v = stats(verify);
    for (name, s) in [("cat", &c), ("coldpatch verify", &v)] {
        println!(
            "{name:<18} {:>8.3} {:>8.3} {:>8.3} {:>12.2}",
            s.min,
            s.median,
            s.max,
            gbs(s.median)
        );
    }
    let ratio = c.median / v.median;
    println!(
        "verify/cat throughput (medians): {ratio:.2} (goal >= 0.80: {})",
        if ratio >= 0.8 { "met" } else { "NOT met" }
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_verify: {e}");
            ExitCode::FAILURE
        }
    }
}
