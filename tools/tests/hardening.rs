//! Media faults and hostile images, through the `coldpatch` binary on copies of the bundled
//! `cluster-small` fixture: a full output disk (the file size limit, `ulimit -f`, which needs
//! no privileges), a read-only image, an input changed during `apply`, two runs at once, and
//! images whose registry or file system points outside the mapped volumes.
//!
//! Each case asserts the exit code, the message (what and where, never a temporary file's
//! name, no raw control character) and that nothing changed outside the paths the run may
//! write: the whole temporary directory — the image, the output and journal places, a file
//! standing beside them — is snapshotted before and after (files by SHA-256 and mode,
//! symlinks by target, without following them).

#[path = "runner/mod.rs"]
mod runner;
use runner::{coldpatch_bin, copy_tree};

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/cluster-small");
const PRIV: &str = "E/exchsrvr/MDBDATA/PRIV.EDB";
const SYSTEM: &str = "C/WINNT/system32/config/SYSTEM";

fn run(args: &[&Path]) -> Output {
    Command::new(coldpatch_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `coldpatch reg import HIVE REG --in-place --journal JOURNAL`.
fn reg_import_in_place(hive: &Path, reg: &Path, journal: &Path) -> Output {
    run(&[
        p("reg"),
        p("import"),
        hive,
        reg,
        p("--in-place"),
        p("--journal"),
        journal,
    ])
}

/// `coldpatch ARGS` under `ulimit -f KIB` (bash counts in KiB).
fn run_limited(kib: u64, args: &[&Path]) -> Output {
    run_limited_stderr(kib, args, None)
}

/// [`run_limited`], with stderr sent to `stderr` (a file under the same limit) when given.
fn run_limited_stderr(kib: u64, args: &[&Path], stderr: Option<&Path>) -> Output {
    let redirect = if stderr.is_some() {
        " 2>\"$ERRORS\""
    } else {
        ""
    };
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!("ulimit -f {kib} && exec \"$0\" \"$@\"{redirect}"))
        .arg(coldpatch_bin())
        .args(args)
        .stdin(Stdio::null());
    if let Some(e) = stderr {
        c.env("ERRORS", e);
    }
    c.output().unwrap()
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

/// The exit code and stderr of a run, checked for the house rules of a message: no
/// temporary file's name, no raw control character, one line.
fn failed(o: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        !err.contains(".coldpatch-") && !err.contains("/.tmp"),
        "{err}"
    );
    assert!(
        !err.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the message: {err:?}"
    );
    err
}

/// A temporary directory with a copy of the fixture at `img` and a file standing beside it.
fn setup() -> (tempfile::TempDir, PathBuf) {
    // Not `.tmp…` as by default: a `.tmp` in a message is then a temporary file's name.
    let tmp = tempfile::Builder::new()
        .prefix("hardening-")
        .tempdir()
        .unwrap();
    let image = tmp.path().join("img");
    copy_tree(Path::new(FIXTURE), &image);
    std::fs::remove_file(image.join("image.json")).unwrap();
    std::fs::write(tmp.path().join("bystander"), b"not to be touched").unwrap();
    (tmp, image)
}

/// Everything under `root`, not following symlinks: path → what it is.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("link {}", target.display()));
            } else if m.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &path, out);
            } else {
                let sha = Sha256::digest(std::fs::read(&path).unwrap());
                out.insert(rel, format!("file {mode:o} {sha:x}"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Asserts that between two snapshots only paths starting with one of `allowed` (relative to
/// the root, as text) appeared, went or changed.
fn only_changed(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    allowed: &[&str],
) {
    let mut changed: Vec<&PathBuf> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    changed.extend(after.keys().filter(|k| !before.contains_key(*k)));
    let outside: Vec<&&PathBuf> = changed
        .iter()
        .filter(|k| !allowed.iter().any(|a| k.to_string_lossy().starts_with(a)))
        .collect();
    assert!(
        outside.is_empty(),
        "changed outside {allowed:?}: {outside:?}"
    );
}

/// The files under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    snapshot(dir)
        .into_iter()
        .filter(|(_, v)| !v.starts_with("dir"))
        .map(|(k, _)| k)
        .collect()
}

/// `apply` started with `COLDPATCH_TEST_WAIT_AT=passed`, stopped there: every input read,
/// nothing put in place.
struct Waiting {
    child: std::process::Child,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Waiting {
    fn start(args: &[&Path]) -> Waiting {
        let mut child = Command::new(coldpatch_bin())
            .env("COLDPATCH_TEST_WAIT_AT", "passed")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "the run ended before it reached the wait point: {seen}"
            );
            if line.contains("waiting at passed") {
                break;
            }
            seen.push_str(&line);
        }
        Waiting { child, stderr }
    }

    /// `apply IMAGE --in-place --journal JOURNAL`, waiting.
    fn in_place(image: &Path, journal: &Path) -> Waiting {
        Waiting::start(&[p("apply"), image, p("--in-place"), p("--journal"), journal])
    }

    /// Kills the run (SIGKILL) and waits for it to end.
    fn kill(self) {
        let mut child = self.child;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Lets the run go on; its exit code and the rest of its stderr.
    fn resume(mut self) -> (Option<i32>, String) {
        self.child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap().code(), rest)
    }
}

#[test]
fn a_full_output_disk_leaves_no_output_and_the_image_intact() {
    let (tmp, image) = setup();
    let out = tmp.path().join("out");
    // 100 KiB: the hives (57 KiB at most) fit, the first database (264 KiB) does not; 8 KiB:
    // not even the first hive.
    assert!(std::fs::metadata(image.join(SYSTEM)).unwrap().len() < 100 << 10);
    assert!(std::fs::metadata(image.join(PRIV)).unwrap().len() > 100 << 10);
    for (kib, names) in [(100, PRIV), (8, "")] {
        let before = snapshot(tmp.path());
        let o = run_limited(kib, &[p("apply"), &image, p("--out"), &out]);
        let err = failed(&o, 3);
        let at = out.join(names).display().to_string();
        assert!(err.contains(&at), "ulimit -f {kib}: names {at}? {err}");
        assert!(err.contains("File too large"), "{err}");
        assert!(err.contains("file size limit"), "{err}");
        assert!(
            err.contains("nothing was kept in the output directory"),
            "{err}"
        );
        assert_eq!(files_under(&out), Vec::<PathBuf>::new(), "ulimit -f {kib}");
        only_changed(&before, &snapshot(tmp.path()), &["out"]);
    }
}

#[test]
fn a_journal_that_cannot_be_written_leaves_the_image_untouched_and_undo_mends_a_later_failure() {
    let (tmp, image) = setup();
    let journal = tmp.path().join("run.journal");
    let args = [
        p("apply"),
        &image,
        p("--in-place"),
        p("--journal"),
        &journal,
    ];

    // No byte may be written: the journal's list of files, its first write, fails (the ranges
    // of this small image, batched and compressed, are smaller than its audit log, which is
    // finished first); nothing was written to the image, no journal left.
    let before = snapshot(tmp.path());
    let err = failed(&run_limited(0, &args), 3);
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains("nothing was written to the image"), "{err}");
    assert!(!journal.exists());
    assert_eq!(snapshot(tmp.path()), before);
    // The same with stderr a file under the same limit: the message is lost, not the exit
    // code (no panic while reporting).
    let errors = tempfile::NamedTempFile::new().unwrap();
    let o = run_limited_stderr(0, &args, Some(errors.path()));
    assert_eq!(o.status.code(), Some(3));
    assert!(!journal.exists());
    assert_eq!(snapshot(tmp.path()), before);

    // 100 KiB: the journal is sealed, then a database write past the limit fails: the message
    // names the database and the undo, which restores every byte.
    let err = failed(&run_limited(100, &args), 3);
    assert!(
        err.contains(&image.join(PRIV).display().to_string()),
        "{err}"
    );
    let undo = format!("coldpatch undo {}", journal.display());
    assert!(err.contains(&undo), "{err}");
    let o = run(&[p("undo"), &journal]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    only_changed(&before, &snapshot(tmp.path()), &["run.journal"]);
}

#[test]
fn a_read_only_or_hard_linked_target_is_refused_in_place_before_anything_starts() {
    let (tmp, image) = setup();
    let db = image.join(PRIV);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let journal = tmp.path().join("run.journal");
    let before = snapshot(tmp.path());
    let o = run(&[
        p("apply"),
        &image,
        p("--in-place"),
        p("--journal"),
        &journal,
    ]);
    let err = failed(&o, 2);
    assert!(
        err.contains(&format!("{}: cannot be patched in place", db.display())),
        "{err}"
    );
    assert!(err.contains("marked read-only (mode 0444)"), "{err}");
    assert!(err.contains("--out DIR"), "{err}");
    assert!(!journal.exists());
    assert_eq!(snapshot(tmp.path()), before);
    // reg import --in-place on a hive marked read-only: the same refusal.
    let hive = image.join(SYSTEM);
    std::fs::set_permissions(&hive, std::fs::Permissions::from_mode(0o444)).unwrap();
    let reg = tmp.path().join("x.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\Select]\r\n\"x\"=dword:00000001\r\n",
    )
    .unwrap();
    let before_reg = snapshot(tmp.path());
    let err = failed(&reg_import_in_place(&hive, &reg, &journal), 2);
    assert!(
        err.contains(&format!("{}: cannot be patched in place", hive.display())),
        "{err}"
    );
    assert!(err.contains("marked read-only (mode 0444)"), "{err}");
    assert!(!journal.exists());
    assert_eq!(snapshot(tmp.path()), before_reg);
    std::fs::remove_file(&reg).unwrap();
    std::fs::set_permissions(&hive, std::fs::Permissions::from_mode(0o644)).unwrap();

    // A hard link to a database from outside the image: writing in place would change it too.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let other_name = tmp.path().join("other-name.EDB");
    std::fs::hard_link(&db, &other_name).unwrap();
    let before_link = snapshot(tmp.path());
    let o = run(&[
        p("apply"),
        &image,
        p("--in-place"),
        p("--journal"),
        &journal,
    ]);
    let err = failed(&o, 2);
    assert!(
        err.contains(&format!("{}: cannot be patched in place", db.display())),
        "{err}"
    );
    assert!(err.contains("the file has 2 hard links"), "{err}");
    assert!(!journal.exists());
    assert_eq!(snapshot(tmp.path()), before_link);
    std::fs::remove_file(&other_name).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Copies of a read-only image are fine.
    let out = tmp.path().join("out");
    let o = run(&[p("apply"), &image, p("--out"), &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    only_changed(&before, &snapshot(tmp.path()), &["out"]);
}

/// Rewrites one byte of `path` in place (size kept, the file written to).
fn poke(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], offset).unwrap();
}

#[test]
fn an_input_changed_during_apply_is_refused_naming_it() {
    for (in_place, victim) in [(false, PRIV), (true, SYSTEM)] {
        let (tmp, image) = setup();
        let out = tmp.path().join("out");
        let journal = tmp.path().join("run.journal");
        let run = if in_place {
            Waiting::start(&[
                p("apply"),
                &image,
                p("--in-place"),
                p("--journal"),
                &journal,
            ])
        } else {
            Waiting::start(&[p("apply"), &image, p("--out"), &out])
        };
        poke(&image.join(victim), 20_000);
        let changed = snapshot(tmp.path());
        let (code, err) = run.resume();
        assert_eq!(code, Some(1), "{err}");
        let at = format!(
            "{}: the file changed while apply ran",
            image.join(victim).display()
        );
        assert!(err.contains(&at), "{err}");
        assert!(err.contains("Nothing was written"), "{err}");
        assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));
        assert!(!journal.exists());
        // The run's own temporary files and unsealed journal, gone again.
        let own = ["out", "run.journal", ".coldpatch-audit-"];
        only_changed(&changed, &snapshot(tmp.path()), &own);
    }
}

#[test]
fn a_second_apply_on_the_image_is_refused_while_one_runs_and_the_lock_dies_with_it() {
    let (tmp, image) = setup();
    let journal = tmp.path().join("run.journal");
    let first = Waiting::in_place(&image, &journal);
    let pid = first.child.id();
    let before = snapshot(tmp.path());

    let out = tmp.path().join("second");
    let err = failed(&run(&[p("apply"), &image, p("--out"), &out]), 1);
    assert!(err.contains(&format!("locked by process {pid} (")), "{err}");
    assert!(err.contains("this volume of the image"), "{err}");
    assert!(err.contains(&image.display().to_string()), "{err}");
    assert!(!out.exists());
    assert_eq!(snapshot(tmp.path()), before);

    // Two runs (on two images) into one output directory: the second is refused too.
    let (other_tmp, other_image) = setup();
    let (third_tmp, third_image) = setup();
    let shared = tmp.path().join("shared");
    let writer = Waiting::start(&[p("apply"), &other_image, p("--out"), &shared]);
    let err = failed(&run(&[p("apply"), &third_image, p("--out"), &shared]), 1);
    let at = format!(
        "{}: the output directory is locked by process {} (",
        shared.display(),
        writer.child.id()
    );
    assert!(err.contains(&at), "{err}");
    let (code, rest) = writer.resume();
    assert_eq!(code, Some(0), "{rest}");
    assert!(shared.join("SHA256SUMS").exists());
    drop((other_tmp, third_tmp));

    // The first run dies (SIGKILL, before its journal was sealed): its lock goes with it.
    first.kill();
    let o = run(&[p("apply"), &image, p("--out"), &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// An `apply --in-place` holds the directories of the files it writes, not only the volumes:
/// an `undo` of an earlier journal on the same files, or a `reg import --in-place` of one of
/// them, is refused while it runs (naming the holder; nothing written, no journal), and goes
/// through once it has ended.
#[test]
fn undo_and_reg_import_in_place_wait_for_an_apply_in_place_on_the_same_files() {
    let (tmp, image) = setup();
    let hive = image.join(SYSTEM);
    let reg = tmp.path().join("marker.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\ControlSet001\\Services\\Marker]\r\n\
         \"Set\"=dword:00000001\r\n",
    )
    .unwrap();
    let earlier = tmp.path().join("earlier.journal");
    let o = reg_import_in_place(&hive, &reg, &earlier);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let journal = tmp.path().join("run.journal");
    let first = Waiting::in_place(&image, &journal);
    let pid = first.child.id();
    let before = snapshot(tmp.path());
    let held = format!("locked by process {pid} (");
    let dir = hive.parent().unwrap().display().to_string();

    let err = failed(&run(&[p("undo"), &earlier]), 1);
    assert!(err.contains(&held) && err.contains(&dir), "{err}");
    assert!(err.contains("run undo again"), "{err}");
    let other = tmp.path().join("other.journal");
    let err = failed(&reg_import_in_place(&hive, &reg, &other), 1);
    assert!(err.contains(&held) && err.contains(&dir), "{err}");
    assert!(!other.exists());
    assert_eq!(snapshot(tmp.path()), before);

    // The apply dies before its journal is sealed (nothing written): the undo goes through.
    first.kill();
    let o = run(&[p("undo"), &earlier]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let original = std::fs::read(Path::new(FIXTURE).join(SYSTEM)).unwrap();
    assert_eq!(std::fs::read(&hive).unwrap(), original);
}

/// Sets `DB Path` of the private store in both control sets of the image's SYSTEM hive to
/// `value` (as REG_SZ bytes, so that any character can be put there) through `reg import`.
fn set_db_path(image: &Path, value: &str) {
    let mut data: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
    data.extend_from_slice(&[0, 0]);
    let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
    let mut reg = String::from("Windows Registry Editor Version 5.00\r\n");
    for set in ["ControlSet001", "ControlSet002"] {
        reg.push_str(&format!(
            "\r\n[\\{set}\\Services\\MSExchangeIS\\ParametersPrivate]\r\n\"DB Path\"=hex(1):{}\r\n",
            hex.join(",")
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, new) = (dir.path().join("x.reg"), dir.path().join("SYSTEM"));
    std::fs::write(&file, reg).unwrap();
    let hive = image.join(SYSTEM);
    let o = run(&[p("reg"), p("import"), &hive, &file, p("--out"), &new]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::copy(&new, &hive).unwrap();
}

#[test]
fn registry_paths_that_leave_the_image_are_refused_naming_the_value() {
    let (tmp, image) = setup();
    let long_name = format!("E:\\exchsrvr\\{}.EDB", "N".repeat(300));
    let long_path = format!("E:{}", "\\x".repeat(20_000));
    let cases: [(&str, &str); 9] = [
        (
            "E:\\exchsrvr\\..\\..\\..\\etc\\passwd",
            "a `.` or `..` component",
        ),
        ("\\\\server\\share\\PRIV.EDB", "a UNC or device path"),
        (
            "\\\\?\\E:\\exchsrvr\\MDBDATA\\PRIV.EDB",
            "a UNC or device path",
        ),
        ("/etc/passwd", "not an absolute path with a drive letter"),
        (
            "Z:\\exchsrvr\\MDBDATA\\PRIV.EDB",
            "drive Z: is not mapped; give --volume Z:=PATH",
        ),
        (
            "E:\\exch\u{1b}[2Jsrvr\\PRIV.EDB",
            "a NUL or control character",
        ),
        (
            "E:\\exchsrvr\\MDBDATA\\PRIV.EDB\u{7f}",
            "a NUL or control character",
        ),
        (
            &long_name,
            "a name longer than a host directory takes (304 bytes",
        ),
        (&long_path, "longer than Windows allows"),
    ];
    let out = tmp.path().join("out");
    for (value, why) in cases {
        set_db_path(&image, value);
        let before = snapshot(tmp.path());
        let err = failed(&run(&[p("apply"), &image, p("--out"), &out]), 1);
        let named = format!(
            "(from {SYSTEM} ControlSet001\\Services\\MSExchangeIS\\ParametersPrivate\\DB Path)"
        );
        assert!(err.contains(&named), "{err}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(
            err.len() < 1500,
            "the message repeats a long value: {} bytes",
            err.len()
        );
        assert!(!out.exists());
        assert_eq!(snapshot(tmp.path()), before);
    }
}

#[test]
fn symlinks_out_of_a_volume_are_not_followed() {
    let (tmp, image) = setup();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();

    // The database a symlink to a copy outside the image; then, the database back, its
    // directory one.
    let db = image.join(PRIV);
    let mdbdata = image.join("E/exchsrvr/MDBDATA");
    std::fs::rename(&db, outside.join("PRIV.EDB")).unwrap();
    std::os::unix::fs::symlink(outside.join("PRIV.EDB"), &db).unwrap();
    check_refused_symlink(tmp.path(), &image, &db);
    std::fs::remove_file(&db).unwrap();
    std::fs::rename(outside.join("PRIV.EDB"), &db).unwrap();
    std::fs::rename(&mdbdata, outside.join("MDBDATA")).unwrap();
    std::os::unix::fs::symlink(outside.join("MDBDATA"), &mdbdata).unwrap();
    check_refused_symlink(tmp.path(), &image, &mdbdata);
}

/// `apply --out` and `apply --in-place` refuse the image, naming `link`, and change nothing.
fn check_refused_symlink(root: &Path, image: &Path, link: &Path) {
    let (journal, out) = (root.join("run.journal"), root.join("out"));
    let before = snapshot(root);
    for args in [
        vec![p("apply"), image, p("--out"), &out],
        vec![p("apply"), image, p("--in-place"), p("--journal"), &journal],
    ] {
        let err = failed(&run(&args), 1);
        let at = format!("{} leads outside the volume", link.display());
        assert!(err.contains(&at), "{err}");
        assert!(err.contains("refusing to follow it"), "{err}");
        assert!(!out.exists() && !journal.exists());
        assert_eq!(snapshot(root), before);
    }
}

#[test]
fn outputs_inside_the_image_are_refused() {
    let (tmp, image) = setup();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(image.join("Q"), &link).unwrap();
    let before = snapshot(tmp.path());
    let runs: Vec<(Vec<&Path>, PathBuf, &str)> = vec![
        (
            vec![p("apply"), &image, p("--out")],
            image.join("E/patched"),
            "the output directory",
        ),
        (
            vec![p("apply"), &image, p("--out")],
            link.join("new/out"),
            "the output directory",
        ),
        (
            vec![p("apply"), &image, p("--out")],
            tmp.path().join("x/../img/C/out"),
            "the output directory",
        ),
        (
            vec![p("apply"), &image, p("--in-place"), p("--journal")],
            image.join("Q/run.journal"),
            "the journal",
        ),
        (
            vec![p("apply"), &image, p("--in-place"), p("--journal")],
            link.join("run.journal"),
            "the journal",
        ),
        (
            vec![p("plan"), &image, p("--out")],
            image.join("C/plan.json"),
            "the plan file",
        ),
    ];
    for (mut args, path, what) in runs {
        args.push(&path);
        let err = failed(&run(&args), 2);
        let msg = format!("{}: {what} is inside the image (volume ", path.display());
        assert!(err.contains(&msg), "{err}");
        assert_eq!(snapshot(tmp.path()), before);
    }
}

#[test]
fn symlinks_planted_at_output_and_journal_paths_redirect_nothing() {
    let (tmp, image) = setup();
    let victim = tmp.path().join("bystander");
    let kept = std::fs::read(&victim).unwrap();

    // The journal's own path: refused, as any existing journal.
    let journal = tmp.path().join("run.journal");
    std::os::unix::fs::symlink(&victim, &journal).unwrap();
    let before = snapshot(tmp.path());
    let err = failed(
        &run(&[
            p("apply"),
            &image,
            p("--in-place"),
            p("--journal"),
            &journal,
        ]),
        2,
    );
    assert!(
        err.contains(&format!("{}: the journal exists", journal.display())),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before);
    std::fs::remove_file(&journal).unwrap();

    // The records beside the journal and the plan file: replaced as links, never written
    // through.
    let plan = tmp.path().join("plan.json");
    let report = tmp.path().join("run.journal.report.json");
    for l in [&plan, &report] {
        std::os::unix::fs::symlink(&victim, l).unwrap();
    }
    let o = run(&[p("plan"), &image, p("--out"), &plan]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[
        p("apply"),
        &image,
        p("--in-place"),
        p("--journal"),
        &journal,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), kept);
    for l in [&plan, &report] {
        assert!(
            std::fs::symlink_metadata(l).unwrap().is_file(),
            "{}",
            l.display()
        );
    }
}
