//! Every check of `verify` can fail: one targeted fault at a time in a built hive gives the
//! expected finding at the expected offset (and nothing on the untouched hive).

use coldpatch::regf::base_block::put_checksum;
use coldpatch::regf::hive::{abs, nk, sk, vk, CellOffset, DataPlace, HiveRef, ListCell};
use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec, ValueSpec};
use coldpatch::regf::{name, verify};

const SD: [u8; 20] = [
    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn hive(minor: u32) -> Vec<u8> {
    let root = KeySpec {
        name: "ROOT".into(),
        class: None,
        values: vec![],
        subkeys: vec![KeySpec {
            name: "Parent".into(),
            class: Some("cls".into()),
            values: vec![
                ValueSpec::binary("Data", &[5; 40]),
                ValueSpec::dword("D", 1),
                ValueSpec::dword("Dat2", 2),
            ],
            subkeys: ["alpha", "beta", "gamma"]
                .iter()
                .map(|n| KeySpec {
                    name: n.to_string(),
                    ..Default::default()
                })
                .collect(),
        }],
    };
    let opts = HiveOptions {
        minor_version: minor,
        timestamp: 5,
        sequence: 2,
        file_name: String::new(),
        security_descriptor: SD.to_vec(),
    };
    build_hive(&root, &opts).unwrap()
}

fn put32(d: &mut [u8], at: u64, v: impl Into<u32>) {
    d[at as usize..at as usize + 4].copy_from_slice(&v.into().to_le_bytes());
}

/// Applies `fault` (then fixes the checksum unless told not to), and expects a finding
/// saying `what` at absolute offset `at` (returned by the fault).
fn expect_with(
    minor: u32,
    what: &str,
    fix: bool,
    fault: impl FnOnce(&HiveRef, &mut Vec<u8>) -> u64,
) {
    let clean = hive(minor);
    assert!(verify(&clean).ok());
    let mut d = clean.clone();
    let at = fault(&HiveRef::new(&clean).unwrap(), &mut d);
    if fix {
        put_checksum(&mut d);
    }
    let r = verify(&d);
    assert!(
        r.errors
            .iter()
            .any(|e| e.what.contains(what) && e.offset == at),
        "1.{minor}: expected {what:?} at {at:#x}, got {:#?}",
        r.errors
    );
}

fn expect(minor: u32, what: &str, fault: impl FnOnce(&HiveRef, &mut Vec<u8>) -> u64) {
    expect_with(minor, what, true, fault)
}

fn parent(h: &HiveRef) -> coldpatch::regf::hive::KeyNode {
    h.key_by_path("Parent").unwrap().unwrap()
}

/// Absolute offset of field `at` of the cell `rel` (after its size).
fn field(rel: CellOffset, at: usize) -> u64 {
    rel.field(at)
}

#[test]
fn base_block_and_bins() {
    expect_with(3, "checksum", false, |_, d| {
        d[200] ^= 1;
        508
    });
    expect(3, "hive bin signature", |_, d| {
        d[4096] = b'X';
        4096
    });
    expect(5, "cell size", |h, d| {
        let p = parent(h).offset;
        let size = i32::from_le_bytes(d[abs(p) as usize..abs(p) as usize + 4].try_into().unwrap());
        d[abs(p) as usize..abs(p) as usize + 4].copy_from_slice(&(size - 4).to_le_bytes());
        abs(p)
    });
}

#[test]
fn keys_and_counters() {
    for minor in [3, 5] {
        expect(minor, "subkey count", |h, d| {
            let p = parent(h);
            put32(d, field(p.offset, nk::SUBKEY_COUNT), p.subkey_count + 1);
            field(p.offset, nk::SUBKEY_COUNT)
        });
        expect(minor, "max subkey name length", |h, d| {
            let p = parent(h);
            put32(d, field(p.offset, nk::MAX_NAME_LEN), 2u32);
            field(p.offset, nk::MAX_NAME_LEN)
        });
        expect(minor, "max value name length", |h, d| {
            let p = parent(h);
            put32(d, field(p.offset, nk::MAX_VALUE_NAME_LEN), 1u32);
            field(p.offset, nk::MAX_VALUE_NAME_LEN)
        });
        expect(minor, "max value data length", |h, d| {
            let p = parent(h);
            put32(d, field(p.offset, nk::MAX_VALUE_DATA_LEN), 1u32);
            field(p.offset, nk::MAX_VALUE_DATA_LEN)
        });
        expect(minor, "parent", |h, d| {
            let c = h.key_by_path("Parent\\beta").unwrap().unwrap();
            put32(d, field(c.offset, nk::PARENT), h.root);
            field(c.offset, nk::PARENT)
        });
    }
}

#[test]
fn subkey_lists() {
    expect(5, "lh hash", |h, d| {
        let l = parent(h).subkey_list;
        assert!(matches!(h.list(l).unwrap(), ListCell::Lh(_)));
        d[field(l, 8) as usize] ^= 1;
        abs(l) + 8
    });
    expect(3, "lf hint", |h, d| {
        let l = parent(h).subkey_list;
        assert!(matches!(h.list(l).unwrap(), ListCell::Lf(_)));
        d[field(l, 8) as usize] ^= 0x20;
        abs(l) + 8
    });
    for minor in [3, 5] {
        expect(minor, "out of order", |h, d| {
            let l = parent(h).subkey_list;
            let (a, b) = (field(l, 4) as usize, field(l, 12) as usize);
            let first: Vec<u8> = d[a..a + 8].to_vec();
            d.copy_within(b..b + 8, a);
            d[b..b + 8].copy_from_slice(&first);
            abs(l)
        });
    }
    expect(3, "lh subkey list in a version 1.3 hive", |h, d| {
        let l = parent(h).subkey_list;
        d[field(l, 0) as usize..field(l, 0) as usize + 2].copy_from_slice(b"lh");
        abs(l)
    });
}

#[test]
fn values_and_security() {
    for minor in [3, 5] {
        expect(minor, "value data: cell holds", |h, d| {
            let p = parent(h);
            let v = h.find_value(&p, &name::from_str("Data")).unwrap().unwrap();
            let DataPlace::Cell(c) = h.data_place(&v).unwrap() else {
                panic!()
            };
            put32(d, field(v.offset, vk::DATA_SIZE), 400u32);
            put32(d, field(p.offset, nk::MAX_VALUE_DATA_LEN), 400u32);
            abs(c)
        });
        expect(minor, "not the start of a cell", |h, d| {
            let p = parent(h);
            let first = h.value_offsets(&p).unwrap()[0];
            put32(d, field(p.value_list, 0), first + 8);
            field(p.value_list, 0)
        });
        expect(minor, "reference count", |h, d| {
            let s = h.security(h.root_key().unwrap().security).unwrap();
            put32(d, field(s.offset, sk::REFCOUNT), s.refcount + 1);
            field(s.offset, sk::REFCOUNT)
        });
        expect(minor, "blink", |h, d| {
            let s = h.security(h.root_key().unwrap().security).unwrap();
            put32(d, field(s.offset, sk::BLINK), h.root);
            field(s.offset, sk::BLINK)
        });
        expect(minor, "duplicate value name", |h, d| {
            // "Dat2" renamed in place to "dATA": the same name as "Data" but for case.
            let p = parent(h);
            let v = h.find_value(&p, &name::from_str("Dat2")).unwrap().unwrap();
            let at = field(v.offset, vk::NAME) as usize;
            d[at..at + 4].copy_from_slice(b"dATA");
            abs(v.offset)
        });
        expect(minor, "class name", |h, d| {
            let p = parent(h);
            put32(d, field(p.offset, nk::CLASS), p.class + 8);
            field(p.offset, nk::CLASS)
        });
    }
}
