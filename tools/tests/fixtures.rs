//! The committed fixtures (`fixtures/`) are exactly what `mkimage` writes today: each is
//! rebuilt into a temporary directory with the command `fixtures/README.md` gives and compared
//! file by file, byte by byte. A generator change that alters any byte fails here, and the
//! fixtures must then be regenerated (and the change understood).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixtures and their mkimage arguments, as fixtures/README.md documents them.
const FIXTURES: &[(&str, &[&str])] = &[
    (
        "cluster-small",
        &[
            "--seed",
            "fixture",
            "--folders",
            "20",
            "--messages",
            "200",
            "--body-bytes",
            "256",
        ],
    ),
    (
        "standalone-small",
        &[
            "--layout",
            "standalone",
            "--seed",
            "fixture",
            "--folders",
            "20",
            "--messages",
            "200",
            "--body-bytes",
            "256",
        ],
    ),
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Every file below `root`, by path relative to it.
fn files_below(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read fixture directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("below root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read fixture file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn committed_fixtures_are_what_mkimage_writes() {
    let readme =
        std::fs::read_to_string(fixtures_dir().join("README.md")).expect("fixtures/README.md");
    for (name, args) in FIXTURES {
        // The README's command for this fixture carries the same arguments.
        let documented = args.join(" ");
        assert!(
            readme
                .replace(" \\\n    ", " ")
                .contains(&format!("fixtures/{name} {documented}")),
            "fixtures/README.md does not document `mkimage fixtures/{name} {documented}`"
        );

        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_mkimage"))
            .arg(&out)
            .args(*args)
            .status()
            .expect("run mkimage");
        assert!(status.success(), "mkimage {name} failed: {status}");

        let committed = files_below(&fixtures_dir().join(name));
        let rebuilt = files_below(&out);
        let committed_names: Vec<_> = committed.keys().collect();
        let rebuilt_names: Vec<_> = rebuilt.keys().collect();
        assert_eq!(
            committed_names, rebuilt_names,
            "{name}: the set of files differs"
        );
        for (path, bytes) in &committed {
            let new = &rebuilt[path];
            if bytes != new {
                let first = bytes.iter().zip(new.iter()).position(|(a, b)| a != b);
                panic!(
                    "{name}/{}: committed {} bytes, mkimage writes {} bytes; first difference at {:?}. \
                     Regenerate the fixture (fixtures/README.md) if the change is intended.",
                    path.display(),
                    bytes.len(),
                    new.len(),
                    first
                );
            }
        }
    }
}
