//! Property test of the editor: seeded random sequences of at least 1,000 operations (create
//! and delete keys, set and delete values of every type and of sizes 0 B to 64 KiB, growing and
//! shrinking existing ones) on every sample hive and on built 1.3 and 1.5 hives. After each
//! sequence the hive verifies clean, equals the model, is read the same by nt-hive (finding
//! every key by binary search), hivexregedit, regipy, dissect.regf, hivex and libregf (the
//! whole tree, `regf_support::check_all_with_external_readers`), and a 1.3 hive holds no `lh`
//! and no `db`.

mod regf_support;
use coldpatch::regf::hive::{DataPlace, HiveRef, ListCell, BIG_DATA_SEGMENT};
use coldpatch::regf::log::{replay, LogInput};
use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec, ValueSpec};
use coldpatch::regf::{name, tree, verify, Editor, RegfError};
use regf_support::*;
use std::path::{Path, PathBuf};

const OPS: usize = 1000;
const NOW: u64 = 0x01D0_0000_1234_5678;
const TYPES: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const SD: [u8; 20] = [
    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// Characters for generated names: ASCII, Latin-1 (compressed names), Cyrillic and a euro
/// sign (UTF-16 names), and characters whose upper case matters for the sort order.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'B', 'Q', '0', '1', '9', '_', ' ', '.', '-', 'ä', 'Ä', 'ß',
    'é', 'д', 'Д', '€', 'ÿ',
];

fn rand_name(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn rand_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=39 => rng.below(9), // inline boundary 0..8
        40..=79 => rng.below(300),
        80..=93 => rng.below(2_000),
        94..=96 => BIG_DATA_SEGMENT as usize - 4 + rng.below(9), // the db threshold
        _ => rng.below(64 * 1024 + 1),
    }
}

/// Model subkeys are kept sorted as the hive sorts them: binary search.
fn child_pos(k: &KeySpec, n: &str) -> Result<usize, usize> {
    let want = name::from_str(n);
    k.subkeys
        .binary_search_by(|c| name::compare(&name::from_str(&c.name), &want))
}

fn find_child<'a>(k: &'a mut KeySpec, n: &str) -> Option<&'a mut KeySpec> {
    match child_pos(k, n) {
        Ok(i) => Some(&mut k.subkeys[i]),
        Err(_) => None,
    }
}

fn model_key<'a>(root: &'a mut KeySpec, path: &[String]) -> &'a mut KeySpec {
    let mut k = root;
    for p in path {
        k = find_child(k, p).expect("model path");
    }
    k
}

fn join(path: &[String]) -> String {
    path.join("\\")
}

/// Applies `OPS` random operations to the hive and the model alike.
fn run_ops(ed: &mut Editor, model: &mut KeySpec, rng: &mut Rng) {
    let mut paths: Vec<Vec<String>> = Vec::new();
    fn collect(k: &KeySpec, p: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(p.clone());
        for c in &k.subkeys {
            let mut q = p.clone();
            q.push(c.name.clone());
            collect(c, q, out);
        }
    }
    collect(model, Vec::new(), &mut paths);
    let mut done = 0;
    while done < OPS {
        let path = paths[rng.below(paths.len())].clone();
        match rng.below(100) {
            // Create one key, or (rarely) hundreds under one parent to cross the leaf limits.
            0..=24 => {
                let count = if rng.chance(2) {
                    300 + rng.below(800)
                } else {
                    1
                };
                for i in 0..count {
                    let n = if count > 1 {
                        format!("bulk{i}_{}", rng.below(1000))
                    } else {
                        rand_name(rng, 1, 12)
                    };
                    let mk = model_key(model, &path);
                    if find_child(mk, &n).is_some() {
                        continue;
                    }
                    let mut full = path.clone();
                    full.push(n.clone());
                    ed.create_key(&join(&full))
                        .unwrap_or_else(|e| panic!("create {full:?}: {e}"));
                    let at = child_pos(mk, &n).unwrap_err();
                    mk.subkeys.insert(
                        at,
                        KeySpec {
                            name: n,
                            ..Default::default()
                        },
                    );
                    paths.push(full);
                }
                done += count.min(50);
            }
            25..=34 => {
                if path.is_empty() {
                    continue;
                }
                assert!(ed.delete_key(&join(&path)).unwrap(), "delete {path:?}");
                let (last, parent) = path.split_last().unwrap();
                let pk = model_key(model, parent);
                let at = child_pos(pk, last).unwrap();
                pk.subkeys.remove(at);
                // Paths hold the model's own spelling, so a plain prefix test is exact.
                paths.retain(|p| !p.starts_with(&path));
                done += 1;
            }
            35..=84 => {
                let mk = model_key(model, &path);
                let vname = if !mk.values.is_empty() && rng.chance(50) {
                    mk.values[rng.below(mk.values.len())].name.clone()
                } else {
                    rand_name(rng, 0, 10)
                };
                let kind = TYPES[rng.below(TYPES.len())];
                let size = rand_size(rng);
                let data = rng.bytes(size);
                ed.set_value(&join(&path), &vname, kind, &data)
                    .unwrap_or_else(|e| panic!("set {path:?} {vname:?}: {e}"));
                let want = name::from_str(&vname);
                match mk
                    .values
                    .iter_mut()
                    .find(|v| name::eq(&name::from_str(&v.name), &want))
                {
                    Some(v) => {
                        v.kind = kind;
                        v.data = data;
                    }
                    None => mk.values.push(ValueSpec {
                        name: vname,
                        kind,
                        data,
                    }),
                }
                done += 1;
            }
            // Class names: set, replace, remove.
            85..=89 => {
                let mk = model_key(model, &path);
                let class = if rng.chance(25) {
                    String::new()
                } else {
                    rand_name(rng, 1, 20)
                };
                let bytes: Vec<u8> = class.encode_utf16().flat_map(u16::to_le_bytes).collect();
                ed.set_class(&join(&path), &bytes).unwrap();
                mk.class = if class.is_empty() { None } else { Some(class) };
                done += 1;
            }
            // Security descriptors: shared, new, and freed again (verify checks the counts).
            90..=92 => {
                let sd: Vec<u8> = SD.iter().copied().chain([rng.below(3) as u8; 4]).collect();
                ed.set_security(&join(&path), &sd).unwrap();
                done += 1;
            }
            _ => {
                let mk = model_key(model, &path);
                if mk.values.is_empty() {
                    assert!(!ed.delete_value(&join(&path), "no such value here").unwrap());
                    continue;
                }
                let i = rng.below(mk.values.len());
                let v = mk.values.remove(i);
                assert!(
                    ed.delete_value(&join(&path), &v.name).unwrap(),
                    "delete value {:?}",
                    v.name
                );
                done += 1;
            }
        }
    }
}

/// 1.3 hives: no `lh` list anywhere and no `db` record; big values sit in one cell.
fn check_version_rules(bytes: &[u8]) {
    let h = HiveRef::new(bytes).unwrap();
    if h.minor >= 4 {
        return;
    }
    let mut stack = vec![h.root];
    while let Some(off) = stack.pop() {
        let k = h.key(off).unwrap();
        if k.subkey_list != coldpatch::regf::hive::NIL {
            let l = h.list(k.subkey_list).unwrap();
            assert!(!matches!(l, ListCell::Lh(_)), "lh list in a 1.3 hive");
            if let ListCell::Ri(leaves) = l {
                for leaf in leaves {
                    assert!(
                        !matches!(h.list(leaf).unwrap(), ListCell::Lh(_)),
                        "lh leaf in a 1.3 hive"
                    );
                }
            }
        }
        for v in h.values(&k).unwrap() {
            let place = h.data_place(&v).unwrap();
            assert!(!matches!(place, DataPlace::Big { .. }));
            if let DataPlace::Cell(c) = place {
                let cell = h.cell(c, "data").unwrap();
                assert!(cell.len() >= v.data_len() as usize);
            }
        }
        stack.extend(h.subkeys(k.subkey_list).unwrap());
    }
}

/// nt-hive (binary search, like Windows) finds every key and value of the model.
fn check_nt_hive(bytes: &[u8], model: &KeySpec, minor: u32) {
    let hive = nt_hive::Hive::new(bytes).expect("nt-hive opens the hive");
    let root = hive.root_key_node().unwrap();
    fn walk(k: &nt_hive::KeyNode<&[u8]>, m: &KeySpec, minor: u32, path: &str) {
        for v in &m.values {
            let got = k
                .value(&v.name)
                .unwrap_or_else(|| panic!("nt-hive: no value {:?} in {path:?}", v.name))
                .unwrap();
            // nt-hive reads > 16344-byte values of 1.3 hives as big data (reference §6).
            if minor >= 4 || v.data.len() <= BIG_DATA_SEGMENT as usize {
                assert_eq!(
                    got.data().unwrap().into_vec().unwrap(),
                    v.data,
                    "{path:?} {:?}",
                    v.name
                );
            }
        }
        for c in &m.subkeys {
            let child = k
                .subkey(&c.name)
                .unwrap_or_else(|| {
                    panic!("nt-hive binary search misses {:?} under {path:?}", c.name)
                })
                .unwrap();
            walk(&child, c, minor, &format!("{path}\\{}", c.name));
        }
    }
    walk(&root, model, minor, "");
}

/// Runs one sequence and checks it with our reader and nt-hive; writes the result into `dir`
/// and returns its path and the model, for the external readers (run once for all hives).
fn property(dir: &Path, label: &str, data: Vec<u8>, seed: u64) -> (PathBuf, KeySpec) {
    let mut rng = Rng::new(seed);
    let mut model = sorted(tree::read_hive(&data).unwrap());
    let minor = HiveRef::new(&data).unwrap().minor;
    let leaked_before = verify(&data).unreferenced;
    let mut ed = Editor::open(data, NOW).unwrap_or_else(|e| panic!("{label}: {e}"));
    run_ops(&mut ed, &mut model, &mut rng);
    let out = ed.finish();
    let r = verify(&out);
    assert!(
        r.ok(),
        "{label}: {:#?}",
        &r.errors[..r.errors.len().min(10)]
    );
    assert!(
        r.unreferenced <= leaked_before,
        "{label}: the editor leaked {} cells",
        r.unreferenced - leaked_before
    );
    assert_eq!(
        tree::read_hive(&out).unwrap(),
        sorted(model.clone()),
        "{label}: tree differs from the model"
    );
    check_version_rules(&out);
    check_nt_hive(&out, &sorted(model.clone()), minor);
    let p = dir.join(format!("{}.hive", label.replace([' ', '.'], "_")));
    std::fs::write(&p, &out).unwrap();
    if let Ok(keep) = std::env::var("KEEP_HIVES") {
        std::fs::copy(&p, Path::new(&keep).join(p.file_name().unwrap())).unwrap();
    }
    (p, model)
}

fn check_external(results: &[(PathBuf, KeySpec)]) {
    let hives: Vec<(&Path, &KeySpec)> = results.iter().map(|(p, m)| (p.as_path(), m)).collect();
    check_all_with_external_readers(&hives);
}

#[test]
fn random_edits_on_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (i, rel) in PRIMARY.iter().enumerate() {
        let name = sample_name(rel);
        let data = sample_bytes(rel);
        match name.as_str() {
            "WrongOrderHive" => {
                assert!(matches!(
                    Editor::open(data, NOW),
                    Err(RegfError::Flagged { .. })
                ));
                continue;
            }
            "OldDirtyHive" => {
                assert!(matches!(
                    Editor::open(data.clone(), NOW),
                    Err(RegfError::Dirty {
                        primary: 5,
                        secondary: 4
                    })
                ));
                // Replayed from its log, it is edited like any other hive.
                let log = sample_bytes("OldDirtyHive/OldDirtyHive.LOG1.gz");
                let input = LogInput {
                    name: "LOG1".into(),
                    bytes: &log,
                };
                let replayed = replay(&data, &[input]).unwrap().data;
                results.push(property(
                    dir.path(),
                    "OldDirtyHive replayed",
                    replayed,
                    1000 + i as u64,
                ));
            }
            _ => results.push(property(dir.path(), &name, data, 1000 + i as u64)),
        }
    }
    check_external(&results);
}

#[test]
fn random_edits_on_built_hives() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (minor, seed) in [(3u32, 7u64), (5, 8)] {
        let root = KeySpec {
            name: "CLUSTER".into(),
            class: None,
            values: vec![ValueSpec::sz("ClusterName", "EXCLUSTER")],
            subkeys: vec![KeySpec {
                name: "Resources".into(),
                ..Default::default()
            }],
        };
        let opts = HiveOptions {
            minor_version: minor,
            timestamp: NOW,
            sequence: 1,
            file_name: "\\SystemRoot\\Cluster\\CLUSDB".into(),
            security_descriptor: SD.to_vec(),
        };
        results.push(property(
            dir.path(),
            &format!("built 1.{minor}"),
            build_hive(&root, &opts).unwrap(),
            seed,
        ));
    }
    check_external(&results);
}
