//! `bench_mkimage`: how fast and how lean `mkimage` writes a full-size image.
//!
//! Generates an ESE97 cluster image of about `--priv-gib` + `--pub-gib` GiB (1 KB bodies by
//! default) with the `mkimage` binary beside this one (build both with `--release`), and
//! measures its wall time and peak resident memory (under `/usr/bin/time -v` when it exists,
//! else by sampling the child's `VmHWM`). Then it writes the same number of bytes with
//! `dd if=/dev/zero bs=4M conv=fdatasync` and prints both times, their ratio (goal ≤ 2×) and
//! the peak RSS (goal < 256 MiB).
//!
//! `mkimage`'s own durability: every file is `fsync`ed before it is renamed into place (the
//! database builder itself only flushes; mkimage syncs the finished database), and every file is
//! read back once to hash it for `image.json`. A `sync` after the run (printed apart) catches
//! anything left, so the comparison with `dd … conv=fdatasync` is like for like.
//!
//! The messages per store are worked out from two small calibration images (the marginal
//! `PRIV.EDB` bytes per message). Everything is written below `--dir` (default `/work`) and
//! deleted afterwards unless `--keep`.
//!
//! ```text
//! cargo build --release -p coldpatch-tools --bins
//! target/release/bench_mkimage [--dir /work] [--priv-gib 12] [--pub-gib 4] [--body-bytes 1024]
//! ```

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;
/// `dd` block size: 4 MiB.
const DD_BLOCK: u64 = 4 << 20;
const TIME_V: &str = "/usr/bin/time";
/// Goals (issue "mkimage"): wall time ≤ 2× `dd`, peak RSS < 256 MiB.
const RATIO_GOAL: f64 = 2.0;
const RSS_GOAL_MIB: f64 = 256.0;
/// Calibration image sizes (messages per store).
const CALIBRATE: [u64; 2] = [2_000, 22_000];
/// Folders per store in every image the benchmark writes.
const FOLDERS: u64 = 500;

#[derive(Parser, Debug)]
#[command(
    name = "bench_mkimage",
    about = "Time mkimage against dd on a full-size image"
)]
struct Args {
    /// Where to write (needs about twice the image size free).
    #[arg(long, default_value = "/work")]
    dir: PathBuf,
    /// The mkimage binary (default: `mkimage` beside this program).
    #[arg(long)]
    mkimage: Option<PathBuf>,
    /// Target size of PRIV.EDB, GiB.
    #[arg(long, default_value_t = 12.0)]
    priv_gib: f64,
    /// Target size of PUB.EDB, GiB.
    #[arg(long, default_value_t = 4.0)]
    pub_gib: f64,
    #[arg(long, default_value_t = 1024)]
    body_bytes: u32,
    /// Keep the image and the dd file.
    #[arg(long)]
    keep: bool,
}

struct Run {
    wall: Duration,
    peak_rss_kib: Option<u64>,
    /// User and system CPU seconds (only under `/usr/bin/time`).
    cpu: Option<(f64, f64)>,
    how: &'static str,
}

/// The 1-minute load average (`/proc/loadavg`): the figures mean little on a busy machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn fail(msg: String) -> ExitCode {
    eprintln!("bench_mkimage: {msg}");
    ExitCode::from(1)
}

/// Peak RSS of a process so far (`VmHWM` in /proc/PID/status), KiB.
fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs mkimage with `args`, timing it and measuring its peak RSS.
fn run_mkimage(mkimage: &Path, args: &[String]) -> Result<Run, String> {
    let start = Instant::now();
    if Path::new(TIME_V).exists() {
        let out = Command::new(TIME_V)
            .arg("-v")
            .arg(mkimage)
            .args(args)
            .stdout(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {TIME_V}: {e}"))?;
        let wall = start.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("mkimage failed: {}\n{err}", out.status));
        }
        let field = |name: &str| -> Option<f64> {
            err.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(name)
                    .and_then(|v| v.trim().parse().ok())
            })
        };
        let peak = field("Maximum resident set size (kbytes):").map(|k| k as u64);
        let cpu = field("User time (seconds):").zip(field("System time (seconds):"));
        return Ok(Run {
            wall,
            peak_rss_kib: peak,
            cpu,
            how: "/usr/bin/time -v",
        });
    }
    let mut child = Command::new(mkimage)
        .args(args)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", mkimage.display()))?;
    let pid = child.id();
    let mut peak = None;
    let status = loop {
        if let Some(hwm) = vm_hwm(pid) {
            peak = Some(peak.unwrap_or(0).max(hwm));
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for mkimage: {e}")),
        }
    };
    let wall = start.elapsed();
    if !status.success() {
        return Err(format!("mkimage failed: {status}"));
    }
    Ok(Run {
        wall,
        peak_rss_kib: peak,
        cpu: None,
        how: "VmHWM sampled every 50 ms (a lower bound)",
    })
}

fn image_args(out: &Path, messages: u64, pub_messages: u64, body: u32) -> Vec<String> {
    vec![
        out.display().to_string(),
        "--layout".into(),
        "cluster".into(),
        "--format".into(),
        "ese97".into(),
        "--seed".into(),
        "bench".into(),
        "--folders".into(),
        FOLDERS.to_string(),
        "--messages".into(),
        messages.to_string(),
        "--pub-messages".into(),
        pub_messages.to_string(),
        "--body-bytes".into(),
        body.to_string(),
    ]
}

fn size_of(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn dir_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        total += if p.is_dir() {
            dir_size(&p)?
        } else {
            size_of(&p)?
        };
    }
    Ok(total)
}

fn sync() -> Result<Duration, String> {
    let t = Instant::now();
    let s = Command::new("sync")
        .status()
        .map_err(|e| format!("sync: {e}"))?;
    if !s.success() {
        return Err(format!("sync: {s}"));
    }
    Ok(t.elapsed())
}

fn remove(p: &Path) {
    let _ = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
}

fn main() -> ExitCode {
    let a = Args::parse();
    let mkimage = a.mkimage.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("mkimage")))
            .unwrap_or_else(|| PathBuf::from("mkimage"))
    });
    let work = a.dir.join(format!("bench-mkimage-{}", std::process::id()));
    let result = bench(&a, &mkimage, &work);
    if !a.keep {
        remove(&work);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn bench(a: &Args, mkimage: &Path, work: &Path) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    println!("mkimage: {}", mkimage.display());

    // Calibration: marginal bytes per message of each store.
    let mut sizes = Vec::new();
    for (i, n) in CALIBRATE.iter().enumerate() {
        let out = work.join(format!("calibrate{i}"));
        run_mkimage(mkimage, &image_args(&out, *n, *n, a.body_bytes))?;
        let db = |f: &str| size_of(&out.join("E/exchsrvr/MDBDATA").join(f));
        sizes.push((db("PRIV.EDB")?, db("PUB.EDB")?));
        remove(&out);
    }
    let dn = (CALIBRATE[1] - CALIBRATE[0]) as f64;
    let per_msg_priv = (sizes[1].0 - sizes[0].0) as f64 / dn;
    let per_msg_pub = (sizes[1].1 - sizes[0].1) as f64 / dn;
    let messages_for = |gib: f64, base: u64, per: f64| -> u64 {
        let want = gib * GIB - base as f64;
        CALIBRATE[0] + (want / per).max(0.0) as u64
    };
    let messages = messages_for(a.priv_gib, sizes[0].0, per_msg_priv);
    let pub_messages = messages_for(a.pub_gib, sizes[0].1, per_msg_pub);
    println!(
        "calibration: {per_msg_priv:.1} bytes/message (PRIV), {per_msg_pub:.1} (PUB) \
         -> --messages {messages} --pub-messages {pub_messages} --folders {FOLDERS} \
         --body-bytes {}",
        a.body_bytes
    );

    // The image.
    sync()?;
    let out = work.join("image");
    let args = image_args(&out, messages, pub_messages, a.body_bytes);
    println!("running: {} {}", mkimage.display(), args.join(" "));
    println!("load average before: {}", load_average());
    let run = run_mkimage(mkimage, &args)?;
    let synced = sync()?;
    let bytes = dir_size(&out)?;
    let priv_size = size_of(&out.join("E/exchsrvr/MDBDATA/PRIV.EDB"))?;
    let pub_size = size_of(&out.join("E/exchsrvr/MDBDATA/PUB.EDB"))?;
    remove(&out);

    // dd, the same bytes, durable.
    let blocks = bytes.div_ceil(DD_BLOCK);
    let dd_file = work.join("dd.bin");
    let t = Instant::now();
    let st = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", dd_file.display()))
        .arg("bs=4M")
        .arg(format!("count={blocks}"))
        .arg("conv=fdatasync")
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("dd: {e}"))?;
    let dd = t.elapsed();
    if !st.success() {
        return Err(format!("dd: {st}"));
    }
    remove(&dd_file);

    let mk = run.wall + synced;
    let ratio = mk.as_secs_f64() / dd.as_secs_f64();
    println!(
        "image: {:.2} GiB ({bytes} bytes): PRIV.EDB {:.2} GiB, PUB.EDB {:.2} GiB",
        bytes as f64 / GIB,
        priv_size as f64 / GIB,
        pub_size as f64 / GIB
    );
    println!(
        "mkimage: {:.1} s, then sync {:.1} s: {:.1} s ({:.0} MiB/s)",
        run.wall.as_secs_f64(),
        synced.as_secs_f64(),
        mk.as_secs_f64(),
        bytes as f64 / MIB / mk.as_secs_f64()
    );
    if let Some((user, sys)) = run.cpu {
        println!("mkimage CPU: user {user:.1} s, system {sys:.1} s");
    }
    println!(
        "dd bs=4M count={blocks} conv=fdatasync: {:.1} s ({:.0} MiB/s)",
        dd.as_secs_f64(),
        (blocks * DD_BLOCK) as f64 / MIB / dd.as_secs_f64()
    );
    println!(
        "ratio mkimage/dd: {ratio:.2} (goal <= {RATIO_GOAL}): {}",
        if ratio <= RATIO_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    match run.peak_rss_kib {
        Some(k) => {
            let mib = k as f64 / 1024.0;
            println!(
                "peak RSS: {mib:.1} MiB ({}; goal < {RSS_GOAL_MIB} MiB): {}",
                run.how,
                if mib < RSS_GOAL_MIB { "met" } else { "NOT met" }
            );
        }
        None => println!("peak RSS: not measured ({})", run.how),
    }
    Ok(())
}
