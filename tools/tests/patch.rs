//! The patch end to end, through the `coldpatch` binary, on images `mkimage` writes:
//! `inspect` → `apply --out` (and `--in-place` / `undo`) → `sha256sum -c`, with independent
//! readers (hivexregedit, dissect.esedb) checking what was written, the audit log replayed
//! onto the inputs, reproducible runs, and every refusal scenario.

#[path = "runner/mod.rs"]
mod runner;
#[path = "support/mod.rs"]
mod support;
use runner::{coldpatch_bin, copy_tree, tree_hashes};

use coldpatch::exchange::Guid;
use coldpatch::manifest::audit::{apply_entry, read_entries, AuditEntry, AUDIT_FILE};
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{esedb_dump, hivexregedit_export};

/// `SOURCE_DATE_EPOCH` of every run here.
const EPOCH: &str = "1700000000";

fn mkimage(out: &Path, args: &[&str]) -> J {
    let o = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .arg(out)
        .args(["--folders", "8", "--messages", "60", "--body-bytes", "64"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("image.json")).unwrap()).unwrap()
}

fn coldpatch(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(coldpatch_bin())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(args)
        .output()
        .unwrap()
}

/// `coldpatch apply IMAGE --out OUT EXTRA...`.
fn apply_out(image: &Path, out: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    let mut args = vec![os("apply"), image.as_os_str(), os("--out"), out.as_os_str()];
    args.extend_from_slice(extra);
    coldpatch(&args)
}

/// `coldpatch apply IMAGE --in-place --journal JOURNAL EXTRA...`.
fn apply_in_place(image: &Path, journal: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    let mut args = vec![
        os("apply"),
        image.as_os_str(),
        os("--in-place"),
        os("--journal"),
        journal.as_os_str(),
    ];
    args.extend_from_slice(extra);
    coldpatch(&args)
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn inspect_json(image: &Path) -> J {
    let o = coldpatch(&[os("--json"), os("inspect"), image.as_os_str()]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Every regular file under `dir` → its bytes' SHA-256 (hex), by relative path.
fn read_prefix(path: &Path, n: usize) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    b.truncate(n);
    b
}

fn sha256sum_check(dir: &Path, manifest: &Path) {
    let o = Command::new("sha256sum")
        .current_dir(dir)
        .arg("-c")
        .arg("--strict")
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sha256sum -c {} in {}: {}{}",
        manifest.display(),
        dir.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn guid_bytes_hex(g: &str) -> String {
    let g: Guid = g.parse().unwrap();
    g.to_windows_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `hex(3):aa,bb,...` of a value in a hivexregedit export of one key.
fn exported_hex(export: &str, value: &str) -> Option<String> {
    let prefix = format!("\"{value}\"=hex(3):");
    export
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|d| d.replace(',', ""))
}

/// A REG_SZ value of a hivexregedit export (which writes REG_SZ as `hex(1):` UTF-16LE bytes).
fn exported_sz(export: &str, value: &str) -> Option<String> {
    let prefix = format!("\"{value}\"=hex(1):");
    let hex = export.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let bytes: Vec<u8> = hex
        .split(',')
        .map(|b| u8::from_str_radix(b.trim(), 16).unwrap())
        .collect();
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).ok()
}

/// Applies the audit log, as `zstd -dc` reads it, to the inputs and checks it gives every
/// output byte for byte (and that our reader reads the same entries).
fn replay_audit(image: &Path, out: &Path) {
    let path = out.join(AUDIT_FILE);
    let dc = Command::new("zstd").arg("-dc").arg(&path).output().unwrap();
    assert!(dc.status.success(), "zstd -dc {}: {dc:?}", path.display());
    let log = String::from_utf8(dc.stdout).unwrap();
    let ours: Vec<AuditEntry> = read_entries(std::fs::File::open(&path).unwrap())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ours.len(), log.lines().count());
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (line, mine) in log.lines().zip(&ours) {
        let e: AuditEntry = serde_json::from_str(line).unwrap();
        assert_eq!(&e, mine);
        let f = files
            .entry(e.file.clone())
            .or_insert_with(|| std::fs::read(image.join(&e.file)).unwrap());
        apply_entry(f, &e).unwrap();
    }
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let outputs: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    assert!(!outputs.is_empty());
    for rel in &outputs {
        let want = std::fs::read(out.join(rel)).unwrap();
        let got = files
            .get(*rel)
            .unwrap_or_else(|| panic!("{rel}: an output the audit log does not mention"));
        assert!(got == &want, "{rel}: the audit log does not reproduce it");
    }
    assert_eq!(
        files.len(),
        outputs.len(),
        "audited files without an output"
    );
}

struct Patched {
    _tmp: tempfile::TempDir,
    image: PathBuf,
    out: PathBuf,
    truth: J,
    report: J,
}

fn patch_cluster(format: &str) -> Patched {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    let truth = mkimage(&image, &["--seed", "e2e", "--format", format]);
    let out = tmp.path().join("out");
    ok(&apply_out(&image, &out, &[os("--seed"), os("lab")]));
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    Patched {
        _tmp: tmp,
        image,
        out,
        truth,
        report,
    }
}

fn check_cluster_patch(p: &Patched, readers: bool) {
    let (image, out, truth, report) = (&p.image, &p.out, &p.truth, &p.report);
    sha256sum_check(out, Path::new("SHA256SUMS"));
    sha256sum_check(image, &out.join("SHA256SUMS.input"));
    assert_eq!(report["target_server_name"], "EXVS1");
    assert_eq!(
        report["target_server_name_source"],
        "cluster virtual server"
    );

    // Rows: every own row rewritten, every foreign row left alone (image.json's counts).
    for db in truth["databases"].as_array().unwrap() {
        let store = db["store"].as_str().unwrap();
        let s = report["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == store)
            .unwrap();
        assert_eq!(s["old_base_guid"], db["base_guid"]);
        let old = db["base_guid"].as_str().unwrap();
        for (table, per) in db["rows_by_guid"].as_object().unwrap() {
            let own = per[old].as_u64().unwrap_or(0);
            let all: u64 = per
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(s["rows_rewritten"][table], own, "{store} {table}");
            assert_eq!(s["rows_foreign"][table], all - own, "{store} {table}");
        }
        assert_eq!(s["rows_rewritten"]["Globals"], 1);
    }
    let new_guid = |store: &str| -> String {
        report["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == store)
            .unwrap()["new_base_guid"]
            .as_str()
            .unwrap()
            .to_string()
    };

    if readers {
        // Hives, read by hivexregedit: every control set, the mirror and the checkpoint.
        let mut places: Vec<(PathBuf, String)> = Vec::new();
        for r in truth["registry"].as_array().unwrap() {
            let file = out.join(r["file"].as_str().unwrap());
            places.push((file, r["key"].as_str().unwrap().to_string()));
        }
        assert!(places.len() >= 4, "{places:?}");
        for (file, key) in &places {
            for (store, params) in [("priv", "ParametersPrivate"), ("pub", "ParametersPublic")] {
                let k = if key.is_empty() {
                    params.to_string()
                } else {
                    format!("{key}\\{params}")
                };
                let e = hivexregedit_export(file, &format!("\\{k}"));
                assert_eq!(
                    exported_hex(&e, "Base GUID"),
                    Some(guid_bytes_hex(&new_guid(store))),
                    "{} {k}",
                    file.display()
                );
            }
            let k = if key.is_empty() {
                "ParametersSystem".to_string()
            } else {
                format!("{key}\\ParametersSystem")
            };
            let e = hivexregedit_export(file, &format!("\\{k}"));
            for v in ["DSA Computer", "MTA Computer", "This Server"] {
                assert_eq!(exported_sz(&e, v).as_deref(), Some("EXVS1"), "{k} {v}");
            }
        }
    }

    // The audit log is the whole difference.
    replay_audit(image, out);

    // The image with the outputs laid over it needs nothing more.
    let overlay = p._tmp.path().join("overlay");
    copy_tree(image, &overlay);
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let rel = &line[66..];
        std::fs::copy(out.join(rel), overlay.join(rel)).unwrap();
    }
    let after = inspect_json(&overlay);
    assert_eq!(after["problems"], J::Array(vec![]), "{after:#}");
    assert_eq!(after["patch_needed"], false, "{after:#}");
}

#[test]
fn cluster_image_ese98_is_patched_and_independent_readers_agree() {
    let p = patch_cluster("ese98");
    let before = inspect_json(&p.image);
    assert_eq!(before["patch_needed"], true);
    assert!(!before["reasons"].as_array().unwrap().is_empty());
    assert_eq!(before["problems"], J::Array(vec![]));
    assert_eq!(before["target_server_name"], "EXVS1");
    check_cluster_patch(&p, true);

    // Databases, read by dissect.esedb: own rows carry the new GUID, nothing else changed.
    for db in p.truth["databases"].as_array().unwrap() {
        let rel = db["path"].as_str().unwrap();
        let store = db["store"].as_str().unwrap();
        let old = guid_bytes_hex(db["base_guid"].as_str().unwrap());
        let s = p.report["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == store)
            .unwrap()
            .clone();
        let new = guid_bytes_hex(s["new_base_guid"].as_str().unwrap());
        let a = esedb_dump(&p.image.join(rel));
        let b = esedb_dump(&p.out.join(rel));
        let tables = |d: &J| -> BTreeMap<String, J> {
            d["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
                .collect()
        };
        let (ta, tb) = (tables(&a), tables(&b));
        assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
        for (name, t) in &ta {
            let (ra, rb) = (
                t["records"].as_array().unwrap(),
                tb[name]["records"].as_array().unwrap(),
            );
            assert_eq!(ra.len(), rb.len(), "{store} {name}");
            for (x, y) in ra.iter().zip(rb) {
                let mut want = x.clone();
                match name.as_str() {
                    "Globals" => {
                        want["BaseGuid"] = J::String(new.clone());
                        want["ServerName"] = J::String("EXVS1".into());
                        want["PatchState"] = J::from(0);
                        want["PatchCount"] = J::from(x["PatchCount"].as_i64().unwrap() + 1);
                        want["PatchTime"] = y["PatchTime"].clone();
                    }
                    "Folders" | "Msg" if x["SourceGuid"] == J::String(old.clone()) => {
                        want["SourceGuid"] = J::String(new.clone());
                    }
                    "ReplState" if x["ServerGuid"] == J::String(old.clone()) => {
                        want["ServerGuid"] = J::String(new.clone());
                        want["CnSeen"] = J::from(0);
                    }
                    _ => {}
                }
                assert_eq!(y, &want, "{store} {name}");
            }
        }
    }
}

#[test]
fn cluster_image_ese97_is_patched() {
    let p = patch_cluster("ese97");
    check_cluster_patch(&p, false);
}

#[test]
fn two_runs_with_the_same_seed_and_time_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "repro"]);
    let mut trees = Vec::new();
    for n in ["a", "b"] {
        let out = tmp.path().join(n);
        ok(&apply_out(&image, &out, &[os("--seed"), os("same")]));
        trees.push(tree_hashes(&out));
    }
    assert!(trees[0].contains_key("report.json") && trees[0].contains_key(AUDIT_FILE));
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn every_refusal_scenario_is_refused_with_nothing_written() {
    let cases = [
        ("dirty-db", "clean shutdown"),
        ("bad-page", "checksum"),
        ("dirty-hive", "dirty"),
        ("restore-in-progress", "Restore in Progress"),
        ("missing-checkpoint", "checkpoint"),
        ("indexed-guid", "index MsgSourceGuid"),
    ];
    for (scenario, needle) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("img");
        mkimage(&image, &["--seed", "refuse", "--scenario", scenario]);
        let before = tree_hashes(&image);
        let insp = coldpatch(&[os("inspect"), image.as_os_str()]);
        assert_eq!(insp.status.code(), Some(1), "{scenario}: inspect");
        assert!(
            String::from_utf8_lossy(&insp.stdout).contains(needle),
            "{scenario}: inspect does not name {needle:?}:\n{}",
            String::from_utf8_lossy(&insp.stdout)
        );
        for verb in ["plan", "apply"] {
            let out = tmp.path().join(format!("out-{verb}"));
            let mut args = vec![os(verb), image.as_os_str(), os("--out"), out.as_os_str()];
            if verb == "plan" {
                args.truncate(2);
            }
            let o = coldpatch(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{scenario} {verb}: {err}");
            assert!(err.contains(needle), "{scenario} {verb}: {err}");
            assert!(
                tree_hashes(&out).is_empty(),
                "{scenario} {verb}: wrote output"
            );
        }
        // In place: refused the same way (a damaged page by the pass, before the journal is
        // sealed), and nothing is left beside the journal either.
        let beside = tmp.path().join("journal");
        std::fs::create_dir(&beside).unwrap();
        let journal = beside.join("j");
        let o = apply_in_place(&image, &journal, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{scenario} in place: {err}");
        assert!(err.contains(needle), "{scenario} in place: {err}");
        assert_eq!(
            std::fs::read_dir(&beside).unwrap().count(),
            0,
            "{scenario} in place: left files beside the journal"
        );
        assert_eq!(tree_hashes(&image), before, "{scenario}: the image changed");
    }
}

#[test]
fn bad_page_found_mid_pass_leaves_no_file_behind() {
    // `apply --out` verifies pages in its own pass: the refusal comes mid-pass, after the
    // hives are staged; nothing may remain, not even temporary files.
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "bad", "--scenario", "bad-page"]);
    let out = tmp.path().join("out");
    let o = apply_out(&image, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("page"));
    assert_eq!(tree_hashes(&out), BTreeMap::new());
}

#[test]
fn stale_mirror_is_patched_with_a_warning_and_patched_image_needs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("stale");
    mkimage(&image, &["--seed", "stale", "--scenario", "stale-alt"]);
    let out = tmp.path().join("stale-out");
    let o = apply_out(&image, &out, &[]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stale mirror"));
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["warnings"].to_string().contains("stale mirror"));
    assert!(out.join("C/WINNT/system32/config/SYSTEM.ALT").exists());

    let image = tmp.path().join("patched");
    mkimage(&image, &["--seed", "ok", "--scenario", "patched"]);
    let before = tree_hashes(&image);
    let out = tmp.path().join("patched-out");
    let o = apply_out(&image, &out, &[]);
    assert!(ok(&o).contains("No patch needed"));
    assert!(tree_hashes(&out).is_empty());
    assert_eq!(tree_hashes(&image), before);
    assert_eq!(inspect_json(&image)["patch_needed"], false);
}

#[test]
fn standalone_image_server_name_and_volumes_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "alone", "--layout", "standalone"]);
    let out = tmp.path().join("out");
    ok(&apply_out(&image, &out, &[]));
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["target_server_name"], "EXLAB1");
    assert_eq!(report["target_server_name_source"], "computer name");
    sha256sum_check(&out, Path::new("SHA256SUMS"));

    // A lab under another name, with the volumes mounted somewhere else entirely.
    let c = tmp.path().join("mnt-c");
    let d = tmp.path().join("mnt-d");
    std::fs::rename(image.join("C"), &c).unwrap();
    std::fs::rename(image.join("D"), &d).unwrap();
    let out2 = tmp.path().join("out2");
    let vc = format!("C:={}", c.display());
    let vd = format!("d:={}", d.display());
    ok(&coldpatch(&[
        os("apply"),
        os("--volume"),
        os(&vc),
        os("--volume"),
        os(&vd),
        os("--server-name"),
        os("LAB2"),
        os("--out"),
        out2.as_os_str(),
    ]));
    let report: J =
        serde_json::from_slice(&std::fs::read(out2.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["target_server_name"], "LAB2");
    assert_eq!(report["target_server_name_source"], "--server-name");
    for s in report["stores"].as_array().unwrap() {
        assert_eq!(s["new_server_name"], "LAB2");
    }
    let e = hivexregedit_export(
        &out2.join("C/WINNT/system32/config/SYSTEM"),
        "\\ControlSet001\\Services\\MSExchangeIS\\ParametersSystem",
    );
    assert_eq!(exported_sz(&e, "This Server").as_deref(), Some("LAB2"));
    // Without the D: volume, the error names the drive and the flag.
    let o = coldpatch(&[os("inspect"), os("--volume"), os(&vc)]);
    assert_ne!(o.status.code(), Some(0));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("--volume D:="), "{text}");
}

#[test]
fn plan_file_is_applied_exactly_and_refused_after_a_change() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "plan"]);
    let plan = tmp.path().join("plan.json");
    ok(&coldpatch(&[
        os("plan"),
        image.as_os_str(),
        os("--out"),
        plan.as_os_str(),
    ]));
    let p: J = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert!(p["inputs"].as_array().unwrap().len() >= 6);
    let out = tmp.path().join("out");
    ok(&coldpatch(&[
        os("apply"),
        image.as_os_str(),
        os("--plan"),
        plan.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]));
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for (a, b) in report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .zip(p["stores"].as_array().unwrap())
    {
        assert_eq!(a["new_base_guid"], b["new_base_guid"]);
    }
    assert_eq!(
        report["inputs"].as_array().unwrap().len(),
        p["inputs"].as_array().unwrap().len()
    );

    // SOFTWARE changes after the plan: refused, nothing written.
    let sw = image.join("C/WINNT/system32/config/SOFTWARE");
    let mut bytes = std::fs::read(&sw).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&sw, &bytes).unwrap();
    let out2 = tmp.path().join("out2");
    let o = coldpatch(&[
        os("apply"),
        image.as_os_str(),
        os("--plan"),
        plan.as_os_str(),
        os("--out"),
        out2.as_os_str(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("SHA-256"));
    assert!(tree_hashes(&out2).is_empty());
}

#[test]
fn output_directory_must_be_new_or_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "dir"]);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let o = apply_out(&image, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"x");
}

/// libesedb's export: table file name → lines of tab-separated cells.
fn esedbexport(path: &Path) -> BTreeMap<String, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let o = Command::new("esedbexport")
        .arg("-t")
        .arg(&target)
        .arg(path)
        .output()
        .expect("esedbexport (libesedb-utils) installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut tables = BTreeMap::new();
    for e in std::fs::read_dir(dir.path().join("out.export")).unwrap() {
        let e = e.unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
        tables.insert(
            e.file_name().to_string_lossy().into_owned(),
            text.lines().map(str::to_string).collect(),
        );
    }
    tables
}

/// A copy of an ESE97 database that libesedb opens: both header copies' page-size field set
/// to 4096 (ESE97 writes 0 for "4 KiB"), header checksums restamped (reference/ese.md,
/// "Limits that matter for ESE97").
fn ese97_for_libesedb(src: &Path, dst: &Path) {
    use coldpatch::ese::header::offsets::PAGE_SIZE;
    let mut b = std::fs::read(src).unwrap();
    for base in [0usize, 4096] {
        b[base + PAGE_SIZE..base + PAGE_SIZE + 4].copy_from_slice(&4096u32.to_le_bytes());
        coldpatch::ese::checksum::stamp_header(&mut b[base..base + 4096]);
    }
    std::fs::write(dst, b).unwrap();
}

#[test]
fn ese97_and_ese98_twins_patched_alike_read_the_same_in_libesedb() {
    let tmp = tempfile::tempdir().unwrap();
    let mut exports = Vec::new();
    for format in ["ese97", "ese98"] {
        let image = tmp.path().join(format);
        mkimage(&image, &["--seed", "twins", "--format", format]);
        let out = tmp.path().join(format!("{format}-out"));
        ok(&apply_out(&image, &out, &[os("--seed"), os("twins")]));
        let mut per_db = Vec::new();
        for db in ["PRIV.EDB", "PUB.EDB"] {
            let path = out.join("E/exchsrvr/MDBDATA").join(db);
            let read = if format == "ese97" {
                let copy = tmp.path().join(format!("{db}.ese97-4096"));
                ese97_for_libesedb(&path, &copy);
                copy
            } else {
                path
            };
            per_db.push(esedbexport(&read));
        }
        exports.push(per_db);
    }
    for (a, b) in exports[0].iter().zip(&exports[1]) {
        let user = |m: &BTreeMap<String, Vec<String>>| -> BTreeMap<String, Vec<String>> {
            m.iter()
                .filter(|(k, _)| !k.starts_with("MSys"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        assert!(
            user(a).contains_key("Globals.0") || user(a).keys().any(|k| k.starts_with("Globals"))
        );
        assert_eq!(user(a), user(b));
    }
}

/// Page `pgno`'s bytes range in a 4 KiB-page database (two header pages first).
fn page_range(pgno: usize) -> std::ops::Range<usize> {
    let start = (pgno + 1) * 4096;
    start..start + 4096
}

/// The first leaf page of a user table (objidFDP above the system objects) in a database.
fn first_user_leaf(db: &[u8]) -> usize {
    use coldpatch::ese::page::{flags, offsets};
    (1..db.len() / 4096 - 1)
        .find(|&pg| {
            let p = &db[page_range(pg)];
            let f = u32::from_le_bytes(p[offsets::FLAGS..offsets::FLAGS + 4].try_into().unwrap());
            let objid = u32::from_le_bytes(
                p[offsets::OBJID_FDP..offsets::OBJID_FDP + 4]
                    .try_into()
                    .unwrap(),
            );
            f & flags::LEAF != 0
                && f & (flags::SPACE_TREE | flags::INDEX | flags::LONG_VALUE) == 0
                && objid >= coldpatch::ese::catalog::OBJID_FIRST_USER
        })
        .expect("a user leaf page")
}

#[test]
fn a_page_in_a_newer_format_than_the_file_is_refused_naming_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "newer"]);
    let path = image.join("E/exchsrvr/MDBDATA/PRIV.EDB");
    let mut db = std::fs::read(&path).unwrap();
    let pg = first_user_leaf(&db);
    let r = page_range(pg);
    let at = r.start + coldpatch::ese::page::offsets::FLAGS;
    let f = u32::from_le_bytes(db[at..at + 4].try_into().unwrap())
        | coldpatch::ese::page::flags::NEW_RECORD_FORMAT;
    db[at..at + 4].copy_from_slice(&f.to_le_bytes());
    coldpatch::ese::checksum::stamp_page(&mut db[r], pg as u32);
    std::fs::write(&path, &db).unwrap();
    let insp = coldpatch(&[os("inspect"), image.as_os_str()]);
    assert_eq!(insp.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&insp.stdout).contains(&format!("page {pg},")));
    let out = tmp.path().join("out");
    let o = apply_out(&image, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("newer format") && err.contains(&format!("page {pg}")),
        "{err}"
    );
    assert!(tree_hashes(&out).is_empty());
}

#[test]
fn pages_above_the_header_dbtime_are_a_note_and_the_patch_stamps_above_them() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "dbtime"]);
    let path = image.join("E/exchsrvr/MDBDATA/PRIV.EDB");
    let mut db = std::fs::read(&path).unwrap();
    let header_dbtime = u64::from_le_bytes(db[16..24].try_into().unwrap());
    let pg = first_user_leaf(&db);
    let r = page_range(pg);
    let raised = header_dbtime + 0x61;
    db[r.start + 8..r.start + 16].copy_from_slice(&raised.to_le_bytes());
    coldpatch::ese::checksum::stamp_page(&mut db[r], pg as u32);
    std::fs::write(&path, &db).unwrap();

    // verify: intact (exit 0), with the page as a note.
    let v = coldpatch(&[os("--json"), os("verify"), path.as_os_str()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    let j: J = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(j[0]["errors"], J::Array(vec![]));
    assert_eq!(j[0]["notes"].as_array().unwrap().len(), 1);

    let out = tmp.path().join("out");
    ok(&apply_out(&image, &out, &[os("--seed"), os("dbtime")]));
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let priv_store = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "priv")
        .unwrap();
    assert_eq!(priv_store["new_dbtime"], raised + 1);
    let patched = std::fs::read(out.join("E/exchsrvr/MDBDATA/PRIV.EDB")).unwrap();
    assert_eq!(
        u64::from_le_bytes(patched[16..24].try_into().unwrap()),
        raised + 1
    );
    let v = coldpatch(&[
        os("--json"),
        os("verify"),
        out.join("E/exchsrvr/MDBDATA/PRIV.EDB").as_os_str(),
    ]);
    let j: J = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(j[0]["ok"], true);
    assert_eq!(
        j[0]["notes"],
        J::Array(vec![]),
        "every page is now at or below the header"
    );
    replay_audit(&image, &out);

    // In place the pass runs twice too (it finds the page, then stamps above it): the
    // journal and the audit log keep only the second run's ranges, so the files come out as
    // the copy's and undo gives the original back.
    let work = tmp.path().join("work");
    copy_tree(&image, &work);
    let journal = tmp.path().join("j");
    ok(&apply_in_place(
        &work,
        &journal,
        &[os("--seed"), os("dbtime")],
    ));
    let now = tree_hashes(&work);
    let patched: Vec<(String, String)> = tree_hashes(&out)
        .into_iter()
        .filter(|(rel, _)| now.contains_key(rel) && rel != "image.json")
        .collect();
    assert!(patched.len() >= 4, "{patched:?}");
    for (rel, sha) in patched {
        assert_eq!(now.get(&rel), Some(&sha), "{rel}");
    }
    let entries = |p: PathBuf| -> Vec<AuditEntry> {
        let mut v: Vec<AuditEntry> = read_entries(std::fs::File::open(p).unwrap())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v.sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
        v
    };
    assert!(
        entries(tmp.path().join(format!("j.{AUDIT_FILE}"))) == entries(out.join(AUDIT_FILE)),
        "the audit logs differ"
    );
    // Each file's ranges ascend and never overlap: none left from the first run.
    let mut end: BTreeMap<u32, u64> = BTreeMap::new();
    coldpatch::journal::read(&journal)
        .unwrap()
        .for_each_range(|r, _| {
            let last = end.entry(r.file).or_insert(0);
            assert!(r.offset >= *last, "file {} offset {:#x}", r.file, r.offset);
            *last = r.offset + r.new.len() as u64;
            Ok(())
        })
        .unwrap();
    ok(&coldpatch(&[os("undo"), journal.as_os_str()]));
    let original = tree_hashes(&image);
    assert_eq!(tree_hashes(&work), original);
}

/// A flaw only the structure check sees (a page whose checksum holds): `apply --in-place`,
/// which no longer verifies every page before its pass, refuses it from the pass, before the
/// journal is sealed — the image as it was, nothing beside the journal; `apply --out` too.
/// The small cluster fixture copied to `image`, with a bit of a record header flipped in
/// `PRIV.EDB` (the last variable column a row of MSysObjectsShadow claims, a table the patch
/// does not edit) and the page restamped: only the structure check sees it. Gives the
/// database's path.
fn flawed_under_a_good_checksum(image: &Path) -> PathBuf {
    copy_tree(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/cluster-small"
        )),
        image,
    );
    let path = image.join("E/exchsrvr/MDBDATA/PRIV.EDB");
    let mut db = std::fs::read(&path).unwrap();
    let pg = 28;
    let r = page_range(pg);
    db[r.start + 0x28] ^= 1 << 4;
    coldpatch::ese::checksum::stamp_page(&mut db[r], pg as u32);
    std::fs::write(&path, &db).unwrap();
    path
}

#[test]
fn a_structure_flaw_under_a_good_checksum_is_refused_in_place_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    let path = flawed_under_a_good_checksum(&image);
    let v = coldpatch(&[os("verify"), path.as_os_str()]);
    let found = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(1), "{found}");
    assert!(
        found.contains("MSysObjectsShadow") && !found.contains("checksum"),
        "{found}"
    );

    let before = tree_hashes(&image);
    let beside = tmp.path().join("journal");
    std::fs::create_dir(&beside).unwrap();
    let o = apply_in_place(&image, &beside.join("j"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PRIV.EDB") && err.contains("MSysObjectsShadow"),
        "{err}"
    );
    assert_eq!(tree_hashes(&image), before);
    assert_eq!(std::fs::read_dir(&beside).unwrap().count(), 0);
    let out = tmp.path().join("out");
    let o = apply_out(&image, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(tree_hashes(&out).is_empty());
}

#[test]
fn a_longer_server_name_grows_the_globals_record_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "long", "--format", "ese98"]);
    let out = tmp.path().join("out");
    ok(&apply_out(
        &image,
        &out,
        &[os("--server-name"), os("ABCDEFGHIJKLMNO")],
    ));
    for db in ["PRIV.EDB", "PUB.EDB"] {
        let p = out.join("E/exchsrvr/MDBDATA").join(db);
        let d = esedb_dump(&p);
        let g = d["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "Globals")
            .unwrap();
        assert_eq!(g["records"][0]["ServerName"], "ABCDEFGHIJKLMNO", "{db}");
        ok(&coldpatch(&[os("verify"), p.as_os_str()]));
    }
    replay_audit(&image, &out);
}

#[test]
fn the_patch_works_on_a_real_hive_it_did_not_write() {
    use coldpatch::regf::tree::read_hive;
    use support::{assert_trees_eq, dump_hive, tree_from_keyspec, Reader};
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "real"]);
    let config = image.join("C/WINNT/system32/config");
    // The Exchange keys of the image's SYSTEM, exported and imported into a large real 1.5
    // hive (offreg's testhive: 512 subkeys under an ri of lh leaves, big-data values).
    let reg = tmp.path().join("exchange.reg");
    let mut text = String::new();
    for key in ["Select", "ControlSet001", "ControlSet002"] {
        let o = coldpatch(&[
            os("reg"),
            os("export"),
            config.join("SYSTEM").as_os_str(),
            os(key),
        ]);
        let t = ok(&o);
        text.push_str(if text.is_empty() {
            &t
        } else {
            t.split_once("\r\n\r\n").map_or("", |(_, rest)| rest)
        });
    }
    std::fs::write(&reg, text).unwrap();
    let real = tmp.path().join("testhive");
    {
        use std::io::Read;
        let gz = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/samples/regf/testhive.gz"
        ))
        .expect("../shared/samples beside the checkout");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut bytes)
            .unwrap();
        std::fs::write(&real, bytes).unwrap();
    }
    let system = config.join("SYSTEM");
    std::fs::remove_file(&system).unwrap();
    std::fs::remove_file(config.join("SYSTEM.ALT")).unwrap();
    ok(&coldpatch(&[
        os("reg"),
        os("import"),
        real.as_os_str(),
        reg.as_os_str(),
        os("--out"),
        system.as_os_str(),
    ]));
    let out = tmp.path().join("out");
    ok(&apply_out(&image, &out, &[]));
    let patched = out.join("C/WINNT/system32/config/SYSTEM");
    let ours = tree_from_keyspec(&read_hive(&std::fs::read(&patched).unwrap()).unwrap());
    for r in [Reader::Hivex, Reader::Regipy] {
        assert_trees_eq(&dump_hive(r, &patched), &ours, r.name());
    }
    let e = hivexregedit_export(
        &patched,
        "\\ControlSet001\\Services\\MSExchangeIS\\ParametersSystem",
    );
    assert_eq!(exported_sz(&e, "This Server").as_deref(), Some("EXVS1"));
    // The untouched part of the real hive is still there.
    assert!(ours.find("ControlSet001\\Services\\MSExchangeIS").is_some());
    assert!(ours.key_count() > 512);
    replay_audit(&image, &out);
}

#[test]
fn skip_checkpoint_patches_a_cluster_without_its_checkpoint_and_warns_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(
        &image,
        &["--seed", "skip", "--scenario", "missing-checkpoint"],
    );
    let out = tmp.path().join("out");
    let o = apply_out(&image, &out, &[os("--skip-checkpoint")]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("THE CLUSTER WILL OVERWRITE"), "{err}");
    let report: J =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["warnings"].to_string().contains("--skip-checkpoint"));
    sha256sum_check(&out, Path::new("SHA256SUMS"));
}

/// Runs `apply --in-place` until it reaches `point` (`COLDPATCH_TEST_PAUSE_AT`), then kills it
/// with SIGKILL.
fn kill_in_place_at(image: &Path, journal: &Path, point: &str) {
    use std::io::BufRead;
    let mut child = Command::new(coldpatch_bin())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("COLDPATCH_TEST_PAUSE_AT", point)
        .args([
            os("apply"),
            image.as_os_str(),
            os("--in-place"),
            os("--journal"),
        ])
        .arg(journal)
        .args(["--seed", "inplace"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut reached = false;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains(&format!("paused at {point}")) {
            reached = true;
            break;
        }
    }
    assert!(reached, "the run never reached {point}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn in_place_equals_out_and_undo_restores_every_byte_even_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "inplace"]);
    std::fs::remove_file(image.join("image.json")).unwrap();
    let out = tmp.path().join("out");
    ok(&apply_out(&image, &out, &[os("--seed"), os("inplace")]));
    let original = tree_hashes(&image);
    let patched = tree_hashes(&out);

    // The whole run: the same bytes as --out; undo gives the original back.
    let work = tmp.path().join("work");
    copy_tree(&image, &work);
    let journal = tmp.path().join("full.journal");
    ok(&apply_in_place(
        &work,
        &journal,
        &[os("--seed"), os("inplace")],
    ));
    let now = tree_hashes(&work);
    for (rel, sha) in &patched {
        if !rel.contains("SHA256SUMS")
            && !rel.ends_with(".json")
            && rel != AUDIT_FILE
            && rel != "report.html"
        {
            assert_eq!(now.get(rel), Some(sha), "{rel}");
        }
    }
    // The same audit file by file (the files come in another order, and the frames split
    // differently).
    let by_file = |p: PathBuf| {
        let mut files: BTreeMap<String, Vec<AuditEntry>> = BTreeMap::new();
        for e in read_entries(std::fs::File::open(p).unwrap()).unwrap() {
            let e = e.unwrap();
            files.entry(e.file.clone()).or_default().push(e);
        }
        files
    };
    let (inplace, copied) = (
        by_file(tmp.path().join(format!("full.journal.{AUDIT_FILE}"))),
        by_file(out.join(AUDIT_FILE)),
    );
    assert_eq!(
        inplace.keys().collect::<Vec<_>>(),
        copied.keys().collect::<Vec<_>>()
    );
    for (file, entries) in &inplace {
        assert!(entries == &copied[file], "{file}: the audits differ");
    }
    sha256sum_check(&work, &tmp.path().join("full.journal.SHA256SUMS"));
    ok(&coldpatch(&[os("undo"), journal.as_os_str()]));
    assert_eq!(tree_hashes(&work), original);

    // Killed at each point of the apply: undo restores every byte.
    for point in ["sealed", "range:1", "range:150", "written"] {
        let work = tmp.path().join(format!("work-{}", point.replace(':', "-")));
        copy_tree(&image, &work);
        let journal = tmp
            .path()
            .join(format!("{}.journal", point.replace(':', "-")));
        kill_in_place_at(&work, &journal, point);
        // Hives are written as Windows writes them: once the first range is written, every
        // hive the patch changes has its in-progress base block (sequence numbers differ), so
        // a reader sees it dirty; when the writes are done, none is left so.
        let patched_hives: Vec<&String> = patched
            .keys()
            .filter(|rel| read_prefix(&out.join(rel), 4) == b"regf")
            .collect();
        assert!(patched_hives.len() >= 2, "{patched_hives:?}");
        for rel in &patched_hives {
            let head = read_prefix(&work.join(rel), 12);
            let in_progress = head[4..8] != head[8..12];
            match point {
                "sealed" => assert!(!in_progress, "{point}: {rel} touched before any write"),
                "written" => assert!(!in_progress, "{point}: {rel} left in progress"),
                _ => assert!(in_progress, "{point}: {rel} not marked in progress"),
            }
        }
        if point != "sealed" {
            assert_ne!(
                tree_hashes(&work),
                original,
                "{point}: something was written"
            );
        }
        ok(&coldpatch(&[os("undo"), journal.as_os_str()]));
        assert_eq!(tree_hashes(&work), original, "{point}");
    }

    // A file changed after the apply: undo refuses and writes nothing.
    let work = tmp.path().join("work-changed");
    copy_tree(&image, &work);
    let journal = tmp.path().join("changed.journal");
    ok(&apply_in_place(&work, &journal, &[]));
    let priv_edb = work.join("E/exchsrvr/MDBDATA/PRIV.EDB");
    let mut b = std::fs::read(&priv_edb).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0xFF;
    std::fs::write(&priv_edb, &b).unwrap();
    let before = tree_hashes(&work);
    let o = coldpatch(&[os("undo"), journal.as_os_str()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("PRIV.EDB"));
    assert_eq!(tree_hashes(&work), before);
    // An existing journal is never written over.
    let o = apply_in_place(&work, &journal, &[os("--force")]);
    assert_eq!(o.status.code(), Some(2));
}

/// The columns the store model rewrites.
const COVERED: [(&str, &str); 4] = [
    ("Globals", "BaseGuid"),
    ("Folders", "SourceGuid"),
    ("Msg", "SourceGuid"),
    ("ReplState", "ServerGuid"),
];

fn census_json(db: &Path) -> J {
    let o = coldpatch(&[os("--json"), os("census"), db.as_os_str()]);
    serde_json::from_str(&ok(&o)).unwrap()
}

/// Records of `table.column` holding `needle` in a census (`columns` entries).
fn census_records(c: &J, table: &str, column: &str, needle: &str) -> u64 {
    c["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["table"] == table && x["column"] == column && x["needle"] == needle)
        .map(|x| x["records"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_census_finds_every_hidden_place_and_nothing_outside_the_model_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    for format in ["ese97", "ese98"] {
        for scenario in ["hidden-guid", "restored"] {
            let image = tmp.path().join(format!("{format}-{scenario}"));
            let truth = mkimage(
                &image,
                &[
                    "--seed",
                    "census",
                    "--format",
                    format,
                    "--scenario",
                    scenario,
                ],
            );
            for db in truth["databases"].as_array().unwrap() {
                let c = census_json(&image.join(db["path"].as_str().unwrap()));
                let what = format!("{format} {scenario} {}", db["store"]);
                assert_eq!(c["guids"][0]["guid"], db["base_guid"], "{what}");
                let hidden = db["hidden_guid"].as_array().unwrap();
                assert_eq!(
                    !hidden.is_empty(),
                    scenario == "hidden-guid" && db["store"] == "priv",
                    "{what}"
                );
                // Every place image.json records, with its count and form.
                for h in hidden {
                    let (t, col) = (h["table"].as_str().unwrap(), h["column"].as_str().unwrap());
                    let found = c["columns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["table"] == t && x["column"] == col)
                        .unwrap_or_else(|| panic!("{what}: {t}.{col} not found: {c:#}"));
                    assert_eq!(found["records"], h["records"], "{what} {t}.{col}");
                    assert_eq!(
                        found["forms"][h["form"].as_str().unwrap()],
                        h["records"],
                        "{what} {t}.{col}"
                    );
                }
                // Nothing else outside the model's columns; the model's own rows as counted.
                for x in c["columns"].as_array().unwrap() {
                    let (t, col) = (x["table"].as_str().unwrap(), x["column"].as_str().unwrap());
                    let known = COVERED.contains(&(t, col))
                        || hidden.iter().any(|h| h["table"] == t && h["column"] == col);
                    assert!(known, "{what}: unexpected {t}.{col}");
                }
                let old = db["base_guid"].as_str().unwrap();
                for (table, per) in db["rows_by_guid"].as_object().unwrap() {
                    let col = COVERED.iter().find(|(t, _)| t == table).unwrap().1;
                    assert_eq!(
                        census_records(&c, table, col, "old"),
                        per[old].as_u64().unwrap_or(0),
                        "{what} {table}"
                    );
                }
                assert_eq!(c["raw"], J::Array(vec![]), "{what}");
            }
        }
    }
}

/// Reads a patched database with an independent reader: dissect.esedb for ESE98, libesedb
/// (on a copy whose page-size field says 4096) for ESE97. Table → records.
fn read_tables(db: &Path, format: &str, tmp: &Path) -> BTreeMap<String, Vec<J>> {
    let d = if format == "ese97" {
        let copy = tmp.join("ese97-4096.edb");
        ese97_for_libesedb(db, &copy);
        support::esedb_dump_with(support::EseReader::Pyesedb, &copy)
    } else {
        esedb_dump(db)
    };
    d["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["records"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn uncovered_places_are_refused_unless_allowed_then_patched_warned_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    for format in ["ese97", "ese98"] {
        let image = tmp.path().join(format);
        let truth = mkimage(
            &image,
            &[
                "--seed",
                "hidden",
                "--format",
                format,
                "--scenario",
                "hidden-guid",
            ],
        );
        std::fs::remove_file(image.join("image.json")).unwrap();
        let before = tree_hashes(&image);
        let priv_db = &truth["databases"][0];
        assert_eq!(priv_db["store"], "priv");
        let hidden = priv_db["hidden_guid"].as_array().unwrap().clone();
        let names: Vec<String> = hidden
            .iter()
            .map(|h| {
                format!(
                    "{}.{}",
                    h["table"].as_str().unwrap(),
                    h["column"].as_str().unwrap()
                )
            })
            .collect();

        // inspect lists them (exit 1), plan refuses, apply refuses naming each, writes nothing.
        let o = coldpatch(&[os("--json"), os("inspect"), image.as_os_str()]);
        assert_eq!(o.status.code(), Some(1));
        let j: J = serde_json::from_slice(&o.stdout).unwrap();
        let uncovered = j["stores"][0]["uncovered"].as_array().unwrap();
        assert_eq!(uncovered.len(), hidden.len(), "{format}");
        for (u, h) in uncovered.iter().zip(&hidden) {
            assert_eq!((&u["table"], &u["column"]), (&h["table"], &h["column"]));
            assert_eq!(u["records"], h["records"]);
        }
        let problems = j["problems"].to_string();
        for n in &names {
            assert!(
                problems.contains(&format!("--allow-uncovered {n}")),
                "{problems}"
            );
        }
        let out = tmp.path().join(format!("{format}-refused"));
        let o = apply_out(&image, &out, &[]);
        assert_eq!(o.status.code(), Some(1), "{format}");
        // The pass stops at the first places it meets (the records come before the long
        // values), names them, and points to inspect for the rest.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("--allow-uncovered {}", names[0])),
            "{err}"
        );
        assert!(
            err.contains("coldpatch inspect lists every such place"),
            "{err}"
        );
        assert!(tree_hashes(&out).is_empty());
        // All but one allowed: still refused, naming that one only.
        let mut some: Vec<&std::ffi::OsStr> = Vec::new();
        for n in &names[1..] {
            some.extend([os("--allow-uncovered"), os(n)]);
        }
        let o = apply_out(&image, &out, &some);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("--allow-uncovered {}", names[0])),
            "{err}"
        );
        assert!(
            !err.contains(&format!("--allow-uncovered {}", names[1])),
            "{err}"
        );
        assert!(tree_hashes(&out).is_empty());
        assert_eq!(tree_hashes(&image), before);

        // The plan lists them, allowed.
        let mut all: Vec<&std::ffi::OsStr> = vec![os("--seed"), os("hidden")];
        for n in &names {
            all.extend([os("--allow-uncovered"), os(n)]);
        }
        let mut args = vec![os("--json"), os("plan"), image.as_os_str()];
        args.extend(all[2..].iter().copied());
        let plan: J = serde_json::from_str(&ok(&coldpatch(&args))).unwrap();
        assert_eq!(
            plan["stores"][0]["uncovered"].as_array().unwrap().len(),
            names.len()
        );
        assert_eq!(
            plan["allowed_uncovered"].as_array().unwrap().len(),
            names.len()
        );

        // All allowed: patched, warned, recorded.
        let o = apply_out(&image, &out, &all);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        ok(&o);
        let report: J =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let warnings = report["warnings"].to_string();
        for n in &names {
            assert!(stderr.contains(n.as_str()), "{stderr}");
            assert!(warnings.contains(n.as_str()), "{warnings}");
        }
        let s = &report["stores"][0];
        assert_eq!(
            s["uncovered_allowed"].as_array().unwrap().len(),
            names.len()
        );
        // The census before and after, from the pass.
        for store in report["stores"].as_array().unwrap() {
            let (b, a) = (&store["census"]["before"], &store["census"]["after"]);
            for (t, c) in COVERED {
                let Some(n) = store["rows_rewritten"][t].as_u64() else {
                    continue;
                };
                assert_eq!(census_records(b, t, c, "old"), n, "{t}.{c} before");
                assert_eq!(census_records(a, t, c, "old"), 0, "{t}.{c} after");
                assert_eq!(census_records(a, t, c, "new"), n, "{t}.{c} after");
            }
        }
        for h in &hidden {
            let (t, c) = (h["table"].as_str().unwrap(), h["column"].as_str().unwrap());
            let n = h["records"].as_u64().unwrap();
            assert_eq!(
                census_records(&s["census"]["after"], t, c, "old"),
                n,
                "{t}.{c}"
            );
        }

        // An independent reader: no covered column holds the old GUID; Attach still does.
        let old = guid_bytes_hex(priv_db["base_guid"].as_str().unwrap());
        let new = guid_bytes_hex(s["new_base_guid"].as_str().unwrap());
        let tables = read_tables(
            &out.join(priv_db["path"].as_str().unwrap()),
            format,
            tmp.path(),
        );
        let count = |t: &str, c: &str, v: &str| {
            tables[t]
                .iter()
                .filter(|r| r[c] == J::String(v.into()))
                .count() as u64
        };
        for (t, c) in COVERED {
            if tables.contains_key(t) {
                assert_eq!(count(t, c, &old), 0, "{format}: {t}.{c} holds the old GUID");
            }
        }
        assert_eq!(
            count("Msg", "SourceGuid", &new),
            s["rows_rewritten"]["Msg"].as_u64().unwrap()
        );
        assert_eq!(
            count("Attach", "SourceGuid", &old),
            hidden[0]["records"].as_u64().unwrap(),
            "{format}"
        );
    }
}

/// `inspect --quick` reads the hives and each database's header, catalog and `Globals` only:
/// the same report as the full inspect but for the rows, the census and the page checks (null,
/// and `pages_read` false). A bad checksum in a user leaf page, which the full inspect finds,
/// is not seen: the quick report says its pages were not read, and apply still refuses.
#[test]
fn inspect_quick_agrees_with_the_full_inspect_without_reading_the_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    mkimage(&image, &["--seed", "quick"]);
    let quick_json = |image: &Path| -> (Option<i32>, J) {
        let o = coldpatch(&[
            os("--json"),
            os("inspect"),
            image.as_os_str(),
            os("--quick"),
        ]);
        (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
    };
    let strip = |mut j: J| {
        for s in j["stores"].as_array_mut().unwrap() {
            for k in ["rows", "own_rows", "census", "census_notes", "uncovered"] {
                s.as_object_mut().unwrap().remove(k);
            }
        }
        j.as_object_mut().unwrap().remove("pages_read");
        j
    };
    let full = inspect_json(&image);
    let (code, quick) = quick_json(&image);
    assert_eq!(code, Some(0));
    assert_eq!(full["pages_read"], J::Bool(true));
    assert_eq!(quick["pages_read"], J::Bool(false));
    assert_eq!(quick["patch_needed"], J::Bool(true));
    for s in quick["stores"].as_array().unwrap() {
        assert!(s["rows"].is_null() && s["own_rows"].is_null() && s["census"].is_null());
        assert!(s["base_guid"].is_string());
    }
    assert!(full["stores"][0]["rows"].as_object().unwrap().len() > 3);
    assert_eq!(strip(quick), strip(full));
    let text = ok(&coldpatch(&[
        os("inspect"),
        image.as_os_str(),
        os("--quick"),
    ]));
    assert!(text.contains("Pages not read (--quick)"), "{text}");

    // A user leaf page with a bad checksum: the full inspect names it, the quick one cannot.
    let path = image.join("E/exchsrvr/MDBDATA/PRIV.EDB");
    let mut db = std::fs::read(&path).unwrap();
    let pg = first_user_leaf(&db);
    db[page_range(pg).end - 1] ^= 0x55;
    std::fs::write(&path, &db).unwrap();
    let full = coldpatch(&[os("inspect"), image.as_os_str()]);
    assert_eq!(full.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&full.stdout).contains(&format!("page {pg},")));
    let (code, quick) = quick_json(&image);
    assert_eq!(code, Some(0));
    assert_eq!(quick["problems"], J::Array(vec![]));
    let o = apply_out(&image, &tmp.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(1));

    // A database alone: --quick is for an image.
    let o = coldpatch(&[os("inspect"), path.as_os_str(), os("--quick")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--quick is for an image"));
}

/// `apply --out IMAGE` with the pass's census on the hashing threads (`shared`) or on threads
/// of their own (`own`): exit code, stderr with the output directory's path cut out, and the
/// tree written.
fn apply_out_in_layout(
    layout: &str,
    image: &Path,
    out: &Path,
    extra: &[&std::ffi::OsStr],
) -> (Option<i32>, String, BTreeMap<String, String>) {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(coldpatch_bin())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env(coldpatch::patch::stream::LAYOUT_VAR, layout)
        .args([os("apply"), image.as_os_str(), os("--out"), out.as_os_str()])
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).replace(&out.display().to_string(), "OUT");
    (o.status.code(), err, tree_hashes(out))
}

#[test]
fn the_census_on_threads_of_its_own_finds_refuses_and_writes_what_it_does_beside_the_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Census hits everywhere, uncovered columns the pass stops at, then allowed and patched.
    let image = tmp.path().join("hidden");
    let truth = mkimage(&image, &["--seed", "layout", "--scenario", "hidden-guid"]);
    let mut allow: Vec<String> = Vec::new();
    for h in truth["databases"][0]["hidden_guid"].as_array().unwrap() {
        allow.push("--allow-uncovered".into());
        allow.push(format!(
            "{}.{}",
            h["table"].as_str().unwrap(),
            h["column"].as_str().unwrap()
        ));
    }
    assert!(allow.len() >= 4, "{truth}");
    let allowed: Vec<&std::ffi::OsStr> = allow.iter().map(|a| os(a)).collect();
    let mut patched: Vec<&std::ffi::OsStr> = vec![os("--seed"), os("layout")];
    patched.extend(allowed.iter().copied());
    // A structure flaw under a good checksum, which only the structure check sees.
    let flawed = tmp.path().join("flawed");
    flawed_under_a_good_checksum(&flawed);

    let cases: [(&Path, &[&std::ffi::OsStr], i32); 3] =
        [(&image, &[], 1), (&image, &patched, 0), (&flawed, &[], 1)];
    for (input, extra, code) in cases {
        let shared = apply_out_in_layout("shared", input, &out, extra);
        let own = apply_out_in_layout("own", input, &out, extra);
        assert_eq!(shared.0, Some(code), "{}", shared.1);
        assert_eq!(own, shared, "{}", input.display());
        if code == 0 {
            assert!(own.2.contains_key("report.json") && own.2.contains_key(AUDIT_FILE));
        } else {
            assert!(own.2.is_empty());
        }
    }
}
