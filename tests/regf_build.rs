//! Building hives of version 1.3 and 1.5 from a key tree: they verify, read back as the tree,
//! and keep the version's list and big-data rules.

use coldpatch::regf::hive::{DataPlace, HiveRef, ListCell};
use coldpatch::regf::write::{
    build_hive, build_hive_with_security, HiveOptions, KeySpec, ValueSpec,
};
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

fn leaf_shape(bytes: &[u8], path: &str) -> String {
    let h = HiveRef::new(bytes).unwrap();
    let k = h.key_by_path(path).unwrap().unwrap();
    let kind = |l: &ListCell| match l {
        ListCell::Li(v) => format!("li{}", v.len()),
        ListCell::Lf(v) => format!("lf{}", v.len()),
        ListCell::Lh(v) => format!("lh{}", v.len()),
        ListCell::Ri(v) => format!("ri{}", v.len()),
    };
    match h.list(k.subkey_list).unwrap() {
        ListCell::Ri(leaves) => {
            let inner: Vec<String> = leaves.iter().map(|&l| kind(&h.list(l).unwrap())).collect();
            format!("ri[{}]", inner.join(","))
        }
        l => kind(&l),
    }
}

#[test]
fn lists_grow_as_windows_grows_them() {
    // Keys added one by one (in order) under one parent, in a 1.3 and a 1.5 hive.
    let grow = |minor: u32, n: usize| {
        let mut ed = coldpatch::regf::Editor::open(
            build_hive(
                &KeySpec {
                    name: "R".into(),
                    ..Default::default()
                },
                &opts(minor),
            )
            .unwrap(),
            1,
        )
        .unwrap();
        for i in 0..n {
            ed.create_key(&format!("P\\k{i:05}")).unwrap();
        }
        let out = ed.finish();
        assert!(verify(&out).ok());
        leaf_shape(&out, "P")
    };
    // 1.3: lf up to 507 entries, then li, split under an ri past 1013.
    assert_eq!(grow(3, 507), "lf507");
    assert_eq!(grow(3, 508), "li508");
    assert_eq!(grow(3, 1013), "li1013");
    assert_eq!(grow(3, 1014), "ri[li507,li507]");
    // 1.5: lh up to 507 entries, then split under an ri.
    assert_eq!(grow(5, 507), "lh507");
    assert_eq!(grow(5, 508), "ri[lh254,lh254]");
}

#[test]
fn keys_can_carry_their_own_security_descriptor() {
    let mut ed = coldpatch::regf::Editor::open(build_hive(&spec(), &opts(3)).unwrap(), 1).unwrap();
    let other: Vec<u8> = SD.iter().copied().chain([0u8; 4]).collect();
    ed.set_security("Select", &other).unwrap();
    ed.set_security("Many\\k1", &other).unwrap();
    let mid = ed.finish();
    assert!(verify(&mid).ok(), "{:?}", verify(&mid).errors);
    let h = HiveRef::new(&mid).unwrap();
    let s1 = h.key_by_path("Select").unwrap().unwrap().security;
    let s2 = h.key_by_path("Many\\k1").unwrap().unwrap().security;
    let root_sk = h.root_key().unwrap().security;
    assert_eq!(s1, s2, "an equal descriptor is shared");
    assert_ne!(s1, root_sk);
    assert_eq!(h.security(s1).unwrap().refcount, 2);
    // Deleting both keys frees the second sk and closes the ring again.
    let mut ed = coldpatch::regf::Editor::open(mid, 2).unwrap();
    ed.delete_key("Select").unwrap();
    ed.delete_key("Many\\k1").unwrap();
    let out = ed.finish();
    assert!(verify(&out).ok(), "{:?}", verify(&out).errors);
    let h = HiveRef::new(&out).unwrap();
    let s = h.security(h.root_key().unwrap().security).unwrap();
    assert_eq!(s.flink, s.offset);
    assert_eq!(s.blink, s.offset);
}

#[test]
fn build_with_several_descriptors() {
    let second: Vec<u8> = SD.iter().copied().chain([7u8; 8]).collect();
    let third: Vec<u8> = SD.iter().copied().chain([9u8; 4]).collect();
    let bytes = build_hive_with_security(
        &spec(),
        &opts(3),
        &[("Select", &second), ("Many\\k7", &second), ("Many", &third)],
    )
    .unwrap();
    assert!(verify(&bytes).ok(), "{:?}", verify(&bytes).errors);
    let h = HiveRef::new(&bytes).unwrap();
    let sd_of = |p: &str| {
        h.security(h.key_by_path(p).unwrap().unwrap().security)
            .unwrap()
            .descriptor
    };
    assert_eq!(sd_of("Select"), second);
    assert_eq!(sd_of("Many\\k7"), second);
    assert_eq!(sd_of("Many"), third);
    assert_eq!(sd_of("Many\\k8"), SD.to_vec());
    assert!(build_hive_with_security(&spec(), &opts(3), &[("Nope", &second)]).is_err());
}

#[test]
fn symbolic_link_keys_carry_only_their_link() {
    let mut bytes = build_hive(&spec(), &opts(3)).unwrap();
    let h = HiveRef::new(&bytes).unwrap();
    let k = h.key_by_path("Select").unwrap().unwrap();
    let at = k.offset.field(coldpatch::regf::hive::nk::FLAGS) as usize;
    bytes[at] |= coldpatch::regf::hive::KEY_SYM_LINK as u8;
    coldpatch::regf::base_block::put_checksum(&mut bytes);
    let mut ed = coldpatch::regf::Editor::open(bytes, 1).unwrap();
    assert!(ed.set_value("Select", "Other", 1, &[0, 0]).is_err());
    assert!(ed.create_key("Select\\Child").is_err());
    let target = coldpatch::regf::write::utf16z("\\Registry\\Machine\\System\\ControlSet001");
    ed.set_value(
        "Select",
        "SymbolicLinkValue",
        6,
        &target[..target.len() - 2],
    )
    .unwrap();
    assert!(verify(&ed.finish()).ok());
}
