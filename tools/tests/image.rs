//! End-to-end: mkimage writes complete images whose files and image.json agree, byte-identical
//! for the same arguments, atomically, with each scenario's defect recorded.

use coldpatch::ese::verify::{verify_file, Problem};
use coldpatch::ese::write::Value;
use coldpatch::exchange::{Guid, StoreKind};
use coldpatch::regf::verify;
use coldpatch_tools::mkimage::params::{ImageParams, Layout, Scenario};
use coldpatch_tools::mkimage::rows::{guid_column, table_defs, table_rows};
use coldpatch_tools::mkimage::run::{generate, RunError, IMAGE_JSON, PARTIAL_SUFFIX};
use coldpatch_tools::mkimage::spec::ImageSpec;
use serde_json::Value as J;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn small(layout: Layout, scenario: Scenario) -> ImageParams {
    ImageParams {
        layout,
        scenario,
        folders: 9,
        messages: 61,
        body_bytes: 48,
        foreign: 25,
        seed: "image-test".into(),
        ..ImageParams::default()
    }
}

/// Every file below `dir`, relative, `/`-separated.
fn walk(dir: &Path) -> BTreeSet<String> {
    fn go(base: &Path, d: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    go(dir, dir, &mut out);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_json(dir: &Path) -> J {
    serde_json::from_slice(&std::fs::read(dir.join(IMAGE_JSON)).unwrap()).unwrap()
}

/// Rows per table and per GUID, by consuming the streams (independently of image.json).
fn stream_counts(spec: &ImageSpec, kind: StoreKind) -> (J, J) {
    let mut rows = serde_json::Map::new();
    let mut by = serde_json::Map::new();
    for def in table_defs(spec, kind) {
        let gi = guid_column(&def.name).and_then(|g| def.columns.iter().position(|c| c.name == g));
        let mut n = 0u64;
        let mut per: BTreeMap<String, u64> = BTreeMap::new();
        for row in table_rows(spec, kind, &def.name) {
            n += 1;
            if let Some(i) = gi {
                let Value::Binary(b) = &row[i] else { panic!() };
                let g = Guid::from_windows_bytes(b.as_slice().try_into().unwrap());
                *per.entry(g.to_string()).or_insert(0) += 1;
            }
        }
        rows.insert(def.name.clone(), n.into());
        if gi.is_some() {
            by.insert(def.name.clone(), serde_json::to_value(per).unwrap());
        }
    }
    (J::Object(rows), J::Object(by))
}

fn file_entry<'a>(truth: &'a J, suffix: &str) -> Option<&'a J> {
    truth["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
}

fn check_image(dir: &Path, p: &ImageParams) -> J {
    let truth = read_json(dir);
    let spec = ImageSpec::new(p);

    // Every listed file exists with its size and hash; nothing else is there.
    let mut listed = BTreeSet::new();
    for f in truth["files"].as_array().unwrap() {
        let rel = f["path"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        assert_eq!(f["size"].as_u64().unwrap(), bytes.len() as u64, "{rel}");
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&bytes), "{rel}");
        listed.insert(rel.to_string());
    }
    let mut on_disk = walk(dir);
    assert!(on_disk.remove(IMAGE_JSON));
    assert_eq!(on_disk, listed, "{:?}", p.scenario);
    assert!(!on_disk.iter().any(|f| f.ends_with(PARTIAL_SUFFIX)));

    // Every database and hive verifies, but for the scenario's defect.
    for f in truth["files"].as_array().unwrap() {
        let rel = f["path"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        match f["kind"].as_str().unwrap() {
            "ese" => {
                let r = verify_file(&bytes, 1, &|_| {}).unwrap();
                let broken = p.scenario == Scenario::BadPage && rel.ends_with("PRIV.EDB");
                assert_eq!(r.ok(), !broken, "{rel}: {:?}", r.findings);
            }
            "regf" => {
                let r = verify(&bytes);
                assert!(r.errors.is_empty(), "{rel}: {:?}", r.errors);
                let dirty = p.scenario == Scenario::DirtyHive && rel.ends_with("/SYSTEM");
                assert_eq!(r.dirty, dirty, "{rel}");
                assert_eq!(r.minor_version, 3, "{rel}: NT4/2000 hives are 1.3");
            }
            _ => {}
        }
    }

    // Volumes.
    let tops: BTreeSet<String> = on_disk.iter().map(|f| f[..1].to_string()).collect();
    match p.layout {
        Layout::Cluster => assert_eq!(tops, BTreeSet::from(["C".into(), "E".into(), "Q".into()])),
        Layout::Standalone => {
            assert_eq!(tops, BTreeSet::from(["C".into(), "D".into()]));
            assert!(truth["cluster"].is_null());
            assert!(!on_disk.iter().any(|f| f.ends_with("CLUSDB")));
        }
    }
    for want in [
        "C/WINNT/system32/config/SYSTEM",
        "C/WINNT/system32/config/SYSTEM.ALT",
        "C/WINNT/system32/config/SOFTWARE",
    ] {
        assert!(on_disk.contains(want), "{want}");
    }

    // Row counts and per-GUID counts equal the streams'.
    let dbs = truth["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 2);
    for (db, kind) in dbs.iter().zip(StoreKind::ALL) {
        let (rows, by) = stream_counts(&spec, kind);
        assert_eq!(db["rows"], rows, "{kind:?}");
        assert_eq!(db["rows_by_guid"], by, "{kind:?}");
        let base = db["base_guid"].as_str().unwrap();
        assert_eq!(base, spec.store(kind).base_guid.to_string());
    }

    // Registry places: two control sets in SYSTEM and SYSTEM.ALT, plus the checkpoint.
    let places = truth["registry"].as_array().unwrap();
    let cpt_present = p.layout == Layout::Cluster && p.scenario != Scenario::MissingCheckpoint;
    assert_eq!(places.len(), 4 + usize::from(cpt_present));
    for place in places {
        let file = place["file"].as_str().unwrap();
        let stale = p.scenario == Scenario::StaleAlt && file.ends_with(".ALT");
        for (db, kind) in dbs.iter().zip(["priv", "pub"]) {
            let reg = &place["base_guids"][kind];
            let same = reg == &db["base_guid"];
            assert_eq!(
                same,
                p.scenario == Scenario::Patched && !stale,
                "{file} {kind}"
            );
        }
        let want_name = match p.scenario {
            Scenario::Patched => truth["target_server_name"].as_str().unwrap(),
            Scenario::StaleAlt if stale => "EXOLD1",
            _ => "EXPROD1",
        };
        for v in ["DSA Computer", "MTA Computer", "This Server"] {
            assert_eq!(place["server_names"][v], want_name, "{file} {v}");
        }
    }

    // Mirrors: CHK0001.TMP is CLUSDB; SYSTEM.ALT is SYSTEM unless stale or dirty.
    let sha = |suffix: &str| file_entry(&truth, suffix).map(|f| f["sha256"].clone());
    if p.layout == Layout::Cluster {
        assert_eq!(sha("/CHK0001.TMP"), sha("/CLUSDB"));
        assert!(sha("/quolog.log").is_some());
    }
    let alt_same = sha("/SYSTEM.ALT") == sha("/SYSTEM");
    assert_eq!(
        alt_same,
        !matches!(p.scenario, Scenario::StaleAlt | Scenario::DirtyHive),
        "{:?}",
        p.scenario
    );

    // The defect, and only it.
    let d = &truth["defects"];
    let present = |k: &str| match &d[k] {
        J::Null => false,
        J::Array(a) => !a.is_empty(),
        _ => true,
    };
    let recorded: BTreeSet<String> = [
        "dirty_db",
        "bad_page",
        "dirty_hive",
        "restore_in_progress",
        "missing_checkpoint",
        "stale_alt",
        "indexed_guid",
        "hidden_guid",
    ]
    .into_iter()
    .filter(|k| present(k))
    .map(str::to_string)
    .collect();
    let want: BTreeSet<String> = match p.scenario {
        Scenario::Restored | Scenario::Patched => BTreeSet::new(),
        s => BTreeSet::from([s.name().replace('-', "_")]),
    };
    assert_eq!(recorded, want);
    match p.scenario {
        Scenario::DirtyHive => {
            assert!(on_disk.contains("C/WINNT/system32/config/SYSTEM.LOG"));
            assert_eq!(
                d["dirty_hive"]["pending_edits"].as_array().unwrap().len(),
                1
            );
        }
        Scenario::MissingCheckpoint => {
            let cpt = d["missing_checkpoint"].as_str().unwrap();
            assert!(cpt.ends_with(".CPT") && !on_disk.contains(cpt));
            assert_eq!(truth["cluster"]["checkpoints"][0]["present"], false);
        }
        Scenario::RestoreInProgress => {
            let rip: Vec<&str> = d["restore_in_progress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(rip.len(), 2, "{rip:?}");
            assert!(rip
                .iter()
                .all(|r| r.contains(r"ControlSet001\Services\MSExchangeIS\Restore in Progress")));
        }
        Scenario::IndexedGuid => {
            assert!(d["indexed_guid"]
                .as_str()
                .unwrap()
                .contains("Msg.MsgSourceGuid(SourceGuid)"));
        }
        Scenario::DirtyDb => {
            assert!(d["dirty_db"].as_str().unwrap().ends_with("PRIV.EDB"));
            assert_eq!(dbs[0]["clean_shutdown"], false);
        }
        _ => {}
    }
    if p.scenario != Scenario::DirtyHive {
        assert!(!on_disk.iter().any(|f| f.ends_with(".LOG")));
    }
    if cpt_present {
        let cpt = truth["cluster"]["checkpoints"][0]["file"].as_str().unwrap();
        let id = truth["cluster"]["store_resource"]["id"].as_str().unwrap();
        assert_eq!(cpt, format!("Q/MSCS/{id}/00000001.CPT"));
        assert!(on_disk.contains(cpt));
    }
    truth
}

#[test]
fn every_scenario_writes_a_complete_consistent_image() {
    for layout in [Layout::Cluster, Layout::Standalone] {
        for scenario in Scenario::ALL {
            let p = small(layout, scenario);
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("img");
            if scenario == Scenario::MissingCheckpoint && layout == Layout::Standalone {
                let e = generate(&out, &p, false).unwrap_err();
                assert_eq!(e.exit_code(), 2, "{e}");
                assert!(!out.exists(), "nothing written");
                continue;
            }
            generate(&out, &p, false).unwrap();
            let truth = check_image(&out, &p);
            assert_eq!(truth["scenario"], scenario.name());
        }
    }
}

fn all_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(dir.join(&f)).unwrap();
            (f, b)
        })
        .collect()
}

#[test]
fn same_arguments_give_byte_identical_images_and_seeds_differ() {
    let dir = tempfile::tempdir().unwrap();
    let p = small(Layout::Cluster, Scenario::Restored);
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    generate(&a, &p, false).unwrap();
    generate(&b, &p, false).unwrap();
    generate(
        &c,
        &ImageParams {
            seed: "other".into(),
            ..p
        },
        false,
    )
    .unwrap();
    let (fa, fb, fc) = (all_bytes(&a), all_bytes(&b), all_bytes(&c));
    assert_eq!(fa, fb);
    for (name, bytes) in &fa {
        if name.ends_with("quolog.log") {
            continue; // a fixed placeholder
        }
        if let Some(other) = fc.get(name) {
            assert_ne!(bytes, other, "{name} under another seed");
        }
    }
}

#[test]
fn refuses_an_out_dir_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"x").unwrap();
    let e = generate(
        dir.path(),
        &small(Layout::Cluster, Scenario::Restored),
        false,
    )
    .unwrap_err();
    assert!(matches!(e, RunError::OutDir { .. }));
    assert_eq!(e.exit_code(), 2);
    assert_eq!(walk(dir.path()), BTreeSet::from(["keep.txt".to_string()]));
}

/// Pages of a database whose old-format checksum is wrong (all-zero pages are uninitialised,
/// not bad: reference/ese.md).
fn bad_checksum_pages(bytes: &[u8]) -> Vec<u32> {
    use coldpatch::ese::checksum::OldPageChecksum;
    bytes
        .chunks(4096)
        .enumerate()
        .skip(2)
        .filter(|(_, page)| page.iter().any(|&b| b != 0))
        .filter_map(|(i, page)| {
            let pgno = (i - 1) as u32;
            (OldPageChecksum::stored(page) != OldPageChecksum::expected(page, pgno)).then_some(pgno)
        })
        .collect()
}

#[test]
fn bad_page_breaks_exactly_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img");
    let p = small(Layout::Cluster, Scenario::BadPage);
    generate(&out, &p, false).unwrap();
    let truth = check_image(&out, &p);
    let bp = &truth["defects"]["bad_page"];
    let pgno = bp["pgno"].as_u64().unwrap() as u32;
    let priv_edb = std::fs::read(out.join(bp["file"].as_str().unwrap())).unwrap();
    assert_eq!(bad_checksum_pages(&priv_edb), vec![pgno]);
    // The crate's own verify agrees: exactly one finding, a page checksum on that page.
    let report = verify_file(&priv_edb, 1, &|_| {}).unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].page, Some(pgno));
    assert!(matches!(
        report.findings[0].problem,
        Problem::PageChecksum { .. }
    ));
    let pub_edb = std::fs::read(out.join("E/exchsrvr/MDBDATA/PUB.EDB")).unwrap();
    assert!(bad_checksum_pages(&pub_edb).is_empty());
}

fn mkimage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mkimage"))
}

fn tmp_out() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("img");
    (d, out)
}

#[test]
fn command_line_writes_an_image_and_refuses_bad_arguments() {
    let (_d, out) = tmp_out();
    let ok = mkimage()
        .arg(&out)
        .args([
            "--layout",
            "standalone",
            "--seed",
            "cli",
            "--folders",
            "3",
            "--messages",
            "7",
        ])
        .args(["--body-bytes", "16", "--format", "ese98", "--foreign", "0"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        ok.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
    let truth = read_json(&out);
    assert_eq!(truth["layout"], "standalone");
    assert_eq!(truth["format"], "ese98");
    assert_eq!(truth["computer_name"], "EXLAB1");
    assert!(out.join("D/exchsrvr/MDBDATA/PRIV.EDB").exists());

    for bad in [
        vec!["--foreign", "101"],
        vec!["--body-bytes", "2000"],
        vec!["--folders", "0"],
        vec!["--scenario", "nonsense"],
        vec!["--layout", "standalone", "--scenario", "missing-checkpoint"],
        vec!["--format", "ese2003"],
    ] {
        let (_d, out) = tmp_out();
        let r = mkimage().arg(&out).args(&bad).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{bad:?}");
        assert!(!out.join(IMAGE_JSON).exists(), "{bad:?}");
    }
}

#[test]
fn the_binary_is_deterministic_in_every_form_and_scenario_and_seeds_differ() {
    let d = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| -> PathBuf {
        let out = d.path().join(name);
        let r = mkimage()
            .arg(&out)
            .args(["--folders", "4", "--messages", "30", "--body-bytes", "40"])
            .args(extra)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        out
    };
    for (i, extra) in [
        vec!["--format", "ese97", "--scenario", "bad-page"],
        vec![
            "--format",
            "ese98",
            "--scenario",
            "dirty-hive",
            "--layout",
            "standalone",
        ],
        vec![
            "--format",
            "ese97",
            "--scenario",
            "indexed-guid",
            "--pub-messages",
            "7",
        ],
    ]
    .iter()
    .enumerate()
    {
        let a = all_bytes(&run(&format!("a{i}"), extra));
        let b = all_bytes(&run(&format!("b{i}"), extra));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (name, bytes) in &a {
            assert!(bytes == &b[name], "{extra:?}: {name} differs between runs");
        }
        let mut other = extra.clone();
        other.extend(["--seed", "another"]);
        let c = all_bytes(&run(&format!("c{i}"), &other));
        for (name, bytes) in &a {
            if name.ends_with("quolog.log") {
                continue; // a fixed placeholder
            }
            if let Some(o) = c.get(name) {
                assert!(
                    bytes != o,
                    "{extra:?}: {name} is the same under another seed"
                );
            }
        }
    }
}

#[test]
fn pub_messages_sets_the_public_store_alone() {
    let (_d, out) = tmp_out();
    let p = ImageParams {
        pub_messages: Some(17),
        ..small(Layout::Standalone, Scenario::Restored)
    };
    generate(&out, &p, false).unwrap();
    let truth = read_json(&out);
    assert_eq!(truth["messages"], 61);
    assert_eq!(truth["pub_messages"], 17);
    assert_eq!(truth["databases"][0]["rows"]["Msg"], 61);
    assert_eq!(truth["databases"][1]["rows"]["Msg"], 17);
    check_image(&out, &p);
}
