//! Database pages: the page header (`PGHDR`, `PGHDR2` on 16/32 KiB pages) and the tag array.
//!
//! Source: reference/ese.md §3 ([MS] `cpage.hxx` `struct PGHDR`, page flags) and §4 (tags).

use crate::bytes::Bytes;
use crate::ese::error::EseError;

/// Size of `PGHDR` (4/8 KiB pages).
pub const SMALL_HEADER_LEN: usize = 40;
/// Size of `PGHDR` + `PGHDR2` (16/32 KiB pages).
pub const LARGE_HEADER_LEN: usize = 80;
/// Pages up to this size keep node flags in the tag and 13-bit tag fields.
pub const SMALL_PAGE_MAX: u32 = 8192;
/// One tag: `u16 cb_`, `u16 ib_`; the tag array grows down from the page end (§4).
pub const TAG_LEN: usize = 4;
/// Tag `cb_`/`ib_` value mask on pages ≤ 8 KiB; the node flags are `ib_ >> 13` (§4).
pub const TAG_VALUE_MASK_SMALL: u16 = 0x1FFF;
/// Tag value mask on 16/32 KiB pages (15-bit fields, node flags kept in the line, §4).
pub const TAG_VALUE_MASK_LARGE: u16 = 0x7FFF;
/// Shift of the node flags in a small page's tag `ib_` (§4).
pub const TAG_FLAGS_SHIFT: u32 = 13;

/// Page flags ([MS] `cpage.hxx`).
pub mod flags {
    pub const ROOT: u32 = 0x0001;
    pub const LEAF: u32 = 0x0002;
    pub const PARENT_OF_LEAF: u32 = 0x0004;
    pub const EMPTY: u32 = 0x0008;
    pub const SPACE_TREE: u32 = 0x0020;
    pub const INDEX: u32 = 0x0040;
    pub const LONG_VALUE: u32 = 0x0080;
    pub const NON_UNIQUE_KEYS: u32 = 0x0400;
    /// Records on the page are in the ESE98 form (absent on ESE97 pages).
    pub const NEW_RECORD_FORMAT: u32 = 0x0800;
    pub const NEW_CHECKSUM: u32 = 0x2000;
}

/// Offsets of `PGHDR` fields (the checksum is at 0).
pub mod offsets {
    pub const DBTIME: usize = 8;
    pub const PGNO_PREV: usize = 16;
    pub const PGNO_NEXT: usize = 20;
    pub const OBJID_FDP: usize = 24;
    pub const CB_FREE: usize = 28;
    pub const CB_UNCOMMITTED_FREE: usize = 30;
    pub const IB_MIC_FREE: usize = 32;
    pub const ITAG_STATE: usize = 34;
    pub const FLAGS: usize = 36;
}

/// `itagState`: the low 12 bits count tags; newer engines keep reserved tags in bits 12..14.
const ITAG_COUNT_MASK: u16 = 0x0FFF;

/// The page header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHeader {
    pub checksum: u64,
    pub dbtime_dirtied: u64,
    pub pgno_prev: u32,
    pub pgno_next: u32,
    pub objid_fdp: u32,
    pub cb_free: u16,
    pub cb_uncommitted_free: u16,
    pub ib_mic_free: u16,
    pub itag_state: u16,
    pub flags: u32,
}

impl PageHeader {
    pub fn parse(b: &Bytes) -> Result<PageHeader, EseError> {
        use offsets::*;
        Ok(PageHeader {
            checksum: b.u64("PGHDR.checksum", 0)?,
            dbtime_dirtied: b.u64("PGHDR.dbtimeDirtied", DBTIME)?,
            pgno_prev: b.u32("PGHDR.pgnoPrev", PGNO_PREV)?,
            pgno_next: b.u32("PGHDR.pgnoNext", PGNO_NEXT)?,
            objid_fdp: b.u32("PGHDR.objidFDP", OBJID_FDP)?,
            cb_free: b.u16("PGHDR.cbFree", CB_FREE)?,
            cb_uncommitted_free: b.u16("PGHDR.cbUncommittedFree", CB_UNCOMMITTED_FREE)?,
            ib_mic_free: b.u16("PGHDR.ibMicFree", IB_MIC_FREE)?,
            itag_state: b.u16("PGHDR.itagState", ITAG_STATE)?,
            flags: b.u32("PGHDR.fFlags", FLAGS)?,
        })
    }

    pub fn tag_count(&self) -> usize {
        usize::from(self.itag_state & ITAG_COUNT_MASK)
    }

    /// Reserved tags at the end of the tag count (newer engines); at least 1 (tag 0).
    pub fn reserved_tags(&self) -> usize {
        usize::from(self.itag_state >> 12).max(1)
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Writes every field but the checksum into the first [`SMALL_HEADER_LEN`] bytes of `out`
    /// (the checksum is stamped last, over the finished page). `out` must be at least that
    /// long: the builder passes whole pages.
    pub fn write(&self, out: &mut [u8]) {
        use offsets::*;
        let mut put = |at: usize, b: &[u8]| out[at..at + b.len()].copy_from_slice(b);
        put(DBTIME, &self.dbtime_dirtied.to_le_bytes());
        put(PGNO_PREV, &self.pgno_prev.to_le_bytes());
        put(PGNO_NEXT, &self.pgno_next.to_le_bytes());
        put(OBJID_FDP, &self.objid_fdp.to_le_bytes());
        put(CB_FREE, &self.cb_free.to_le_bytes());
        put(CB_UNCOMMITTED_FREE, &self.cb_uncommitted_free.to_le_bytes());
        put(IB_MIC_FREE, &self.ib_mic_free.to_le_bytes());
        put(ITAG_STATE, &self.itag_state.to_le_bytes());
        put(FLAGS, &self.flags.to_le_bytes());
    }
}

/// One tag: a line's size, offset (relative to the end of the page header) and node flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub cb: usize,
    pub ib: usize,
    /// `fNDVersion 0x1`, `fNDDeleted 0x2`, `fNDCompressed 0x4`.
    pub flags: u8,
}

/// A page of a database file, parsed only as far as its header.
#[derive(Clone, Copy)]
pub struct Page<'a> {
    pub pgno: u32,
    pub header: PageHeader,
    bytes: Bytes<'a>,
    small: bool,
}

impl<'a> Page<'a> {
    /// `bytes`: the whole page, based at its file offset.
    pub fn parse(bytes: Bytes<'a>, pgno: u32) -> Result<Page<'a>, EseError> {
        let header = PageHeader::parse(&bytes)?;
        Ok(Page {
            pgno,
            header,
            bytes,
            small: bytes.len() <= SMALL_PAGE_MAX as usize,
        })
    }

    pub fn bytes(&self) -> Bytes<'a> {
        self.bytes
    }

    pub fn offset(&self) -> u64 {
        self.bytes.base()
    }

    pub fn is_small(&self) -> bool {
        self.small
    }

    /// The record form of the records on this page: the new-record-format flag, and for
    /// that form the page size (reference/ese.md §5).
    pub fn record_form(&self) -> crate::ese::record::RecordForm {
        use crate::ese::record::RecordForm;
        if self.header.has(flags::NEW_RECORD_FORMAT) {
            RecordForm::Ese98 {
                large_page: !self.is_small(),
            }
        } else {
            RecordForm::Ese97
        }
    }

    pub fn header_len(&self) -> usize {
        if self.small {
            SMALL_HEADER_LEN
        } else {
            LARGE_HEADER_LEN
        }
    }

    pub fn tag_count(&self) -> usize {
        self.header.tag_count()
    }

    /// Tags of the lines (nodes): 1 .. count − reserved + 1, clamped to what the page holds.
    pub fn line_tags(&self) -> std::ops::Range<usize> {
        let end = self
            .tag_count()
            .saturating_sub(self.header.reserved_tags())
            .saturating_add(1)
            .min(self.tag_count());
        1..end.max(1)
    }

    /// Page offset of tag `itag`'s 4-byte entry (tags grow backwards from the page end).
    pub fn tag_entry_offset(&self, itag: usize) -> Result<usize, EseError> {
        let back = itag
            .checked_add(1)
            .and_then(|n| n.checked_mul(TAG_LEN))
            .filter(|&n| n <= self.bytes.len())
            .ok_or_else(|| {
                EseError::corrupt(
                    self.offset(),
                    Some(self.pgno),
                    "tag number",
                    format!("a tag inside the page (count {})", self.tag_count()),
                    itag.to_string(),
                )
            })?;
        Ok(self.bytes.len() - back)
    }

    pub fn tag(&self, itag: usize) -> Result<Tag, EseError> {
        let at = self.tag_entry_offset(itag)?;
        let cb_ = self.bytes.u16("TAG.cb", at)?;
        let ib_ = self.bytes.u16("TAG.ib", at + 2)?;
        let (cb, ib, mut flags) = if self.small {
            (
                cb_ & TAG_VALUE_MASK_SMALL,
                ib_ & TAG_VALUE_MASK_SMALL,
                (ib_ >> TAG_FLAGS_SHIFT) as u8,
            )
        } else {
            (cb_ & TAG_VALUE_MASK_LARGE, ib_ & TAG_VALUE_MASK_LARGE, 0)
        };
        let (cb, ib) = (usize::from(cb), usize::from(ib));
        if !self.small && cb >= 2 {
            // Large pages keep the node flags in the top bits of the line's first u16.
            let first = self
                .bytes
                .u16("node flags", self.header_len() + ib)
                .unwrap_or(0);
            flags = (first >> TAG_FLAGS_SHIFT) as u8;
        }
        Ok(Tag { cb, ib, flags })
    }

    /// The bytes of tag `itag`'s line, bounds-checked against the data area.
    pub fn tag_data(&self, itag: usize) -> Result<(Tag, Bytes<'a>), EseError> {
        let tag = self.tag(itag)?;
        let start = self
            .header_len()
            .checked_add(tag.ib)
            .ok_or_else(|| self.bad_tag(itag, tag))?;
        let tags_start = self.bytes.len().saturating_sub(TAG_LEN * self.tag_count());
        if start + tag.cb > tags_start {
            return Err(self.bad_tag(itag, tag));
        }
        Ok((tag, self.bytes.sub("tag data", start, tag.cb)?))
    }

    fn bad_tag(&self, itag: usize, tag: Tag) -> EseError {
        EseError::corrupt(
            self.offset() + self.tag_entry_offset(itag).unwrap_or(0) as u64,
            Some(self.pgno),
            "tag",
            "a line inside the data area",
            format!("tag {itag} at ib {} with {} bytes", tag.ib, tag.cb),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_header_parses_back() {
        let h = PageHeader {
            checksum: 0,
            dbtime_dirtied: 0x0102_0304_0506_0708,
            pgno_prev: 41,
            pgno_next: 43,
            objid_fdp: 9,
            cb_free: 1000,
            cb_uncommitted_free: 3,
            ib_mic_free: 2000,
            itag_state: 7,
            flags: flags::LEAF | flags::NEW_RECORD_FORMAT,
        };
        let mut page = vec![0xEEu8; 4096];
        page[..8].fill(0);
        h.write(&mut page);
        assert_eq!(PageHeader::parse(&Bytes::new(&page, 0)).unwrap(), h);
        // Nothing past the header is touched.
        assert!(page[SMALL_HEADER_LEN..].iter().all(|&b| b == 0xEE));
    }

    /// The one record-form rule (used by readers and the editor): the page flag picks the
    /// form, the page size picks the ESE98 variant.
    #[test]
    fn record_form_follows_the_page_flag_and_size() {
        use crate::ese::record::RecordForm;
        let mut forms = Vec::new();
        for (cb, fl) in [
            (4096, 0),
            (4096, flags::NEW_RECORD_FORMAT),
            (32768, flags::NEW_RECORD_FORMAT),
        ] {
            let h = PageHeader {
                checksum: 0,
                dbtime_dirtied: 1,
                pgno_prev: 0,
                pgno_next: 0,
                objid_fdp: 9,
                cb_free: 0,
                cb_uncommitted_free: 0,
                ib_mic_free: 0,
                itag_state: 0,
                flags: flags::LEAF | fl,
            };
            let mut page = vec![0u8; cb];
            h.write(&mut page);
            forms.push(Page::parse(Bytes::new(&page, 0), 3).unwrap().record_form());
        }
        assert_eq!(
            forms,
            [
                RecordForm::Ese97,
                RecordForm::Ese98 { large_page: false },
                RecordForm::Ese98 { large_page: true }
            ]
        );
    }
}
