//! Edit primitives: the byte-level changes a patch makes to an ESE file.
//!
//! Every edit is planned on owned copies (STYLE habit 4): a [`PageBuf`] holds one page, a
//! [`HeaderBuf`] the header; both are parsed read-only from the file, changed in memory, and
//! turned into [`ByteChange`]s (file offset, old bytes, new bytes). Only [`apply`] writes to a
//! file's bytes, and it first checks that the old bytes are still there.
//!
//! Sources: reference/ese.md §1 (header copies and checksum), §2 (page checksums), §3 (page
//! header: `dbtimeDirtied`, `cbFree`, `ibMicFree`; tags), §4 (nodes), §5 (records), §8 (what to
//! touch after an edit). Free space on a page: `cbFree = cbPage − header − Σ line sizes −
//! 4 × tags` (checked on every page of the samples); new lines go at `ibMicFree`.
//!
//! Files: `page` (page and record edits), `header` (the file header); this module holds
//! the change type, the planner's session and the checked writer.

mod header;
mod page;

pub use header::HeaderBuf;
pub use page::{record_with_variable, PageBuf};

use crate::ese::btree::Database;
use crate::ese::error::EseError;
use crate::ese::header::HeaderError;
use std::collections::BTreeMap;

/// One changed byte range of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteChange {
    /// Absolute file offset of `old[0]` / `new[0]`.
    pub offset: u64,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// Why an edit was refused or could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Read(#[from] EseError),
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("offset {offset:#x}: column {fid} is NULL or absent in this record; an in-place overwrite needs a stored value")]
    ColumnAbsent { offset: u64, fid: u16 },
    #[error("offset {offset:#x}: column {fid} holds {expected} bytes, the new value has {found}")]
    SizeMismatch {
        offset: u64,
        fid: u16,
        expected: usize,
        found: usize,
    },
    #[error("column {fid} is not a fixed column")]
    NotFixed { fid: u16 },
    #[error("page {pgno} (offset {offset:#x}): the new line needs {need} more bytes, the page has {free} free")]
    NoRoom {
        offset: u64,
        pgno: u32,
        need: usize,
        free: usize,
    },
    #[error("page {pgno} (offset {offset:#x}): {found} bytes are uncommitted free space (an unclean version store); refusing to reorganise")]
    UncommittedFree { offset: u64, pgno: u32, found: u16 },
    #[error("offset {offset:#x}: database state: expected Clean Shutdown (3), found {found}; refusing to edit")]
    NotCleanShutdown { offset: u64, found: String },
    #[error("offset {offset:#x}: header checksum: expected {expected:#010x}, found {found:#010x}; refusing to edit")]
    HeaderChecksum {
        offset: u64,
        expected: u32,
        found: u32,
    },
    #[error("offset {offset:#x}: the header and its shadow copy (offset {shadow_offset:#x}) differ; refusing to edit")]
    HeaderCopiesDiffer { offset: u64, shadow_offset: u64 },
    #[error("offset {offset:#x}: header field of {len} bytes lies outside the header structure")]
    HeaderField { offset: usize, len: usize },
    #[error("offset {offset:#x}: expected the planned old bytes {}, found {}; the file changed since the plan", crate::text::hex_bytes(expected), crate::text::hex_bytes(found))]
    Stale {
        offset: u64,
        expected: Vec<u8>,
        found: Vec<u8>,
    },
    #[error("offset {offset:#x}: {len} bytes past the end of the file ({file_len} bytes)")]
    OutOfFile {
        offset: u64,
        len: usize,
        file_len: u64,
    },
}

/// Where an edit's changed ranges go as they are found: a `Vec<ByteChange>` keeps each as an
/// owned change; a pass that edits millions of rows keeps them in buffers it reuses
/// ([`crate::ese::patch::Changes`]).
pub trait ChangeOut {
    /// One changed range at file offset `offset`: its bytes before and after (same length).
    fn range(&mut self, offset: u64, old: &[u8], new: &[u8]);
}

impl ChangeOut for Vec<ByteChange> {
    fn range(&mut self, offset: u64, old: &[u8], new: &[u8]) {
        self.push(ByteChange {
            offset,
            old: old.to_vec(),
            new: new.to_vec(),
        });
    }
}

/// The changed ranges between `before` and `after` (same length), at file offset `base`.
/// Runs closer than 8 bytes are merged into one change.
pub fn diff(base: u64, before: &[u8], after: &[u8]) -> Vec<ByteChange> {
    let mut out = Vec::new();
    diff_into(base, before, after, &mut out);
    out
}

/// [`diff`], each range handed to `out`; how many there were.
pub fn diff_into(base: u64, before: &[u8], after: &[u8], out: &mut dyn ChangeOut) -> usize {
    const MERGE_GAP: usize = 8;
    let mut count = 0;
    let mut i = 0;
    let n = before.len().min(after.len());
    while i < n {
        i += crate::bytes::common_prefix(&before[i..n], &after[i..n]);
        if i >= n {
            break;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = end;
        while j < n && j - end < MERGE_GAP {
            if before[j] != after[j] {
                end = j + 1;
            }
            j += 1;
        }
        out.range(base + start as u64, &before[start..end], &after[start..end]);
        count += 1;
        i = end;
    }
    count
}

/// Writes `changes` into `file`, after checking that each range still holds its old bytes.
/// Nothing is written unless every check passes.
pub fn apply(file: &mut [u8], changes: &[ByteChange]) -> Result<(), EditError> {
    let file_len = file.len() as u64;
    let range = |c: &ByteChange| -> Result<std::ops::Range<usize>, EditError> {
        let start = usize::try_from(c.offset).ok();
        let end = start.and_then(|s| s.checked_add(c.new.len()));
        match (start, end) {
            (Some(s), Some(e)) if e as u64 <= file_len && c.old.len() == c.new.len() => Ok(s..e),
            _ => Err(EditError::OutOfFile {
                offset: c.offset,
                len: c.new.len(),
                file_len,
            }),
        }
    };
    for c in changes {
        let r = range(c)?;
        if file[r.clone()] != c.old[..] {
            return Err(EditError::Stale {
                offset: c.offset,
                expected: c.old.clone(),
                found: file[r].to_vec(),
            });
        }
    }
    for c in changes {
        let r = range(c)?;
        file[r].copy_from_slice(&c.new);
    }
    Ok(())
}

/// A set of page edits under one new dbtime: every touched page gets the new dbtime and its
/// checksum; the header gets the new dbtime (both copies, checksum).
pub struct EditSession<'a, 'd> {
    db: &'d Database<'a>,
    pages: BTreeMap<u32, PageBuf>,
}

impl<'a, 'd> EditSession<'a, 'd> {
    pub fn new(db: &'d Database<'a>) -> Self {
        EditSession {
            db,
            pages: BTreeMap::new(),
        }
    }

    /// The owned copy of page `pgno` (read on first use).
    pub fn page(&mut self, pgno: u32) -> Result<&mut PageBuf, EseError> {
        if !self.pages.contains_key(&pgno) {
            self.pages.insert(pgno, PageBuf::read(self.db, pgno)?);
        }
        Ok(self.pages.get_mut(&pgno).expect("inserted above"))
    }

    /// Stamps every touched page with dbtime = header dbtime + 1, restamps checksums, updates
    /// the header, and returns every change (pages in page order, then the header).
    pub fn finish(mut self) -> Result<Vec<ByteChange>, EditError> {
        let mut header = HeaderBuf::read(self.db.bytes)?;
        let dbtime = header.dbtime().saturating_add(1);
        let mut out = Vec::new();
        for page in self.pages.values_mut() {
            if page.changes().is_empty() {
                continue;
            }
            // The net difference is taken below, from the page as read.
            page.stamp_dbtime(dbtime, &mut Vec::new());
            page.restamp_checksum(&mut Vec::new());
            out.extend(page.changes());
        }
        if out.is_empty() {
            return Ok(out);
        }
        header.set_dbtime(dbtime);
        out.extend(header.finish());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::checksum::{check_page, PageCheck, PageChecksumFormat};

    /// The old-format page from libesedb: a dbtime stamp and a checksum restamp keep it
    /// verifying in the old format, and the reported changes are exactly what changed.
    #[test]
    fn old_format_page_restamps_in_its_own_format() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/ese/page.1");
        let page = std::fs::read(path).unwrap();
        let mut buf = PageBuf::from_bytes(1, 0x2000, page.clone());
        let mut stamped = Vec::new();
        buf.stamp_dbtime(0x1234_5678_9ABC, &mut stamped);
        assert_eq!(stamped.len(), 1);
        assert_eq!(stamped[0].offset, 0x2000 + 8);
        assert!(matches!(check_page(&buf.bytes, 1), PageCheck::Bad(..)));
        let mut sums = Vec::new();
        buf.restamp_checksum(&mut sums);
        assert!(sums.iter().all(|c| c.offset < 0x2000 + 4));
        assert_eq!(
            check_page(&buf.bytes, 1),
            PageCheck::Good(PageChecksumFormat::OldXor)
        );
        let mut file = vec![0u8; 0x3000];
        file[0x2000..].copy_from_slice(&page);
        apply(&mut file, &buf.changes()).unwrap();
        assert_eq!(&file[0x2000..], &buf.bytes[..]);
        // Applying the same plan again finds the new bytes, not the old: refused.
        assert!(matches!(
            apply(&mut file, &buf.changes()),
            Err(EditError::Stale { .. })
        ));
    }

    #[test]
    fn diff_merges_close_runs_and_reports_old_and_new() {
        let a = [0u8; 32];
        let mut b = a;
        b[3] = 1;
        b[6] = 2;
        b[30] = 3;
        let d = diff(100, &a, &b);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].offset, 103);
        assert_eq!(d[0].new, vec![1, 0, 0, 2]);
        assert_eq!(d[0].old, vec![0; 4]);
        assert_eq!(d[1].offset, 130);
    }
}
