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

use crate::bytes::Bytes;
use crate::ese::btree::Database;
use crate::ese::catalog::{Column, Storage};
use crate::ese::checksum::{stamp_header, stamp_page, HeaderChecksum};
use crate::ese::error::EseError;
use crate::ese::header::{HeaderCopies, HeaderError, DBTIME_OFFSET, HEADER_STRUCT_LEN};
use crate::ese::node::Node;
use crate::ese::page::{flags, offsets, Page};
use crate::ese::record::{Record, RecordForm};
use byteorder::{ByteOrder, LittleEndian};
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
    #[error("offset {offset:#x}: header field of {len} bytes lies outside the header structure")]
    HeaderField { offset: usize, len: usize },
    #[error("offset {offset:#x}: expected the planned old bytes {expected:02x?}, found {found:02x?}; the file changed since the plan")]
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

/// The changed ranges between `before` and `after` (same length), at file offset `base`.
/// Runs closer than 8 bytes are merged into one change.
pub fn diff(base: u64, before: &[u8], after: &[u8]) -> Vec<ByteChange> {
    const MERGE_GAP: usize = 8;
    let mut out: Vec<ByteChange> = Vec::new();
    let mut i = 0;
    let n = before.len().min(after.len());
    while i < n {
        if before[i] == after[i] {
            i += 1;
            continue;
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
        out.push(ByteChange {
            offset: base + start as u64,
            old: before[start..end].to_vec(),
            new: after[start..end].to_vec(),
        });
        i = end;
    }
    out
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

/// The bytes of `rec` with variable column `fid` set to `value` (`None` = NULL): the offset
/// array is recomputed, the fixed part and the tagged area are copied unchanged (tagged
/// offsets are relative to the tagged area in both forms). The column must be one the record
/// already has an offset entry for (`fid ≤ fidVarLastInRec`).
pub fn record_with_variable(
    rec: &Record,
    fid: u16,
    value: Option<&[u8]>,
) -> Result<Vec<u8>, EditError> {
    const NULL: u16 = 0x8000;
    const MASK: u16 = 0x7FFF;
    let first = crate::ese::record::FID_VAR_FIRST;
    if fid < first || fid > u16::from(rec.fid_var_last) {
        return Err(EditError::ColumnAbsent {
            offset: rec.bytes.base(),
            fid,
        });
    }
    let n_var = usize::from(rec.fid_var_last) + 1 - usize::from(first);
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(n_var);
    for i in 0..n_var {
        let f = first + i as u16;
        values.push(if f == fid {
            value.map(<[u8]>::to_vec)
        } else {
            rec.variable(f)?.map(|b| b.as_slice().to_vec())
        });
    }
    let mut out = rec
        .bytes
        .slice("record fixed part", 0, rec.ib_end_fixed)
        .map_err(EseError::from)?
        .to_vec();
    let mut end = 0usize;
    for v in &values {
        end += v.as_ref().map_or(0, Vec::len);
        if end > usize::from(MASK) {
            return Err(EditError::NoRoom {
                offset: rec.bytes.base(),
                pgno: 0,
                need: end,
                free: usize::from(MASK),
            });
        }
        let entry = end as u16 | if v.is_none() { NULL } else { 0 };
        out.extend_from_slice(&entry.to_le_bytes());
    }
    for v in values.iter().flatten() {
        out.extend_from_slice(v);
    }
    out.extend_from_slice(
        rec.bytes
            .tail("record tagged area", rec.tagged_start)
            .map_err(EseError::from)?
            .as_slice(),
    );
    Ok(out)
}

/// An owned copy of one database page, to be edited.
#[derive(Clone)]
pub struct PageBuf {
    pub pgno: u32,
    /// Absolute file offset of the page.
    pub offset: u64,
    original: Vec<u8>,
    pub bytes: Vec<u8>,
}

impl PageBuf {
    pub fn read(db: &Database, pgno: u32) -> Result<PageBuf, EseError> {
        let page = db.page(pgno, 0, "page to edit")?;
        let bytes = page.bytes().as_slice().to_vec();
        Ok(PageBuf {
            pgno,
            offset: page.offset(),
            original: bytes.clone(),
            bytes,
        })
    }

    /// A page given as bytes (e.g. a single page outside any file), at file offset `offset`.
    pub fn from_bytes(pgno: u32, offset: u64, bytes: Vec<u8>) -> PageBuf {
        PageBuf {
            pgno,
            offset,
            original: bytes.clone(),
            bytes,
        }
    }

    /// A read-only parse of the current contents.
    pub fn page(&self) -> Result<Page<'_>, EseError> {
        Page::parse(Bytes::new(&self.bytes, self.offset), self.pgno)
    }

    /// Every change since the page was read.
    pub fn changes(&self) -> Vec<ByteChange> {
        diff(self.offset, &self.original, &self.bytes)
    }

    fn record_form(page: &Page) -> RecordForm {
        if page.header.has(flags::NEW_RECORD_FORMAT) {
            RecordForm::Ese98 {
                large_page: !page.is_small(),
            }
        } else {
            RecordForm::Ese97
        }
    }

    /// Runs `edit` and reports what it changed.
    fn tracked(
        &mut self,
        edit: impl FnOnce(&mut PageBuf) -> Result<(), EditError>,
    ) -> Result<Vec<ByteChange>, EditError> {
        let before = self.bytes.clone();
        edit(self)?;
        Ok(diff(self.offset, &before, &self.bytes))
    }

    /// Overwrites fixed column `column` of the record in line `itag` with `value` (same
    /// length). The column must be stored in the record (not NULL, not absent).
    pub fn set_fixed_column(
        &mut self,
        itag: usize,
        column: &Column,
        value: &[u8],
    ) -> Result<Vec<ByteChange>, EditError> {
        let (Storage::Fixed, Some(offset), Some(size)) =
            (column.storage, column.fixed_offset, column.fixed_size)
        else {
            return Err(EditError::NotFixed { fid: column.fid });
        };
        let (at, rec_base) = {
            let page = self.page()?;
            let node = Node::parse(&page, itag)?;
            let rec = Record::parse(node.data, Self::record_form(&page))?;
            let Some(range) = rec.fixed_range(column.fid, offset, size)? else {
                return Err(EditError::ColumnAbsent {
                    offset: node.data.base(),
                    fid: column.fid,
                });
            };
            (
                node.data_offset_in_page(&page) + range.start,
                node.data.base() + range.start as u64,
            )
        };
        if value.len() != size {
            return Err(EditError::SizeMismatch {
                offset: rec_base,
                fid: column.fid,
                expected: size,
                found: value.len(),
            });
        }
        self.tracked(|p| {
            p.bytes[at..at + size].copy_from_slice(value);
            Ok(())
        })
    }

    /// Overwrites `value.len()` bytes at `at` inside the record of line `itag` (a same-length
    /// replacement of a variable or tagged value, or of bytes inside an intrinsic long value;
    /// ranges come from [`Record::variable_range`] / [`crate::ese::record::TaggedColumn`]).
    /// Nothing about the page's layout changes.
    pub fn overwrite_in_record(
        &mut self,
        itag: usize,
        at: usize,
        value: &[u8],
    ) -> Result<Vec<ByteChange>, EditError> {
        let (start, rec_len, rec_base) = {
            let page = self.page()?;
            let node = Node::parse(&page, itag)?;
            (
                node.data_offset_in_page(&page),
                node.data.len(),
                node.data.base(),
            )
        };
        let end = at.checked_add(value.len()).filter(|&e| e <= rec_len);
        let Some(end) = end else {
            return Err(EditError::Read(EseError::corrupt(
                rec_base + at as u64,
                self.pgno,
                "overwrite range",
                format!("inside the record of {rec_len} bytes"),
                format!("{at}..{}", at.saturating_add(value.len())),
            )));
        };
        self.tracked(|p| {
            p.bytes[start + at..start + end].copy_from_slice(value);
            Ok(())
        })
    }

    /// Replaces the record (node data) of line `itag` with `record`, keeping its key. A line
    /// that shrinks or keeps its size is rewritten where it is; one that grows goes to the
    /// free area, after reorganising the page when its free space is fragmented. Refused when
    /// the page has too little free space.
    pub fn replace_record(
        &mut self,
        itag: usize,
        record: &[u8],
    ) -> Result<Vec<ByteChange>, EditError> {
        let (line_start, key_len, old_len, tag_count, header_len, hdr) = {
            let page = self.page()?;
            let node = Node::parse(&page, itag)?;
            let key_len = node.data_offset_in_page(&page) - node.line_offset;
            (
                node.line_offset,
                key_len,
                node.line_len,
                page.tag_count(),
                page.header_len(),
                page.header,
            )
        };
        let mut line = self.bytes[line_start..line_start + key_len].to_vec();
        line.extend_from_slice(record);
        let new_len = line.len();
        let max_line = if self.page()?.is_small() {
            0x1FFF
        } else {
            0x7FFF
        };
        let cb_free = usize::from(hdr.cb_free);
        if new_len > old_len && new_len - old_len > cb_free || new_len > max_line {
            return Err(EditError::NoRoom {
                offset: self.offset,
                pgno: self.pgno,
                need: new_len.saturating_sub(old_len),
                free: cb_free,
            });
        }
        let tags_start = self.bytes.len() - 4 * tag_count;
        let mic_free = header_len + usize::from(hdr.ib_mic_free);
        self.tracked(|p| {
            if new_len <= old_len {
                p.bytes[line_start..line_start + new_len].copy_from_slice(&line);
                p.set_tag(itag, line_start - header_len, new_len);
            } else if tags_start.saturating_sub(mic_free) >= new_len {
                p.bytes[mic_free..mic_free + new_len].copy_from_slice(&line);
                p.set_tag(itag, mic_free - header_len, new_len);
                p.set_u16(
                    offsets::IB_MIC_FREE,
                    (mic_free - header_len + new_len) as u16,
                );
            } else {
                if hdr.cb_uncommitted_free != 0 {
                    return Err(EditError::UncommittedFree {
                        offset: p.offset + offsets::CB_UNCOMMITTED_FREE as u64,
                        pgno: p.pgno,
                        found: hdr.cb_uncommitted_free,
                    });
                }
                p.reorganise(tag_count, header_len, itag, &line)?;
            }
            let free = cb_free + old_len - new_len;
            p.set_u16(offsets::CB_FREE, free as u16);
            Ok(())
        })
    }

    /// Rewrites every line contiguously from the start of the data area, in tag order, with
    /// line `itag` replaced by `line`; zeroes the space freed at the end.
    fn reorganise(
        &mut self,
        tag_count: usize,
        header_len: usize,
        itag: usize,
        line: &[u8],
    ) -> Result<(), EditError> {
        let mut lines = Vec::with_capacity(tag_count);
        {
            let page = self.page()?;
            for i in 0..tag_count {
                if i == itag {
                    lines.push(line.to_vec());
                } else {
                    let (_, data) = page.tag_data(i)?;
                    lines.push(data.as_slice().to_vec());
                }
            }
        }
        let tags_start = self.bytes.len() - 4 * tag_count;
        let used: usize = lines.iter().map(Vec::len).sum();
        if header_len + used > tags_start {
            // cbFree promised room the lines do not leave: the page's counters are wrong.
            return Err(EditError::NoRoom {
                offset: self.offset,
                pgno: self.pgno,
                need: header_len + used - tags_start,
                free: 0,
            });
        }
        let mut at = header_len;
        for (i, l) in lines.iter().enumerate() {
            self.bytes[at..at + l.len()].copy_from_slice(l);
            self.set_tag(i, at - header_len, l.len());
            at += l.len();
        }
        self.bytes[at..tags_start].fill(0);
        self.set_u16(offsets::IB_MIC_FREE, (at - header_len) as u16);
        Ok(())
    }

    /// Sets tag `itag`'s size and offset, keeping the flag bits above them.
    fn set_tag(&mut self, itag: usize, ib: usize, cb: usize) {
        let at = self.bytes.len() - 4 * (itag + 1);
        let small = self.bytes.len() <= crate::ese::page::SMALL_PAGE_MAX as usize;
        let mask: u16 = if small { 0x1FFF } else { 0x7FFF };
        let cb_old = LittleEndian::read_u16(&self.bytes[at..at + 2]);
        let ib_old = LittleEndian::read_u16(&self.bytes[at + 2..at + 4]);
        let cb_new = (cb_old & !mask) | (cb as u16 & mask);
        let ib_new = (ib_old & !mask) | (ib as u16 & mask);
        LittleEndian::write_u16(&mut self.bytes[at..at + 2], cb_new);
        LittleEndian::write_u16(&mut self.bytes[at + 2..at + 4], ib_new);
    }

    fn set_u16(&mut self, at: usize, v: u16) {
        LittleEndian::write_u16(&mut self.bytes[at..at + 2], v);
    }

    /// Stamps the page's `dbtimeDirtied`.
    pub fn stamp_dbtime(&mut self, dbtime: u64) -> Vec<ByteChange> {
        let before = self.bytes.clone();
        LittleEndian::write_u64(
            &mut self.bytes[offsets::DBTIME..offsets::DBTIME + 8],
            dbtime,
        );
        diff(self.offset, &before, &self.bytes)
    }

    /// Recomputes the page checksum in the page's own format (old XOR or XOR+ECC).
    pub fn restamp_checksum(&mut self) -> Vec<ByteChange> {
        let before = self.bytes.clone();
        stamp_page(&mut self.bytes, self.pgno);
        diff(self.offset, &before, &self.bytes)
    }
}

/// An owned copy of the file header, to be edited; written back to both copies.
#[derive(Clone)]
pub struct HeaderBuf {
    page_size: usize,
    primary: Vec<u8>,
    shadow: Vec<u8>,
    pub bytes: Vec<u8>,
}

impl HeaderBuf {
    /// Reads both copies; edits start from the copy ESE would use (the primary when its
    /// checksum is good, else an intact shadow).
    pub fn read(file: &[u8]) -> Result<HeaderBuf, EditError> {
        let copies = HeaderCopies::read(file)?;
        let cb = copies.header.page_size as usize;
        let whole = Bytes::new(file, 0);
        let primary = whole
            .slice("header page", 0, cb)
            .map_err(EseError::from)?
            .to_vec();
        let shadow = whole
            .slice("shadow header page", cb, cb)
            .map_err(EseError::from)?
            .to_vec();
        let bytes = if copies.used_shadow {
            shadow.clone()
        } else {
            primary.clone()
        };
        Ok(HeaderBuf {
            page_size: cb,
            primary,
            shadow,
            bytes,
        })
    }

    /// Sets `value` at header offset `offset` (inside the 748-byte structure).
    pub fn set_bytes(&mut self, offset: usize, value: &[u8]) -> Result<(), EditError> {
        let end = offset.checked_add(value.len());
        match end {
            Some(e) if e <= HEADER_STRUCT_LEN && offset >= 4 => {
                self.bytes[offset..e].copy_from_slice(value);
                Ok(())
            }
            _ => Err(EditError::HeaderField {
                offset,
                len: value.len(),
            }),
        }
    }

    pub fn set_dbtime(&mut self, dbtime: u64) {
        LittleEndian::write_u64(&mut self.bytes[DBTIME_OFFSET..DBTIME_OFFSET + 8], dbtime);
    }

    pub fn dbtime(&self) -> u64 {
        LittleEndian::read_u64(&self.bytes[DBTIME_OFFSET..DBTIME_OFFSET + 8])
    }

    /// Restamps the checksum and returns the changes to both copies (identical afterwards).
    pub fn finish(&mut self) -> Vec<ByteChange> {
        stamp_header(&mut self.bytes);
        debug_assert!(HeaderChecksum::of(&self.bytes).is_good());
        let mut out = diff(0, &self.primary, &self.bytes);
        out.extend(diff(self.page_size as u64, &self.shadow, &self.bytes));
        out
    }
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
            page.stamp_dbtime(dbtime);
            page.restamp_checksum();
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
        let stamped = buf.stamp_dbtime(0x1234_5678_9ABC);
        assert_eq!(stamped.len(), 1);
        assert_eq!(stamped[0].offset, 0x2000 + 8);
        assert!(matches!(check_page(&buf.bytes, 1), PageCheck::Bad(..)));
        let sums = buf.restamp_checksum();
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
