//! `verify` over every sample hive: clean except the deliberately unsorted one; dirty ones
//! are reported as dirty.

mod regf_support;
use coldpatch::regf;
use coldpatch::verify::{verify_path, FileKind};
use regf_support::*;

#[test]
fn samples_verify_clean_except_wrong_order() {
    let dir = tempfile::tempdir().unwrap();
    for rel in PRIMARY {
        let name = sample_name(rel);
        // Through the file, as `coldpatch verify` reads it: exit 1 only for WrongOrderHive.
        let path = sample_file(dir.path(), rel);
        let file = verify_path(&path, &|_, _| {}).unwrap();
        assert_eq!(file.kind, "regf", "{name}");
        assert_eq!(
            FileKind::detect(&sample_bytes(rel)),
            FileKind::Regf,
            "{name}"
        );
        assert_eq!(file.ok, name != "WrongOrderHive", "{name}");
        assert_eq!(file.dirty, Some(name == "OldDirtyHive"), "{name}");
        let data = sample_bytes(rel);
        let r = regf::verify(&data);
        assert!(r.cells > 0, "{name}: no cells checked");
        if name == "WrongOrderHive" {
            assert!(!r.ok(), "{name}: unsorted lists not flagged");
            assert!(
                r.errors.iter().all(|e| e.what.contains("out of order")),
                "{name}: {:?}",
                r.errors
            );
            assert_eq!(r.errors.len(), 2, "{name}: {:?}", r.errors);
        } else {
            assert!(r.ok(), "{name}: {:#?}", r.errors);
        }
        assert_eq!(r.dirty, name == "OldDirtyHive", "{name}: dirty state");
        // Windows frees what it unlinks: no sample holds a leaked cell.
        assert_eq!(r.unreferenced, 0, "{name}: unreferenced cells");
    }
}

#[test]
fn counts_match_the_samples_readme() {
    // Facts from samples/README.md: SAM has 76 keys and 84 values; ManySubkeysHive has the
    // root, key_with_many_subkeys, its 5000 subkeys and 2119\find_me.
    let sam = regf::verify(&sample_bytes("SAM.gz"));
    assert_eq!((sam.keys, sam.values), (76, 84));
    let many = regf::verify(&sample_bytes("ManySubkeysHive.gz"));
    assert_eq!(many.keys, 5003);
    assert_eq!(many.minor_version, 3);
}

#[test]
fn file_report_names_dirty_state_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.gz");
    sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.LOG1.gz");
    std::fs::copy(
        format!("{SAMPLES}/OldDirtyHive/OldDirtyHive.LOG2"),
        dir.path().join("OldDirtyHive.LOG2"),
    )
    .unwrap();
    let r = verify_path(&hive, &|_, _| {}).unwrap();
    assert!(r.ok && r.dirty == Some(true));
    assert_eq!(r.state.as_deref(), Some("dirty"));
    assert_eq!(r.sequence_numbers, Some([5, 4]));
    // The empty .LOG2 is ignored.
    let logs = r.logs.as_deref().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].ends_with("OldDirtyHive.LOG1"));
    let replay = r.log_replay.clone().flatten().unwrap();
    assert!(replay.starts_with("replays cleanly"), "{replay}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["kind"], "regf");
    assert_eq!(json["dirty"], true);
    assert_eq!(json["state"], "dirty");
    assert_eq!(json["sequence_numbers"], serde_json::json!([5, 4]));

    // A clean hive's report has the same fields, present always: state an enum as for ESE.
    let clean = sample_file(dir.path(), "SAM.gz");
    let json = serde_json::to_value(verify_path(&clean, &|_, _| {}).unwrap()).unwrap();
    for field in [
        "state",
        "dirty",
        "sequence_numbers",
        "logs",
        "log_replay",
        "cells",
    ] {
        assert!(json.get(field).is_some(), "{field} missing: {json}");
    }
    assert_eq!(json["state"], "clean");
    assert_eq!(json["logs"], serde_json::json!([]));
    assert!(json["log_replay"].is_null());

    let wrong = sample_file(dir.path(), "WrongOrderHive.gz");
    let r = verify_path(&wrong, &|_, _| {}).unwrap();
    assert!(!r.ok && !r.errors.is_empty());
    assert!(r.errors.iter().all(|e| e.offset >= 4096));

    // Through the binary: a dirty hive whose log replays is exit 0, a flagged one exit 1.
    let bin = env!("CARGO_BIN_EXE_coldpatch");
    let code = |p: &std::path::Path| {
        std::process::Command::new(bin)
            .arg("verify")
            .arg(p)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code(&hive), Some(0));
    assert_eq!(code(&wrong), Some(1));
}
