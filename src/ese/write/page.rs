//! Database pages as the builder writes them: the 40-byte page header, the data area growing up
//! from byte 40 and the tag array growing down from the end, and the old-format checksum.
//!
//! Source: reference/ese.md §3 (`PGHDR`, page flags; \[MS\] `cpage.hxx`) and §4 (tags, nodes;
//! \[MS\] `node.cxx`).

use crate::ese::checksum::stamp_old_format_page;
use crate::ese::header::DEFAULT_PAGE_SIZE;
use crate::ese::node::KEY_LEN_FIELD;
use crate::ese::page::{PageHeader, SMALL_HEADER_LEN, TAG_LEN};

/// The page size the builder writes (Exchange 5.5 and the ESE98 form both use 4 KiB pages;
/// reference §1 "Page size for Exchange 5.5").
pub const PAGE_SIZE: usize = DEFAULT_PAGE_SIZE as usize;
/// Bytes available to data and tags on an empty page.
pub const PAGE_BODY: usize = PAGE_SIZE - SMALL_HEADER_LEN;

/// The largest tag-0 ("external header") the builder ever writes: the 16-byte
/// `SPACE_HEADER` of a root page (reference §6). Every page reserves room for it, so that
/// whichever page of a level turns out to be the root still fits.
pub const EXTERNAL_HEADER_MAX: usize = crate::ese::space::SpaceHeader::LEN;

/// Room for nodes on any page: the body less tag 0 and its largest external header.
pub const NODE_SPACE: usize = PAGE_BODY - TAG_LEN - EXTERNAL_HEADER_MAX;

/// Bytes a node with this key and data takes on a page, its tag included: an uncompressed
/// node is `u16 cbKey`, the key, the data (reference §4).
pub const fn node_cost(key_len: usize, data_len: usize) -> usize {
    KEY_LEN_FIELD + key_len + data_len + TAG_LEN
}

/// The nodes of one page being filled, kept as one byte run plus node ends, so a page costs
/// two reusable buffers however many nodes it has.
#[derive(Default)]
pub struct NodeList {
    bytes: Vec<u8>,
    ends: Vec<u16>,
}

impl NodeList {
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes the nodes take on a page, tags included.
    pub fn used(&self) -> usize {
        self.bytes.len() + self.ends.len() * TAG_LEN
    }

    /// Whether a node of this key and data still fits on this page.
    pub fn fits(&self, key_len: usize, data_len: usize) -> bool {
        self.used() + node_cost(key_len, data_len) <= NODE_SPACE
    }

    /// Appends an uncompressed node (no `fNDCompressed`, so no prefix count).
    pub fn push(&mut self, key: &[u8], data: &[u8]) {
        // Callers check `fits` first; a key is at most a page long, so it fits a u16.
        self.bytes
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(data);
        self.ends.push(self.bytes.len() as u16);
    }

    /// Node `i` as stored: `u16 cbKey`, key, data.
    pub fn node(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The key of node `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        let node = self.node(i);
        let cb = u16::from_le_bytes([node[0], node[1]]) as usize;
        &node[KEY_LEN_FIELD..KEY_LEN_FIELD + cb]
    }

    /// The data of node `i`.
    pub fn data(&self, i: usize) -> &[u8] {
        let node = self.node(i);
        let cb = u16::from_le_bytes([node[0], node[1]]) as usize;
        &node[KEY_LEN_FIELD + cb..]
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// What the caller decides about a page being written: its number (for the checksum) and the
/// header fields that are not derived from its contents.
#[derive(Clone, Copy, Debug)]
pub struct PageSpec {
    pub pgno: u32,
    pub dbtime: u64,
    pub prev: u32,
    pub next: u32,
    pub objid: u32,
    pub flags: u32,
}

/// Lays out a page: header, tag 0 = `external` (space header or the empty key prefix), then
/// the nodes in order, tags from the end of the page; stamps the old-format checksum.
/// `out` must be `PAGE_SIZE` bytes; it is overwritten entirely.
pub fn lay_out(out: &mut [u8], h: &PageSpec, external: &[u8], nodes: &NodeList) {
    debug_assert_eq!(out.len(), PAGE_SIZE);
    debug_assert!(external.len() <= EXTERNAL_HEADER_MAX);
    debug_assert!(nodes.used() <= NODE_SPACE);
    out.fill(0);
    let ntags = nodes.len() + 1;
    let mut ib = 0usize;
    let put_tag = |out: &mut [u8], itag: usize, ib: usize, cb: usize| {
        let at = PAGE_SIZE - TAG_LEN * (itag + 1);
        out[at..at + 2].copy_from_slice(&(cb as u16).to_le_bytes());
        out[at + 2..at + 4].copy_from_slice(&(ib as u16).to_le_bytes());
    };
    out[SMALL_HEADER_LEN..SMALL_HEADER_LEN + external.len()].copy_from_slice(external);
    put_tag(out, 0, ib, external.len());
    ib += external.len();
    for i in 0..nodes.len() {
        let node = nodes.node(i);
        let at = SMALL_HEADER_LEN + ib;
        out[at..at + node.len()].copy_from_slice(node);
        put_tag(out, i + 1, ib, node.len());
        ib += node.len();
    }
    let free = PAGE_BODY - ib - ntags * TAG_LEN;
    PageHeader {
        checksum: 0,
        dbtime_dirtied: h.dbtime,
        pgno_prev: h.prev,
        pgno_next: h.next,
        objid_fdp: h.objid,
        cb_free: free as u16,
        cb_uncommitted_free: 0,
        ib_mic_free: ib as u16,
        itag_state: ntags as u16,
        flags: h.flags,
    }
    .write(out);
    stamp_old_format_page(out, h.pgno);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::checksum::OldPageChecksum;

    #[test]
    fn laid_out_page_has_tags_free_space_and_a_valid_checksum() {
        let mut nodes = NodeList::default();
        nodes.push(b"\x7f\x80\x00\x00\x01", b"record-one");
        nodes.push(b"\x7f\x80\x00\x00\x02", b"rec2");
        assert_eq!(nodes.key(1), b"\x7f\x80\x00\x00\x02");
        let mut page = vec![0u8; PAGE_SIZE];
        let h = PageSpec {
            pgno: 42,
            dbtime: 7,
            prev: 41,
            next: 43,
            objid: 9,
            flags: crate::ese::page::flags::LEAF,
        };
        lay_out(&mut page, &h, &[], &nodes);
        assert_eq!(
            OldPageChecksum::stored(&page),
            OldPageChecksum::expected(&page, 42)
        );
        let ntags = u16::from_le_bytes([page[34], page[35]]);
        assert_eq!(ntags, 3);
        let ib_mic = u16::from_le_bytes([page[32], page[33]]) as usize;
        assert_eq!(ib_mic, 2 + 5 + 10 + 2 + 5 + 4);
        let free = u16::from_le_bytes([page[28], page[29]]) as usize;
        assert_eq!(free, PAGE_BODY - ib_mic - 3 * TAG_LEN);
        // tag 2 (second node) at the third slot from the end
        let at = PAGE_SIZE - 12;
        let cb = u16::from_le_bytes([page[at], page[at + 1]]) as usize;
        let ib = u16::from_le_bytes([page[at + 2], page[at + 3]]) as usize;
        assert_eq!(cb, 2 + 5 + 4);
        assert_eq!(
            &page[SMALL_HEADER_LEN + ib + 7..SMALL_HEADER_LEN + ib + 11],
            b"rec2"
        );
    }
}
