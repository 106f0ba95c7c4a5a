//! Building hives of version 1.3 and 1.5 from a key tree: they verify, read back as the tree,
//! and keep the version's list and big-data rules.

use coldpatch::regf::build::{build_hive, HiveOptions, KeySpec, ValueSpec};
use coldpatch::regf::hive::{DataPlace, HiveRef, ListCell};
use coldpatch::regf::{tree, verify};

/// A minimal self-relative security descriptor (revision 1, no owner/group/ACLs).
pub const SD: [u8; 20] = [
    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn opts(minor: u32) -> HiveOptions {
    HiveOptions {
        minor_version: minor,
        timestamp: 0x01C0_0000_0000_0000,
        sequence: 7,
        file_name: "\\SystemRoot\\System32\\Config\\SYSTEM".into(),
        security_descriptor: SD.to_vec(),
    }
}

fn spec() -> KeySpec {
    let many: Vec<KeySpec> = (0..1200)
        .map(|i| KeySpec {
            name: format!("k{i}"),
            ..Default::default()
        })
        .collect();
    KeySpec {
        name: "ROOT".into(),
        class: None,
        values: vec![ValueSpec::sz("", "default")],
        subkeys: vec![
            KeySpec {
                name: "Select".into(),
                class: Some("JD-class".into()),
                values: vec![
                    ValueSpec::dword("Current", 1),
                    ValueSpec::binary("Big", &vec![7u8; 40000]),
                    ValueSpec::binary("Empty", &[]),
                    ValueSpec::multi_sz("Multi", &["a", "bb"]),
                ],
                subkeys: vec![],
            },
            KeySpec {
                name: "Many".into(),
                class: None,
                values: vec![],
                subkeys: many,
            },
            KeySpec {
                name: "Привет".into(),
                ..Default::default()
            },
        ],
    }
}

fn sorted(mut k: KeySpec) -> KeySpec {
    k.subkeys = k.subkeys.into_iter().map(sorted).collect();
    k.subkeys.sort_by(|a, b| {
        coldpatch::regf::name::compare(
            &coldpatch::regf::name::from_str(&a.name),
            &coldpatch::regf::name::from_str(&b.name),
        )
    });
    k
}

#[test]
fn built_hives_verify_and_read_back() {
    for minor in [3, 5] {
        let bytes = build_hive(&spec(), &opts(minor)).unwrap();
        let r = verify(&bytes);
        assert!(r.ok(), "1.{minor}: {:#?}", r.errors);
        assert!(!r.dirty);
        assert_eq!(r.sequence1, 7);
        assert_eq!(
            tree::read_hive(&bytes).unwrap(),
            sorted(spec()),
            "1.{minor}"
        );
        let h = HiveRef::new(&bytes).unwrap();
        let many = h.key_by_path("Many").unwrap().unwrap();
        let list = h.list(many.subkey_list).unwrap();
        assert!(
            matches!(list, ListCell::Ri(_)),
            "1200 subkeys need an index root"
        );
        if let ListCell::Ri(leaves) = list {
            for l in leaves {
                let leaf = h.list(l).unwrap();
                match minor {
                    3 => assert!(matches!(leaf, ListCell::Li(_) | ListCell::Lf(_))),
                    _ => assert!(matches!(leaf, ListCell::Lh(_))),
                }
            }
        }
        let sel = h.key_by_path("select").unwrap().unwrap();
        let big = h
            .find_value(&sel, &coldpatch::regf::name::from_str("big"))
            .unwrap()
            .unwrap();
        let place = h.data_place(&big).unwrap();
        match minor {
            3 => assert!(matches!(place, DataPlace::Cell(_))),
            _ => assert!(matches!(place, DataPlace::Big { .. })),
        }
        // nt-hive reads it and finds keys by binary search.
        let nt = nt_hive::Hive::new(&bytes[..]).unwrap();
        let root = nt.root_key_node().unwrap();
        for i in [0, 599, 1199] {
            assert!(root.subpath(&format!("Many\\K{i}")).unwrap().is_ok());
        }
        assert!(root.subpath("привет").unwrap().is_ok());
    }
}

#[test]
fn bad_options_are_errors() {
    let mut o = opts(3);
    o.minor_version = 1;
    assert!(build_hive(&spec(), &o).is_err());
    let mut o = opts(3);
    o.security_descriptor.clear();
    assert!(build_hive(&spec(), &o).is_err());
}
