//! Nodes (lines): a prefix-compressed key and the data that follows it.
//!
//! Source: reference/ese.md §4 ([MS] `node.cxx` `NDILineToKeydataflags`):
//! `[u16 cbPrefix if fNDCompressed] u16 cbSuffix, suffix bytes, data`.

use crate::bytes::Bytes;
use crate::ese::error::EseError;
use crate::ese::page::Page;

/// Node flags (in the tag on small pages).
pub const FLAG_VERSION: u8 = 0x1;
pub const FLAG_DELETED: u8 = 0x2;
pub const FLAG_COMPRESSED: u8 = 0x4;
/// Key lengths are 13-bit; the top bits carry flags on large pages.
const KEY_LEN_MASK: u16 = 0x1FFF;
/// Size of each key-length field (`u16 cbPrefix`, `u16 cbSuffix`).
pub const KEY_LEN_FIELD: usize = 2;

/// One node of a page.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub itag: usize,
    pub flags: u8,
    /// Leading key bytes taken from the page's common prefix (tag 0).
    pub prefix_len: usize,
    pub prefix: Bytes<'a>,
    pub suffix: Bytes<'a>,
    pub data: Bytes<'a>,
    /// Offset of the line inside the page.
    pub line_offset: usize,
    pub line_len: usize,
}

impl<'a> Node<'a> {
    /// Parses line `itag` of `page`.
    pub fn parse(page: &Page<'a>, itag: usize) -> Result<Node<'a>, EseError> {
        let (tag, line) = page.tag_data(itag)?;
        let compressed = tag.flags & FLAG_COMPRESSED != 0;
        let mut at = 0;
        let mut prefix_len = 0;
        if compressed {
            prefix_len = usize::from(line.u16("node cbPrefix", 0)? & KEY_LEN_MASK);
            at = KEY_LEN_FIELD;
        }
        let suffix_len = usize::from(line.u16("node cbSuffix", at)? & KEY_LEN_MASK);
        at += KEY_LEN_FIELD;
        let suffix = line.sub("node key suffix", at, suffix_len)?;
        let data = line.tail("node data", at + suffix_len)?;
        let prefix = if prefix_len > 0 {
            let (_, ext) = page.tag_data(0)?;
            ext.sub("node key prefix (tag 0)", 0, prefix_len)?
        } else {
            Bytes::new(&[], line.base())
        };
        Ok(Node {
            itag,
            flags: tag.flags,
            prefix_len,
            prefix,
            suffix,
            data,
            line_offset: page.header_len() + tag.ib,
            line_len: tag.cb,
        })
    }

    pub fn is_deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// The full key: page prefix + suffix.
    pub fn key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + self.suffix.len());
        k.extend_from_slice(self.prefix.as_slice());
        k.extend_from_slice(self.suffix.as_slice());
        k
    }

    /// Offset of the data inside the page.
    pub fn data_offset_in_page(&self, page: &Page) -> usize {
        (self.data.base() - page.offset()) as usize
    }
}
