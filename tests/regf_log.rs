//! Log replay: `OldDirtyHive` with its old-format `.LOG1` gives the tree Windows 7 recovered
//! (`RecoveredHive_Windows7`); the bins differ only where the samples README says Windows'
//! own result legitimately differs (the first bin's timestamp, one MaxValueNameLen).

mod regf_support;
use coldpatch::regf::log::{replay, replay_files, LogInput};
use coldpatch::regf::{tree, verify, Editor, RegfError};
use regf_support::*;

#[test]
fn old_dirty_hive_replays_to_windows7_result() {
    let primary = sample_bytes("OldDirtyHive/OldDirtyHive.gz");
    let log = sample_bytes("OldDirtyHive/OldDirtyHive.LOG1.gz");
    let oracle = sample_bytes("OldDirtyHive/RecoveredHive_Windows7.gz");
    let r = replay(
        &primary,
        &[LogInput {
            name: "OldDirtyHive.LOG1".into(),
            bytes: &log,
        }],
    )
    .unwrap();
    assert!(r.applied[0].contains("64 dirty pages"), "{:?}", r.applied);
    let v = verify(&r.data);
    assert!(v.ok() && !v.dirty, "{:?}", v.errors);
    assert_eq!(
        tree::read_hive(&r.data).unwrap(),
        tree::read_hive(&oracle).unwrap()
    );

    // Byte-level: the hive bins differ from Windows' only in hbin0's timestamp and in one
    // 4-byte counter.
    let bins = 4096..4096 + u32::from_le_bytes(oracle[40..44].try_into().unwrap()) as usize;
    let diffs: Vec<usize> = bins
        .clone()
        .step_by(4)
        .filter(|&i| r.data[i..i + 4] != oracle[i..i + 4])
        .collect();
    let outside: Vec<usize> = diffs
        .iter()
        .copied()
        .filter(|&i| !(4096 + 20..4096 + 28).contains(&i))
        .collect();
    assert!(outside.len() <= 1, "bins differ at {outside:x?}");

    // The named facts of the samples README.
    let h = coldpatch::regf::HiveRef::new(&r.data).unwrap();
    assert!(h.key_by_path("key_with_many_subkeys\\1").unwrap().is_none());
    assert!(h
        .key_by_path("key_with_many_subkeys\\5000\\find_me_in_log")
        .unwrap()
        .is_some());
    let k = h
        .key_by_path("key_with_many_subkeys\\4500")
        .unwrap()
        .unwrap();
    let val = h
        .find_value(&k, &coldpatch::regf::name::from_str("V"))
        .unwrap()
        .unwrap();
    assert_eq!(val.kind, 7);

    // The replayed hive can be edited.
    let mut ed = Editor::open(r.data, 1).unwrap();
    ed.create_key("after_replay").unwrap();
    assert!(verify(&ed.finish()).ok());
}

#[test]
fn replay_files_finds_the_log_and_ignores_the_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.gz");
    std::fs::write(dir.path().join("OldDirtyHive.LOG2"), b"").unwrap();
    // Without a log there is nothing to replay.
    assert!(matches!(replay_files(&hive), Err(RegfError::Log { .. })));
    sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.LOG1.gz");
    let r = replay_files(&hive).unwrap();
    assert!(verify(&r.data).ok());
}

#[test]
fn a_log_from_another_write_is_refused() {
    let primary = sample_bytes("OldDirtyHive/OldDirtyHive.gz");
    let mut log = sample_bytes("OldDirtyHive/OldDirtyHive.LOG1.gz");
    // Another timestamp (checksum made right again): not this hive's log.
    log[12] ^= 1;
    coldpatch::regf::base_block::put_checksum(&mut log);
    let e = replay(
        &primary,
        &[LogInput {
            name: "x.LOG1".into(),
            bytes: &log,
        }],
    )
    .unwrap_err();
    assert!(e.to_string().contains("timestamp"), "{e}");
    // A log with a bad checksum.
    let mut log = sample_bytes("OldDirtyHive/OldDirtyHive.LOG1.gz");
    log[100] ^= 1;
    let e = replay(
        &primary,
        &[LogInput {
            name: "x.LOG1".into(),
            bytes: &log,
        }],
    )
    .unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
}
