//! The dirty-hive generator: the primary is dirty (not corrupt), refused by the editor, and
//! its `.LOG` (NT4/2000 type 2 for a 1.3 hive) replays to exactly the edited hive.

mod regf_support;
use coldpatch::regf::dirty::make_dirty_hive;
use coldpatch::regf::log::{replay, replay_files, LogInput};
use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec, ValueSpec};
use coldpatch::regf::{verify, Editor, RegfError};
use regf_support::*;

const SD: [u8; 20] = [
    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn clean_system() -> Vec<u8> {
    let mut services = KeySpec {
        name: "Services".into(),
        ..Default::default()
    };
    services.subkeys.push(KeySpec {
        name: "MSExchangeIS".into(),
        class: None,
        values: vec![],
        subkeys: vec![KeySpec {
            name: "ParametersSystem".into(),
            class: None,
            values: vec![ValueSpec::sz("DSA Computer", "EXPROD1")],
            subkeys: vec![],
        }],
    });
    let root = KeySpec {
        name: "SYSTEM".into(),
        class: None,
        values: vec![],
        subkeys: vec![KeySpec {
            name: "ControlSet001".into(),
            class: None,
            values: vec![],
            subkeys: vec![services],
        }],
    };
    let opts = HiveOptions {
        minor_version: 3,
        timestamp: 0x01BF_0000_0000_0000,
        sequence: 41,
        file_name: "\\SystemRoot\\System32\\Config\\SYSTEM".into(),
        security_descriptor: SD.to_vec(),
    };
    build_hive(&root, &opts).unwrap()
}

#[test]
fn dirty_hive_replays_to_the_edit() {
    let clean = clean_system();
    let p = "ControlSet001\\Services\\MSExchangeIS\\ParametersSystem";
    let d = make_dirty_hive(&clean, 0x01BF_1111_0000_0000, |ed| {
        ed.set_value(
            p,
            "DSA Computer",
            1,
            &coldpatch::regf::write::utf16z("EXVS1"),
        )?;
        ed.set_value(p, "Big", 3, &vec![9u8; 30_000])?; // grows the hive by a bin
        ed.create_key("ControlSet001\\Services\\MSExchangeIS\\Restore in Progress")?;
        Ok(())
    })
    .unwrap();
    // The primary is dirty, not corrupt, and is refused for editing.
    let r = verify(&d.primary);
    assert!(r.ok() && r.dirty, "{:?}", r.errors);
    assert_eq!((r.sequence1, r.sequence2), (42, 41));
    assert!(matches!(
        Editor::open(d.primary.clone(), 1),
        Err(RegfError::Dirty {
            primary: 42,
            secondary: 41
        })
    ));
    // An NT4/2000 log: file type 2.
    assert_eq!(u32::from_le_bytes(d.log[28..32].try_into().unwrap()), 2);
    assert_eq!(&d.log[512..516], b"DIRT");
    // Replay gives the edited hive byte for byte.
    let rep = replay(
        &d.primary,
        &[LogInput {
            name: "SYSTEM.LOG".into(),
            bytes: &d.log,
        }],
    )
    .unwrap();
    assert_eq!(rep.data, d.edited);
    assert!(verify(&rep.data).ok());
    assert!(d.edited.len() > clean.len(), "the edit grew the hive");

    // Through files: SYSTEM + SYSTEM.LOG beside it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("SYSTEM"), &d.primary).unwrap();
    std::fs::write(dir.path().join("SYSTEM.LOG"), &d.log).unwrap();
    assert_eq!(
        replay_files(&dir.path().join("SYSTEM")).unwrap().data,
        d.edited
    );
}

#[test]
fn dirty_hive_from_a_sample() {
    let clean = sample_bytes("ManySubkeysHive.gz");
    let d = make_dirty_hive(&clean, 77, |ed| {
        ed.delete_key("key_with_many_subkeys\\1")?;
        ed.create_key("key_with_many_subkeys\\5000\\find_me_in_log")?;
        Ok(())
    })
    .unwrap();
    let rep = replay(
        &d.primary,
        &[LogInput {
            name: "x.LOG".into(),
            bytes: &d.log,
        }],
    )
    .unwrap();
    assert_eq!(rep.data, d.edited);
}
