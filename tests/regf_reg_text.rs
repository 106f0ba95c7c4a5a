//! `coldpatch reg export | import` with the `.reg` text layer, against independent tools:
//!
//! * every sample hive's export says what `hivexregedit --export` says (both parsed with our
//!   `parse_reg` and applied to an empty tree, so formatting choices do not matter: hivex
//!   writes every value as `hex(t):`, we write strings as `"text"` and dwords as `dword:`);
//! * export → import into a freshly built hive gives a hive that regipy, dissect.regf, hivex
//!   and libregf read as the same tree as the original;
//! * `hivexregedit --merge` of our export file agrees with our import of it;
//! * a malformed line, or a key outside `--prefix`, is refused with its line number and
//!   nothing is written.

mod regf_support;
use regf_support::harness as support;

use coldpatch::regf::regfile::{decode_reg_bytes, parse_reg};
use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec};
use coldpatch::regf::{tree, HiveRef};
use regf_support::{sample_file, sample_name, PRIMARY};
use std::path::Path;
use std::process::Command;
use support::{
    apply_regfile, assert_trees_eq, dump_hives, hivexregedit, hivexregedit_merge, Reader, Tree,
};

/// The prefix used throughout: where a SYSTEM hive is mounted.
const PREFIX: &str = "HKEY_LOCAL_MACHINE\\SYSTEM";

/// A minimal self-relative security descriptor (revision 1, no owner/group/ACLs).
const SD: [u8; 20] = [
    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
const NOW: u64 = 0x01D0_0000_1234_5678;

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn coldpatch(args: &[&std::ffi::OsStr]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// `coldpatch reg export --prefix PREFIX HIVE` (UTF-8 text).
fn our_export(hive: &Path) -> String {
    let r = coldpatch(&[
        os("reg"),
        os("export"),
        os("--prefix"),
        os(PREFIX),
        hive.as_os_str(),
    ]);
    assert_eq!(r.code, 0, "export {}: {}", hive.display(), r.stderr);
    String::from_utf8(r.stdout).unwrap()
}

/// The tree a `.reg` text describes, applied to an empty root.
fn tree_of(text: &str, what: &str) -> Tree {
    let reg = parse_reg(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let empty = Tree {
        name: String::new(),
        values: Vec::new(),
        subkeys: Vec::new(),
    };
    apply_regfile(&empty, &reg, PREFIX).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The primary samples `reg export` reads: all but WrongOrderHive, which `verify` flags.
fn exportable() -> Vec<&'static str> {
    PRIMARY
        .iter()
        .copied()
        .filter(|rel| sample_name(rel) != "WrongOrderHive")
        .collect()
}

/// done-when 1: our export and hivexregedit's export of every sample describe the same keys
/// and values. No normalisation is needed: both are parsed by `parse_reg` (hivex's output is
/// read in UTF-8, `PERL_UNICODE=SD`), so hivex's `hex(1):` strings and our `"text"` strings
/// come to the same bytes; the root key, `[PREFIX\]` in hivex's output and `[PREFIX]` in
/// ours, is the same key.
#[test]
fn export_matches_hivexregedit_on_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    for rel in exportable() {
        let hive = sample_file(dir.path(), rel);
        let ours = our_export(&hive);
        let theirs = String::from_utf8(hivexregedit(&[
            os("--export"),
            os("--prefix"),
            os(PREFIX),
            hive.as_os_str(),
            os("\\"),
        ]))
        .unwrap();
        let name = sample_name(rel);
        let t_ours = tree_of(&ours, &format!("{name}: our export"));
        let t_hivex = tree_of(&theirs, &format!("{name}: hivexregedit export"));
        assert_trees_eq(&t_ours, &t_hivex, &format!("{name}: ours vs hivexregedit"));
        // And both are the hive itself (our reader), root name aside.
        let mut spec = tree::read_hive(&std::fs::read(&hive).unwrap()).unwrap();
        spec.name.clear();
        assert_trees_eq(
            &t_ours,
            &support::tree_from_keyspec(&spec),
            &format!("{name}: export vs hive"),
        );
    }
    // A flagged hive is read as far as it goes (forensic reading): the export, a warning
    // naming the problem, exit 1.
    let wrong = sample_file(dir.path(), "WrongOrderHive.gz");
    let r = coldpatch(&[os("reg"), os("export"), wrong.as_os_str()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r
        .stdout
        .starts_with(b"Windows Registry Editor Version 5.00"));
    assert!(r.stderr.contains("out of order"), "{}", r.stderr);
}

/// A fresh hive of the sample's version with only an empty root key.
fn fresh_hive(minor: u32) -> Vec<u8> {
    let root = KeySpec {
        name: "ROOT".into(),
        ..Default::default()
    };
    let opts = HiveOptions {
        minor_version: minor,
        timestamp: NOW,
        sequence: 1,
        file_name: "\\SystemRoot\\System32\\Config\\SYSTEM".into(),
        security_descriptor: SD.to_vec(),
    };
    build_hive(&root, &opts).unwrap()
}

fn without_root_name(mut t: Tree) -> Tree {
    t.name.clear();
    t
}

/// done-when 1: export → import into a freshly built hive → every reader sees the tree it
/// sees in the original (with the reader's documented losses, `Tree::lossy_for`, applied to
/// both). Each reader reads all hives in one run.
#[test]
fn export_then_import_into_a_fresh_hive_reads_the_same_in_all_readers() {
    let dir = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    let mut copies = Vec::new();
    for rel in exportable() {
        let name = sample_name(rel);
        let hive = sample_file(dir.path(), rel);
        let data = std::fs::read(&hive).unwrap();
        let minor = HiveRef::new(&data).unwrap().minor;
        let text = our_export(&hive);
        let reg = dir.path().join(format!("{name}.reg"));
        std::fs::write(&reg, &text).unwrap();
        let fresh = dir.path().join(format!("{name}.fresh"));
        std::fs::write(&fresh, fresh_hive(minor.min(5))).unwrap();
        let out = dir.path().join(format!("{name}.imported"));
        let r = coldpatch(&[
            os("reg"),
            os("import"),
            os("--prefix"),
            os(PREFIX),
            fresh.as_os_str(),
            reg.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ]);
        assert_eq!(r.code, 0, "{name}: import: {}", r.stderr);
        originals.push(hive);
        copies.push(out);
    }
    let paths: Vec<&Path> = originals
        .iter()
        .chain(copies.iter())
        .map(|p| p.as_path())
        .collect();
    let n = originals.len();
    for reader in Reader::ALL {
        let trees = dump_hives(reader, &paths);
        for i in 0..n {
            let name = originals[i].file_name().unwrap().to_string_lossy();
            let want = without_root_name(trees[i].clone()).lossy_for(reader);
            let got = without_root_name(trees[n + i].clone()).lossy_for(reader);
            assert!(
                want.key_count() > 0,
                "{name}: {reader:?} read an empty tree"
            );
            assert_trees_eq(
                &got,
                &want,
                &format!("{name}: {reader:?}, imported vs original"),
            );
        }
    }
}

/// Our export file, merged by hivexregedit into a fresh hive, gives what our import of the
/// same file gives (the file is a regedit file another tool reads the same way); and our
/// import of hivexregedit's export gives the same again.
#[test]
fn hivexregedit_merges_our_export_to_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    for rel in ["SAM.gz", "testhive.gz", "BigDataHive.gz"] {
        let name = sample_name(rel);
        let hive = sample_file(dir.path(), rel);
        let text = our_export(&hive);
        let reg = dir.path().join(format!("{name}.reg"));
        std::fs::write(&reg, &text).unwrap();
        let minor = HiveRef::new(&std::fs::read(&hive).unwrap()).unwrap().minor;
        let fresh = dir.path().join(format!("{name}.fresh"));
        std::fs::write(&fresh, fresh_hive(minor.min(5))).unwrap();
        let ours = dir.path().join(format!("{name}.ours"));
        let r = coldpatch(&[
            os("reg"),
            os("import"),
            os("--prefix"),
            os(PREFIX),
            fresh.as_os_str(),
            reg.as_os_str(),
            os("--out"),
            ours.as_os_str(),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        // And the other way round: hivexregedit's export (root key `[PREFIX\]`, LF lines,
        // every value as `hex(t):`) imported by us.
        let theirs_reg = dir.path().join(format!("{name}.hivex.reg"));
        std::fs::write(
            &theirs_reg,
            hivexregedit(&[
                os("--export"),
                os("--prefix"),
                os(PREFIX),
                hive.as_os_str(),
                os("\\"),
            ]),
        )
        .unwrap();
        let from_hivex = dir.path().join(format!("{name}.from-hivex"));
        let r = coldpatch(&[
            os("reg"),
            os("import"),
            os("--prefix"),
            os(PREFIX),
            fresh.as_os_str(),
            theirs_reg.as_os_str(),
            os("--out"),
            from_hivex.as_os_str(),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        hivexregedit_merge(&fresh, PREFIX, &reg);
        let trees = dump_hives(
            Reader::Hivex,
            &[ours.as_path(), fresh.as_path(), from_hivex.as_path()],
        );
        assert_trees_eq(
            &trees[1],
            &trees[0],
            &format!("{name}: hivexregedit --merge vs ours"),
        );
        assert_trees_eq(
            &trees[2],
            &trees[0],
            &format!("{name}: our import of hivexregedit's export vs of ours"),
        );
    }
}

fn import_args<'a>(hive: &'a Path, reg: &'a Path, out: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        os("reg"),
        os("import"),
        hive.as_os_str(),
        reg.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]
}

/// done-when 1: a malformed line is refused (exit 2) naming its line, before anything is
/// written: no output file, no journal, the hive unchanged. Likewise a key outside the prefix.
#[test]
fn a_bad_line_is_refused_with_its_number_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let before = std::fs::read(&hive).unwrap();
    let good = "Windows Registry Editor Version 5.00\r\n\r\n[\\New]\r\n\"a\"=dword:00000001\r\n";
    let cases: &[(&str, &str, usize)] = &[
        // A value line that is neither quoted nor `@`, after good lines that would apply.
        ("junk", "\r\n[\\Other]\r\n\"b\"=\"x\"\r\nnot a value\r\n", 8),
        // Bad hex on a continued line: the value's first line is named.
        ("hex", "\"c\"=hex:01,02,\\\r\n  zz\r\n", 5),
        ("dword", "\"d\"=dword:123456789\r\n", 5),
        ("key", "[\\Unclosed\r\n", 5),
        // A key path outside the prefix (here: none given, so paths must start with `\`).
        ("prefix", "\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\X]\r\n", 6),
    ];
    for (label, tail, line) in cases {
        let reg = dir.path().join(format!("{label}.reg"));
        std::fs::write(&reg, format!("{good}{tail}")).unwrap();
        // The text is UTF-8; our own parser agrees on the line (or accepts the text, for the
        // prefix case, which is the import's check).
        let text = decode_reg_bytes(&std::fs::read(&reg).unwrap()).unwrap();
        if let Err(e) = parse_reg(&text) {
            assert_eq!(e.line, *line, "{label}: {e}");
        }
        let out = dir.path().join(format!("{label}.out"));
        let r = coldpatch(&import_args(&hive, &reg, &out));
        assert_eq!(r.code, 2, "{label}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("line {line}:")),
            "{label}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
        assert!(!out.exists(), "{label}: output written");
        // In place: no journal, hive unchanged.
        let journal = dir.path().join(format!("{label}.journal"));
        let r = coldpatch(&[
            os("reg"),
            os("import"),
            hive.as_os_str(),
            reg.as_os_str(),
            os("--in-place"),
            os("--journal"),
            journal.as_os_str(),
        ]);
        assert_eq!(r.code, 2, "{label}: {}", r.stderr);
        assert!(!journal.exists(), "{label}: journal written");
        assert_eq!(std::fs::read(&hive).unwrap(), before, "{label}");
    }
    // The good part alone applies (so the refusals above were about the bad lines).
    let reg = dir.path().join("good.reg");
    std::fs::write(&reg, good).unwrap();
    let out = dir.path().join("good.out");
    let r = coldpatch(&import_args(&hive, &reg, &out));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new = std::fs::read(&out).unwrap();
    let h = HiveRef::new(&new).unwrap();
    assert!(h.key_by_path("New").unwrap().is_some());
}

/// `reg get` prints `.reg` value lines that parse back to the hive's bytes, and `--in-place`
/// import is undone exactly by the journal it writes.
#[test]
fn get_prints_reg_value_lines_and_in_place_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let data = std::fs::read(&hive).unwrap();
    let spec = tree::read_hive(&data).unwrap();
    // The deepest key with values.
    fn deepest<'a>(k: &'a KeySpec, path: String, best: &mut Option<(String, &'a KeySpec)>) {
        if !k.values.is_empty() && best.as_ref().map_or(true, |b| b.0.len() < path.len()) {
            *best = Some((path.clone(), k));
        }
        for c in &k.subkeys {
            let p = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}\\{}", c.name)
            };
            deepest(c, p, best);
        }
    }
    let mut best = None;
    deepest(&spec, String::new(), &mut best);
    let (path, key) = best.unwrap();
    let r = coldpatch(&[os("reg"), os("get"), hive.as_os_str(), os(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = String::from_utf8(r.stdout).unwrap();
    let text = format!("Windows Registry Editor Version 5.00\n\n[\\{path}]\n{lines}");
    let got = tree_of_prefix(&text, "");
    let k = got.find(&path).unwrap();
    let mut want: Vec<_> = key
        .values
        .iter()
        .map(|v| (v.name.clone(), v.kind, v.data.clone()))
        .collect();
    let mut have: Vec<_> = k
        .values
        .iter()
        .map(|v| (v.name.clone(), v.kind, v.data.clone()))
        .collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);

    // In place, with the prefix; then undone by the journal.
    let reg = dir.path().join("change.reg");
    std::fs::write(
        &reg,
        format!("Windows Registry Editor Version 5.00\r\n\r\n[{PREFIX}\\Added\\Deeper]\r\n@=\"x\"\r\n\r\n[-{PREFIX}\\{path}]\r\n"),
    )
    .unwrap();
    let journal = dir.path().join("undo.journal");
    let r = coldpatch(&[
        os("reg"),
        os("import"),
        os("--prefix"),
        os(PREFIX),
        hive.as_os_str(),
        reg.as_os_str(),
        os("--in-place"),
        os("--journal"),
        journal.as_os_str(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = std::fs::read(&hive).unwrap();
    let h = HiveRef::new(&after).unwrap();
    assert!(h.key_by_path("Added\\Deeper").unwrap().is_some());
    assert!(h.key_by_path(&path).unwrap().is_none());
    // `coldpatch undo JOURNAL` puts the hive back byte for byte.
    let r = coldpatch(&[os("undo"), journal.as_os_str()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&hive).unwrap(), data);
    // A file that is not a journal is refused as unreadable input, and nothing is written.
    let r = coldpatch(&[os("undo"), reg.as_os_str()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("journal"), "{}", r.stderr);
    assert_eq!(std::fs::read(&hive).unwrap(), data);
}

fn tree_of_prefix(text: &str, prefix: &str) -> Tree {
    let reg = parse_reg(text).unwrap();
    let empty = Tree {
        name: String::new(),
        values: Vec::new(),
        subkeys: Vec::new(),
    };
    apply_regfile(&empty, &reg, prefix).unwrap()
}

/// `--utf16` writes what regedit writes (UTF-16LE with a byte-order mark) and `--regedit4`
/// NT4's code page 1252; both decode to the same keys and values as the UTF-8 export, and a
/// hive with names outside code page 1252 is refused for `--regedit4` (exit 1, no output).
#[test]
fn utf16_and_regedit4_exports_hold_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "ExtendedASCIIHive.gz");
    let plain = tree_of(&our_export(&hive), "utf-8");
    for (flag, first) in [("--utf16", &[0xFF, 0xFE][..]), ("--regedit4", b"REGEDIT4")] {
        let r = coldpatch(&[
            os("reg"),
            os("export"),
            os(flag),
            os("--prefix"),
            os(PREFIX),
            hive.as_os_str(),
        ]);
        assert_eq!(r.code, 0, "{flag}: {}", r.stderr);
        assert!(r.stdout.starts_with(first), "{flag}");
        if flag == "--regedit4" {
            // Not UTF-8: `ë` is the single byte 0xEB.
            assert!(std::str::from_utf8(&r.stdout).is_err());
        }
        let text = decode_reg_bytes(&r.stdout).unwrap();
        assert_trees_eq(&tree_of(&text, flag), &plain, flag);
    }
    let unicode = sample_file(dir.path(), "UnicodeHive.gz");
    let r = coldpatch(&[
        os("reg"),
        os("export"),
        os("--regedit4"),
        unicode.as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("1252"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}
