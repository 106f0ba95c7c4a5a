//! `sweep`: the corruption sweeps (README "Corruption sweeps"). Seeded mutants of every sample
//! and of every database and hive of the fixture images, run in-process through `verify`,
//! `inspect`, `reg export` and `apply --out` ([`coldpatch_tools::sweep`]), under an address-space
//! limit (`RLIMIT_AS`: a runaway allocation ends the run) and a per-mutant time bound (a
//! watchdog ends the run, naming the mutant).
//!
//! Prints, and writes to `--report`, the exit codes per verb, every broken property with the
//! mutant that broke it (target, index, mutation), and the refusals of `apply --out` on images
//! whose files all verify. Exit 0 when no property broke, 1 when one did, 4 on a hang, 2 when
//! the inputs cannot be read.

use clap::Parser;
use coldpatch_tools::sweep::check::{install_panic_hook, start_watchdog, Sweep};
use coldpatch_tools::sweep::{image_target, sample_targets, Target};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "sweep",
    about = "Corruption sweeps over the samples and fixture images"
)]
struct Args {
    /// The shared samples directory (ese/, regf/).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// A fixture image directory (repeatable).
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Mutants per sample and per image.
    #[arg(long, default_value_t = 10_000)]
    mutants: u64,
    /// The first mutant index (with --mutants: indexes FIRST..FIRST+MUTANTS).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// The seed of every mutant.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Only targets whose name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Scratch directory (mutants are written and removed here); default a new one in $TMPDIR.
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Address-space limit of this process in MiB (0: none).
    #[arg(long, default_value_t = 2048)]
    max_memory_mib: u64,
    /// Time bound of one mutant through every verb, in seconds.
    #[arg(long, default_value_t = 20)]
    time_limit: u64,
    /// Keep a copy of each mutant that breaks a property here (TARGET.INDEX).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Also write the report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn limit_memory(mib: u64) -> Result<(), String> {
    if mib == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        let bytes = mib.saturating_mul(1 << 20);
        rustix::process::setrlimit(
            rustix::process::Resource::As,
            rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            },
        )
        .map_err(|e| format!("cannot set RLIMIT_AS to {mib} MiB: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Reproducible apply runs: the patch time comes from here.
    std::env::set_var("SOURCE_DATE_EPOCH", "1700000000");
    let report_path = args.report.clone();
    let emit = move |text: &str| {
        eprint!("{text}");
        if let Some(p) = &report_path {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = f.write_all(text.as_bytes());
            }
        }
    };
    if let Some(p) = &args.report {
        let _ = std::fs::write(p, "");
    }
    let mut targets: Vec<Target> = Vec::new();
    if let Some(s) = &args.samples {
        match sample_targets(s) {
            Ok(t) => targets.extend(t),
            Err(e) => {
                emit(&format!("sweep: {}: {e}\n", s.display()));
                return ExitCode::from(2);
            }
        }
    }
    for dir in &args.image {
        match image_target(dir) {
            Ok(t) => targets.push(t),
            Err(e) => {
                emit(&format!("sweep: {}: {e}\n", dir.display()));
                return ExitCode::from(2);
            }
        }
    }
    if let Some(only) = &args.only {
        targets.retain(|t| t.name().contains(only.as_str()));
    }
    let scratch_holder;
    let scratch = match &args.scratch {
        Some(s) => s.clone(),
        None => match tempfile::tempdir() {
            Ok(d) => {
                scratch_holder = d;
                scratch_holder.path().to_path_buf()
            }
            Err(e) => {
                emit(&format!("sweep: cannot make a scratch directory: {e}\n"));
                return ExitCode::from(2);
            }
        },
    };
    if let Err(e) = limit_memory(args.max_memory_mib) {
        emit(&format!("sweep: {e}\n"));
        return ExitCode::from(2);
    }
    install_panic_hook();
    let hang_emit = emit.clone();
    let limit = args.time_limit;
    start_watchdog(Duration::from_secs(limit), move |what| {
        hang_emit(&format!(
            "sweep: HANG: {what}: still running after {limit} s\n"
        ));
        std::process::exit(4);
    });

    let started = Instant::now();
    let mut total = Sweep::default();
    for t in &targets {
        let t0 = Instant::now();
        let dir = scratch.join("t");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        let mut s = Sweep {
            keep: args.keep.clone(),
            ..Sweep::default()
        };
        s.run_target(t, args.seed, args.first, args.first + args.mutants, &dir);
        let codes: Vec<String> = s
            .codes
            .iter()
            .map(|((verb, code), n)| format!("{verb} {code}: {n}"))
            .collect();
        emit(&format!(
            "{}: {} mutants ({} verify clean), {:.1} s; {}; {} violations\n",
            t.name(),
            s.mutants,
            s.verified_mutants,
            t0.elapsed().as_secs_f64(),
            codes.join(", "),
            s.violations.len()
        ));
        total.mutants += s.mutants;
        total.verified_mutants += s.verified_mutants;
        for (k, n) in s.codes {
            *total.codes.entry(k).or_default() += n;
        }
        for (k, (n, example)) in s.apply_refusals_on_verified {
            total
                .apply_refusals_on_verified
                .entry(k)
                .or_insert((0, example))
                .0 += n;
        }
        for (k, n) in s.reg_format_refusals_on_verified {
            *total.reg_format_refusals_on_verified.entry(k).or_default() += n;
        }
        total.violations.extend(s.violations);
    }
    let _ = std::fs::remove_dir_all(scratch.join("t"));
    if !total.apply_refusals_on_verified.is_empty() {
        emit("apply --out refusals on images whose files all verify (message shapes):\n");
        for (k, (n, example)) in &total.apply_refusals_on_verified {
            emit(&format!("  {n} x {k}\n    e.g. {example}\n"));
        }
    }
    if !total.reg_format_refusals_on_verified.is_empty() {
        emit("reg export refusals of names no .reg file holds, on hives that verify (--json reads them):\n");
        for (k, n) in &total.reg_format_refusals_on_verified {
            emit(&format!("  {n} x {k}\n"));
        }
    }
    for v in &total.violations {
        emit(&format!(
            "VIOLATION {} mutant {} ({}): {}: {}\n",
            v.target, v.index, v.mutation, v.verb, v.problem
        ));
    }
    emit(&format!(
        "TOTAL targets {} mutants {} verify-clean {} violations {} seconds {:.1}\n",
        targets.len(),
        total.mutants,
        total.verified_mutants,
        total.violations.len(),
        started.elapsed().as_secs_f64()
    ));
    if total.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
