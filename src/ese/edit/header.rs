//! Header edits: one owned copy, written back identically to the header and its shadow.

use super::{diff, ByteChange, EditError};
use crate::bytes::Bytes;
use crate::ese::checksum::{stamp_header, HeaderChecksum};
use crate::ese::error::EseError;
use crate::ese::header::{offsets, DbState, HeaderCopies, DBTIME_OFFSET, HEADER_STRUCT_LEN};
use byteorder::{ByteOrder, LittleEndian};

/// An owned copy of the file header, to be edited; written back to both copies.
#[derive(Clone)]
pub struct HeaderBuf {
    page_size: usize,
    primary: Vec<u8>,
    shadow: Vec<u8>,
    pub bytes: Vec<u8>,
}

impl HeaderBuf {
    /// Reads both copies. Refused (spec/product.md, "refuse"): a database not in
    /// clean-shutdown state, a copy whose checksum is bad, copies that disagree; an edit
    /// would restamp both copies and hide the damage.
    pub fn read(file: &[u8]) -> Result<HeaderBuf, EditError> {
        let copies = HeaderCopies::read(file)?;
        let cb = copies.header.page_size as usize;
        let state = copies.header.state;
        if state != DbState::CLEAN_SHUTDOWN {
            return Err(EditError::NotCleanShutdown {
                offset: offsets::DBSTATE as u64,
                found: format!("{} ({})", state.name(), state.0),
            });
        }
        // An unparseable shadow has no checksum to check; it differs from the primary, which
        // the comparison below refuses.
        let sums = [
            (0, Some(copies.primary_checksum)),
            (cb as u64, copies.shadow_checksum),
        ];
        for (base, sum) in sums {
            if let Some(sum) = sum.filter(|s| !s.is_good()) {
                return Err(EditError::HeaderChecksum {
                    offset: base,
                    expected: sum.expected,
                    found: sum.found,
                });
            }
        }
        if let Some(at) = copies.first_difference {
            return Err(EditError::HeaderCopiesDiffer {
                offset: at as u64,
                shadow_offset: (cb + at) as u64,
            });
        }
        let whole = Bytes::new(file, 0);
        let primary = whole
            .slice("header page", 0, cb)
            .map_err(EseError::from)?
            .to_vec();
        let shadow = whole
            .slice("shadow header page", cb, cb)
            .map_err(EseError::from)?
            .to_vec();
        let bytes = primary.clone();
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
