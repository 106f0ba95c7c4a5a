//! Corruption sweeps over every sample: seeded random byte flips and truncations give a clear
//! error or a `verify` finding, never a panic; a flagged hive is refused by the editor, and a
//! hive that `verify` passes can be edited into a hive that still verifies.

mod regf_support;
use coldpatch::regf::log::{replay, LogInput};
use coldpatch::regf::{tree, verify, Editor, RegfError};
use regf_support::*;

const FLIPS_PER_SAMPLE: usize = 150;
const CUTS_PER_SAMPLE: usize = 10;

fn check(label: &str, data: Vec<u8>) {
    let r = verify(&data);
    let opened = Editor::open(data.clone(), 5);
    match (&opened, r.ok(), r.dirty) {
        (Err(RegfError::Flagged { count, .. }), false, _) => assert_eq!(*count, r.errors.len()),
        (Err(RegfError::Dirty { .. }), _, true) => {}
        (Ok(_), true, false) => {}
        (other, ok, dirty) => panic!(
            "{label}: editor {:?} but verify ok={ok} dirty={dirty}",
            other.as_ref().err()
        ),
    }
    for e in &r.errors {
        // A finding points into the file: at the bad structure or at the bad reference.
        assert!(
            e.offset <= data.len() as u64,
            "{label}: offset {:#x}: {}",
            e.offset,
            e.what
        );
        assert!(!e.what.is_empty());
    }
    if let Ok(mut ed) = opened {
        tree::read_hive(&data).unwrap_or_else(|e| panic!("{label}: verified but unreadable: {e}"));
        ed.create_key("sweep\\child").unwrap();
        ed.set_value("sweep", "v", 3, &[1; 100]).unwrap();
        ed.set_value("", "", 1, &[0; 6]).unwrap();
        assert!(ed.delete_key("sweep").unwrap());
        let out = ed.finish();
        let after = verify(&out);
        assert!(
            after.ok(),
            "{label}: verified, edited, then: {:?}",
            after.errors
        );
    }
}

#[test]
fn random_flips_and_truncations_never_panic() {
    for (n, rel) in PRIMARY.iter().enumerate() {
        let clean = sample_bytes(rel);
        let name = sample_name(rel);
        let bins = u32::from_le_bytes(clean[40..44].try_into().unwrap()) as usize;
        let used = (4096 + bins).min(clean.len());
        let mut rng = Rng::new(77 + n as u64);
        for i in 0..FLIPS_PER_SAMPLE {
            let mut d = clean.clone();
            for _ in 0..1 + rng.below(8) {
                // Half of the flips hit the base block and the first bin (root, sk, lists).
                let at = if rng.chance(50) {
                    rng.below(8192.min(used))
                } else {
                    rng.below(used)
                };
                d[at] ^= 1 << rng.below(8);
            }
            check(&format!("{name} flip #{i}"), d);
        }
        for _ in 0..CUTS_PER_SAMPLE {
            let cut = rng.below(used);
            check(&format!("{name} cut at {cut}"), clean[..cut].to_vec());
        }
    }
}

#[test]
fn corrupted_logs_never_panic() {
    let primary = sample_bytes("OldDirtyHive/OldDirtyHive.gz");
    let log = sample_bytes("OldDirtyHive/OldDirtyHive.LOG1.gz");
    let mut rng = Rng::new(5);
    for i in 0..60 {
        let mut l = log.clone();
        if i % 4 == 0 {
            l.truncate(rng.below(log.len()));
        } else {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(l.len().min(2048));
                l[at] ^= 1 << rng.below(8);
            }
        }
        if let Ok(r) = replay(
            &primary,
            &[LogInput {
                name: "LOG1".into(),
                bytes: &l,
            }],
        ) {
            // Whatever replays must be judged by verify before anything writes it.
            let _ = verify(&r.data);
        }
    }
    // A truncated primary with a good log.
    for cut in [0, 100, 511, 600, 4100] {
        let _ = replay(
            &primary[..cut],
            &[LogInput {
                name: "LOG1".into(),
                bytes: &log,
            }],
        );
    }
}
