//! The `dirty-hive` lab scenario: a clean hive plus edits turned into what a crash in the
//! middle of Windows' hive write leaves behind — the primary file with its sequence numbers
//! differing and the pre-edit bins, and an old-format `.LOG` holding the edit. Replaying the
//! log (reference/regf.md §4) yields the edited hive.
//!
//! Order of an NT4/2000 flush (SUH §Old format): the log is written (base-block copy, `DIRT`
//! bitmap, dirty pages); then the primary's base block with Sequence1 + 1 and the new
//! timestamp; then the dirty pages; then Sequence2 + 1. The crash here comes after the first
//! base-block write.

use super::base_block::{
    self, FILE_TYPE_LOG_NT4, FILE_TYPE_LOG_XP, OFF_BINS_SIZE, OFF_FILE_TYPE, OFF_SEQ1,
    OFF_TIMESTAMP,
};
use super::edit::Editor;
use super::error::RegfError;
use super::log::{DIRT_SIGNATURE, LOG_PAGE};

/// A crashed write: the primary file and its `.LOG`.
#[derive(Clone, Debug)]
pub struct DirtyHive {
    pub primary: Vec<u8>,
    pub log: Vec<u8>,
    /// The hive the log replays to (what the write would have produced).
    pub edited: Vec<u8>,
}

/// Applies `edit` to the clean hive `clean` at time `now` and returns the crash state. The log
/// is the NT4/2000 kind (file type 2) for a 1.3 hive, the XP kind (1) otherwise.
pub fn make_dirty_hive(
    clean: &[u8],
    now: u64,
    edit: impl FnOnce(&mut Editor) -> Result<(), RegfError>,
) -> Result<DirtyHive, RegfError> {
    let mut ed = Editor::open(clean.to_vec(), now)?;
    let minor = ed.minor_version();
    edit(&mut ed)?;
    let edited = ed.finish();
    let u32_at = |d: &[u8], at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
    let new_bins = u32_at(&edited, OFF_BINS_SIZE) as usize;
    let pages = new_bins / LOG_PAGE;

    // The log: base-block copy, DIRT bitmap (one bit per 512-byte page, LSB first), pages.
    let mut log = edited[..LOG_PAGE].to_vec();
    let log_type = if minor == 3 {
        FILE_TYPE_LOG_NT4
    } else {
        FILE_TYPE_LOG_XP
    };
    log[OFF_FILE_TYPE..OFF_FILE_TYPE + 4].copy_from_slice(&log_type.to_le_bytes());
    base_block::put_checksum(&mut log);
    let mut bitmap = vec![0u8; pages.div_ceil(8)];
    let mut dirty = Vec::new();
    for k in 0..pages {
        let at = 4096 + k * LOG_PAGE;
        let before = clean.get(at..at + LOG_PAGE);
        if before != Some(&edited[at..at + LOG_PAGE]) {
            bitmap[k / 8] |= 1 << (k % 8);
            dirty.push(at);
        }
    }
    log.extend_from_slice(DIRT_SIGNATURE);
    log.extend_from_slice(&bitmap);
    log.resize(log.len().div_ceil(LOG_PAGE) * LOG_PAGE, 0);
    for at in dirty {
        log.extend_from_slice(&edited[at..at + LOG_PAGE]);
    }

    // The primary: pre-edit bins; base block with Sequence1 + 1 and the new timestamp.
    let mut primary = clean.to_vec();
    let seq1 = u32_at(&edited, OFF_SEQ1);
    primary[OFF_SEQ1..OFF_SEQ1 + 4].copy_from_slice(&seq1.to_le_bytes());
    primary[OFF_TIMESTAMP..OFF_TIMESTAMP + 8]
        .copy_from_slice(&edited[OFF_TIMESTAMP..OFF_TIMESTAMP + 8]);
    base_block::put_checksum(&mut primary);
    Ok(DirtyHive {
        primary,
        log,
        edited,
    })
}
