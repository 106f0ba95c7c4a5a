//! The corruption sweeps (`sweep`, README "Corruption sweeps"): seeded mutants of every sample
//! file and of every file of the bundled fixture images, each run in-process through the
//! library behind `verify`, `inspect`, `reg export` and `apply` (`--out`, and `--in-place` on
//! the image mutants `verify` flags), and held to the hardening issue's properties:
//!
//! 1. no panic, and an exit code in {0, 1, 2}, with a message when it is not 0 (the per-mutant
//!    time bound and the memory bound are the driver's: a watchdog and `RLIMIT_AS`);
//! 2. `apply --out` on an image one of whose databases or hives `verify` flags leaves nothing
//!    in the output directory; `apply --in-place` on it exits non-zero, the file as it was and
//!    nothing left beside the journal;
//! 3. a file `verify` passes is read by `inspect` (a database) and `reg export` (a hive)
//!    without an error, and `apply --out` does not fail reading it.
//!
//! [`mutate`] makes the mutants; [`check`] runs the verbs and states the properties.

pub mod check;
pub mod mutate;

use mutate::FileKind;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// One thing swept: a sample file (with the files that must sit beside it, e.g. its logs), or
/// a fixture image whose databases and hives are mutated one at a time.
#[derive(Clone, Debug)]
pub enum Target {
    File {
        /// The name in reports (the sample's path under `samples/`).
        name: String,
        /// The file name the mutant is written under.
        file_name: String,
        kind: FileKind,
        bytes: Vec<u8>,
        /// Files written beside it, unchanged (name, bytes).
        beside: Vec<(String, Vec<u8>)>,
    },
    Image {
        name: String,
        dir: PathBuf,
        /// The databases and hives of the image (relative path, kind, bytes).
        files: Vec<(PathBuf, FileKind, Vec<u8>)>,
    },
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::File { name, .. } | Target::Image { name, .. } => name,
        }
    }
}

/// The arguments of `apply` on a swept image: `image`, then `target` (`--out DIR`, or
/// `--in-place --journal FILE`), with the sweeps' fixed seed.
pub fn apply_args<'a>(image: &'a Path, target: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let mut args = vec!["apply".as_ref(), image.as_os_str()];
    args.extend_from_slice(target);
    args.extend_from_slice(&[OsStr::new("--seed"), OsStr::new("sweep")]);
    args
}

/// The bytes of a sample, gunzipped when its name ends in `.gz`.
pub fn read_sample(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// What a file is, by its magic.
pub fn kind_of(bytes: &[u8]) -> FileKind {
    match coldpatch::verify::FileKind::detect(bytes) {
        coldpatch::verify::FileKind::Ese => FileKind::Ese,
        coldpatch::verify::FileKind::Regf if is_primary_hive(bytes) => FileKind::Regf,
        _ => FileKind::Raw,
    }
}

fn is_primary_hive(bytes: &[u8]) -> bool {
    coldpatch::regf::base_block::BaseBlock::parse(bytes)
        .is_ok_and(|b| b.file_type == coldpatch::regf::base_block::FILE_TYPE_PRIMARY)
}

fn strip_gz(name: &str) -> String {
    name.strip_suffix(".gz").unwrap_or(name).to_string()
}

/// Every sample under `samples` (`ese/*`, `regf/**`): each file is a target; a hive's logs
/// (`NAME.LOG*` in its directory) are written beside its mutants.
pub fn sample_targets(samples: &Path) -> std::io::Result<Vec<Target>> {
    let mut files = Vec::new();
    collect_files(samples, &mut files)?;
    files.sort();
    let mut targets = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(samples).unwrap_or(path);
        let rel_name = rel.to_string_lossy().to_string();
        if !(rel_name.starts_with("ese/") || rel_name.starts_with("regf/")) {
            continue;
        }
        let bytes = read_sample(path)?;
        if bytes.is_empty() {
            continue;
        }
        let file_name = strip_gz(&path.file_name().unwrap_or_default().to_string_lossy());
        let mut beside = Vec::new();
        if let Some(dir) = path.parent() {
            for other in files
                .iter()
                .filter(|o| o.parent() == Some(dir) && *o != path)
            {
                let other_name = strip_gz(&other.file_name().unwrap_or_default().to_string_lossy());
                if other_name.starts_with(&format!("{file_name}.LOG")) {
                    beside.push((other_name, read_sample(other)?));
                }
            }
        }
        targets.push(Target::File {
            name: rel_name,
            file_name,
            kind: kind_of(&bytes),
            bytes,
            beside,
        });
    }
    Ok(targets)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// A fixture image: its databases and primary hives (kinds told by magic; logs, checkpoints'
/// temporaries and the quorum log are left as they are).
pub fn image_target(dir: &Path) -> std::io::Result<Target> {
    let mut all = Vec::new();
    collect_files(dir, &mut all)?;
    all.sort();
    let mut files = Vec::new();
    for p in all {
        let bytes = std::fs::read(&p)?;
        let kind = kind_of(&bytes);
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
        if kind != FileKind::Raw && !rel.to_string_lossy().ends_with(".TMP") {
            files.push((rel, kind, bytes));
        }
    }
    Ok(Target::Image {
        name: dir
            .file_name()
            .map(|n| format!("fixtures/{}", n.to_string_lossy()))
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        files,
    })
}
