//! ESE page and header checksums.
//!
//! Source: reference/ese.md §2 ([MS] `checksum.cxx`, `checksumu.cxx`).

use crate::bytes::le_u32_words;
use byteorder::{ByteOrder, LittleEndian};

/// The seed of the old XOR checksum (`0x89ABCDEF`, the same value as the file magic).
pub const XOR_SEED: u32 = 0x89AB_CDEF;

/// The old-format XOR over a whole header or page: the seed XOR every little-endian u32 word
/// but the first (the stored checksum). Reference §2.1/§2.2.
///
/// `buf.len()` must be a multiple of 4; trailing bytes that do not make a word are ignored.
pub fn old_format_xor(buf: &[u8]) -> u32 {
    let words = buf.get(4..).unwrap_or(&[]);
    le_u32_words(words).fold(XOR_SEED, |acc, w| acc ^ w)
}

/// What an old-format page stores in its first 8 bytes: the XOR (bytes 0..4) and the page's
/// own number (bytes 4..8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldPageChecksum {
    pub xor: u32,
    pub pgno: u32,
}

impl OldPageChecksum {
    /// The values stored in the page.
    pub fn stored(page: &[u8]) -> OldPageChecksum {
        OldPageChecksum {
            xor: page.get(0..4).map_or(0, LittleEndian::read_u32),
            pgno: page.get(4..8).map_or(0, LittleEndian::read_u32),
        }
    }

    /// The values the page should store, given the page number it was read as.
    pub fn expected(page: &[u8], pgno: u32) -> OldPageChecksum {
        OldPageChecksum {
            xor: old_format_xor(page),
            pgno,
        }
    }
}

/// Writes the old-format checksum into `page` (which must already hold its final bytes 8..):
/// stores `pgno` at bytes 4..8 first, since the XOR covers that word.
pub fn stamp_old_format_page(page: &mut [u8], pgno: u32) {
    LittleEndian::write_u32(&mut page[4..8], pgno);
    let xor = old_format_xor(page);
    LittleEndian::write_u32(&mut page[0..4], xor);
}

/// Writes the header checksum (old format over the whole header page) into `header`.
pub fn stamp_header(header: &mut [u8]) {
    let xor = old_format_xor(header);
    LittleEndian::write_u32(&mut header[0..4], xor);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `page.1` from libesedb's test data: the one real old-format page (samples README).
    #[test]
    fn libesedb_page_1_verifies_with_the_old_format() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/ese/page.1");
        let page = std::fs::read(path).expect("../shared/samples/ese/page.1 beside the checkout");
        assert_eq!(page.len(), 4096);
        let stored = OldPageChecksum::stored(&page);
        assert_eq!(stored, OldPageChecksum::expected(&page, 1));
        assert_eq!(stored.pgno, 1);

        let mut copy = page.clone();
        copy[100] ^= 0x40;
        assert_ne!(
            OldPageChecksum::stored(&copy),
            OldPageChecksum::expected(&copy, 1)
        );
        stamp_old_format_page(&mut copy, 1);
        assert_eq!(
            OldPageChecksum::stored(&copy),
            OldPageChecksum::expected(&copy, 1)
        );
        assert_eq!(
            &copy[0..4],
            &(u32::from_le_bytes(page[0..4].try_into().unwrap()) ^ 0x40).to_le_bytes()
        );
    }
}
