//! Shared helpers of the regf tests: the sample hives, decompressed.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/regf");

/// Every primary sample hive (path relative to the samples dir), without logs or oracles.
pub const PRIMARY: &[&str] = &[
    "minimal",
    "special",
    "testhive.gz",
    "BigDataHive.gz",
    "ExtendedASCIIHive.gz",
    "ManySubkeysHive.gz",
    "SAM.gz",
    "UnicodeHive.gz",
    "UpcaseHive.gz",
    "WrongOrderHive.gz",
    "OldDirtyHive/OldDirtyHive.gz",
    "OldDirtyHive/RecoveredHive_Windows7.gz",
];

/// The bytes of a sample, decompressed when it ends in `.gz`.
pub fn sample_bytes(rel: &str) -> Vec<u8> {
    let path = Path::new(SAMPLES).join(rel);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// The sample's name without directory and `.gz`.
pub fn sample_name(rel: &str) -> String {
    let base = rel.rsplit('/').next().unwrap();
    base.trim_end_matches(".gz").to_string()
}

/// Writes a sample (and, for the dirty hive, its logs) into `dir`; returns the hive path.
pub fn sample_file(dir: &Path, rel: &str) -> PathBuf {
    let p = dir.join(sample_name(rel));
    std::fs::write(&p, sample_bytes(rel)).unwrap();
    p
}

use coldpatch::regf::name;
use coldpatch::regf::write::KeySpec;
use std::process::Command;

/// Deterministic pseudo-random numbers (xorshift64*), seeded per test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0..n
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Sorts subkeys by the hive's order (upper-cased UTF-16), recursively.
pub fn sorted(mut k: KeySpec) -> KeySpec {
    k.subkeys = k.subkeys.into_iter().map(sorted).collect();
    k.subkeys
        .sort_by(|a, b| name::compare(&name::from_str(&a.name), &name::from_str(&b.name)));
    k
}

/// All key paths below (and including, as "") `k`, with their value counts.
pub fn key_paths(k: &KeySpec) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    fn walk(k: &KeySpec, path: String, out: &mut Vec<(String, usize)>) {
        out.push((path.clone(), k.values.len()));
        for c in &k.subkeys {
            let p = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}\\{}", c.name)
            };
            walk(c, p, out);
        }
    }
    walk(k, String::new(), &mut out);
    out
}

/// Runs `hivexregedit --export` over the hive file and parses its output minimally: every
/// `[\path]` section and the number of value lines in it.
pub fn hivex_export(path: &Path) -> Vec<(String, usize)> {
    let out = Command::new("hivexregedit")
        .arg("--export")
        .arg(path)
        .arg("\\")
        .output()
        .expect("run hivexregedit");
    assert!(
        out.status.success(),
        "hivexregedit failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut keys: Vec<(String, usize)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[\\") {
            keys.push((rest.trim_end_matches(']').to_string(), 0));
        } else if line.starts_with('"') || line.starts_with("@=") {
            if let Some(last) = keys.last_mut() {
                last.1 += 1;
            }
        }
    }
    keys
}

/// The cross-reader harness (`tests/support`): regipy, dissect.regf, hivex, libregf.
#[path = "../support/mod.rs"]
pub mod harness;

/// The external-reader check of one hive: see [`check_all_with_external_readers`].
pub fn check_with_external_readers(path: &Path, expected: &KeySpec) {
    check_all_with_external_readers(&[(path, expected)]);
}

/// The external-reader check: every reader must see exactly the keys and values of each
/// `expected` tree (key classes are not compared).
///
/// * `hivexregedit --export`: the same number of keys, and per key the same number of values
///   (paths compared where they are plain ASCII: hivexregedit prints other names in its own
///   encodings without `PERL_UNICODE`);
/// * regipy, dissect.regf, hivex (Win::Hivex) and libregf (`regfexport`), through
///   `tests/support/hive_dump.py`: the whole tree, names, types and data, after the
///   normalisation each reader's documented losses need (`Tree::lossy_for`: only libregf
///   loses anything; regipy's own big-data test, which misreads values over 16,344 bytes in
///   1.3 hives, is bypassed inside the dumper by the format's rule, so nothing is skipped).
///
/// Each reader runs once for all the hives given (one Python start per reader).
pub fn check_all_with_external_readers(hives: &[(&Path, &KeySpec)]) {
    for (path, expected) in hives {
        check_with_hivexregedit(path, expected);
    }
    let paths: Vec<&Path> = hives.iter().map(|h| h.0).collect();
    for reader in harness::Reader::ALL {
        let trees = harness::dump_hives(reader, &paths);
        for ((path, expected), got) in hives.iter().zip(trees) {
            let model = harness::tree_from_keyspec(expected);
            let (mut got, mut want) = (got.lossy_for(reader), model.lossy_for(reader));
            if reader == harness::Reader::Libregf {
                blank_improper_strings(&model, &mut want);
                blank_improper_strings(&model, &mut got);
            }
            harness::assert_trees_eq(
                &got,
                &want,
                &format!("{reader:?} reading {}", path.display()),
            );
        }
    }
}

/// Whether REG_SZ / REG_EXPAND_SZ data is text regfexport prints faithfully: stored outside
/// the vk (more than 4 bytes), UTF-16LE of printable characters (no controls, no private-use
/// or noncharacters) ending in its only NUL. Random bytes of a string type are not: regfexport
/// 20201007 reads 1–4-byte inline string data as zeros, and prints undecodable or unprintable
/// text in forms that cannot be mapped back to the bytes (`Data size` then disagrees with the
/// text), so the dumper cannot recover them.
fn libregf_proper_string(data: &[u8]) -> bool {
    if data.len() <= 4 || data.len() % 2 != 0 {
        return false;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let Some((0, body)) = units.split_last() else {
        return false;
    };
    match String::from_utf16(body) {
        Ok(text) => text.chars().all(|c| {
            let code = u32::from(c);
            !c.is_control()
                && !(0xE000..=0xF8FF).contains(&code)
                && !(0xFDD0..=0xFDEF).contains(&code)
                && (code & 0xFFFE) != 0xFFFE
        }),
        Err(_) => false,
    }
}

/// For libregf only: the data of string values whose model data is not a
/// [`libregf_proper_string`] is blanked in `tree` (name and type are still compared). The
/// model decides, so the same values are blanked on both sides.
fn blank_improper_strings(model: &harness::Tree, tree: &mut harness::Tree) {
    use coldpatch::regf::write::{REG_EXPAND_SZ, REG_SZ};
    for v in &mut tree.values {
        if !matches!(v.kind, REG_SZ | REG_EXPAND_SZ) {
            continue;
        }
        let improper = model
            .values
            .iter()
            .find(|m| m.name.split('\0').next() == v.name.split('\0').next() && m.kind == v.kind)
            .map_or(true, |m| !libregf_proper_string(&m.data));
        if improper {
            v.data.clear();
        }
    }
    for k in &mut tree.subkeys {
        if let Some(m) = model.subkey(&k.name) {
            blank_improper_strings(m, k);
        }
    }
}

/// The `hivexregedit --export` part of [`check_all_with_external_readers`].
pub fn check_with_hivexregedit(path: &Path, expected: &KeySpec) {
    let mut want = key_paths(expected);
    let mut got = hivex_export(path);
    assert_eq!(
        got.len(),
        want.len(),
        "hivexregedit key count for {}",
        path.display()
    );
    // Compare value counts per key; paths only where the name is plain ASCII (hivexregedit
    // prints other names in its own encodings).
    let ascii = |s: &str| s.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    for (p, n) in &want {
        if ascii(p) {
            let hit = got
                .iter()
                .find(|(g, _)| g.eq_ignore_ascii_case(p))
                .unwrap_or_else(|| panic!("hivexregedit does not list key {p:?}"));
            assert_eq!(hit.1, *n, "hivexregedit value count of {p:?}");
        }
    }
    want.sort_by_key(|w| w.1);
    got.sort_by_key(|g| g.1);
    let w: Vec<usize> = want.iter().map(|x| x.1).collect();
    let g: Vec<usize> = got.iter().map(|x| x.1).collect();
    assert_eq!(g, w, "hivexregedit value counts for {}", path.display());
}
