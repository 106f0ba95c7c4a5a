//! Crash consistency of `apply --in-place` and `undo`, driven from outside through the
//! `coldpatch` binary: runs killed with SIGKILL at a given moment (and the phase each kill hit,
//! read from the journal and the files), journals cut short, and crafted journals. Used by the
//! `faults` driver (multi-GB images) and by `tools/tests/faults.rs` (the bundled fixture).

use coldpatch::journal::{self, Journal, JournalFile};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `SOURCE_DATE_EPOCH` and seed of every apply (the same bytes every run).
pub const EPOCH: &str = "1700000000";
pub const SEED: &str = "faults";

/// Size and SHA-256 of every regular file below a directory, by relative path.
pub type Hashes = BTreeMap<String, (u64, [u8; 32])>;

/// Size and SHA-256 of every file below `root` (a symbolic link is recorded as one, by its
/// target's name, so a link put in a file's place is a difference).
pub fn tree_hashes(root: &Path) -> std::io::Result<Hashes> {
    fn walk(root: &Path, dir: &Path, out: &mut Hashes) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let m = std::fs::symlink_metadata(&p)?;
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if m.is_dir() {
                walk(root, &p, out)?;
            } else if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p)?;
                let d: [u8; 32] = Sha256::digest(t.as_os_str().as_encoded_bytes()).into();
                out.insert(format!("{rel} -> (link)"), (0, d));
            } else {
                out.insert(rel, coldpatch::manifest::sums::hash_file_raw(&p)?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// The files that differ between two hash sets, named (empty when byte-identical).
pub fn differences(want: &Hashes, got: &Hashes) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, w) in want {
        match got.get(rel) {
            Some(g) if g == w => {}
            Some(_) => out.push(format!("{rel} differs")),
            None => out.push(format!("{rel} missing")),
        }
    }
    for rel in got.keys().filter(|r| !want.contains_key(*r)) {
        out.push(format!("{rel} extra"));
    }
    out
}

/// The seeded generator of the sweeps: the same runs for the same seed.
pub use crate::sweep::mutate::Rng;

/// What one `coldpatch` run gave.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub secs: f64,
}

fn command(coldpatch: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(coldpatch);
    c.args(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove(coldpatch::patch::pause::PAUSE_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `coldpatch args` to its end.
pub fn run(coldpatch: &Path, args: &[&std::ffi::OsStr]) -> std::io::Result<Ran> {
    let start = Instant::now();
    let o = command(coldpatch, args).output()?;
    Ok(Ran {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        secs: start.elapsed().as_secs_f64(),
    })
}

/// The arguments of the in-place apply.
pub fn apply_args<'a>(image: &'a Path, journal: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        "-q".as_ref(),
        "apply".as_ref(),
        image.as_os_str(),
        "--in-place".as_ref(),
        "--journal".as_ref(),
        journal.as_os_str(),
        "--seed".as_ref(),
        SEED.as_ref(),
    ]
}

pub fn undo_args(journal: &Path) -> Vec<&std::ffi::OsStr> {
    vec!["--json".as_ref(), "undo".as_ref(), journal.as_os_str()]
}

/// Runs `coldpatch args` and kills it with SIGKILL after `after` (unless it ended first):
/// true when the kill came before its end.
pub fn run_killed(
    coldpatch: &Path,
    args: &[&std::ffi::OsStr],
    after: Duration,
) -> std::io::Result<(bool, Ran)> {
    let start = Instant::now();
    let mut child = command(coldpatch, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let killed = loop {
        if child.try_wait()?.is_some() {
            break false;
        }
        let left = after.saturating_sub(start.elapsed());
        if left.is_zero() {
            child.kill()?; // SIGKILL
            break true;
        }
        std::thread::sleep(left.min(Duration::from_millis(2)));
    };
    let status = child.wait()?;
    Ok((
        killed && status.code().is_none(),
        Ran {
            code: status.code(),
            stdout: String::new(),
            stderr: String::new(),
            secs: start.elapsed().as_secs_f64(),
        },
    ))
}

/// Runs the apply up to the pause point `point` (`COLDPATCH_TEST_PAUSE_AT`), then SIGKILLs
/// it; the seconds it took to get there.
pub fn kill_at_point(
    coldpatch: &Path,
    args: &[&std::ffi::OsStr],
    point: &str,
) -> std::io::Result<f64> {
    use std::io::BufRead;
    let start = Instant::now();
    let mut child = command(coldpatch, args)
        .env(coldpatch::patch::pause::PAUSE_VAR, point)
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr"))?;
    let mut reached = None;
    for line in std::io::BufReader::new(stderr).lines() {
        if line?.contains(&format!("paused at {point}")) {
            reached = Some(start.elapsed().as_secs_f64());
            break;
        }
    }
    let _ = child.kill();
    child.wait()?;
    reached.ok_or_else(|| std::io::Error::other(format!("the run never reached {point}")))
}

/// Where a killed apply stood, read from its journal and the files it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    NoJournal,
    Recording,
    SealedNothingWritten,
    HiveWrites,
    DatabasePages,
    WrittenNotCommitted,
    Committed,
    Finished,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::NoJournal => "before the journal existed",
            Phase::Recording => "recording (journal not sealed)",
            Phase::SealedNothingWritten => "sealed, nothing written yet",
            Phase::HiveWrites => "hive writes (in-progress header, bins, final header)",
            Phase::DatabasePages => "database page writes",
            Phase::WrittenNotCommitted => "all written, not committed",
            Phase::Committed => "committed (records being written)",
            Phase::Finished => "finished before the kill",
        }
    }
}

/// Whether each range of a file holds its old bytes, its new bytes, or neither (part of
/// each, or a format's in-progress bytes), counted.
#[derive(Default, Debug)]
struct Held {
    old: u64,
    new: u64,
    other: u64,
}

/// The phase of a killed apply whose journal is `j` (None when it has no journal).
pub fn phase_of(journal: &Path, finished: bool) -> std::io::Result<Phase> {
    if finished {
        return Ok(Phase::Finished);
    }
    if !journal.exists() {
        return Ok(Phase::NoJournal);
    }
    let j = match journal::read(journal) {
        Ok(j) => j,
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    if !j.sealed {
        return Ok(Phase::Recording);
    }
    if j.committed {
        return Ok(Phase::Committed);
    }
    let held = held_by_file(&j)?;
    let big = |i: usize| j.files[i].size_before > journal::WHOLE_CHECK_MOST;
    let db_partial = held
        .iter()
        .enumerate()
        .any(|(i, h)| big(i) && h.new + h.other > 0 && h.old + h.other > 0);
    let all_new = held.iter().all(|h| h.old + h.other == 0);
    let none_new = held.iter().all(|h| h.new + h.other == 0);
    Ok(if db_partial {
        Phase::DatabasePages
    } else if all_new {
        Phase::WrittenNotCommitted
    } else if none_new {
        Phase::SealedNothingWritten
    } else {
        Phase::HiveWrites
    })
}

/// Each file's ranges by what they hold now. A large file (a database) is sampled: its first
/// and last range and every 64th between (the writes go in ascending order).
fn held_by_file(j: &Journal) -> std::io::Result<Vec<Held>> {
    let mut out: Vec<Held> = j.files.iter().map(|_| Held::default()).collect();
    let handles: Vec<std::fs::File> = j
        .files
        .iter()
        .map(|f| std::fs::File::open(&f.path))
        .collect::<Result<_, _>>()?;
    let mut seen = vec![0u64; j.files.len()];
    let mut last: Vec<Option<RangeBytes>> = j.files.iter().map(|_| None).collect();
    let judge = |r: &RangeBytes, out: &mut Vec<Held>| -> std::io::Result<()> {
        let i = r.file as usize;
        let mut cur = vec![0u8; r.new.len()];
        let size = handles[i].metadata()?.len();
        let n = size.saturating_sub(r.offset).min(r.new.len() as u64) as usize;
        handles[i].read_exact_at(&mut cur[..n], r.offset)?;
        cur.truncate(n);
        let h = &mut out[i];
        if cur == r.new {
            h.new += 1;
        } else if cur == r.old {
            h.old += 1;
        } else {
            h.other += 1;
        }
        Ok(())
    };
    let mut err = None;
    let walked = j.for_each_range(|r, _| {
        let i = r.file as usize;
        let sample = j.files[i].size_before <= journal::WHOLE_CHECK_MOST || seen[i] % 64 == 0;
        seen[i] += 1;
        if sample {
            if let Err(e) = judge(&RangeBytes::of(&r), &mut out) {
                err.get_or_insert(e);
            }
            last[i] = None;
        } else {
            last[i] = Some(RangeBytes::of(&r));
        }
        Ok(())
    });
    walked.map_err(|e| std::io::Error::other(e.to_string()))?;
    for r in last.into_iter().flatten() {
        judge(&r, &mut out)?;
    }
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A journal's range as read back, its bytes copied out of the batch it came in.
#[derive(Clone, Debug)]
pub struct RangeBytes {
    pub file: u32,
    pub offset: u64,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

impl RangeBytes {
    fn of(r: &journal::Range) -> RangeBytes {
        RangeBytes {
            file: r.file,
            offset: r.offset,
            old: r.old.to_vec(),
            new: r.new.to_vec(),
        }
    }
}

/// A journal's frames as read back, to be written again altered (its ranges one per frame,
/// in the older `RANGE` form every reader still takes).
pub struct Parts {
    pub paths: Vec<PathBuf>,
    pub ranges: Vec<RangeBytes>,
    pub files: Vec<JournalFile>,
}

impl Parts {
    pub fn of(path: &Path) -> Result<Parts, String> {
        let j = journal::read(path).map_err(|e| e.to_string())?;
        let mut ranges = Vec::new();
        j.for_each_range(|r, _| {
            ranges.push(RangeBytes::of(&r));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(Parts {
            paths: j.paths,
            ranges,
            files: j.files,
        })
    }
}

/// Frames written by hand (so that a crafted journal can say what no writer would).
pub struct Frames(pub Vec<u8>);

impl Frames {
    pub fn new() -> Frames {
        Frames(journal::MAGIC.to_vec())
    }

    pub fn raw(&mut self, kind: u8, declared_len: u32, payload: &[u8]) {
        let mut h = Sha256::new();
        h.update([kind]);
        h.update(declared_len.to_le_bytes());
        h.update(payload);
        let d = h.finalize();
        self.0.push(kind);
        self.0.extend_from_slice(&declared_len.to_le_bytes());
        self.0.extend_from_slice(payload);
        self.0.extend_from_slice(&d[..8]);
    }

    pub fn frame(&mut self, kind: u8, payload: &[u8]) {
        self.raw(kind, payload.len() as u32, payload)
    }

    pub fn paths(&mut self, paths: &[PathBuf]) {
        let mut p = (paths.len() as u32).to_le_bytes().to_vec();
        for f in paths {
            let b = f.as_os_str().as_encoded_bytes();
            p.extend_from_slice(&(b.len() as u32).to_le_bytes());
            p.extend_from_slice(b);
        }
        self.frame(5, &p);
    }

    pub fn range(&mut self, r: &RangeBytes) {
        let mut p = Vec::with_capacity(20 + r.old.len() + r.new.len());
        p.extend_from_slice(&r.file.to_le_bytes());
        p.extend_from_slice(&r.offset.to_le_bytes());
        p.extend_from_slice(&(r.old.len() as u32).to_le_bytes());
        p.extend_from_slice(&(r.new.len() as u32).to_le_bytes());
        p.extend_from_slice(&r.old);
        p.extend_from_slice(&r.new);
        self.frame(1, &p);
    }

    /// The file table, with `count` as its declared number of files.
    pub fn files(&mut self, files: &[JournalFile], count: u32) {
        let mut p = count.to_le_bytes().to_vec();
        for f in files {
            let b = f.path.as_os_str().as_encoded_bytes();
            p.extend_from_slice(&(b.len() as u32).to_le_bytes());
            p.extend_from_slice(b);
            p.extend_from_slice(&f.size_before.to_le_bytes());
            p.extend_from_slice(&f.sha256_before);
            p.extend_from_slice(&f.size_after.to_le_bytes());
            p.extend_from_slice(&f.sha256_after);
        }
        self.frame(2, &p);
    }

    /// Every frame of `parts` from the list of files to COMMITTED.
    pub fn whole(parts: &Parts) -> Frames {
        let mut f = Frames::new();
        f.paths(&parts.paths);
        for r in &parts.ranges {
            f.range(r);
        }
        f.files(&parts.files, parts.files.len() as u32);
        f.frame(3, &[]);
        f.frame(4, &[]);
        f
    }
}

impl Default for Frames {
    fn default() -> Self {
        Frames::new()
    }
}

/// One refusal case: what was done, how undo ended, and whether the image kept every byte.
#[derive(Debug)]
pub struct Refusal {
    pub case: String,
    pub code: Option<i32>,
    pub message: String,
    /// Files that changed during the refused undo (empty: nothing written).
    pub changed: Vec<String>,
}

impl Refusal {
    /// Refused (exit 1 or 2, a message), nothing written.
    pub fn ok(&self) -> bool {
        matches!(self.code, Some(1) | Some(2))
            && !self.message.trim().is_empty()
            && self.changed.is_empty()
    }
}

/// Runs `undo journal` expecting a refusal; the image is hashed before and after.
pub fn expect_refusal(
    coldpatch: &Path,
    image: &Path,
    journal: &Path,
    case: &str,
) -> Result<Refusal, String> {
    let before = tree_hashes(image).map_err(|e| e.to_string())?;
    let r = run(coldpatch, &undo_args(journal)).map_err(|e| e.to_string())?;
    let after = tree_hashes(image).map_err(|e| e.to_string())?;
    Ok(Refusal {
        case: case.into(),
        code: r.code,
        message: r.stderr.trim().to_string(),
        changed: differences(&before, &after),
    })
}

/// The journal's file index of the largest file and of a small one (a hive), by size.
fn largest_and_smallest(parts: &Parts) -> (usize, usize) {
    let by = |f: &JournalFile| f.size_before;
    let big = (0..parts.files.len())
        .max_by_key(|&i| by(&parts.files[i]))
        .unwrap_or(0);
    let small = (0..parts.files.len())
        .filter(|&i| parts.ranges.iter().any(|r| r.file as usize == i))
        .min_by_key(|&i| by(&parts.files[i]))
        .unwrap_or(0);
    (big, small)
}

/// Crafted journals made from the whole journal `journal` of an apply whose patch `image`
/// holds: each must be refused by undo with nothing written. `scratch` takes the crafted
/// journals (outside the image).
pub fn crafted(
    coldpatch: &Path,
    image: &Path,
    journal: &Path,
    scratch: &Path,
) -> Result<Vec<Refusal>, String> {
    let parts = Parts::of(journal)?;
    let (big, small) = largest_and_smallest(&parts);
    let mut out = Vec::new();
    let mut case = |name: &str, f: Frames| -> Result<(), String> {
        let p = scratch.join(format!("crafted-{}.journal", out.len()));
        std::fs::write(&p, &f.0).map_err(|e| format!("{}: {e}", p.display()))?;
        out.push(expect_refusal(coldpatch, image, &p, name)?);
        let _ = std::fs::remove_file(&p);
        Ok(())
    };
    let altered = |edit: &dyn Fn(&mut Parts)| {
        let mut p = Parts {
            paths: parts.paths.clone(),
            ranges: parts.ranges.clone(),
            files: parts.files.clone(),
        };
        edit(&mut p);
        Frames::whole(&p)
    };
    case(
        "huge sizes in the file table (2^62 bytes, largest file)",
        altered(&|p| {
            p.files[big].size_before = 1 << 62;
            p.files[big].size_after = 1 << 62;
        }),
    )?;
    case(
        "huge size before, in a hive's entry (2^62 bytes)",
        altered(&|p| {
            p.files[small].size_before = 1 << 62;
            p.files[small].size_after = 1 << 62;
        }),
    )?;
    case(
        "a range at an offset past the end of its file",
        altered(&|p| {
            if let Some(r) = p.ranges.iter_mut().rev().find(|r| r.file as usize == big) {
                r.offset = p.files[big].size_after + 4096;
            }
        }),
    )?;
    case(
        "a range whose offset plus length overflows 64 bits",
        altered(&|p| {
            if let Some(r) = p.ranges.iter_mut().rev().find(|r| r.file as usize == big) {
                r.offset = u64::MAX - 1;
            }
        }),
    )?;
    case("a range frame declaring a 4 GiB length", {
        let mut f = Frames::new();
        f.paths(&parts.paths);
        f.raw(1, u32::MAX - 8, &[0u8; 64]);
        f
    })?;
    case(
        "a range naming a file the table does not have",
        altered(&|p| {
            if let Some(r) = p.ranges.last_mut() {
                r.file = p.files.len() as u32;
            }
        }),
    )?;
    case("a file table declaring one file more than it holds", {
        let mut f = Frames::new();
        f.paths(&parts.paths);
        for r in &parts.ranges {
            f.range(r);
        }
        f.files(&parts.files, parts.files.len() as u32 + 1);
        f.frame(3, &[]);
        f.frame(4, &[]);
        f
    })?;
    case(
        "a file table without the last file",
        altered(&|p| {
            p.files.pop();
            p.paths.pop();
        }),
    )?;
    case(
        "a file table naming other files than the journal's list",
        altered(&|p| p.paths.reverse()),
    )?;
    // The real journal against files changed since the apply.
    // A database above WHOLE_CHECK_MOST is checked range by range (bytes outside its ranges
    // are neither checked nor written): its change is made inside its middle range, to a value
    // neither old nor new; a hive is hashed whole, so any byte shows.
    for (name, i) in [("the largest file", big), ("a hive", small)] {
        let path = parts.files[i].path.clone();
        let size = parts.files[i].size_after;
        let mine: Vec<&RangeBytes> = parts
            .ranges
            .iter()
            .filter(|r| r.file as usize == i && !r.old.is_empty())
            .collect();
        let at = if size > journal::WHOLE_CHECK_MOST && !mine.is_empty() {
            mine[mine.len() / 2].offset
        } else {
            size / 2
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).map_err(|e| e.to_string())?;
        let recorded: Vec<u8> = mine
            .iter()
            .filter(|r| r.offset == at)
            .flat_map(|r| [r.old[0], r.new[0]])
            .chain([b[0]])
            .collect();
        let v = (0..=255u8)
            .find(|v| !recorded.contains(v))
            .unwrap_or(b[0] ^ 0x5A);
        f.write_all_at(&[v], at).map_err(|e| e.to_string())?;
        let r = expect_refusal(
            coldpatch,
            image,
            journal,
            &format!(
                "{name} changed since the apply (one byte, in a recorded range for a database)"
            ),
        );
        f.write_all_at(&b, at).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        out.push(r?);
    }
    let i = small;
    let path = parts.files[i].path.clone();
    let moved = scratch.join("moved-file");
    std::fs::copy(&path, &moved).map_err(|e| format!("{}: {e}", path.display()))?;
    let original = path.with_extension("coldpatch-faults-moved");
    std::fs::rename(&path, &original).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(&moved, &path).map_err(|e| e.to_string())?;
    let r = expect_refusal(
        coldpatch,
        image,
        journal,
        "a hive replaced by a symbolic link (to a copy of it)",
    );
    let moved_untouched = std::fs::read(&moved).ok() == std::fs::read(&original).ok();
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    std::fs::rename(&original, &path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&moved);
    let mut r = r?;
    // The image's hashes saw the link and the moved original, not the copy it points to.
    r.changed.retain(|c| !c.contains("coldpatch-faults-moved"));
    if !moved_untouched {
        r.changed.push("the link's target was written".into());
    }
    out.push(r);
    Ok(out)
}

/// The journal `journal` cut at each of `cuts` bytes and given to undo: refused with nothing
/// written, except a cut inside its first range (after the list of files), which is the same
/// journal as a run stopped before it recorded a range: undo ends with nothing to undo (exit 0)
/// and must write nothing either.
pub fn torn(
    coldpatch: &Path,
    image: &Path,
    journal: &Path,
    scratch: &Path,
    cuts: &[u64],
) -> Result<Vec<(u64, Refusal, bool)>, String> {
    let mut whole = Vec::new();
    std::fs::File::open(journal)
        .and_then(|mut f| f.read_to_end(&mut whole))
        .map_err(|e| format!("{}: {e}", journal.display()))?;
    let silent = silent_cuts(journal)?;
    let mut out = Vec::new();
    for &cut in cuts {
        let p = scratch.join("torn.journal");
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, &whole[..(cut as usize).min(whole.len())])
            .map_err(|e| format!("{}: {e}", p.display()))?;
        let r = expect_refusal(coldpatch, image, &p, &format!("cut at {cut}"))?;
        out.push((cut, r, silent.contains(&cut)));
        let _ = std::fs::remove_file(&p);
    }
    Ok(out)
}

/// The cuts that leave the list of files and no whole range.
pub fn silent_cuts(journal: &Path) -> Result<std::ops::Range<u64>, String> {
    let j = journal::read(journal).map_err(|e| e.to_string())?;
    let mut first = None;
    j.for_each_range(|_, at| {
        first.get_or_insert(at);
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let Some(at) = first else {
        return Ok(0..0);
    };
    // The frame's end from its header: kind u8, length u32 LE, payload, an 8-byte check.
    let mut len = [0u8; 4];
    std::fs::File::open(journal)
        .and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, &mut len, at + 1))
        .map_err(|e| format!("{}: the frame at {at:#x}: {e}", journal.display()))?;
    Ok(at..at + 5 + u64::from(u32::from_le_bytes(len)) + 8)
}

/// Removes a journal and what apply leaves beside it (records, temporary files of a killed
/// run).
pub fn remove_journal(journal: &Path) {
    let name = journal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = journal.parent() {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n == name
                    || n.starts_with(&format!("{name}."))
                    || n.starts_with(".coldpatch-audit-")
                    || n.starts_with(".coldpatch-journal-")
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
