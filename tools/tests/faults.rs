//! Crash consistency of `apply --in-place` and `undo` on a copy of `fixtures/cluster-small`,
//! through the `coldpatch` binary, with the `faults` driver's code
//! ([`coldpatch_tools::faults`]): a few runs SIGKILLed at seeded random moments end byte-exact
//! after undo; a whole run's journal cut short at random lengths and at its frame edges is
//! refused with nothing written; crafted journals are refused with nothing written; and the
//! intact journal then restores every byte.

#[path = "runner/mod.rs"]
mod runner;
use runner::{coldpatch_bin, copy_tree};

use coldpatch_tools::faults::{
    self, apply_args, differences, phase_of, remove_journal, run, run_killed, tree_hashes,
    undo_args, Phase, Rng,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A copy of the cluster fixture and a scratch directory beside it (outside the image).
fn image() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("img");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cluster-small"),
        &image,
    );
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    (tmp, image, scratch)
}

fn apply_whole(bin: &Path, image: &Path, journal: &Path) {
    let r = run(bin, &apply_args(image, journal)).unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn sigkilled_applies_end_byte_exact_after_undo() {
    let bin = coldpatch_bin();
    let (_tmp, image, scratch) = image();
    let original = tree_hashes(&image).unwrap();
    let journal = scratch.join("run.journal");
    // The whole run, timed, and its undo.
    let whole = run(&bin, &apply_args(&image, &journal)).unwrap();
    assert_eq!(whole.code, Some(0), "{}", whole.stderr);
    assert!(!differences(&original, &tree_hashes(&image).unwrap()).is_empty());
    let r = run(&bin, &undo_args(&journal)).unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        differences(&original, &tree_hashes(&image).unwrap()),
        [""; 0]
    );
    remove_journal(&journal);
    // Six kills at seeded moments over the whole run (two SIGKILL their undo too).
    let mut rng = Rng::new(7);
    let mut phases = Vec::new();
    for i in 0..6 {
        let at = Duration::from_secs_f64(rng.unit() * whole.secs);
        let (killed, ran) = run_killed(&bin, &apply_args(&image, &journal), at).unwrap();
        assert!(killed || ran.code == Some(0), "run {i}: {:?}", ran.code);
        let phase = phase_of(&journal, !killed).unwrap();
        phases.push(phase);
        if journal.exists() {
            if i % 3 == 1 {
                let half = Duration::from_secs_f64(rng.unit() * whole.secs / 2.0);
                run_killed(&bin, &undo_args(&journal), half).unwrap();
            }
            let r = run(&bin, &undo_args(&journal)).unwrap();
            assert_eq!(r.code, Some(0), "run {i} ({}): {}", phase.name(), r.stderr);
        }
        let diff = differences(&original, &tree_hashes(&image).unwrap());
        assert!(diff.is_empty(), "run {i} ({}): {diff:?}", phase.name());
        remove_journal(&journal);
    }
    // At each pause point of the run too: sealed, the first range, written.
    for point in ["sealed", "range:1", "written"] {
        faults::kill_at_point(&bin, &apply_args(&image, &journal), point).unwrap();
        let phase = phase_of(&journal, false).unwrap();
        let want = match point {
            "sealed" => Phase::SealedNothingWritten,
            "written" => Phase::WrittenNotCommitted,
            _ => Phase::HiveWrites,
        };
        assert_eq!(phase, want, "{point}");
        let r = run(&bin, &undo_args(&journal)).unwrap();
        assert_eq!(r.code, Some(0), "{point}: {}", r.stderr);
        let diff = differences(&original, &tree_hashes(&image).unwrap());
        assert!(diff.is_empty(), "{point}: {diff:?}");
        remove_journal(&journal);
    }
}

#[test]
fn torn_journals_are_refused_and_write_nothing_then_the_whole_one_restores() {
    let bin = coldpatch_bin();
    let (_tmp, image, scratch) = image();
    let original = tree_hashes(&image).unwrap();
    let journal = scratch.join("run.journal");
    apply_whole(&bin, &image, &journal);
    let len = std::fs::metadata(&journal).unwrap().len();
    let silent = faults::silent_cuts(&journal).unwrap();
    let commit_mark = len - 13;
    let mut rng = Rng::new(11);
    let mut cuts = vec![
        0,
        4,
        8,
        9,
        silent.start - 1,
        silent.start,
        len - 1,
        len - 14,
    ];
    while cuts.len() < 24 {
        let c = rng.below(len);
        if c != commit_mark {
            cuts.push(c);
        }
    }
    let torn = faults::torn(&bin, &image, &journal, &scratch, &cuts).unwrap();
    for (cut, r, silent) in &torn {
        assert!(r.changed.is_empty(), "cut at {cut}: {:?}", r.changed);
        if *silent {
            assert_eq!(r.code, Some(0), "cut at {cut}: {}", r.message);
        } else {
            assert!(r.ok(), "cut at {cut}: {r:?}");
            assert!(
                r.message
                    .contains(&journal.parent().unwrap().display().to_string())
                    || r.message.contains(&image.display().to_string()),
                "cut at {cut}: the message names no file: {}",
                r.message
            );
        }
    }
    let r = run(&bin, &undo_args(&journal)).unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(differences(&original, &tree_hashes(&image).unwrap()).is_empty());
}

#[test]
fn crafted_journals_are_refused_and_write_nothing_then_the_whole_one_restores() {
    let bin = coldpatch_bin();
    let (_tmp, image, scratch) = image();
    let original = tree_hashes(&image).unwrap();
    let journal = scratch.join("run.journal");
    apply_whole(&bin, &image, &journal);
    let patched = tree_hashes(&image).unwrap();
    let crafted = faults::crafted(&bin, &image, &journal, &scratch).unwrap();
    assert!(crafted.len() >= 12);
    for r in &crafted {
        assert!(r.ok(), "{r:?}");
        assert!(!r.message.contains("panicked"), "{}", r.message);
    }
    // The cases that reach the files name one; the damaged journals name the journal.
    for r in crafted.iter().filter(|r| r.code == Some(2)) {
        assert!(r.message.contains("journal "), "{}: {}", r.case, r.message);
    }
    let symlink = crafted
        .iter()
        .find(|r| r.case.contains("symbolic link"))
        .unwrap();
    assert!(
        symlink.message.contains("symbolic link"),
        "{}",
        symlink.message
    );
    // Nothing of it changed the patched image; the intact journal restores every byte.
    assert!(differences(&patched, &tree_hashes(&image).unwrap()).is_empty());
    let r = run(&bin, &undo_args(&journal)).unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(differences(&original, &tree_hashes(&image).unwrap()).is_empty());
}
