use super::*;

/// Two files: `a` with two changed ranges, `b` grown by an appended tail.
struct Case {
    _dir: tempfile::TempDir,
    journal: PathBuf,
    a: PathBuf,
    b: PathBuf,
    a0: Vec<u8>,
    b0: Vec<u8>,
    a1: Vec<u8>,
    b1: Vec<u8>,
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn case(seal: bool) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.edb"), dir.path().join("b.hive"));
    let a0: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let b0 = vec![7u8; 4096];
    std::fs::write(&a, &a0).unwrap();
    std::fs::write(&b, &b0).unwrap();
    let mut a1 = a0.clone();
    a1[100..116].copy_from_slice(&[0xAA; 16]);
    a1[9000..9004].copy_from_slice(&[1, 2, 3, 4]);
    let mut b1 = b0.clone();
    b1[10] = 9;
    b1.extend_from_slice(&[5u8; 4096]);
    let journal = dir.path().join("j");
    let mut w = JournalWriter::create(&journal, &[a.clone(), b.clone()]).unwrap();
    w.record(0, 100, &a0[100..116], &a1[100..116]).unwrap();
    w.record(0, 9000, &a0[9000..9004], &a1[9000..9004]).unwrap();
    // Two batches, as a large run writes them.
    w.flush().unwrap();
    w.record(1, 10, &b0[10..11], &b1[10..11]).unwrap();
    w.record(1, 4096, &[], &b1[4096..]).unwrap();
    if seal {
        let files = vec![
            JournalFile {
                path: a.clone(),
                size_before: a0.len() as u64,
                sha256_before: sha(&a0),
                size_after: a1.len() as u64,
                sha256_after: sha(&a1),
            },
            JournalFile {
                path: b.clone(),
                size_before: b0.len() as u64,
                sha256_before: sha(&b0),
                size_after: b1.len() as u64,
                sha256_after: sha(&b1),
            },
        ];
        w.seal(&files).unwrap();
        w.commit().unwrap();
    } else {
        w.flush().unwrap();
    }
    Case {
        _dir: dir,
        journal,
        a,
        b,
        a0,
        b0,
        a1,
        b1,
    }
}

fn originals(c: &Case) {
    assert_eq!(std::fs::read(&c.a).unwrap(), c.a0);
    assert_eq!(std::fs::read(&c.b).unwrap(), c.b0);
}

#[test]
fn apply_then_undo_round_trips_two_files_one_growing() {
    let c = case(true);
    let j = read(&c.journal).unwrap();
    assert_eq!(
        (j.sealed, j.committed, j.ranges, j.files.len()),
        (true, true, 4, 2)
    );
    apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}).unwrap();
    assert_eq!(std::fs::read(&c.a).unwrap(), c.a1);
    assert_eq!(std::fs::read(&c.b).unwrap(), c.b1);
    // Applying again finds the files no longer in their before state.
    assert!(matches!(
        apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}),
        Err(JournalError::Refused { .. })
    ));
    let r = undo(&c.journal).unwrap();
    assert_eq!(r.files.len(), 2);
    originals(&c);
    // Undo again: nothing to do.
    let r = undo(&c.journal).unwrap();
    assert!(r
        .files
        .iter()
        .all(|(_, a)| *a == UndoAction::AlreadyOriginal));
}

#[test]
fn undo_restores_after_a_crash_at_any_point() {
    // Sealed, then 0..=4 ranges written (the pause stops the writing by panicking), and a
    // torn range whose bytes are half old, half new.
    for stop in 0..=4u64 {
        let c = case(true);
        let r = std::panic::catch_unwind(|| {
            apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|n| {
                if n > stop {
                    panic!("crash");
                }
            })
        });
        assert_eq!(r.is_err(), stop < 4);
        undo(&c.journal).unwrap();
        originals(&c);
    }
    let c = case(true);
    let f = OpenOptions::new().write(true).open(&c.a).unwrap();
    f.write_all_at(&c.a1[100..108], 100).unwrap();
    undo(&c.journal).unwrap();
    originals(&c);
}

#[test]
fn an_unsealed_journal_undoes_nothing_and_writes_nothing() {
    let c = case(false);
    let j = read(&c.journal).unwrap();
    assert!(!j.sealed);
    assert!(apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}).is_err());
    let r = undo(&c.journal).unwrap();
    assert!(!r.sealed);
    assert_eq!(
        r.files,
        vec![
            (c.a.clone(), UndoAction::AlreadyOriginal),
            (c.b.clone(), UndoAction::AlreadyOriginal)
        ]
    );
    originals(&c);
}

/// Each frame of a journal's bytes: kind, start and end.
fn frame_spans(bytes: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut at = MAGIC.len();
    let mut out = Vec::new();
    while at + 5 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let end = at + 5 + len + CHECK_LEN;
        out.push((bytes[at], at, end));
        at = end;
    }
    assert_eq!(at, bytes.len());
    out
}

/// The bytes of every file of a case, to show that nothing was written.
fn contents(c: &Case) -> (Vec<u8>, Vec<u8>) {
    (std::fs::read(&c.a).unwrap(), std::fs::read(&c.b).unwrap())
}

/// Regression: a journal of a run that wrote, cut short before its SEALED frame, read as a
/// crash before the seal ("nothing to undo", success) while the files held the patch. Undo now
/// checks that every recorded range still holds its old bytes, and refuses when not.
#[test]
fn a_journal_cut_before_its_seal_from_a_run_that_wrote_is_refused_and_nothing_is_written() {
    let c = case(true);
    apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}).unwrap();
    let whole = std::fs::read(&c.journal).unwrap();
    let patched = contents(&c);
    let frames = frame_spans(&whole);
    let end_of = |kind: u8, first: bool| {
        let mut ends = frames.iter().filter(|f| f.0 == kind).map(|f| f.2);
        if first {
            ends.next().unwrap()
        } else {
            ends.next_back().unwrap()
        }
    };
    let paths_end = end_of(KIND_PATHS, true);
    let first_range_end = end_of(KIND_RANGES, true);
    // The file table, SEALED and COMMITTED are the last frames; every cut before the end of
    // the last batch of ranges is one before the seal.
    let sealed_at = end_of(KIND_RANGES, false);
    assert!(paths_end < first_range_end && first_range_end < sealed_at);
    // Without its COMMITTED frame alone it is the journal of a run stopped after its writes:
    // undo restores (checked below, last).
    let uncommitted = whole.len() - (5 + CHECK_LEN);
    for cut in (0..whole.len()).filter(|&c| c != uncommitted) {
        std::fs::write(&c.journal, &whole[..cut]).unwrap();
        let r = undo(&c.journal);
        if (paths_end..first_range_end).contains(&cut) {
            // The list of files and no whole range: the same journal as a run stopped before
            // it recorded anything; undo cannot tell (the README says so) and writes nothing.
            assert!(matches!(&r, Ok(u) if !u.sealed), "cut at {cut}: {r:?}");
        } else {
            assert!(r.is_err(), "cut at {cut} of {}: {r:?}", whole.len());
        }
        if cut >= paths_end && cut < sealed_at && r.is_err() {
            // Cut after the list of files: the range check names the patched file.
            let named = matches!(&r, Err(JournalError::Refused { file, .. }) if *file == c.a);
            assert!(named, "cut at {cut}: {r:?}");
        }
        assert_eq!(contents(&c), patched, "cut at {cut}: a file was written");
    }
    std::fs::write(&c.journal, &whole[..uncommitted]).unwrap();
    assert!(!read(&c.journal).unwrap().committed);
    undo(&c.journal).unwrap();
    originals(&c);
    std::fs::write(&c.journal, &whole).unwrap();
    undo(&c.journal).unwrap();
    originals(&c);
}

/// Regression: a range whose offset plus length passes 2^64 panicked (an overflow) while the
/// journal was read; it is a damaged journal.
#[test]
fn a_range_whose_offset_and_length_overflow_is_refused_not_a_panic() {
    let c = case(false);
    let journal = c.journal.with_extension("crafted");
    let mut w = JournalWriter::create(&journal, std::slice::from_ref(&c.a)).unwrap();
    w.record(0, u64::MAX - 2, &[1, 2, 3, 4], &[5, 6, 7, 8])
        .unwrap();
    w.seal(&[JournalFile {
        path: c.a.clone(),
        size_before: u64::MAX,
        sha256_before: sha(&c.a0),
        size_after: u64::MAX,
        sha256_after: sha(&c.a0),
    }])
    .unwrap();
    assert!(matches!(undo(&journal), Err(JournalError::Damaged { .. })));
    originals(&c);
}

/// A file table that names a file twice, or has a file shrink, is a damaged journal.
#[test]
fn a_file_table_naming_a_file_twice_or_shrinking_is_refused() {
    let c = case(false);
    let entry = |size_after: u64| JournalFile {
        path: c.a.clone(),
        size_before: c.a0.len() as u64,
        sha256_before: sha(&c.a0),
        size_after,
        sha256_after: sha(&c.a1),
    };
    for (k, files) in [
        vec![entry(c.a0.len() as u64), entry(c.a0.len() as u64)],
        vec![entry(10)],
    ]
    .into_iter()
    .enumerate()
    {
        let journal = c.journal.with_extension(format!("crafted{k}"));
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let mut w = JournalWriter::create(&journal, &paths).unwrap();
        w.seal(&files).unwrap();
        assert!(
            matches!(undo(&journal), Err(JournalError::Damaged { .. })),
            "{k}"
        );
    }
    // A file table naming other files than the list the journal began with.
    let journal = c.journal.with_extension("crafted-other");
    let mut w = JournalWriter::create(&journal, std::slice::from_ref(&c.b)).unwrap();
    w.seal(&[entry(c.a0.len() as u64)]).unwrap();
    assert!(matches!(undo(&journal), Err(JournalError::Damaged { .. })));
    originals(&c);
}

/// A file replaced by a symbolic link (here to a copy of the patched file) is refused: undo
/// writes through no link, and writes no other file either.
#[test]
fn a_file_replaced_by_a_symlink_is_refused_and_nothing_is_written() {
    let c = case(true);
    apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}).unwrap();
    let copy = c.a.with_extension("copy");
    std::fs::rename(&c.a, &copy).unwrap();
    std::os::unix::fs::symlink(&copy, &c.a).unwrap();
    match undo(&c.journal) {
        Err(JournalError::Refused { file, what, .. }) => {
            assert_eq!(file, c.a);
            assert!(what.contains("symbolic link"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&copy).unwrap(), c.a1);
    assert_eq!(std::fs::read(&c.b).unwrap(), c.b1);
    std::fs::remove_file(&c.a).unwrap();
    std::fs::rename(&copy, &c.a).unwrap();
    undo(&c.journal).unwrap();
    originals(&c);
}

#[test]
fn a_file_changed_since_or_replaced_is_refused_and_nothing_is_written() {
    let c = case(true);
    apply_sealed(&c.journal, &BTreeMap::new(), &BTreeMap::new(), &|_| {}).unwrap();
    // Someone else writes into `a` outside the recorded ranges.
    let mut changed = c.a1.clone();
    changed[5000] ^= 0xFF;
    std::fs::write(&c.a, &changed).unwrap();
    let e = undo(&c.journal).unwrap_err();
    assert!(matches!(e, JournalError::Refused { .. }), "{e}");
    assert_eq!(std::fs::read(&c.a).unwrap(), changed);
    assert_eq!(std::fs::read(&c.b).unwrap(), c.b1, "b untouched too");
    // Inside a range: named at that offset.
    let mut inside = c.a1.clone();
    inside[101] = 0x55;
    std::fs::write(&c.a, &inside).unwrap();
    match undo(&c.journal).unwrap_err() {
        JournalError::Refused { offset, .. } => assert_eq!(offset, 101),
        e => panic!("{e}"),
    }
    // Another file in its place.
    std::fs::write(&c.a, vec![0u8; c.a0.len()]).unwrap();
    assert!(matches!(
        undo(&c.journal),
        Err(JournalError::Refused { .. })
    ));
}

/// A file stamped when it was read is checked by its stamp and its ranges' old bytes, not
/// hashed again: a write since (new stamp), or different bytes inside a range under the same
/// stamp, is refused before any byte of any file is written.
#[test]
fn a_stamped_file_is_checked_by_its_stamp_and_its_ranges() {
    let c = case(true);
    let stamps = |p: &Path| BTreeMap::from([(0u32, FileStamp::of(p).unwrap())]);
    apply_sealed(&c.journal, &BTreeMap::new(), &stamps(&c.a), &|_| {}).unwrap();
    assert_eq!(std::fs::read(&c.a).unwrap(), c.a1);
    assert_eq!(std::fs::read(&c.b).unwrap(), c.b1);

    for (inside, at) in [(false, 0u64), (true, 9002)] {
        let c = case(true);
        let taken = stamps(&c.a);
        let mut now = c.a0.clone();
        if inside {
            // Changed inside the second range, and stamped after: the stamp matches.
            now[9002] ^= 0xFF;
        } else {
            // Changed outside every range after the stamp: only the stamp can tell.
            now[5000] ^= 0xFF;
        }
        std::fs::write(&c.a, &now).unwrap();
        let taken = if inside { stamps(&c.a) } else { taken };
        match apply_sealed(&c.journal, &BTreeMap::new(), &taken, &|_| {}) {
            Err(JournalError::Refused { file, offset, .. }) => {
                assert_eq!((file, offset), (c.a.clone(), at))
            }
            other => panic!("{inside}: {other:?}"),
        }
        assert_eq!(std::fs::read(&c.a).unwrap(), now);
        assert_eq!(std::fs::read(&c.b).unwrap(), c.b0, "b untouched too");
    }
}

#[test]
fn a_damaged_or_foreign_journal_is_refused() {
    let c = case(true);
    let bytes = std::fs::read(&c.journal).unwrap();
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    std::fs::write(&c.journal, &flipped).unwrap();
    assert!(matches!(
        read(&c.journal),
        Err(JournalError::Damaged { .. })
    ));
    std::fs::write(&c.journal, &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(
        read(&c.journal),
        Err(JournalError::Damaged { .. })
    ));
    std::fs::write(&c.journal, b"{\"format\": \"json\"}").unwrap();
    assert!(matches!(read(&c.journal), Err(JournalError::NotJournal(_))));
    // An existing journal is never written over.
    assert!(matches!(
        JournalWriter::create(&c.journal, &[]),
        Err(JournalError::Exists(_))
    ));
    originals(&c);
}

/// A file whose first 512 bytes are written last, over an interim header written first.
fn head_last_case() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h.hive");
    let h0: Vec<u8> = (0..8192u32).map(|i| (i % 249) as u8).collect();
    std::fs::write(&h, &h0).unwrap();
    let mut h1 = h0.clone();
    h1[4..8].copy_from_slice(&[9, 9, 9, 9]);
    h1[600..604].copy_from_slice(&[1, 2, 3, 4]);
    h1.extend_from_slice(&[3u8; 4096]);
    let journal = dir.path().join("j");
    let mut w = JournalWriter::create(&journal, std::slice::from_ref(&h)).unwrap();
    // The header whole (bytes 0..512), then the rest.
    w.record(0, 0, &h0[..512], &h1[..512]).unwrap();
    w.record(0, 600, &h0[600..604], &h1[600..604]).unwrap();
    w.record(0, 8192, &[], &h1[8192..]).unwrap();
    w.seal(&[JournalFile {
        path: h.clone(),
        size_before: h0.len() as u64,
        sha256_before: sha(&h0),
        size_after: h1.len() as u64,
        sha256_after: sha(&h1),
    }])
    .unwrap();
    (dir, journal, h, h0, h1)
}

#[test]
fn a_head_last_file_gets_its_interim_header_first_and_its_header_last() {
    let (_dir, journal, h, h0, h1) = head_last_case();
    let interim = vec![0xEEu8; 512];
    let heads = BTreeMap::from([(
        0u32,
        HeadLast {
            interim: interim.clone(),
        },
    )]);
    // While the other ranges are written, the file starts with the interim header.
    let seen = std::cell::RefCell::new(Vec::new());
    apply_sealed(&journal, &heads, &BTreeMap::new(), &|_| {
        let now = std::fs::read(&h).unwrap();
        seen.borrow_mut().push(now[..512] == interim[..]);
    })
    .unwrap();
    assert_eq!(*seen.borrow(), vec![true; 3]);
    assert_eq!(std::fs::read(&h).unwrap(), h1);
    undo(&journal).unwrap();
    assert_eq!(std::fs::read(&h).unwrap(), h0);

    // A crash at any point, the interim header on disk: undo restores every byte.
    for stop in 0..3u64 {
        let r = std::panic::catch_unwind(|| {
            apply_sealed(&journal, &heads, &BTreeMap::new(), &|n| {
                if n > stop {
                    panic!("crash");
                }
            })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&h).unwrap()[..512], interim[..]);
        undo(&journal).unwrap();
        assert_eq!(std::fs::read(&h).unwrap(), h0);
    }
}

#[test]
fn a_head_last_header_the_ranges_do_not_cover_is_refused_before_any_write() {
    let c = case(true);
    // `b`'s ranges cover one byte of its first 16.
    let heads = BTreeMap::from([(
        1u32,
        HeadLast {
            interim: vec![0xEE; 16],
        },
    )]);
    let e = apply_sealed(&c.journal, &heads, &BTreeMap::new(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains("cover 1 of the 16"), "{e}");
    originals(&c);
}

/// A database-sized file (above [`WHOLE_CHECK_MOST`], sparse here) is written through the
/// window and undone range by range: every byte back, after a crash at any point too; a byte
/// inside a range that is neither old nor new is refused before anything is written.
#[test]
fn a_large_file_is_written_by_window_and_undone_by_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.edb");
    let size = WHOLE_CHECK_MOST + (3 << 20);
    let f = File::create(&path).unwrap();
    f.set_len(size).unwrap();
    // Ranges on neighbouring blocks, in one block, far apart, and at the very end.
    let at: Vec<u64> = vec![8, 4100, 4200, 8192 + 4000, 5 << 20, size - 16];
    let mut old_bytes = Vec::new();
    for (k, &o) in at.iter().enumerate() {
        let b: Vec<u8> = (0..16).map(|x| (x + k * 16) as u8 | 1).collect();
        f.write_all_at(&b, o).unwrap();
        old_bytes.push(b);
    }
    drop(f);
    let original = std::fs::read(&path).unwrap();
    let mut patched = original.clone();
    let journal = dir.path().join("j");
    let mut w = JournalWriter::create(&journal, std::slice::from_ref(&path)).unwrap();
    for (k, &o) in at.iter().enumerate() {
        let new = vec![0xC0 + k as u8; 16];
        w.record(0, o, &old_bytes[k], &new).unwrap();
        patched[o as usize..o as usize + 16].copy_from_slice(&new);
    }
    w.seal(&[JournalFile {
        path: path.clone(),
        size_before: size,
        sha256_before: sha(&original),
        size_after: size,
        sha256_after: sha(&patched),
    }])
    .unwrap();
    w.commit().unwrap();
    let stamps = || BTreeMap::from([(0u32, FileStamp::of(&path).unwrap())]);

    apply_sealed(&journal, &BTreeMap::new(), &stamps(), &|_| {}).unwrap();
    assert!(std::fs::read(&path).unwrap() == patched);
    let r = undo(&journal).unwrap();
    assert_eq!(r.files[0].1, UndoAction::Restored { ranges: 6 });
    assert!(std::fs::read(&path).unwrap() == original);
    assert_eq!(
        undo(&journal).unwrap().files[0].1,
        UndoAction::AlreadyOriginal
    );

    for stop in 0..6u64 {
        let r = std::panic::catch_unwind(|| {
            apply_sealed(&journal, &BTreeMap::new(), &stamps(), &|n| {
                if n > stop {
                    panic!("crash");
                }
            })
        });
        assert!(r.is_err());
        undo(&journal).unwrap();
        assert!(std::fs::read(&path).unwrap() == original, "stop {stop}");
    }

    apply_sealed(&journal, &BTreeMap::new(), &stamps(), &|_| {}).unwrap();
    let h = OpenOptions::new().write(true).open(&path).unwrap();
    h.write_all_at(&[0x11], 4205).unwrap();
    drop(h);
    let before = std::fs::read(&path).unwrap();
    match undo(&journal).unwrap_err() {
        JournalError::Refused { offset, .. } => assert_eq!(offset, 4205),
        e => panic!("{e}"),
    }
    assert!(std::fs::read(&path).unwrap() == before, "nothing written");
}

/// Every range of a journal, as (file, offset, old, new), in order.
fn ranges_of(journal: &Path) -> Vec<(u32, u64, Vec<u8>, Vec<u8>)> {
    let mut got = Vec::new();
    Frames::open(journal)
        .unwrap()
        .each_range(false, |r, _| {
            got.push((r.file, r.offset, r.old.to_vec(), r.new.to_vec()));
            Ok(())
        })
        .unwrap();
    got
}

/// Batches: ranges of several files, offsets near 2^64 and far apart, a range that grows, a
/// range too large for one batch refused, a batch that fills and is framed on its own — every
/// range reads back as written, in order.
#[test]
fn batches_of_ranges_read_back_exactly_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let paths = [dir.path().join("x"), dir.path().join("y")];
    let mut w = JournalWriter::create(&journal, &paths).unwrap();
    let mut want: Vec<(u32, u64, Vec<u8>, Vec<u8>)> = Vec::new();
    let big = vec![0x5Au8; BATCH / 2];
    let mut put = |w: &mut JournalWriter, file: u32, offset: u64, old: &[u8], new: &[u8]| {
        w.record(file, offset, old, new).unwrap();
        want.push((file, offset, old.to_vec(), new.to_vec()));
    };
    put(&mut w, 0, 0, &[1], &[2]);
    put(&mut w, 0, 7, &[3, 4], &[5, 6]);
    put(&mut w, 1, 3, &[], &[9; 300]);
    put(&mut w, 0, 1 << 40, &big, &big);
    put(&mut w, 0, (1 << 40) + big.len() as u64, &big, &big);
    put(&mut w, 1, u64::MAX - 8, &[1, 2], &[3, 4, 5]);
    put(&mut w, 0, u64::MAX - 4, &[7], &[8]);
    for k in 0..20_000u64 {
        put(
            &mut w,
            1,
            u64::MAX / 2 + 64 * k,
            &k.to_le_bytes(),
            &(!k).to_le_bytes(),
        );
    }
    let too_big = vec![0u8; MAX_BATCH];
    assert!(w.record(0, 0, &[], &too_big).is_err());
    assert!(w.record(0, 0, &[1, 2], &[1]).is_err());
    w.flush().unwrap();
    let bytes = std::fs::read(&journal).unwrap();
    let batches = frame_spans(&bytes)
        .iter()
        .filter(|f| f.0 == KIND_RANGES)
        .count();
    assert!(batches >= 2, "{batches} batches");
    let got = ranges_of(&journal);
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    assert_eq!(read(&journal).unwrap().ranges, want.len() as u64);
}

/// A pass run again is cut back to its mark: the ranges recorded after it (framed or still
/// batched) are gone, those before it and after the rewind read back in order.
#[test]
fn ranges_after_a_mark_are_dropped_by_a_rewind() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    let paths = [dir.path().join("x"), dir.path().join("y")];
    let mut w = JournalWriter::create(&journal, &paths).unwrap();
    let big = vec![0x33u8; BATCH / 2];
    w.record(0, 10, &[1], &[2]).unwrap();
    w.record(0, 20, &[3, 4], &[5, 6]).unwrap();
    let mark = w.mark().unwrap();
    // Past the mark: a whole batch framed, and more still batched.
    for k in 0..3u64 {
        w.record(1, k << 20, &big, &big).unwrap();
    }
    w.record(1, 99, &[7], &[8]).unwrap();
    w.rewind(mark).unwrap();
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), mark);
    w.record(1, 5, &[9], &[10]).unwrap();
    w.flush().unwrap();
    let got = ranges_of(&journal);
    let want = vec![
        (0, 10, vec![1], vec![2]),
        (0, 20, vec![3, 4], vec![5, 6]),
        (1, 5, vec![9], vec![10]),
    ];
    assert_eq!(got, want);
}

/// A batch whose frame check holds but whose body does not decode (its raw length not the
/// one found, a range cut short) is a damaged journal, not a panic.
#[test]
fn a_batch_that_does_not_decode_is_damage() {
    let body = {
        let mut b = Vec::new();
        push_varint(&mut b, (3 << 1) | 1);
        push_varint(&mut b, 4096);
        push_varint(&mut b, 4);
        push_varint(&mut b, 0);
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]); // one byte short of old and new
        b
    };
    let packed = zstd::bulk::compress(&body, 1).unwrap();
    let frame = |raw: u32| {
        let mut p = raw.to_le_bytes().to_vec();
        p.extend_from_slice(&packed);
        let mut j = MAGIC.to_vec();
        j.extend_from_slice(&frame_bytes(KIND_RANGES, &p));
        j
    };
    for raw in [body.len() as u32, body.len() as u32 + 1, u32::MAX] {
        let r = read_bytes(Path::new("crafted"), &frame(raw));
        assert!(
            matches!(&r, Err(JournalError::Damaged { what, .. }) if what.contains("batch")),
            "{raw}: {r:?}"
        );
    }
}
