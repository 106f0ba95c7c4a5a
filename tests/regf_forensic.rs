//! Forensic reading of damaged hives by the read-only verbs (`reg export`, `reg get`): a bad
//! base-block checksum, a truncated tail, a broken cell in one subtree. What can be read is
//! printed and equals an intact read; each problem is one warning on stderr naming the file
//! and an offset or a key path; the exit code is 1. Writing verbs and `verify` stay strict.

mod regf_support;
use coldpatch::regf::base_block::OFF_CHECKSUM;
use coldpatch::regf::hive::{CellOffset, HiveRef};
use regf_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn coldpatch(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A `.reg` export as key path → its value lines (continuations included), in file order.
fn keys_of(export: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in export.split("\r\n") {
        if let Some(path) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.insert(path.to_string(), Vec::new());
            current = Some(path.to_string());
        } else if let (Some(k), false) = (&current, line.is_empty()) {
            out.get_mut(k).unwrap().push(line.to_string());
        }
    }
    out
}

/// The intact export of `hive` (exit 0, nothing on stderr).
fn intact_export(hive: &Path) -> String {
    let r = coldpatch(&["reg", "export", s(hive)]);
    assert_eq!(r.code, 0, "{}: {}", hive.display(), r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    r.stdout
}

/// The warnings of a run, each checked: one line each, naming the file, and exactly one
/// location (an offset, or a key path).
fn warnings<'a>(r: &'a Run, file: &Path) -> Vec<&'a str> {
    let lines: Vec<&str> = r.stderr.lines().collect();
    for l in &lines {
        let rest = l
            .strip_prefix(&format!("coldpatch: warning: {}: ", file.display()))
            .unwrap_or_else(|| panic!("not a warning about {}: {l}", file.display()));
        let offsets = rest.matches("offset 0x").count();
        let keys = rest.matches("key \"").count();
        assert!(
            offsets + keys <= 1,
            "more than one location in one warning: {l}"
        );
    }
    lines
}

fn hive_copy(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The hives used: samples written by Windows, and the fixtures' hives.
fn hives(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "SAM.gz",
        "ManySubkeysHive.gz",
        "BigDataHive.gz",
        "UnicodeHive.gz",
    ]
    .iter()
    .map(|rel| sample_file(dir, rel))
    .collect();
    for rel in ["SYSTEM", "SOFTWARE"] {
        out.push(Path::new("fixtures/cluster-small/C/WINNT/system32/config").join(rel));
    }
    out.push(PathBuf::from(
        "fixtures/cluster-small/C/WINNT/Cluster/CLUSDB",
    ));
    out
}

/// A wrong base-block checksum loses nothing: the export is byte for byte the intact one,
/// `reg get` prints the same values, one warning names the checksum's offset, exit 1.
#[test]
fn bad_checksum_reads_everything_with_one_warning_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for hive in hives(dir.path()) {
        let intact = intact_export(&hive);
        let mut bytes = std::fs::read(&hive).unwrap();
        bytes[OFF_CHECKSUM] ^= 0x5a;
        let bad = hive_copy(dir.path(), "badsum.hive", &bytes);
        let r = coldpatch(&["reg", "export", s(&bad)]);
        assert_eq!(r.code, 1, "{}: {}", hive.display(), r.stderr);
        assert_eq!(r.stdout, intact, "{}", hive.display());
        let w = warnings(&r, &bad);
        assert_eq!(w.len(), 2, "{}: {}", hive.display(), r.stderr);
        assert!(w[0].contains(&format!("offset {OFF_CHECKSUM:#x}: base block checksum")));
        assert!(
            w[1].contains("damaged hive (1 problem, 0 parts left out)"),
            "{}",
            w[1]
        );
        // reg get of the first key with values: the same lines as from the intact hive.
        let keys = keys_of(&intact);
        let (path, _) = keys
            .iter()
            .find(|(_, v)| !v.is_empty())
            .unwrap_or_else(|| keys.iter().next().unwrap());
        let inside = path.trim_start_matches('\\');
        let good = coldpatch(&["reg", "get", s(&hive), inside]);
        assert_eq!(good.code, 0, "{}", good.stderr);
        let r = coldpatch(&["reg", "get", s(&bad), inside]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(r.stdout, good.stdout);
        assert_eq!(warnings(&r, &bad).len(), 2);
    }
}

/// Keys of the intact export missing from the damaged one must lie below a key that a
/// warning names (the parts left out); every key that is there has the intact values, except
/// a key a warning names (one of its values may be gone).
fn check_readable_part(intact: &str, damaged: &Run, file: &Path) {
    let all = keys_of(intact);
    let got = keys_of(&damaged.stdout);
    let named: Vec<String> = warnings(damaged, file)
        .iter()
        .filter_map(|w| w.split("key \"").nth(1))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert!(!named.is_empty(), "{}", damaged.stderr);
    for (path, values) in &got {
        let want = all
            .get(path)
            .unwrap_or_else(|| panic!("{path}: not a key of the intact hive"));
        if !named.contains(path) {
            assert_eq!(values, want, "{path}");
        }
    }
    for path in all.keys().filter(|p| !got.contains_key(*p)) {
        let parent = path.rsplit_once('\\').map_or("", |(p, _)| p);
        let parent = if parent.is_empty() { "\\" } else { parent };
        assert!(
            named
                .iter()
                .any(|n| parent == n || parent.starts_with(&format!("{n}\\")) || n == "\\"),
            "{path} left out, but no warning names a key above it: {}",
            damaged.stderr
        );
    }
}

/// A hive cut short (its last bins gone): the keys whose cells remain are exported as the
/// intact hive has them; the parts left out are named by key path; exit 1.
#[test]
fn truncated_tail_reads_the_bins_that_remain() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "ManySubkeysHive.gz");
    let intact = intact_export(&hive);
    let bytes = std::fs::read(&hive).unwrap();
    let bins = HiveRef::new(&bytes).unwrap().bins_size as usize;
    for keep in [bins / 2, bins - 4096, bins * 3 / 4 + 100] {
        let cut = hive_copy(dir.path(), "cut.hive", &bytes[..4096 + keep]);
        let r = coldpatch(&["reg", "export", s(&cut)]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("offset 0x28: hive bins data size"),
            "{}",
            r.stderr
        );
        check_readable_part(&intact, &r, &cut);
        assert!(keys_of(&r.stdout).len() < keys_of(&intact).len());
    }
}

/// The first key below `parent` that has subkeys, by path inside the hive.
fn key_with_subkeys(h: &HiveRef<'_>, parent: &str) -> (String, CellOffset) {
    let k = h.key_by_path(parent).unwrap().unwrap();
    for off in h.subkeys(k.subkey_list).unwrap() {
        let c = h.key(off).unwrap();
        if c.subkey_count > 0 {
            let name = coldpatch::regf::name::to_string(&c.name);
            let path = if parent.is_empty() {
                name
            } else {
                format!("{parent}\\{name}")
            };
            return (path, off);
        }
    }
    panic!("no key with subkeys below {parent}");
}

/// A broken key node deep in one subtree, and a broken value cell elsewhere: that subtree
/// and that value are left out, named by their parent key's path; everything else is the
/// intact export; `reg get` of a key outside the subtree works; exit 1.
#[test]
fn damaged_cell_loses_its_subtree_only() {
    let dir = tempfile::tempdir().unwrap();
    for hive in [
        PathBuf::from("fixtures/cluster-small/C/WINNT/system32/config/SYSTEM"),
        sample_file(dir.path(), "SAM.gz"),
    ] {
        let intact = intact_export(&hive);
        let mut bytes = std::fs::read(&hive).unwrap();
        let (victim_parent, victim, value_key, value) = {
            let h = HiveRef::new(&bytes).unwrap();
            let (top, _) = key_with_subkeys(&h, "");
            let (deep, off) = key_with_subkeys(&h, &top);
            // A key with values outside `deep`.
            let root = h.root_key().unwrap();
            let mut value_key = None;
            let mut stack = vec![(String::new(), root)];
            while let Some((p, k)) = stack.pop() {
                if k.value_count > 1 && !p.starts_with(&deep) {
                    value_key = Some((p.clone(), h.value_offsets(&k).unwrap()[0]));
                    break;
                }
                for c in h.subkeys(k.subkey_list).unwrap() {
                    let c = h.key(c).unwrap();
                    let n = coldpatch::regf::name::to_string(&c.name);
                    stack.push((if p.is_empty() { n } else { format!("{p}\\{n}") }, c));
                }
            }
            let (vk_path, vk) = value_key.expect("a key with two values");
            (top, off, vk_path, vk)
        };
        for (cell, sig) in [(victim, b"nk"), (value, b"vk")] {
            let at = cell.file_offset() as usize + 4;
            assert_eq!(&bytes[at..at + 2], sig);
            bytes[at..at + 2].copy_from_slice(b"\0\0");
        }
        let bad = hive_copy(dir.path(), "cell.hive", &bytes);
        let r = coldpatch(&["reg", "export", s(&bad)]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        check_readable_part(&intact, &r, &bad);
        let w = warnings(&r, &bad);
        let parent_warning =
            format!("key \"\\{victim_parent}\": a subkey (and everything below it) left out");
        assert!(
            w.iter().any(|l| l.contains(&parent_warning)),
            "{}",
            r.stderr
        );
        let value_warning = format!("key \"\\{value_key}\": a value left out");
        assert!(w.iter().any(|l| l.contains(&value_warning)), "{}", r.stderr);
        // The other values of that key are there.
        let got = keys_of(&r.stdout);
        let all = keys_of(&intact);
        let path = format!("\\{value_key}");
        let names = |lines: &[String]| {
            lines
                .iter()
                .filter(|l| l.starts_with('"') || l.starts_with('@'))
                .count()
        };
        assert_eq!(names(&got[&path]) + 1, names(&all[&path]), "{path}");
        // reg get of the key: the readable values, exit 1.
        let r = coldpatch(&["reg", "get", s(&bad), &value_key]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(!r.stdout.is_empty());
        assert!(r.stderr.contains(&value_warning), "{}", r.stderr);
    }
}

/// Writing stays refused on a damaged hive: `reg import` (--out and --in-place) and `apply`
/// exit 1 and write nothing; `verify` stays strict (exit 1).
#[test]
fn writing_verbs_refuse_a_damaged_hive_and_verify_stays_strict() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let mut bytes = std::fs::read(&hive).unwrap();
    bytes[OFF_CHECKSUM] ^= 0x5a;
    std::fs::write(&hive, &bytes).unwrap();
    let reg = dir.path().join("in.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\x]\r\n",
    )
    .unwrap();
    let out = dir.path().join("new.hive");
    let journal = dir.path().join("j");
    for args in [
        vec!["reg", "import", s(&hive), s(&reg), "--out", s(&out)],
        vec![
            "reg",
            "import",
            s(&hive),
            s(&reg),
            "--in-place",
            "--journal",
            s(&journal),
        ],
        vec!["verify", s(&hive)],
    ] {
        let r = coldpatch(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.contains("checksum") || r.stderr.contains("checksum"),
            "{args:?}"
        );
    }
    assert!(!out.exists() && !journal.exists());
    assert_eq!(std::fs::read(&hive).unwrap(), bytes);

    // apply on an image whose SYSTEM hive has a wrong checksum.
    let image = dir.path().join("image");
    let copy = Command::new("cp")
        .args(["-r", "fixtures/standalone-small", s(&image)])
        .status()
        .unwrap();
    assert!(copy.success());
    let system = image.join("C/WINNT/system32/config/SYSTEM");
    let mut bytes = std::fs::read(&system).unwrap();
    bytes[OFF_CHECKSUM] ^= 0x5a;
    std::fs::write(&system, &bytes).unwrap();
    let applied = dir.path().join("applied");
    let r = coldpatch(&["apply", s(&image), "--out", s(&applied)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("checksum"), "{}", r.stderr);
    assert!(!applied.exists() || std::fs::read_dir(&applied).unwrap().count() == 0);
    assert_eq!(std::fs::read(&system).unwrap(), bytes);
}
