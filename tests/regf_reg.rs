//! The `reg` verb's plumbing: import through the editor with `--out` (atomic) and
//! `--in-place` (journal first, exact undo), the refusals, and `get`/`export` through the
//! binary.

mod regf_support;
use coldpatch::cli::reg::import_failure;
use coldpatch::cli::Exit;
use coldpatch::regf::import::{import_ops, ImportError, Target};
use coldpatch::regf::regfile::{parse_reg, RegOp};
use coldpatch::regf::{disk, tree, verify, HiveRef};
use regf_support::*;
use std::process::Command;

fn parse(text: &str) -> Vec<RegOp> {
    parse_reg(text).unwrap().ops
}

/// `--out PATH` without `--force`.
fn new_file(path: &std::path::Path) -> Target<'_> {
    Target::Out {
        path,
        replace: false,
    }
}

fn ops() -> Vec<RegOp> {
    parse(
        "Windows Registry Editor Version 5.00\r\n\r\n\
         [\\Parameters\\Private]\r\n\
         \"Base GUID\"=hex:00,01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f\r\n\r\n\
         [\\New\\Deep]\r\n\
         \"DSA Computer\"=\"EXVS1\"\r\n\r\n\
         [\\ëigenaardig]\r\n\
         \"ëigenaardig\"=-\r\n\r\n\
         [-\\New]\r\n\r\n\
         [-\\never\\there]\r\n",
    )
}

#[test]
fn import_to_a_new_file_leaves_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "ExtendedASCIIHive.gz");
    let before = std::fs::read(&hive).unwrap();
    let out = dir.path().join("out.hive");
    let r = import_ops(&hive, &ops(), "", new_file(&out), false, 1).unwrap();
    assert_eq!(r.summary.keys_created, 4);
    assert_eq!(r.summary.keys_deleted, 1);
    assert_eq!(r.summary.values_set, 2);
    assert_eq!(r.summary.values_deleted, 1);
    assert_eq!(std::fs::read(&hive).unwrap(), before);
    let new = std::fs::read(&out).unwrap();
    assert!(verify(&new).ok());
    let h = HiveRef::new(&new).unwrap();
    assert!(h.key_by_path("parameters\\PRIVATE").unwrap().is_some());
    assert!(h.key_by_path("New").unwrap().is_none());
    let k = h.key_by_path("ëigenaardig").unwrap().unwrap();
    assert_eq!(k.value_count, 0);
    // Both sequence numbers advanced by one.
    let old_seq = u32::from_le_bytes(before[4..8].try_into().unwrap());
    assert_eq!(
        u32::from_le_bytes(new[4..8].try_into().unwrap()),
        old_seq + 1
    );
    assert_eq!(
        u32::from_le_bytes(new[8..12].try_into().unwrap()),
        old_seq + 1
    );
    // --out onto the input itself is refused: that is what --in-place is for.
    let e = import_ops(&hive, &ops(), "", new_file(&hive), false, 1).unwrap_err();
    assert!(matches!(e, ImportError::OutIsInput(_)), "{e}");
    let e = import_failure(e);
    assert_eq!(e.exit, Exit::Usage);
    assert_eq!(std::fs::read(&hive).unwrap(), before);
    // An --out file that exists is refused (exit 2, named, untouched) unless replace (--force).
    let taken = dir.path().join("taken.hive");
    std::fs::write(&taken, b"someone's file").unwrap();
    let e = import_ops(&hive, &ops(), "", new_file(&taken), false, 1).unwrap_err();
    assert!(matches!(e, ImportError::OutExists(_)), "{e}");
    let f = import_failure(e);
    assert_eq!(f.exit, Exit::Usage);
    assert!(
        f.message.contains("taken.hive") && f.message.contains("--force"),
        "{}",
        f.message
    );
    assert_eq!(std::fs::read(&taken).unwrap(), b"someone's file");
    import_ops(
        &hive,
        &ops(),
        "",
        Target::Out {
            path: &taken,
            replace: true,
        },
        false,
        1,
    )
    .unwrap();
    assert_eq!(std::fs::read(&taken).unwrap(), new);
    std::fs::remove_file(&taken).unwrap();
    // No temporary files left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn in_place_import_is_journaled_and_undoes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let before = std::fs::read(&hive).unwrap();
    let journal = dir.path().join("undo.journal");
    let r = import_ops(
        &hive,
        &ops(),
        "",
        Target::InPlace { journal: &journal },
        false,
        1,
    )
    .unwrap();
    assert_eq!(r.journal.as_deref(), Some(journal.to_str().unwrap()));
    let after = std::fs::read(&hive).unwrap();
    assert_ne!(after, before);
    assert!(verify(&after).ok());
    // Every changed byte is inside a journaled range.
    let j = coldpatch::journal::read(&journal).unwrap();
    assert!(j.sealed && j.committed);
    let mut ranges = Vec::new();
    j.for_each_range(|r, _| {
        ranges.push(r.offset..r.offset + r.new.len() as u64);
        Ok(())
    })
    .unwrap();
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        if a != b {
            assert!(ranges.iter().any(|r| r.contains(&(i as u64))));
        }
    }
    // A second run must not overwrite the journal.
    assert!(import_ops(
        &hive,
        &ops(),
        "",
        Target::InPlace { journal: &journal },
        false,
        1
    )
    .is_err());
    coldpatch::journal::undo(&journal).unwrap();
    assert_eq!(std::fs::read(&hive).unwrap(), before);
}

#[test]
fn dirty_and_flagged_hives_are_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let dirty = sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.gz");
    sample_file(dir.path(), "OldDirtyHive/OldDirtyHive.LOG1.gz");
    let before = std::fs::read(&dirty).unwrap();
    let out = dir.path().join("out");
    let e = import_ops(&dirty, &ops(), "", new_file(&out), false, 1).unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::Dirty {
                sequence1: 5,
                sequence2: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = import_failure(e);
    assert_eq!(e.exit, Exit::Problems);
    assert!(
        e.message.contains("primary sequence number 5, secondary 4"),
        "{}",
        e.message
    );
    assert!(e.message.contains("OldDirtyHive.LOG1"), "{}", e.message);
    assert!(!out.exists());
    // With --replay-log the log is replayed first, then edited.
    let r = import_ops(&dirty, &ops(), "", new_file(&out), true, 1).unwrap();
    assert_eq!(r.replayed_log.len(), 1);
    let new = std::fs::read(&out).unwrap();
    assert!(verify(&new).ok());
    let t = tree::read_hive(&new).unwrap();
    assert!(t.subkeys.iter().any(|k| k.name == "Parameters"));
    assert_eq!(std::fs::read(&dirty).unwrap(), before);

    let wrong = sample_file(dir.path(), "WrongOrderHive.gz");
    let before = std::fs::read(&wrong).unwrap();
    let journal = dir.path().join("j");
    let e = import_ops(
        &wrong,
        &ops(),
        "",
        Target::InPlace { journal: &journal },
        false,
        1,
    )
    .unwrap_err();
    let e = import_failure(e);
    assert_eq!(e.exit, Exit::Problems);
    assert!(e.message.contains("out of order"), "{}", e.message);
    assert_eq!(std::fs::read(&wrong).unwrap(), before);
    assert!(!journal.exists());

    // A failing operation: nothing is written.
    let ok = sample_file(dir.path(), "UnicodeHive.gz");
    let out2 = dir.path().join("out2");
    let bad = parse("Windows Registry Editor Version 5.00\r\n\r\n[\\fine]\r\n\r\n[-\\]\r\n");
    let e = import_ops(&ok, &bad, "", new_file(&out2), false, 1).unwrap_err();
    assert!(matches!(e, ImportError::Op { .. }), "{e}");
    let e = import_failure(e);
    assert_eq!(e.exit, Exit::Problems);
    assert!(e.message.contains("root"), "{}", e.message);
    assert!(!out2.exists());
}

fn coldpatch(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn get_and_export_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "ExtendedASCIIHive.gz");
    let h = hive.to_str().unwrap();
    let (code, out, err) = coldpatch(&["reg", "get", h, "ËIGENAARDIG", "ëigenaardig"]);
    assert_eq!(code, 0, "{err}");
    // `.reg` value syntax, the key's own spelling of the name.
    assert_eq!(out, "\"ëigenaardig\"=\"ëigenaardig\"\n");
    let (code, out, _) = coldpatch(&["--json", "reg", "get", h, "ëigenaardig"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["values"][0]["type"], "REG_SZ");
    assert_eq!(coldpatch(&["reg", "get", h, "missing"]).0, 1);
    assert_eq!(coldpatch(&["reg", "get", "/nonexistent/hive", "x"]).0, 2);
    let (code, out, _) = coldpatch(&["reg", "export", h]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Windows Registry Editor Version 5.00"));
    assert!(out.contains("[\\ëigenaardig]"), "{out}");
    let wrong = sample_file(dir.path(), "WrongOrderHive.gz");
    assert_eq!(coldpatch(&["reg", "export", wrong.to_str().unwrap()]).0, 1);
}

/// A hive and an edit of it (a new key, so bins and base block both change).
fn sam_and_edit(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let hive = sample_file(dir, "SAM.gz");
    let before = std::fs::read(&hive).unwrap();
    let mut ed = coldpatch::regf::Editor::open(before.clone(), 1).unwrap();
    ed.create_key("interrupted\\write").unwrap();
    let new = ed.finish();
    (hive, before, new)
}

#[test]
fn interrupted_in_place_write_is_dirty_and_undoes_exactly() {
    for stop in [disk::Stop::AfterFirstBaseBlock, disk::Stop::AfterBins] {
        let dir = tempfile::tempdir().unwrap();
        let (hive, before, new) = sam_and_edit(dir.path());
        let journal = dir.path().join("undo.journal");
        disk::write_in_place_until(&hive, &before, &new, &journal, stop).unwrap();
        // The journal names the hive by its absolute path; the write did not finish.
        let j = coldpatch::journal::read(&journal).unwrap();
        assert!(j.sealed && !j.committed);
        assert!(j.files[0].path.is_absolute(), "{:?}", j.files[0].path);
        assert_eq!(j.files[0].path, std::fs::canonicalize(&hive).unwrap());
        let mid = std::fs::read(&hive).unwrap();
        assert_ne!(mid, before, "{stop:?}");
        let r = verify(&mid);
        assert!(r.dirty, "{stop:?}: an interrupted write must look dirty");
        let (code, out, err) = coldpatch(&["verify", "--json", hive.to_str().unwrap()]);
        assert!(
            out.contains("\"dirty\": true"),
            "{stop:?} {code} {out} {err}"
        );
        // Undo from another working directory restores the original bytes exactly.
        let o = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
            .args(["undo", journal.to_str().unwrap()])
            .current_dir("/")
            .output()
            .unwrap();
        assert!(o.status.success(), "{stop:?}: {o:?}");
        assert_eq!(std::fs::read(&hive).unwrap(), before, "{stop:?}");
    }
    // The whole write ends clean.
    let dir = tempfile::tempdir().unwrap();
    let (hive, before, new) = sam_and_edit(dir.path());
    let journal = dir.path().join("undo.journal");
    disk::write_in_place(&hive, &before, &new, &journal).unwrap();
    assert_eq!(std::fs::read(&hive).unwrap(), new);
    assert!(!verify(&new).dirty);
}

#[test]
fn in_place_write_refuses_a_hive_changed_since_read() {
    let dir = tempfile::tempdir().unwrap();
    let (hive, before, new) = sam_and_edit(dir.path());
    // Same size, one byte different in the bins.
    let mut changed = before.clone();
    changed[5000] ^= 0xFF;
    std::fs::write(&hive, &changed).unwrap();
    let journal = dir.path().join("undo.journal");
    let e = disk::write_in_place(&hive, &before, &new, &journal).unwrap_err();
    assert!(matches!(e, disk::WriteError::Changed { .. }), "{e}");
    assert!(e.to_string().contains("SHA-256"), "{e}");
    assert_eq!(std::fs::read(&hive).unwrap(), changed);
    assert!(!journal.exists());
}

#[test]
fn in_place_write_never_replaces_an_existing_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (hive, before, new) = sam_and_edit(dir.path());
    let journal = dir.path().join("undo.journal");
    std::fs::write(&journal, b"an earlier undo").unwrap();
    let e = disk::write_in_place(&hive, &before, &new, &journal).unwrap_err();
    assert!(matches!(e, disk::WriteError::JournalExists(_)), "{e}");
    assert_eq!(std::fs::read(&journal).unwrap(), b"an earlier undo");
    assert_eq!(std::fs::read(&hive).unwrap(), before);
}

#[test]
fn an_in_place_import_that_fails_before_its_journal_is_sealed_says_nothing_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let before = std::fs::read(&hive).unwrap();
    let journal = dir.path().join("no-such-dir").join("undo.journal");
    let e = import_ops(
        &hive,
        &ops(),
        "",
        Target::InPlace { journal: &journal },
        false,
        1,
    )
    .unwrap_err();
    assert!(
        matches!(e, ImportError::InPlace { touched: false, .. }),
        "{e}"
    );
    let e = import_failure(e);
    assert_eq!(e.exit, Exit::WriteFailed);
    assert!(e.message.ends_with("nothing was written"), "{}", e.message);
    assert!(!e.message.contains("coldpatch undo"), "{}", e.message);
    assert_eq!(std::fs::read(&hive).unwrap(), before);
}

#[test]
fn out_with_journal_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let reg = dir.path().join("in.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\x]\r\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let journal = dir.path().join("j");
    let (code, _, err) = coldpatch(&[
        "reg",
        "import",
        hive.to_str().unwrap(),
        reg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--journal"), "{err}");
    assert!(!out.exists() && !journal.exists());
}

#[test]
fn source_date_epoch_overflow_is_a_usage_error() {
    use coldpatch::cli::reg::filetime_from;
    // 1970 → 11644473600 s after 1601, in 100 ns units.
    assert_eq!(filetime_from(Some("0")).unwrap(), 116_444_736_000_000_000);
    for bad in ["18446744073709551615", "1844674407370955161", "soon"] {
        let e = filetime_from(Some(bad)).unwrap_err();
        assert_eq!(e.exit, Exit::Usage, "{bad}");
        assert!(e.message.contains("SOURCE_DATE_EPOCH"), "{}", e.message);
    }
    // Through the binary: refused before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "SAM.gz");
    let reg = dir.path().join("in.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\x]\r\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args([
            "reg",
            "import",
            hive.to_str().unwrap(),
            reg.to_str().unwrap(),
        ])
        .arg("--out")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "18446744073709551615")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOURCE_DATE_EPOCH"));
    assert!(!out.exists());
}

#[test]
fn get_reads_only_the_keys_own_values() {
    use coldpatch::cli::reg::key_values;
    use coldpatch::regf::write::{build_hive, HiveOptions, KeySpec, ValueSpec};
    let spec = KeySpec {
        name: "ROOT".into(),
        subkeys: vec![KeySpec {
            name: "A".into(),
            values: vec![ValueSpec::dword("n", 7), ValueSpec::sz("s", "text")],
            subkeys: vec![KeySpec {
                name: "B".into(),
                subkeys: vec![KeySpec {
                    name: "C".into(),
                    ..KeySpec::default()
                }],
                ..KeySpec::default()
            }],
            ..KeySpec::default()
        }],
        ..KeySpec::default()
    };
    let opts = HiveOptions {
        minor_version: 5,
        timestamp: 1,
        sequence: 1,
        file_name: "t".into(),
        security_descriptor: vec![
            1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    };
    let mut bytes = build_hive(&spec, &opts).unwrap();
    // Break B's subkey list: the subtree below A can no longer be read.
    let list = {
        let h = HiveRef::new(&bytes).unwrap();
        h.key_by_path("A\\B").unwrap().unwrap().subkey_list
    };
    let at = 4096 + list.0 as usize + 4;
    bytes[at..at + 2].copy_from_slice(b"zz");
    let h = HiveRef::new(&bytes).unwrap();
    let a = h.key_by_path("A").unwrap().unwrap();
    assert!(tree::read_tree(&h, &a).is_err());
    let all = key_values(&h, &a, None).unwrap().unwrap();
    assert_eq!(all, spec.subkeys[0].values);
    let one = key_values(&h, &a, Some("S")).unwrap().unwrap();
    assert_eq!(one, vec![spec.subkeys[0].values[1].clone()]);
    assert_eq!(key_values(&h, &a, Some("none")).unwrap(), None);
}

/// Regression: undo wrote the journal's old bytes over a hive that had changed since (and over
/// another file put in its place) and reported success. Now it checks first and refuses.
#[test]
fn undo_refuses_a_hive_changed_since_the_write_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hive, before, new) = sam_and_edit(dir.path());
    let journal = dir.path().join("undo.journal");
    disk::write_in_place(&hive, &before, &new, &journal).unwrap();
    // Changed outside the journaled ranges (the last byte of the last bin is untouched).
    let mut changed = new.clone();
    let at = changed.len() - 1;
    assert_eq!(before.get(at), new.get(at));
    changed[at] ^= 0xFF;
    std::fs::write(&hive, &changed).unwrap();
    let (code, _, err) = coldpatch(&["undo", journal.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read(&hive).unwrap(), changed);
    // Another file in its place.
    std::fs::write(&hive, vec![0u8; before.len()]).unwrap();
    assert_eq!(coldpatch(&["undo", journal.to_str().unwrap()]).0, 1);
    // Put back as written: undo restores the original.
    std::fs::write(&hive, &new).unwrap();
    assert_eq!(coldpatch(&["undo", journal.to_str().unwrap()]).0, 0);
    assert_eq!(std::fs::read(&hive).unwrap(), before);
}

/// Regression: `undo` of a journal that does not exist exited 3 ("run undo again"); it is an
/// unreadable input (exit 2) and nothing is written.
#[test]
fn undo_of_a_missing_journal_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no.journal");
    let (code, _, err) = coldpatch(&["undo", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
}

/// Input that is no hive at all — empty, random bytes, a short file, another format — is
/// unreadable input: exit 2 from every reg verb, naming the file, as from `verify`.
#[test]
fn no_hive_at_all_exits_2_from_every_reg_verb() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("in.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\r\n\r\n[\\x]\r\n",
    )
    .unwrap();
    let mut noise = vec![0u8; 8192];
    for (i, b) in noise.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    let cases: [(&str, Vec<u8>); 3] = [
        ("empty.hive", Vec::new()),
        ("short.hive", b"not much".to_vec()),
        ("noise.hive", noise),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let out = dir.path().join(format!("{name}.out"));
        for args in [
            vec!["reg", "export", p],
            vec!["reg", "get", p, "\\"],
            vec![
                "reg",
                "import",
                p,
                reg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            vec!["verify", p],
        ] {
            let (code, _, err) = coldpatch(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(err.contains(name), "{args:?}: {err}");
            assert_eq!(err.matches("coldpatch:").count(), 1, "{args:?}: {err}");
        }
        assert!(!out.exists());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
    // A hive cut short after its signature is a damaged hive: problems found (exit 1), the
    // same from verify and from the reg verbs.
    let cut = dir.path().join("cut.hive");
    std::fs::write(&cut, b"regf and then nothing").unwrap();
    for args in [
        vec!["verify", cut.to_str().unwrap()],
        vec!["reg", "export", cut.to_str().unwrap()],
    ] {
        let (code, _, err) = coldpatch(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
    }
}

/// Windows' limits, refused on import with the line and the limit, nothing written: keys past
/// 512 levels (what `reg export` reads), and values above 1 MiB in a 1.3 hive (no big data
/// cells: hivex and libregf refuse such a hive). A 1.5 hive takes the large value.
#[test]
fn keys_past_512_levels_and_large_values_in_a_1_3_hive_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hive = sample_file(dir.path(), "ExtendedASCIIHive.gz");
    let before = std::fs::read(&hive).unwrap();
    let key = |levels: usize| (0..levels).map(|i| format!("\\k{i}")).collect::<String>();
    let deep = |levels: usize| {
        parse(&format!(
            "Windows Registry Editor Version 5.00\r\n\r\n[{}]\r\n",
            key(levels)
        ))
    };
    let out = dir.path().join("deep.hive");
    import_ops(&hive, &deep(512), "", new_file(&out), false, 1).expect("512 levels");
    let tree = tree::read_hive(&std::fs::read(&out).unwrap()).expect("export reads it");
    assert_eq!(tree.subkeys.len(), before_keys(&before) + 1);
    let out2 = dir.path().join("deeper.hive");
    let e = import_ops(&hive, &deep(513), "", new_file(&out2), false, 1).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("line 3") && text.contains("513 levels") && text.contains("512"),
        "{text}"
    );
    assert_eq!(import_failure(e).exit, Exit::Problems);
    assert!(!out2.exists());

    let big = |size: usize| {
        let hex: Vec<String> = (0..size).map(|i| format!("{:02x}", i % 251)).collect();
        parse(&format!(
            "Windows Registry Editor Version 5.00\r\n\r\n[\\Big]\r\n\"Blob\"=hex:{}\r\n",
            hex.join(",")
        ))
    };
    let limit = coldpatch::regf::ops::STANDARD_VALUE_MOST;
    let fits = dir.path().join("fits.hive");
    import_ops(&hive, &big(limit), "", new_file(&fits), false, 1).expect("1 MiB fits");
    let too = dir.path().join("too.hive");
    let e = import_ops(&hive, &big(limit + 1), "", new_file(&too), false, 1).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("\"Blob\"") && text.contains("1.3") && text.contains(&limit.to_string()),
        "{text}"
    );
    assert!(!too.exists());
    assert_eq!(std::fs::read(&hive).unwrap(), before);
    let newer = sample_file(dir.path(), "testhive.gz");
    let taken = dir.path().join("newer.hive");
    import_ops(&newer, &big(limit + 1), "", new_file(&taken), false, 1).expect("1.5 takes it");
}

/// The number of subkeys of the root of a hive's bytes.
fn before_keys(bytes: &[u8]) -> usize {
    tree::read_hive(bytes).unwrap().subkeys.len()
}
