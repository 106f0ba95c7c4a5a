//! The case file (`report.html`) of a patched `mkimage` image: rendered in headless Chromium to
//! a PNG that must be a real page, its HTML checked (parses without an error, refers to nothing
//! outside itself, names every changed registry value and every warning, its page maps agree
//! with report.json and with the audit log), and `coldpatch report` writing it again byte for
//! byte, for `apply --out` and `apply --in-place`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EPOCH: &str = "1700000000";

fn coldpatch_bin() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_mkimage")).parent().unwrap();
    let bin = dir.join("coldpatch");
    if !bin.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-q", "-p", "coldpatch", "--bin", "coldpatch"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success());
    }
    bin
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn coldpatch() -> Command {
    let mut c = Command::new(coldpatch_bin());
    c.env("SOURCE_DATE_EPOCH", EPOCH);
    c
}

fn mkimage(out: &Path, args: &[&str]) {
    run(Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg(out)
        .args(["--folders", "8", "--messages", "60", "--body-bytes", "64"])
        .args(args));
}

/// `check_case_file.py HTML JSON AUDIT [PNG]`.
fn check(html: &Path, json: &Path, audit: &Path, png: Option<&Path>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_case_file.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut c = Command::new(python);
    c.arg(script).arg(html).arg(json).arg(audit);
    if let Some(p) = png {
        c.arg(p);
    }
    String::from_utf8_lossy(&run(&mut c).stdout).into_owned()
}

/// Renders `html` to a PNG in headless Chromium (no network, a fresh profile).
fn screenshot(html: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    run(Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display())));
    assert!(png.exists(), "chromium wrote no screenshot");
}

#[test]
fn the_case_file_renders_checks_out_and_is_written_again_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    // A warning to show: the checkpoint of the store key is missing (--skip-checkpoint).
    mkimage(
        &image,
        &["--seed", "case", "--scenario", "missing-checkpoint"],
    );
    let out = tmp.path().join("out");
    run(coldpatch()
        .args(["apply", "--seed", "case", "--skip-checkpoint", "--out"])
        .arg(&out)
        .arg(&image));
    let html = out.join("report.html");
    let json = out.join("report.json");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["warnings"].to_string().contains("--skip-checkpoint"));
    let png = tmp.path().join("case.png");
    screenshot(&html, &png);
    let checked = check(&html, &json, &out.join("audit.jsonl.zst"), Some(&png));
    assert!(checked.contains("case file ok"), "{checked}");

    // Written again from report.json and the audit log: the same bytes, there or elsewhere.
    let first = std::fs::read(&html).unwrap();
    std::fs::remove_file(&html).unwrap();
    run(coldpatch().arg("report").arg(&out));
    assert_eq!(std::fs::read(&html).unwrap(), first);
    let elsewhere = tmp.path().join("again.html");
    run(coldpatch()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&elsewhere));
    assert_eq!(std::fs::read(&elsewhere).unwrap(), first);

    // A report.json whose page map the audit log does not bear out: refused, nothing written.
    let mut forged = report.clone();
    let map = &mut forged["stores"][0]["page_map"];
    let rows = map["rows_rewritten"].as_u64().unwrap();
    map["rows_rewritten"] = (rows - 1).into();
    map["untouched"] = (map["untouched"].as_u64().unwrap() + 1).into();
    std::fs::write(&json, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
    std::fs::remove_file(&elsewhere).unwrap();
    let o = coldpatch()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("disagree") && err.contains(&format!("page map {}", rows - 1)),
        "{err}"
    );
    assert!(!elsewhere.exists());

    // In place: the case file beside the journal, written again from the files beside it.
    let work = tmp.path().join("work");
    mkimage(&work, &["--seed", "case"]);
    let journal = tmp.path().join("run.journal");
    run(coldpatch()
        .args(["apply", "--seed", "case", "--in-place", "--journal"])
        .arg(&journal)
        .arg(&work));
    let beside = |suffix: &str| PathBuf::from(format!("{}{suffix}", journal.display()));
    let html = beside(".report.html");
    let checked = check(
        &html,
        &beside(".report.json"),
        &beside(".audit.jsonl.zst"),
        None,
    );
    assert!(checked.contains("case file ok"), "{checked}");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("coldpatch undo run.journal"));
    assert!(text.contains("run.journal.SHA256SUMS"));
    let first = std::fs::read(&html).unwrap();
    std::fs::remove_file(&html).unwrap();
    run(coldpatch().arg("report").arg(&journal));
    assert_eq!(std::fs::read(&html).unwrap(), first);
}

#[test]
fn report_of_a_path_that_holds_no_report_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    for target in [tmp.path().join("missing"), tmp.path().to_path_buf()] {
        let o = coldpatch().arg("report").arg(&target).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{target:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&*target.display().to_string()), "{err}");
        assert!(
            err.contains("nothing was written") || err.contains("not found"),
            "{err}"
        );
    }
}
