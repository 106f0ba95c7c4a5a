//! Running a mutant through the verbs in-process and holding the results to the sweep's
//! properties ([`super`]). A panic is caught only to be reported as a failure.

use super::mutate::{mutant, FileKind, Layout, Mutant};
use super::{apply_args, Target};
use clap::Parser;
use coldpatch::cli::{Cli, GlobalArgs};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The last panic's message and place, kept by the hook [`install_panic_hook`] installs.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Keeps each panic's message instead of printing it (the sweep reports it with the mutant).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{what}{at}"));
        }
    }));
}

/// What the mutant in hand is (for the watchdog's report), and since when.
static CURRENT: Mutex<Option<(Instant, String)>> = Mutex::new(None);

fn set_current(what: Option<String>) {
    if let Ok(mut c) = CURRENT.lock() {
        *c = what.map(|w| (Instant::now(), w));
    }
}

/// Starts the watchdog: when one mutant takes longer than `limit`, `on_hang` is called with
/// its description (it should end the process: a hang fails the sweep).
pub fn start_watchdog(limit: Duration, on_hang: impl Fn(&str) + Send + 'static) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(250));
        let late = CURRENT
            .lock()
            .ok()
            .and_then(|c| c.as_ref().filter(|(t, _)| t.elapsed() > limit).cloned());
        if let Some((_, what)) = late {
            on_hang(&what);
        }
    });
}

/// One verb's result: its exit code and message, or the panic it ended in.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub code: i32,
    pub message: String,
    pub panic: Option<String>,
}

fn caught(f: impl FnOnce() -> (i32, String)) -> Outcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok((code, message)) => Outcome {
            code,
            message,
            panic: None,
        },
        Err(_) => Outcome {
            code: 101,
            message: String::new(),
            panic: Some(
                LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut l| l.take())
                    .unwrap_or_else(|| "a panic".into()),
            ),
        },
    }
}

/// `verify FILE`, as the verb computes its exit code; the message is the first finding.
pub fn verify(path: &Path) -> Outcome {
    caught(|| {
        let global = GlobalArgs {
            quiet: true,
            ..GlobalArgs::default()
        };
        let r = coldpatch::cli::verify::verify_path(path, &global);
        let code = if r.unreadable {
            2
        } else if !r.ok {
            1
        } else {
            0
        };
        let message = r.errors.first().map(|e| e.what.clone()).unwrap_or_default();
        (code, message)
    })
}

/// The message of a verb that printed its own findings and returned a non-zero code.
pub const PRINTED_BY_THE_VERB: &str = "(findings printed by the verb on stderr)";

/// `args` after `--quiet` (no progress on stderr).
fn quiet(args: Vec<&OsStr>) -> Vec<&OsStr> {
    std::iter::once("--quiet".as_ref()).chain(args).collect()
}

/// Any verb, from its command line (without the program name), through `coldpatch::cli::run`.
pub fn cli(args: &[&std::ffi::OsStr]) -> Outcome {
    caught(|| {
        let argv = std::iter::once(std::ffi::OsStr::new("coldpatch")).chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Err(e) => (2, format!("command line: {e}")),
            Ok(c) => match coldpatch::cli::run(&c) {
                // A verb that ends in a non-zero code of its own (no failure) has printed its
                // findings itself: `reg export` of a damaged hive warns on stderr, each
                // problem by offset, and prints what it could read. The binary subset of the
                // sweep checks that text (tools/tests/sweep.rs).
                Ok(exit) if exit.code() != 0 => (exit.code(), PRINTED_BY_THE_VERB.to_string()),
                Ok(exit) => (exit.code(), String::new()),
                Err(f) => (f.exit.code(), f.message),
            },
        }
    })
}

/// A broken property: which mutant, which verb, what.
#[derive(Clone, Debug)]
pub struct Violation {
    pub target: String,
    pub index: u64,
    pub mutation: String,
    pub verb: &'static str,
    pub problem: String,
}

/// What a sweep saw: exit codes per verb, violations, and the refusals `apply --out` gave on
/// images every file of which verifies (kept for the report, by message shape).
#[derive(Default, Debug)]
pub struct Sweep {
    pub mutants: u64,
    pub codes: BTreeMap<(&'static str, i32), u64>,
    pub violations: Vec<Violation>,
    pub apply_refusals_on_verified: BTreeMap<String, (u64, String)>,
    /// `reg export` refusals of names a .reg file cannot hold, on hives that verify and that
    /// `reg export --json` reads.
    pub reg_format_refusals_on_verified: BTreeMap<String, u64>,
    pub verified_mutants: u64,
    /// Where to keep a copy of each mutant that broke a property.
    pub keep: Option<PathBuf>,
}

/// The first line of a message with its numbers blanked: the shape its kind shares.
fn shape(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    let mut out = String::new();
    let mut in_num = false;
    for ch in line.chars() {
        if ch.is_ascii_hexdigit() && (in_num || ch.is_ascii_digit()) {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

impl Sweep {
    fn record(&mut self, target: &str, m: &Mutant, verb: &'static str, o: &Outcome) -> Option<i32> {
        *self.codes.entry((verb, o.code)).or_default() += 1;
        let problem = if let Some(p) = &o.panic {
            Some(format!("panicked: {p}"))
        } else if !(0..=2).contains(&o.code) {
            Some(format!("exit {}: {}", o.code, o.message))
        } else if o.code != 0 && o.message.trim().is_empty() && verb != "verify" {
            Some(format!("exit {} without a message", o.code))
        } else if o.code != 0 && verb == "verify" && o.message.trim().is_empty() {
            Some(format!("verify exit {} names no finding", o.code))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                self.violate(target, m, verb, problem);
                None
            }
            None => Some(o.code),
        }
    }

    /// Property 2 in place: `apply --in-place` on an image holding a file `verify` flags
    /// (`path`, the mutant) exits non-zero before its journal is sealed — the mutant as it
    /// was, nothing left beside the journal. An image it wrote is copied again from `source`.
    #[allow(clippy::too_many_arguments)]
    fn in_place_refuses(
        &mut self,
        label: &str,
        m: &Mutant,
        vcode: i32,
        image: &Path,
        path: &Path,
        scratch: &Path,
        source: &Path,
    ) {
        let beside = scratch.join("journal");
        let _ = std::fs::remove_dir_all(&beside);
        let _ = std::fs::create_dir_all(&beside);
        let journal = beside.join("j");
        let in_place = [
            "--in-place".as_ref(),
            "--journal".as_ref(),
            journal.as_os_str(),
        ];
        let a = cli(&quiet(apply_args(image, &in_place)));
        if let Some(code) = self.record(label, m, "apply --in-place", &a) {
            let left = files_under(&beside);
            let intact = std::fs::read(path).is_ok_and(|b| b == m.bytes);
            if code == 0 || !left.is_empty() || !intact {
                self.violate(
                    label,
                    m,
                    "apply --in-place",
                    format!(
                        "verify flags the file (exit {vcode}) but apply --in-place exits {code}, \
                         leaves {} file(s) beside the journal{}",
                        left.len(),
                        if intact { "" } else { " and changed the file" }
                    ),
                );
            }
            if code == 0 {
                let _ = std::fs::remove_dir_all(image);
                let _ = copy_tree(source, image);
            }
        }
        let _ = std::fs::remove_dir_all(&beside);
    }

    fn violate(&mut self, target: &str, m: &Mutant, verb: &'static str, problem: String) {
        if let Some(dir) = &self.keep {
            let name = format!("{}.{}", target.replace('/', "_"), m.index);
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(dir.join(name), &m.bytes);
        }
        self.violations.push(Violation {
            target: target.to_string(),
            index: m.index,
            mutation: m.what.clone(),
            verb,
            problem,
        });
    }

    /// `verify`, then the reader verb of the file's kind; property 3 between the two.
    fn file_verbs(&mut self, target: &str, m: &Mutant, kind: FileKind, path: &Path) -> i32 {
        let v = verify(path);
        let vcode = self.record(target, m, "verify", &v);
        let is_ese = match kind {
            FileKind::Ese => true,
            FileKind::Regf => false,
            FileKind::Raw => !path.to_string_lossy().contains(".LOG"),
        };
        let (verb, o) = if is_ese {
            ("inspect", cli(&["inspect".as_ref(), path.as_os_str()]))
        } else {
            (
                "reg export",
                cli(&quiet(vec![
                    "reg".as_ref(),
                    "export".as_ref(),
                    path.as_os_str(),
                ])),
            )
        };
        let rcode = self.record(target, m, verb, &o);
        if vcode == Some(0) && !is_ese && rcode == Some(1) {
            // The hive was read, but its .reg text cannot hold a name (a line break in it):
            // the read path is `reg export --json`, which must then succeed.
            let j = cli(&[
                "--json".as_ref(),
                "reg".as_ref(),
                "export".as_ref(),
                path.as_os_str(),
            ]);
            if self.record(target, m, "reg export --json", &j) == Some(0) {
                *self
                    .reg_format_refusals_on_verified
                    .entry(shape(&o.message))
                    .or_default() += 1;
                return 0;
            }
        }
        if vcode == Some(0) && rcode.is_some_and(|c| c != 0) {
            self.violate(
                target,
                m,
                verb,
                format!(
                    "verify passes the file but {verb} fails (exit {}): {}",
                    o.code, o.message
                ),
            );
        }
        vcode.unwrap_or(2)
    }

    /// Every mutant `from..to` of `target` under `seed`; `scratch` is an empty directory.
    pub fn run_target(&mut self, target: &Target, seed: u64, from: u64, to: u64, scratch: &Path) {
        match target {
            Target::File {
                name,
                file_name,
                kind,
                bytes,
                beside,
            } => {
                let dir = scratch.join("file");
                let _ = std::fs::create_dir_all(&dir);
                for (n, b) in beside {
                    let _ = std::fs::write(dir.join(n), b);
                }
                let path = dir.join(file_name);
                let layout = Layout::of(*kind, bytes);
                for i in from..to {
                    let m = mutant(bytes, &layout, seed, name, i);
                    set_current(Some(format!("{name} mutant {i}: {}", m.what)));
                    if let Err(e) = std::fs::write(&path, &m.bytes) {
                        self.violate(name, &m, "sweep", format!("cannot write the mutant: {e}"));
                        continue;
                    }
                    self.mutants += 1;
                    if self.file_verbs(name, &m, *kind, &path) == 0 {
                        self.verified_mutants += 1;
                    }
                }
                set_current(None);
                let _ = std::fs::remove_dir_all(&dir);
            }
            Target::Image { name, dir, files } => {
                let image = scratch.join("image");
                let _ = std::fs::remove_dir_all(&image);
                if let Err(e) = copy_tree(dir, &image) {
                    self.violations.push(Violation {
                        target: name.clone(),
                        index: 0,
                        mutation: String::new(),
                        verb: "sweep",
                        problem: format!("cannot copy the image: {e}"),
                    });
                    return;
                }
                let layouts: Vec<Layout> =
                    files.iter().map(|(_, k, b)| Layout::of(*k, b)).collect();
                let out = scratch.join("out");
                for i in from..to {
                    let which = (i % files.len() as u64) as usize;
                    let (Some((rel, kind, bytes)), Some(layout)) =
                        (files.get(which), layouts.get(which))
                    else {
                        continue;
                    };
                    let label = format!("{name}/{}", rel.display());
                    let m = mutant(bytes, layout, seed, &label, i);
                    set_current(Some(format!("{label} mutant {i}: {}", m.what)));
                    let path = image.join(rel);
                    if let Err(e) = std::fs::write(&path, &m.bytes) {
                        self.violate(&label, &m, "sweep", format!("cannot write the mutant: {e}"));
                        continue;
                    }
                    self.mutants += 1;
                    let vcode = self.file_verbs(&label, &m, *kind, &path);
                    if vcode == 0 {
                        self.verified_mutants += 1;
                    }
                    let _ = std::fs::remove_dir_all(&out);
                    let a = cli(&quiet(apply_args(
                        &image,
                        &["--out".as_ref(), out.as_os_str()],
                    )));
                    if let Some(code) = self.record(&label, &m, "apply --out", &a) {
                        let left = files_under(&out);
                        if vcode != 0 && (code == 0 || !left.is_empty()) {
                            self.violate(
                                &label,
                                &m,
                                "apply --out",
                                format!(
                                    "verify flags the file (exit {vcode}) but apply --out exits \
                                     {code} and leaves {} file(s){}",
                                    left.len(),
                                    left.first()
                                        .map(|p| format!(", e.g. {}", p.display()))
                                        .unwrap_or_default()
                                ),
                            );
                        }
                        if vcode == 0 && code != 0 {
                            let e = self
                                .apply_refusals_on_verified
                                .entry(format!("exit {code}: {}", shape(&a.message)))
                                .or_insert_with(|| {
                                    (0, format!("{label} mutant {i} ({}): {}", m.what, a.message))
                                });
                            e.0 += 1;
                            if code == 2 {
                                self.violate(
                                    &label,
                                    &m,
                                    "apply --out",
                                    format!(
                                        "verify passes every file but apply --out finds \
                                         unreadable input (exit 2): {}",
                                        a.message
                                    ),
                                );
                            }
                        }
                    }
                    let _ = std::fs::remove_dir_all(&out);
                    if vcode != 0 {
                        self.in_place_refuses(&label, &m, vcode, &image, &path, scratch, dir);
                    }
                    let _ = std::fs::write(&path, bytes);
                }
                set_current(None);
                let _ = std::fs::remove_dir_all(&image);
            }
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}
