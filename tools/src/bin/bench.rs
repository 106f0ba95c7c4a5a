//! `bench`: every speed figure of coldpatch, each beside the reference it is measured against
//! in the same run, in one table (not a test: it prints figures and asserts nothing about
//! speed).
//!
//! For each size in `--gib` it writes (or, with `--reuse`, reuses) an ESE97 cluster image with
//! the `mkimage` beside this program — `PRIV.EDB` three quarters, `PUB.EDB` one quarter, 20 %
//! foreign rows, 1 KB bodies; messages per store worked out from two small calibration images
//! — and times, with `/usr/bin/time -v` for the peak RSS:
//!
//! * `mkimage` itself (and a `sync`) against `dd if=/dev/zero bs=4M conv=fdatasync` of the same
//!   bytes (not with `--reuse`);
//! * warm (the databases just read): `apply --out` against the larger of one
//!   `openssl dgst -sha256` pass over the databases and a `dd oflag=direct bs=4M` write of the
//!   same bytes;
//! * cold (every file of the image dropped from the page cache first): `apply --out` against a
//!   `dd iflag=direct oflag=direct bs=4M` copy of the databases and against `cp` + `sync`;
//! * `apply --in-place` (on a copy of the image; warm) against one `openssl` pass, with the
//!   bytes of the journal and of the changed pages; `undo` of it; `inspect` cold, in full and
//!   `--quick`;
//! * `verify` of the databases against `cat` (warm; each the median of five runs in turns).
//!
//! For `apply --out` warm it also prints the CPU time of each of its threads (from
//! `/proc/PID/task`, in another run, with the census on threads of its own as on a machine of
//! three cores or more): the busiest one is the least wall time the run could take on a
//! machine with a core for every thread.
//!
//! Then, once, `reg import` of 100,000 values into the largest sample hive against
//! `hivexregedit --merge` ([`coldpatch_tools::reg_bench`]; `--no-reg` skips it).
//!
//! It prints the machine (cores, memory, CPU, SHA extensions) and the tables. Everything is
//! written below `--dir` (default `$TMPDIR`, else `target/bench` of this workspace) and deleted
//! afterwards unless `--keep`. Build first: `cargo build --release --workspace`, then
//! `target/release/bench --gib 1,4,16`.

use clap::Parser;
use coldpatch::manifest::audit::AUDIT_FILE;
use coldpatch_tools::bench_image::{beside, calibrate, image_args, size_of, DBS, FOLDERS};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const TIME_V: &str = "/usr/bin/time";
/// `SOURCE_DATE_EPOCH` and seed of every apply (reproducible outputs).
const EPOCH: &str = "1700000000";

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "The patch at scale against dd, cp, openssl and cat"
)]
struct Args {
    /// Image sizes, GiB (comma-separated).
    #[arg(long, default_value = "1", value_delimiter = ',')]
    gib: Vec<f64>,
    /// Where to work (needs about three times the largest image free; each image is deleted
    /// after its measurements unless `--keep`); default `$TMPDIR`,
    /// else `target/bench` of this workspace.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the images and outputs.
    #[arg(long)]
    keep: bool,
    /// Reuse an image of the same size left by `--keep`.
    #[arg(long)]
    reuse: bool,
    /// Skip the `reg import` benchmark.
    #[arg(long)]
    no_reg: bool,
}

/// One timed command.
struct Timed {
    secs: f64,
    rss_mib: Option<f64>,
    /// Bytes the process caused to be written to storage (`File system outputs` of
    /// `/usr/bin/time -v`, 512-byte units).
    written: Option<u64>,
}

fn fail(msg: String) -> ExitCode {
    eprintln!("bench: {msg}");
    ExitCode::from(1)
}

/// Runs `cmd args` (stdout discarded) under `/usr/bin/time -v` when present; time and peak RSS.
fn timed(cmd: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Result<Timed, String> {
    let has_time = Path::new(TIME_V).exists();
    let mut c = if has_time {
        let mut c = Command::new(TIME_V);
        c.arg("-v").arg(cmd);
        c
    } else {
        Command::new(cmd)
    };
    c.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let start = Instant::now();
    let out = c.output().map_err(|e| format!("{}: {e}", cmd.display()))?;
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} {args:?}: {}\n{err}", cmd.display(), out.status));
    }
    let rss_mib = err.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Maximum resident set size (kbytes):")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|k| k / 1024.0)
    });
    let written = err.lines().find_map(|l| {
        l.trim()
            .strip_prefix("File system outputs:")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|blocks| blocks * 512)
    });
    Ok(Timed {
        secs,
        rss_mib,
        written,
    })
}

/// CPU seconds by thread name of one run of `cmd args` (stdout discarded): every thread's
/// user and system time read from `/proc/PID/task` every few milliseconds while it runs (the
/// last reading before a thread ends is what counts; a reading is in clock ticks), summed
/// over the threads of each name. Threads of one name run one after the other (one set per
/// database), so the largest sum is the CPU of the busiest path through the run: the least
/// wall time it could take with a core for every thread. Empty where there is no `/proc`.
fn thread_cpu(
    cmd: &Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Result<Vec<(String, f64)>, String> {
    let mut c = Command::new(cmd);
    c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().map_err(|e| format!("{}: {e}", cmd.display()))?;
    let tasks = PathBuf::from(format!("/proc/{}/task", child.id()));
    // Clock ticks of each thread seen, by thread id: (name, user + system).
    let mut seen: std::collections::BTreeMap<String, (String, u64)> = Default::default();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        for task in std::fs::read_dir(&tasks).into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if let Some(found) = stat_ticks(&stat) {
                seen.insert(task.file_name().to_string_lossy().into(), found);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    if !status.success() {
        return Err(format!("{} {args:?}: {status}", cmd.display()));
    }
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    let mut by_name: std::collections::BTreeMap<String, u64> = Default::default();
    for (name, ticks) in seen.into_values() {
        *by_name.entry(name).or_default() += ticks;
    }
    let mut out: Vec<(String, f64)> = by_name
        .into_iter()
        .map(|(name, ticks)| (name, ticks as f64 / hz))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(out)
}

/// A thread's name and its user plus system time in clock ticks, from its
/// `/proc/PID/task/TID/stat` line: `tid (name) state ppid ...`. The name may hold spaces and
/// parentheses, the fields after its last `)` do not; the times are fields 14 and 15.
fn stat_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((
        stat.get(open + 1..close)?.to_string(),
        ticks(11)? + ticks(12)?,
    ))
}

/// How many times `verify` and `cat` each run, in turns.
const VERIFY_RUNS: usize = 5;

/// The run of median time (the upper one of an even count).
fn median(mut runs: Vec<Timed>) -> Timed {
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn sh(script: &str) -> Result<Timed, String> {
    timed(Path::new("/bin/sh"), &["-c".as_ref(), script.as_ref()], &[])
}

/// Every regular file below `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Drops every file below `dir` from the page cache (written data synced first).
fn drop_cache(dir: &Path) -> Result<(), String> {
    sh("sync")?;
    let mut all = Vec::new();
    files(dir, &mut all)?;
    for p in all {
        if let Ok(f) = std::fs::File::open(&p) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            coldpatch::image::write::drop_cached(&f, 0, len);
        }
    }
    Ok(())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "?".into());
    let sha = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "sha_ni"));
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or("?".into(), |k| format!("{:.1} GiB", k / 1024.0 / 1024.0));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {mem}, {model}, SHA extensions {}",
        if sha { "present" } else { "absent" }
    )
}

fn mkimage(args: &[String]) -> Result<Timed, String> {
    let a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
    timed(&beside("mkimage"), &a, &[])
}

/// One row of the table.
struct Row {
    what: String,
    t: Timed,
    reference: String,
    ref_secs: f64,
    goal: &'static str,
}

fn print_rows(gib: f64, bytes: u64, rows: &[Row]) {
    println!();
    println!(
        "## {gib} GiB image ({:.2} GB of databases)",
        bytes as f64 / 1e9
    );
    println!("| measurement | s | GB/s | peak RSS MiB | reference | s | ratio | goal |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio = if r.ref_secs > 0.0 {
            format!("{:.2}", r.t.secs / r.ref_secs)
        } else {
            "-".into()
        };
        println!(
            "| {} | {:.2} | {:.2} | {} | {} | {} | {ratio} | {} |",
            r.what,
            r.t.secs,
            bytes as f64 / 1e9 / r.t.secs,
            r.t.rss_mib.map_or("-".into(), |m| format!("{m:.0}")),
            r.reference,
            if r.ref_secs > 0.0 {
                format!("{:.2}", r.ref_secs)
            } else {
                "-".into()
            },
            r.goal
        );
    }
}

/// One `dd` command per database, copying it into `scratch` with `flags`, joined with `&&`.
fn dd_each(dbs: &[PathBuf], scratch: &Path, flags: &str) -> String {
    dbs.iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "dd if='{}' of='{}/db{i}' bs=4M {flags} status=none",
                d.display(),
                scratch.display()
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// The case file's share of an `apply --out` into `out`, timed here in-process: the page map
/// fed one page at a time for every page of the databases (as the pass does: the page's
/// object id looked up, its class and owner counted), then the page rendered and written from
/// `out`'s report.json.
fn case_file_cost(out: &Path) -> Result<Timed, String> {
    use coldpatch::manifest::pagemap::{PageClass, PageMapBuilder};
    let text = std::fs::read(out.join("report.json")).map_err(|e| format!("report.json: {e}"))?;
    let report: coldpatch::manifest::Report =
        serde_json::from_slice(&text).map_err(|e| format!("report.json: {e}"))?;
    let start = Instant::now();
    let tables: std::collections::HashMap<u32, usize> =
        (0..40u32).map(|i| (i + 2, i as usize)).collect();
    for s in &report.stores {
        let Some(m) = &s.page_map else { continue };
        let mut b = PageMapBuilder::new(m.pages * u64::from(m.page_size), m.page_size, vec![]);
        for i in 0..m.pages {
            let objid = std::hint::black_box((i % 37) as u32 + 2);
            let owner = tables.get(&objid).map_or(b.other(), |&t| b.table(t));
            let class = if i % 5 == 0 {
                PageClass::RowsRewritten
            } else {
                PageClass::Untouched
            };
            b.page(class, owner);
        }
        std::hint::black_box(b.finish());
    }
    let html =
        coldpatch::manifest::html::render(&report, &coldpatch::manifest::html::Beside::out_dir());
    let path = out.join("bench-case.html");
    std::fs::write(&path, html.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(Timed {
        secs,
        rss_mib: None,
        written: None,
    })
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// The arguments of every `apply --out` here.
fn apply_out_args<'a>(image: &'a Path, out: &'a Path) -> [&'a std::ffi::OsStr; 7] {
    [
        os("-q"),
        os("apply"),
        image.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("--seed"),
        os("bench"),
    ]
}

fn bench_size(work: &Path, gib: f64, reuse: bool, keep: bool) -> Result<(), String> {
    let coldpatch = beside("coldpatch");
    let image = work.join(format!("image-{gib}g"));
    let mut rows = Vec::new();
    let mut made = None;
    if !(reuse && image.join("image.json").exists()) {
        let _ = std::fs::remove_dir_all(&image);
        let (m, p) = calibrate(work, gib, |a| mkimage(a).map(|_| ()))?;
        println!("{gib} GiB: mkimage --messages {m} --pub-messages {p} --folders {FOLDERS}");
        sh("sync")?;
        let mut t = mkimage(&image_args(&image, m, p))?;
        t.secs += sh("sync")?.secs;
        println!("  mkimage {:.1} s", t.secs);
        made = Some(t);
    }
    let dbs: Vec<PathBuf> = DBS.iter().map(|d| image.join(d)).collect();
    let bytes: u64 = dbs.iter().map(|d| size_of(d)).sum::<Result<u64, _>>()?;
    let scratch = work.join("scratch");
    if let Some(t) = made {
        // The same bytes as the whole image, written and synced by dd.
        let mut all = Vec::new();
        files(&image, &mut all)?;
        let image_bytes: u64 = all.iter().map(|f| size_of(f)).sum::<Result<u64, _>>()?;
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let dd = sh(&format!(
            "dd if=/dev/zero of='{}/zero' bs=4M count={} conv=fdatasync status=none",
            scratch.display(),
            image_bytes.div_ceil(4 << 20)
        ))?;
        let _ = std::fs::remove_file(scratch.join("zero"));
        rows.push(Row {
            what: "mkimage (+ sync)".into(),
            t,
            reference: "dd if=/dev/zero conv=fdatasync".into(),
            ref_secs: dd.secs,
            goal: "≤ 2",
        });
    }
    let list = |ps: &[PathBuf]| {
        ps.iter()
            .map(|p| format!("'{}'", p.display()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let db_list = list(&dbs);
    let reset = |p: &Path| -> Result<(), String> {
        let _ = std::fs::remove_dir_all(p);
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let env = [("SOURCE_DATE_EPOCH", EPOCH)];
    let apply_out = |out: &Path| {
        let _ = std::fs::remove_dir_all(out);
        timed(&coldpatch, &apply_out_args(&image, out), &env)
    };

    // Warm.
    sh(&format!("cat {db_list} > /dev/null"))?;
    let openssl = sh(&format!("openssl dgst -sha256 {db_list} > /dev/null"))?;
    reset(&scratch)?;
    let dd_write = sh(&dd_each(&dbs, &scratch, "oflag=direct"))?;
    let warm_ref = openssl.secs.max(dd_write.secs);
    let out = work.join("out");
    let warm = apply_out(&out)?;
    rows.push(Row {
        what: "apply --out, warm".into(),
        t: warm,
        reference: format!(
            "max(openssl {:.2} s, dd oflag=direct {:.2} s)",
            openssl.secs, dd_write.secs
        ),
        ref_secs: warm_ref,
        goal: "≤ 1.35",
    });

    // Where that apply's CPU goes, by thread (another run of it, with the census on threads
    // of its own as on a machine of three cores or more, so that each part shows apart).
    let _ = std::fs::remove_dir_all(&out);
    let own = [
        ("SOURCE_DATE_EPOCH", EPOCH),
        (coldpatch::patch::stream::LAYOUT_VAR, "own"),
    ];
    let by_thread = thread_cpu(&coldpatch, &apply_out_args(&image, &out), &own)?;

    // The case file: what writing it costs inside that apply, and writing it again.
    let warm_secs = rows.last().map_or(0.0, |r| r.t.secs);
    let inside = case_file_cost(&out)?;
    rows.push(Row {
        what: "case file inside apply (page map per page + render)".into(),
        t: inside,
        reference: "apply --out, warm".into(),
        ref_secs: warm_secs,
        goal: "≤ 0.02",
    });
    let again = scratch.join("case.html");
    let report_again = timed(
        &coldpatch,
        &[
            os("report"),
            out.as_os_str(),
            os("--out"),
            again.as_os_str(),
        ],
        &[],
    )?;
    rows.push(Row {
        what: "coldpatch report (reads the audit log)".into(),
        t: report_again,
        reference: "apply --out, warm".into(),
        ref_secs: warm_secs,
        goal: "-",
    });

    // Cold.
    reset(&scratch)?;
    drop_cache(&image)?;
    let dd_copy = sh(&dd_each(&dbs, &scratch, "iflag=direct oflag=direct"))?;
    reset(&scratch)?;
    drop_cache(&image)?;
    let cp_sync = sh(&format!("cp {db_list} '{}' && sync", scratch.display()))?;
    reset(&scratch)?;
    drop_cache(&image)?;
    let cold = apply_out(&out)?;
    let cold_secs = cold.secs;
    rows.push(Row {
        what: "apply --out, cold".into(),
        t: cold,
        reference: "dd iflag=direct oflag=direct".into(),
        ref_secs: dd_copy.secs,
        goal: "≤ 1.3",
    });
    rows.push(Row {
        what: "apply --out, cold".into(),
        t: Timed {
            secs: cold_secs,
            rss_mib: None,
            written: None,
        },
        reference: "cp + sync".into(),
        ref_secs: cp_sync.secs,
        goal: "≤ 1.1",
    });
    let audit = size_of(&out.join(AUDIT_FILE))?;
    let _ = std::fs::remove_dir_all(&out);

    // In place, on a copy (warm), and its undo.
    let copy = work.join("inplace");
    let _ = std::fs::remove_dir_all(&copy);
    sh(&format!(
        "cp -r '{}' '{}' && sync",
        image.display(),
        copy.display()
    ))?;
    let copy_dbs: Vec<PathBuf> = DBS.iter().map(|d| copy.join(d)).collect();
    sh(&format!("cat {} > /dev/null", list(&copy_dbs)))?;
    let journal = work.join("inplace.journal");
    for suffix in [
        "",
        ".report.json",
        ".audit.jsonl.zst",
        ".SHA256SUMS",
        ".SHA256SUMS.input",
    ] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    let inplace = timed(
        &coldpatch,
        &[
            os("-q"),
            os("apply"),
            copy.as_os_str(),
            os("--in-place"),
            os("--journal"),
            journal.as_os_str(),
            os("--seed"),
            os("bench"),
        ],
        &env,
    )?;
    let journal_bytes = size_of(&journal)?;
    let inplace_audit = size_of(Path::new(&format!("{}.{AUDIT_FILE}", journal.display())))?;
    let inplace_written = inplace.written;
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.report.json", journal.display())).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let changed = report["audit_bytes"].as_u64().unwrap_or(0);
    let pages_changed: u64 = report["stores"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["pages_changed"].as_u64()).sum())
        .unwrap_or(0);
    rows.push(Row {
        what: "apply --in-place, warm".into(),
        t: inplace,
        reference: "openssl dgst -sha256".into(),
        ref_secs: openssl.secs,
        goal: "≤ 1.25",
    });
    let undo = timed(
        &coldpatch,
        &[os("-q"), os("undo"), journal.as_os_str()],
        &[],
    )?;
    rows.push(Row {
        what: "undo".into(),
        t: undo,
        reference: "(writes the changed pages back)".into(),
        ref_secs: 0.0,
        goal: "no full copy",
    });
    let _ = std::fs::remove_dir_all(&copy);

    // inspect --quick and inspect, each cold; verify against cat, warm. The full inspect goes
    // last of the two, so that verify finds the page cache as the full inspect left it.
    drop_cache(&image)?;
    let quick = timed(
        &coldpatch,
        &[os("-q"), os("inspect"), image.as_os_str(), os("--quick")],
        &[],
    )?;
    drop_cache(&image)?;
    let inspect = timed(
        &coldpatch,
        &[os("-q"), os("inspect"), image.as_os_str()],
        &[],
    )?;
    rows.push(Row {
        what: "inspect IMAGE, cold (every page)".into(),
        t: inspect,
        reference: "(goal in seconds)".into(),
        ref_secs: 0.0,
        goal: "< 2 s",
    });
    rows.push(Row {
        what: "inspect IMAGE --quick, cold".into(),
        t: quick,
        reference: "(goal in seconds)".into(),
        ref_secs: 0.0,
        goal: "< 2 s",
    });
    // Both take a fraction of a second at 1 GiB, where one run's noise is a large part of
    // the ratio: the median of runs taken in turns (after a warming `cat`).
    sh(&format!("cat {db_list} > /dev/null"))?;
    let mut verify_args = vec![os("-q"), os("verify")];
    verify_args.extend(dbs.iter().map(|d| d.as_os_str()));
    let mut cats = Vec::new();
    let mut verifies = Vec::new();
    for _ in 0..VERIFY_RUNS {
        cats.push(sh(&format!("cat {db_list} > /dev/null"))?);
        verifies.push(timed(&coldpatch, &verify_args, &[])?);
    }
    let cat = median(cats);
    let verify = median(verifies);
    rows.push(Row {
        what: format!("verify, warm (median of {VERIFY_RUNS})"),
        t: verify,
        reference: format!("cat (median of {VERIFY_RUNS})"),
        ref_secs: cat.secs,
        goal: "≤ 1.25 (≥ 0.8 × cat speed)",
    });
    print_rows(gib, bytes, &rows);
    if let Some((busiest, secs)) = by_thread.first() {
        let total: f64 = by_thread.iter().map(|(_, s)| s).sum();
        let each: Vec<String> = by_thread
            .iter()
            .map(|(name, s)| format!("{name} {s:.2}"))
            .collect();
        println!(
            "apply --out, warm, census on threads of its own ({}=own), CPU by thread in s \
             ({total:.2} in all; `coldpatch` is the main thread): {}; the busiest, {busiest}, \
             {:.2} × the warm reference (the least wall time with a core per thread)",
            coldpatch::patch::stream::LAYOUT_VAR,
            each.join(", "),
            secs / warm_ref
        );
    }
    println!(
        "{AUDIT_FILE} {:.1} MB; journal {:.1} MB for {:.1} MB of changed bytes in {pages_changed} \
         pages ({:.1} MB of pages)",
        audit as f64 / 1e6,
        journal_bytes as f64 / 1e6,
        changed as f64 / 1e6,
        pages_changed as f64 * 4096.0 / 1e6
    );
    if let Some(w) = inplace_written {
        println!(
            "apply --in-place wrote {:.1} MB in all: the databases and hives about {:.1} MB \
             (less the journal and its audit log) for {:.1} MB of changed pages ({:.2} ×)",
            w as f64 / 1e6,
            w.saturating_sub(journal_bytes + inplace_audit) as f64 / 1e6,
            pages_changed as f64 * 4096.0 / 1e6,
            w.saturating_sub(journal_bytes + inplace_audit) as f64
                / (pages_changed as f64 * 4096.0).max(1.0)
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !keep {
        // The next size needs the room.
        let _ = std::fs::remove_dir_all(&image);
    }
    Ok(())
}

/// `reg import` of 100,000 values against `hivexregedit --merge` (median of three runs).
fn bench_reg_import(work: &Path) -> Result<(), String> {
    println!();
    println!("## reg import of 100,000 values");
    let args = coldpatch_tools::reg_bench::Args::standard(beside("coldpatch"), work.join("reg"));
    let f = coldpatch_tools::reg_bench::measure(&args)?;
    println!("| measurement | s (median) | reference | s (median) | speed-up | goal |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| coldpatch reg import | {:.3} | hivexregedit --merge | {:.3} | {:.1} × | ≥ 10 × |",
        f.ours_median,
        f.hivex_median,
        f.hivex_median / f.ours_median
    );
    Ok(())
}

fn main() -> ExitCode {
    let a = Args::parse();
    let dir = a
        .dir
        .clone()
        .or_else(|| std::env::var_os("TMPDIR").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench"));
    let work = dir.join("coldpatch-bench");
    if let Err(e) = std::fs::create_dir_all(&work) {
        return fail(format!("{}: {e}", work.display()));
    }
    println!("machine: {}", machine());
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut result = Ok(());
    for &gib in &a.gib {
        result = bench_size(&work, gib, a.reuse, a.keep);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() && !a.no_reg {
        result = bench_reg_import(&work);
    }
    if !a.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::stat_ticks;

    #[test]
    fn a_thread_stat_line_gives_its_name_and_its_user_and_system_ticks() {
        let line = "4242 (input-sha256) R 4240 4240 100 34816 4240 4194368 120 0 0 0 61 3 0 0 \
                    20 0 9 0 1234 100000 2000 18446744073709551615";
        assert_eq!(stat_ticks(line), Some(("input-sha256".into(), 64)));
        // A name with a space and a closing parenthesis: the fields start after the last one.
        let odd = "7 (a) b) S 1 1 1 0 -1 0 0 0 0 0 5 7 0 0";
        assert_eq!(stat_ticks(odd), Some(("a) b".into(), 12)));
        assert_eq!(stat_ticks("7 (short) S 1 1"), None);
        assert_eq!(stat_ticks(""), None);
    }
}
