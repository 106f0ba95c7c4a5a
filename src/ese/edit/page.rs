//! Page edits: records rewritten in place or moved, free space reorganised, dbtime and
//! checksum restamped. See the parent module for the rules.

use super::{diff, diff_into, ByteChange, ChangeOut, EditError};
use crate::bytes::Bytes;
use crate::ese::btree::Database;
use crate::ese::catalog::{Column, Storage};
use crate::ese::checksum::{check_page, stamp_page, stamp_ranges, ChecksumMismatch, PageCheck};
use crate::ese::error::EseError;
use crate::ese::node::Node;
use crate::ese::page::{
    offsets, Page, SMALL_PAGE_MAX, TAG_LEN, TAG_VALUE_MASK_LARGE, TAG_VALUE_MASK_SMALL,
};
use crate::ese::record::{Record, VAR_NULL, VAR_OFFSET_MASK};
use byteorder::{ByteOrder, LittleEndian};

/// The bytes of `rec` with variable column `fid` set to `value` (`None` = NULL): the offset
/// array is recomputed, the fixed part and the tagged area are copied unchanged (tagged
/// offsets are relative to the tagged area in both forms). The column must be one the record
/// already has an offset entry for (`fid ≤ fidVarLastInRec`).
pub fn record_with_variable(
    rec: &Record,
    fid: u16,
    value: Option<&[u8]>,
) -> Result<Vec<u8>, EditError> {
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
        if end > usize::from(VAR_OFFSET_MASK) {
            return Err(EditError::NoRoom {
                offset: rec.bytes.base(),
                pgno: 0,
                need: end,
                free: usize::from(VAR_OFFSET_MASK),
            });
        }
        let entry = end as u16 | if v.is_none() { VAR_NULL } else { 0 };
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
    /// Whether an edit has changed a byte (an edit that puts back what another changed still
    /// counts; [`PageBuf::changes`] has the net difference).
    touched: bool,
    /// The bytes an edit is about to change, kept between edits (no allocation per edit).
    before: Vec<u8>,
}

impl PageBuf {
    /// Reads page `pgno` to edit it. A page whose checksum is bad is refused: the edit would
    /// restamp it and hide the damage (spec/product.md, "refuse").
    pub fn read(db: &Database, pgno: u32) -> Result<PageBuf, EseError> {
        let page = db.page(pgno, 0, "page to edit")?;
        let bytes = page.bytes().as_slice().to_vec();
        if let PageCheck::Bad(format, bad) = check_page(&bytes, pgno) {
            let m = bad.first().copied().unwrap_or(ChecksumMismatch {
                at: 0,
                what: "checksum",
                expected: 0,
                found: 0,
            });
            return Err(EseError::corrupt(
                page.offset() + m.at as u64,
                Some(pgno),
                "page checksum (refusing to edit a damaged page)",
                format!("{} {} {:#x}", format.name(), m.what, m.expected),
                format!("{:#x}", m.found),
            ));
        }
        Ok(PageBuf {
            pgno,
            offset: page.offset(),
            original: bytes.clone(),
            bytes,
            touched: false,
            before: Vec::new(),
        })
    }

    /// A page given as bytes (e.g. a single page outside any file), at file offset `offset`.
    pub fn from_bytes(pgno: u32, offset: u64, bytes: Vec<u8>) -> PageBuf {
        PageBuf {
            pgno,
            offset,
            original: bytes.clone(),
            bytes,
            touched: false,
            before: Vec::new(),
        }
    }

    /// Makes this the page `bytes` (page `pgno` at file offset `offset`), reusing this one's
    /// buffers: a pass over every page of a file edits them one after another in one buffer.
    pub fn reset(&mut self, pgno: u32, offset: u64, bytes: &[u8]) {
        self.pgno = pgno;
        self.offset = offset;
        for b in [&mut self.original, &mut self.bytes] {
            b.clear();
            b.extend_from_slice(bytes);
        }
        self.touched = false;
    }

    /// A read-only parse of the current contents.
    pub fn page(&self) -> Result<Page<'_>, EseError> {
        Page::parse(Bytes::new(&self.bytes, self.offset), self.pgno)
    }

    /// Every change since the page was read.
    pub fn changes(&self) -> Vec<ByteChange> {
        diff(self.offset, &self.original, &self.bytes)
    }

    /// Whether any edit has changed a byte since the page was read (cheaper than
    /// [`PageBuf::changes`], which compares the whole page).
    pub fn is_touched(&self) -> bool {
        self.touched
    }

    /// Runs `edit`, which may move anything on the page, and reports what it changed to `out`.
    fn tracked(
        &mut self,
        edit: impl FnOnce(&mut PageBuf) -> Result<(), EditError>,
        out: &mut dyn ChangeOut,
    ) -> Result<(), EditError> {
        let mut before = std::mem::take(&mut self.before);
        before.clear();
        before.extend_from_slice(&self.bytes);
        let edited = edit(self);
        if edited.is_ok() {
            self.touched |= diff_into(self.offset, &before, &self.bytes, out) > 0;
        }
        self.before = before;
        edited
    }

    /// Runs an infallible `edit` that writes only inside `ranges` of the page, and reports
    /// what it changed there (only those ranges are compared).
    fn changed_in(
        &mut self,
        ranges: impl Iterator<Item = std::ops::Range<usize>> + Clone,
        edit: impl FnOnce(&mut [u8]),
        out: &mut dyn ChangeOut,
    ) {
        let mut before = std::mem::take(&mut self.before);
        before.clear();
        for r in ranges.clone() {
            before.extend_from_slice(&self.bytes[r]);
        }
        edit(&mut self.bytes);
        let mut at = 0;
        for r in ranges {
            let old = &before[at..at + r.len()];
            at += r.len();
            let base = self.offset + r.start as u64;
            self.touched |= diff_into(base, old, &self.bytes[r], out) > 0;
        }
        self.before = before;
    }

    /// Overwrites fixed column `column` of the record in line `itag` with `value` (same
    /// length). The column must be stored in the record (not NULL, not absent).
    pub fn set_fixed_column(
        &mut self,
        itag: usize,
        column: &Column,
        value: &[u8],
        out: &mut dyn ChangeOut,
    ) -> Result<(), EditError> {
        let (Storage::Fixed, Some(offset), Some(size)) =
            (column.storage, column.fixed_offset, column.fixed_size)
        else {
            return Err(EditError::NotFixed { fid: column.fid });
        };
        let (at, rec_base) = {
            let page = self.page()?;
            let node = Node::parse(&page, itag)?;
            let rec = Record::parse(node.data, page.record_form())?;
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
        self.changed_in(
            std::iter::once(at..at + size),
            |b| b[at..at + size].copy_from_slice(value),
            out,
        );
        Ok(())
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
        out: &mut dyn ChangeOut,
    ) -> Result<(), EditError> {
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
                Some(self.pgno),
                "overwrite range",
                format!("inside the record of {rec_len} bytes"),
                format!("{at}..{}", at.saturating_add(value.len())),
            )));
        };
        let range = start + at..start + end;
        self.changed_in(
            std::iter::once(range.clone()),
            |b| b[range].copy_from_slice(value),
            out,
        );
        Ok(())
    }

    /// Replaces the record (node data) of line `itag` with `record`, keeping its key. A line
    /// that shrinks or keeps its size is rewritten where it is; one that grows goes to the
    /// free area, after reorganising the page when its free space is fragmented. Refused when
    /// the page has too little free space.
    pub fn replace_record(
        &mut self,
        itag: usize,
        record: &[u8],
        out: &mut dyn ChangeOut,
    ) -> Result<(), EditError> {
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
        let max_line = usize::from(self.tag_mask());
        let cb_free = usize::from(hdr.cb_free);
        if new_len > old_len && new_len - old_len > cb_free || new_len > max_line {
            return Err(EditError::NoRoom {
                offset: self.offset,
                pgno: self.pgno,
                need: new_len.saturating_sub(old_len),
                free: cb_free,
            });
        }
        let tags_start = self.bytes.len() - TAG_LEN * tag_count;
        let mic_free = header_len + usize::from(hdr.ib_mic_free);
        self.tracked(
            |p| {
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
            },
            out,
        )
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
        let tags_start = self.bytes.len() - TAG_LEN * tag_count;
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

    /// The mask of a tag's size and offset fields on this page (small or large page).
    fn tag_mask(&self) -> u16 {
        if self.bytes.len() <= SMALL_PAGE_MAX as usize {
            TAG_VALUE_MASK_SMALL
        } else {
            TAG_VALUE_MASK_LARGE
        }
    }

    /// Sets tag `itag`'s size and offset, keeping the flag bits above them.
    fn set_tag(&mut self, itag: usize, ib: usize, cb: usize) {
        let at = self.bytes.len() - TAG_LEN * (itag + 1);
        let mask = self.tag_mask();
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
    pub fn stamp_dbtime(&mut self, dbtime: u64, out: &mut dyn ChangeOut) {
        let range = offsets::DBTIME..offsets::DBTIME + 8;
        self.changed_in(
            std::iter::once(range.clone()),
            |b| LittleEndian::write_u64(&mut b[range], dbtime),
            out,
        )
    }

    /// Recomputes the page checksum in the page's own format (old XOR or XOR+ECC).
    pub fn restamp_checksum(&mut self, out: &mut dyn ChangeOut) {
        let pgno = self.pgno;
        self.changed_in(stamp_ranges(self.bytes.len()), |b| stamp_page(b, pgno), out)
    }
}
