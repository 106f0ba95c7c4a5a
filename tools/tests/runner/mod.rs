//! What the tools' integration tests that run the `coldpatch` binary share: the binary, a copy
//! of a fixture tree, and a tree's file hashes. Include it with `#[path = "runner/mod.rs"] mod runner;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `coldpatch` binary beside `mkimage` (built by `cargo test --workspace`; built here, in
/// the same profile, when a narrower test run did not).
pub fn coldpatch_bin() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_mkimage")).parent().unwrap();
    let bin = dir.join("coldpatch");
    if !bin.exists() {
        let profile = if dir.ends_with("release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "coldpatch", "--bin", "coldpatch"])
            .args(profile)
            .status()
            .unwrap();
        assert!(st.success());
    }
    bin
}

/// Copies the directory tree `from` to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Every file under `dir` (none when it does not exist), by path relative to it, with its
/// SHA-256 in hex.
pub fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(
                    rel,
                    coldpatch::manifest::sha256_hex(&std::fs::read(&p).unwrap()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}
