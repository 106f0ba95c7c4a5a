//! Regression tests for what the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found: each test is
//! named after what broke and feeds the (minimised) input through the library the way the
//! target did. Every one must end in a clean error, never a panic.

use coldpatch::journal::{frame_bytes, read_bytes, JournalError, MAGIC};
use std::path::Path;

/// Journal frame kinds (the layout in `src/journal/mod.rs`).
const RANGE: u8 = 1;
const FILES: u8 = 2;
const SEALED: u8 = 3;

/// A sealed journal of one range at `offset` (`old` and `new` one byte) in one 4 KiB file.
fn sealed_journal_with_range_at(offset: u64) -> Vec<u8> {
    let mut range = Vec::new();
    range.extend_from_slice(&0u32.to_le_bytes()); // file index
    range.extend_from_slice(&offset.to_le_bytes());
    range.extend_from_slice(&1u32.to_le_bytes()); // old length
    range.extend_from_slice(&1u32.to_le_bytes()); // new length
    range.extend_from_slice(&[0xAA, 0xBB]);
    let mut files = Vec::new();
    files.extend_from_slice(&1u32.to_le_bytes());
    let name = b"/img/C/WINNT/system32/config/SYSTEM";
    files.extend_from_slice(&(name.len() as u32).to_le_bytes());
    files.extend_from_slice(name);
    for _ in 0..2 {
        files.extend_from_slice(&4096u64.to_le_bytes());
        files.extend_from_slice(&[0u8; 32]);
    }
    let mut j = MAGIC.to_vec();
    j.extend_from_slice(&frame_bytes(RANGE, &range));
    j.extend_from_slice(&frame_bytes(FILES, &files));
    j.extend_from_slice(&frame_bytes(SEALED, &[]));
    j
}

/// `journal` target: a range whose offset plus its old length passes 2^64 overflowed the
/// bounds check of `journal::read` (a panic in `undo`) instead of being reported as damage.
#[test]
fn journal_range_end_past_u64_max_is_damage_not_overflow() {
    for offset in [u64::MAX, u64::MAX - 0xFFF, 1 << 63] {
        let bytes = sealed_journal_with_range_at(offset);
        match read_bytes(Path::new("fuzz.journal"), &bytes) {
            Err(JournalError::Damaged {
                offset: at, what, ..
            }) => {
                assert_eq!(at, MAGIC.len() as u64, "the range frame is named");
                assert!(what.contains("outside"), "{what}");
            }
            other => panic!("offset {offset:#x}: expected damage, got {other:?}"),
        }
    }
    // The same journal with the range inside the file reads.
    let ok = read_bytes(Path::new("fuzz.journal"), &sealed_journal_with_range_at(16)).unwrap();
    assert!(ok.sealed && ok.ranges == 1);
}
