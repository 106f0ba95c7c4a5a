//! The registry import benchmark of `bench`: `coldpatch reg import` against
//! `hivexregedit --merge` on the same `.reg` file and hive.
//!
//! * A deterministic `.reg` file (100,000 values over 1,000 new keys under the root by
//!   default; REG_SZ, REG_DWORD and REG_BINARY of varying sizes), written with coldpatch's own
//!   formatter, key paths under `prefix`.
//! * The largest sample hive (`ManySubkeysHive.gz` unless `hive` says otherwise), copied per
//!   run twice: one copy imported with `coldpatch reg import COPY FILE --out NEW`, the other
//!   merged in place with `hivexregedit --merge --prefix`.
//! * Both results must hold the same tree (read with coldpatch's reader, keys in canonical
//!   order).

use crate::mkimage::rng::SplitMix64;
use coldpatch::regf::regfile::{format_reg, RegVersion};
use coldpatch::regf::write::{utf16z, KeySpec, ValueSpec, REG_BINARY, REG_DWORD, REG_SZ};
use coldpatch::regf::{name, tree};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Args {
    /// Runs of each tool.
    pub runs: usize,
    /// Values in the generated .reg file.
    pub values: usize,
    /// New keys (under the root) the values are spread over.
    pub keys: usize,
    /// The hive to import into (a `.gz` is decompressed); `None`: the largest regf sample.
    pub hive: Option<PathBuf>,
    /// The coldpatch binary.
    pub coldpatch: PathBuf,
    /// The registry prefix of the key paths (`--prefix` of both tools).
    pub prefix: String,
    /// Where the generated files go.
    pub work: PathBuf,
    /// Seed of the generated values.
    pub seed: u64,
}

impl Args {
    /// 100,000 values over 1,000 keys, three runs each.
    pub fn standard(coldpatch: PathBuf, work: PathBuf) -> Args {
        Args {
            runs: 3,
            values: 100_000,
            keys: 1_000,
            hive: None,
            coldpatch,
            prefix: "HKEY_LOCAL_MACHINE\\SYSTEM".into(),
            work,
            seed: 1,
        }
    }
}

/// Min and median seconds of each tool.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub ours_min: f64,
    pub ours_median: f64,
    pub hivex_min: f64,
    pub hivex_median: f64,
}

/// The workspace root (the tools crate is one level below it).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A value in `0..n` (0 when `n` is 0) from mkimage's seeded generator.
fn below(rng: &mut SplitMix64, n: usize) -> usize {
    rng.below(n as u64) as usize
}

/// Characters of generated strings and names, the format's `\` and `"` among them.
const TEXT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.\\\"";

fn text(rng: &mut SplitMix64, min: usize, max: usize) -> String {
    let n = min + below(rng, max - min + 1);
    (0..n)
        .map(|_| char::from(TEXT_CHARS[below(rng, TEXT_CHARS.len())]))
        .collect()
}

/// One value: 40 % REG_SZ (0–80 characters), 30 % REG_DWORD, 30 % REG_BINARY (mostly up to
/// 512 bytes, one in twenty up to 8 KiB).
fn value(rng: &mut SplitMix64, index: usize) -> ValueSpec {
    let name = format!("v{index:03}_{}", text(rng, 0, 12).replace(['\\', '"'], "_"));
    match below(rng, 10) {
        0..=3 => ValueSpec {
            name,
            kind: REG_SZ,
            data: utf16z(&text(rng, 0, 80)),
        },
        4..=6 => ValueSpec {
            name,
            kind: REG_DWORD,
            data: (rng.next_u64() as u32).to_le_bytes().to_vec(),
        },
        _ => {
            let max = if below(rng, 20) == 0 { 8192 } else { 512 };
            let n = below(rng, max + 1);
            ValueSpec {
                name,
                kind: REG_BINARY,
                data: (0..n).map(|_| rng.next_u64() as u8).collect(),
            }
        }
    }
}

/// The generated `.reg` text (UTF-8, ASCII only, so both tools read it the same).
fn generate(args: &Args) -> Result<String, String> {
    let mut rng = SplitMix64::keyed(&args.seed.to_string(), "bench_reg_import");
    let per_key = args.values.div_ceil(args.keys.max(1));
    let mut keys = Vec::new();
    let mut left = args.values;
    for k in 0..args.keys {
        let n = per_key.min(left);
        left -= n;
        let values = (0..n).map(|i| value(&mut rng, i)).collect();
        keys.push((format!("{}\\BenchKey{k:05}", args.prefix), values));
    }
    format_reg(RegVersion::Regedit5, &keys).map_err(|e| e.to_string())
}

fn decompress(src: &Path, dst: &Path) -> Result<(), String> {
    let raw = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let bytes = if src.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("{}: {e}", src.display()))?;
        out
    } else {
        raw
    };
    std::fs::write(dst, bytes).map_err(|e| format!("{}: {e}", dst.display()))
}

/// The largest regf sample by decompressed size.
fn largest_sample(dir: &Path) -> Result<PathBuf, String> {
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.is_file() {
            continue;
        }
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let size = if path.extension().is_some_and(|e| e == "gz") {
            let mut n = Vec::new();
            match flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut n) {
                Ok(_) => n.len(),
                Err(_) => continue,
            }
        } else {
            raw.len()
        };
        if best.as_ref().map_or(true, |b| size > b.0) {
            best = Some((size, path));
        }
    }
    best.map(|b| b.1)
        .ok_or_else(|| format!("no sample hive in {}", dir.display()))
}

fn run(cmd: &mut Command, what: &str) -> Result<f64, String> {
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{what}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(secs)
}

fn min_median(times: &[f64]) -> (f64, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

/// Subkeys in the hive's order (upper-cased UTF-16), values by name, recursively.
fn canonical(mut k: KeySpec) -> KeySpec {
    k.subkeys = k.subkeys.into_iter().map(canonical).collect();
    k.subkeys
        .sort_by(|a, b| name::compare(&name::from_str(&a.name), &name::from_str(&b.name)));
    k.values.sort_by(|a, b| a.name.cmp(&b.name));
    k.class = None;
    k
}

fn counts(k: &KeySpec) -> (usize, usize) {
    k.subkeys
        .iter()
        .map(counts)
        .fold((1, k.values.len()), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Runs both tools `args.runs` times and checks they built the same tree.
pub fn measure(args: &Args) -> Result<Figures, String> {
    let dir = args.work.as_path();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let coldpatch = args.coldpatch.clone();
    if !coldpatch.is_file() {
        return Err(format!(
            "{} not found: build it first (cargo build --release --bin coldpatch)",
            coldpatch.display()
        ));
    }
    let sample = match &args.hive {
        Some(h) => h.clone(),
        None => largest_sample(&Path::new(WORKSPACE).join("../shared/samples/regf"))?,
    };
    let base = dir.join("base.hive");
    decompress(&sample, &base)?;
    let reg = dir.join("bench.reg");
    let text = generate(args)?;
    std::fs::write(&reg, &text).map_err(|e| e.to_string())?;
    println!(
        "hive {} ({} bytes); .reg file {} values over {} keys, {} bytes; {} runs each",
        sample.display(),
        std::fs::metadata(&base).map_err(|e| e.to_string())?.len(),
        args.values,
        args.keys,
        text.len(),
        args.runs
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let ours_out = dir.join("ours.hive");
    let theirs_copy = dir.join("hivex.hive");
    for i in 0..args.runs.max(1) {
        let copy = dir.join("copy.hive");
        std::fs::copy(&base, &copy).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&ours_out);
        let t = run(
            Command::new(&coldpatch)
                .args(["-q", "reg", "import", "--prefix", &args.prefix])
                .arg(&copy)
                .arg(&reg)
                .arg("--out")
                .arg(&ours_out),
            "coldpatch reg import",
        )?;
        ours.push(t);
        std::fs::copy(&base, &theirs_copy).map_err(|e| e.to_string())?;
        let t = run(
            Command::new("hivexregedit")
                .env("PERL_UNICODE", "SD")
                .args(["--merge", "--prefix", &args.prefix])
                .arg(&theirs_copy)
                .arg(&reg),
            "hivexregedit --merge",
        )?;
        theirs.push(t);
        println!(
            "run {}: coldpatch {:.3} s, hivexregedit {:.3} s",
            i + 1,
            ours[i],
            theirs[i]
        );
    }
    let (o_min, o_med) = min_median(&ours);
    let (h_min, h_med) = min_median(&theirs);
    println!("coldpatch reg import:  min {o_min:.3} s, median {o_med:.3} s");
    println!("hivexregedit --merge:  min {h_min:.3} s, median {h_med:.3} s");
    println!(
        "ratio (hivexregedit / coldpatch): {:.1}x by min, {:.1}x by median",
        h_min / o_min,
        h_med / o_med
    );
    // Same result?
    let read = |p: &Path| -> Result<KeySpec, String> {
        let data = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        tree::read_hive(&data)
            .map(canonical)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (a, b) = (read(&ours_out)?, read(&theirs_copy)?);
    let (ka, va) = counts(&a);
    let (kb, vb) = counts(&b);
    println!(
        "coldpatch result: {ka} keys, {va} values; hivexregedit result: {kb} keys, {vb} values"
    );
    if a == b {
        println!("both results hold the same tree");
        Ok(Figures {
            ours_min: o_min,
            ours_median: o_med,
            hivex_min: h_min,
            hivex_median: h_med,
        })
    } else {
        Err("the two results differ".to_string())
    }
}
