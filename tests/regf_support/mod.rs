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
