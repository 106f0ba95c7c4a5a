//! ESE page and header checksums.
//!
//! Source: reference/ese.md §2 ([MS] `checksum.cxx`, `checksumu.cxx`).

use crate::bytes::xor_le_u32_words;
use crate::ese::page;
use byteorder::{ByteOrder, LittleEndian};

/// The seed of the old XOR checksum (`0x89ABCDEF`, the same value as the file magic).
pub const XOR_SEED: u32 = 0x89AB_CDEF;

/// The old-format XOR over a whole header or page: the seed XOR every little-endian u32 word
/// but the first (the stored checksum). Reference §2.1/§2.2.
///
/// `buf.len()` must be a multiple of 4; trailing bytes that do not make a word are ignored.
pub fn old_format_xor(buf: &[u8]) -> u32 {
    xor_le_u32_words(XOR_SEED, buf.get(4..).unwrap_or(&[]))
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

/// Pages of at most this size are "small": one checksum over the whole page (§2.3); the
/// same bound as the page layout's ([`crate::ese::page::SMALL_PAGE_MAX`]).
const SMALL_PAGE_MAX: usize = page::SMALL_PAGE_MAX as usize;

/// The smallest page size (4 KiB); smaller buffers are never stamped.
pub const SMALL_PAGE_MIN: usize = 4096;

/// Offset of `PGHDR2.rgChecksum[0]` (the checksum of block 1) on 16/32 KiB pages (§3).
pub const LARGE_PAGE_BLOCK_SUMS_OFFSET: usize = 40;

/// Offset inside a large page of the stored checksum of block `block` (1..=3).
fn block_sum_offset(block: usize) -> usize {
    LARGE_PAGE_BLOCK_SUMS_OFFSET + 8 * (block - 1)
}

/// The byte ranges [`stamp_page`] may write on a page of `page_len` bytes: the first eight
/// (the checksum, and the page number of the old format), and on large pages the stored
/// checksums of blocks 1–3.
pub fn stamp_ranges(page_len: usize) -> impl Iterator<Item = std::ops::Range<usize>> + Clone {
    let large = page_len > SMALL_PAGE_MAX;
    std::iter::once(0..8).chain(
        (1..4)
            .filter(move |_| large)
            .map(|b| block_sum_offset(b)..block_sum_offset(b) + 8),
    )
}

/// One XOR+ECC checksum as stored: low u32 = XOR of the block's words XOR pgno, high u32 = ECC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorEcc {
    pub xor: u32,
    pub ecc: u32,
}

impl XorEcc {
    pub fn from_u64(v: u64) -> XorEcc {
        XorEcc {
            xor: v as u32,
            ecc: (v >> 32) as u32,
        }
    }

    pub fn to_u64(self) -> u64 {
        (u64::from(self.ecc) << 32) | u64::from(self.xor)
    }

    fn stored_at(page: &[u8], at: usize) -> XorEcc {
        XorEcc::from_u64(page.get(at..at + 8).map_or(0, LittleEndian::read_u64))
    }
}

/// All ones when `x` has an odd number of set bits, else zero (the `par` of §2.3).
#[inline(always)]
fn parity_mask(x: u32) -> u32 {
    0u32.wrapping_sub(x.count_ones() & 1)
}

/// The XOR+ECC checksum of one block (a 4/8 KiB page, or one block of a 16/32 KiB page).
///
/// `header_block`: the block starts with the stored checksum, whose 8 bytes count as zero.
/// `block.len()` must be a multiple of 16. Source: reference/ese.md §2.3 ([MS]
/// `checksum_amd64.cxx` `ChecksumNewFormatSlowly`, `MakeChecksumFromECCXORAndPgno`).
pub fn xor_ecc_block(block: &[u8], pgno: u32, header_block: bool) -> XorEcc {
    // Row masks: for row i the mask is (!i) << 23 | i << 7 within 32 bits (the reference's
    // "start 0xFF800000, add 0xFF800080 per row"), so the row-parity contributions split into
    // two halves that can be accumulated separately.
    let mut p: u32 = 0;
    let mut c01: u64 = 0; // columns 0 and 1 (p0, p1) as one u64
    let mut c23: u64 = 0; // columns 2 and 3 (p2, p3)
    let mut row_mask: u32 = 0xFF80_0000;
    for (i, row) in block.chunks_exact(16).enumerate() {
        let mut lo = LittleEndian::read_u64(&row[0..8]);
        let hi = LittleEndian::read_u64(&row[8..16]);
        if i == 0 && header_block {
            lo = 0;
        }
        c01 ^= lo;
        c23 ^= hi;
        let x = lo ^ hi;
        p ^= row_mask & parity_mask((x as u32) ^ ((x >> 32) as u32));
        row_mask = row_mask.wrapping_add(0xFF80_0080);
    }
    let (p0, p1) = (c01 as u32, (c01 >> 32) as u32);
    let (p2, p3) = (c23 as u32, (c23 >> 32) as u32);
    p |= 0x0040_0000 & parity_mask(p0 ^ p1);
    p |= 0x0000_0040 & parity_mask(p2 ^ p3);
    let r0 = p0 ^ p2;
    let r1 = p1 ^ p3;
    p |= 0x0020_0000 & parity_mask(r0);
    p |= 0x0000_0020 & parity_mask(r1);
    let xor = r0 ^ r1;
    let mut r: u32 = 0;
    let mut idx: u32 = 0xFFFF_0000;
    for k in 0..32 {
        if xor & (1 << k) != 0 {
            r ^= idx;
        }
        idx = idx.wrapping_add(0xFFFF_0001);
    }
    let size_mask = ((block.len() as u32).wrapping_shl(19)).wrapping_sub(1);
    let ecc = (p & 0xFFE0_FFE0 & size_mask) | (r & 0x001F_001F);
    XorEcc {
        xor: xor ^ pgno,
        ecc,
    }
}

/// Which checksum a page carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageChecksumFormat {
    /// Old XOR + stored page number (ESE97 .. Exchange 2003 SP1), §2.2.
    OldXor,
    /// XOR+ECC over the whole 4/8 KiB page, §2.3.
    XorEcc,
    /// 16/32 KiB page: XOR+ECC per block, block sums 1.. in the large page header, §2.3.
    LargeXorEcc,
}

impl PageChecksumFormat {
    /// The format of `page` (a whole page of `page.len()` bytes): large pages always use
    /// XOR+ECC; small pages use it when flag 0x2000 is set.
    pub fn of(page: &[u8]) -> PageChecksumFormat {
        if page.len() > SMALL_PAGE_MAX {
            return PageChecksumFormat::LargeXorEcc;
        }
        let flags = page
            .get(page::offsets::FLAGS..page::offsets::FLAGS + 4)
            .map_or(0, LittleEndian::read_u32);
        if flags & page::flags::NEW_CHECKSUM != 0 {
            PageChecksumFormat::XorEcc
        } else {
            PageChecksumFormat::OldXor
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PageChecksumFormat::OldXor => "old XOR",
            PageChecksumFormat::XorEcc => "XOR+ECC",
            PageChecksumFormat::LargeXorEcc => "large-page XOR+ECC",
        }
    }
}

/// One stored-versus-computed checksum value that disagreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChecksumMismatch {
    /// Offset of the stored value inside the page.
    pub at: usize,
    /// Which value: "XOR", "page number", "ECC", "block 1 XOR+ECC", ...
    pub what: &'static str,
    pub expected: u64,
    pub found: u64,
}

/// The outcome of checking one page's checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageCheck {
    /// Every byte is zero: never initialised, not corrupt.
    Uninitialised,
    Good(PageChecksumFormat),
    Bad(PageChecksumFormat, Vec<ChecksumMismatch>),
}

/// Whether every byte of `page` is zero.
pub fn is_all_zero(page: &[u8]) -> bool {
    let words = page.chunks_exact(8);
    let tail = words.remainder();
    tail.iter().all(|&b| b == 0) && words.into_iter().all(|w| LittleEndian::read_u64(w) == 0)
}

/// Checks the checksum of database page `pgno` (`page` = the whole page) in the page's own
/// format. Returns the expected and the stored values of every field that disagrees.
pub fn check_page(page: &[u8], pgno: u32) -> PageCheck {
    // An initialised page fails this at its first word (the checksum), so it costs nothing.
    if is_all_zero(page) {
        return PageCheck::Uninitialised;
    }
    let format = PageChecksumFormat::of(page);
    let mut bad = Vec::new();
    match format {
        PageChecksumFormat::OldXor => {
            let stored = OldPageChecksum::stored(page);
            let expected = OldPageChecksum::expected(page, pgno);
            if stored.xor != expected.xor {
                bad.push(ChecksumMismatch {
                    at: 0,
                    what: "XOR checksum",
                    expected: expected.xor.into(),
                    found: stored.xor.into(),
                });
            }
            if stored.pgno != expected.pgno {
                bad.push(ChecksumMismatch {
                    at: 4,
                    what: "page number",
                    expected: expected.pgno.into(),
                    found: stored.pgno.into(),
                });
            }
        }
        PageChecksumFormat::XorEcc => {
            compare_xor_ecc(
                page,
                0,
                xor_ecc_block(page, pgno, true),
                "whole page",
                &mut bad,
            );
        }
        PageChecksumFormat::LargeXorEcc => {
            let sums = large_page_checksums(page, pgno, false);
            compare_xor_ecc(page, 0, sums[0], "block 0", &mut bad);
            const NAMES: [&str; 3] = ["block 1", "block 2", "block 3"];
            for (i, sum) in sums.iter().enumerate().skip(1) {
                let at = block_sum_offset(i);
                compare_xor_ecc(page, at, *sum, NAMES[i - 1], &mut bad);
            }
        }
    }
    if bad.is_empty() {
        PageCheck::Good(format)
    } else {
        PageCheck::Bad(format, bad)
    }
}

fn compare_xor_ecc(
    page: &[u8],
    at: usize,
    expected: XorEcc,
    what: &'static str,
    bad: &mut Vec<ChecksumMismatch>,
) {
    let stored = XorEcc::stored_at(page, at);
    if stored != expected {
        bad.push(ChecksumMismatch {
            at,
            what,
            expected: expected.to_u64(),
            found: stored.to_u64(),
        });
    }
}

/// The block size of a large page: 16 KiB pages have 4 KiB blocks, 32 KiB pages 8 KiB blocks.
fn large_block_size(page_len: usize) -> usize {
    (page_len / 4).max(16)
}

/// The checksums of a 16/32 KiB page: `[block 0, block 1, block 2, block 3]`.
/// Block 0 covers the sums of blocks 1..3 kept in its large page header: when `restamp`,
/// block 0 is computed as it will be once the new block sums are written; otherwise over the
/// page as it is (verification).
fn large_page_checksums(page: &[u8], pgno: u32, restamp: bool) -> [XorEcc; 4] {
    let cb = large_block_size(page.len());
    let mut sums = [XorEcc { xor: 0, ecc: 0 }; 4];
    for (i, sum) in sums.iter_mut().enumerate().skip(1) {
        if let Some(block) = page.get(i * cb..(i + 1) * cb) {
            *sum = xor_ecc_block(block, pgno, false);
        }
    }
    let mut block0 = page.get(0..cb).unwrap_or(&[]).to_vec();
    for (i, sum) in sums.iter().enumerate().skip(1).filter(|_| restamp) {
        let at = block_sum_offset(i);
        if let Some(dst) = block0.get_mut(at..at + 8) {
            LittleEndian::write_u64(dst, sum.to_u64());
        }
    }
    sums[0] = xor_ecc_block(&block0, pgno, true);
    sums
}

/// Writes the checksum of page `pgno` into `page` in the page's own format (old XOR, XOR+ECC,
/// or large-page XOR+ECC with its block sums). `page` must hold its final bytes otherwise.
pub fn stamp_page(page: &mut [u8], pgno: u32) {
    if page.len() < SMALL_PAGE_MIN {
        return;
    }
    match PageChecksumFormat::of(page) {
        PageChecksumFormat::OldXor => stamp_old_format_page(page, pgno),
        PageChecksumFormat::XorEcc => {
            let sum = xor_ecc_block(page, pgno, true);
            LittleEndian::write_u64(&mut page[0..8], sum.to_u64());
        }
        PageChecksumFormat::LargeXorEcc => {
            let sums = large_page_checksums(page, pgno, true);
            for (i, sum) in sums.iter().enumerate().skip(1) {
                let at = block_sum_offset(i);
                LittleEndian::write_u64(&mut page[at..at + 8], sum.to_u64());
            }
            LittleEndian::write_u64(&mut page[0..8], sums[0].to_u64());
        }
    }
}

/// The header checksum check: expected (computed) and stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderChecksum {
    pub expected: u32,
    pub found: u32,
}

impl HeaderChecksum {
    pub fn of(header_page: &[u8]) -> HeaderChecksum {
        HeaderChecksum {
            expected: old_format_xor(header_page),
            found: header_page.get(0..4).map_or(0, LittleEndian::read_u32),
        }
    }

    pub fn is_good(&self) -> bool {
        self.expected == self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stamp_page` writes nothing outside `stamp_ranges`, in every format and page size, and
    /// the ranges hold every byte it changed.
    #[test]
    fn stamping_writes_only_inside_the_stamp_ranges() {
        for size in [4096usize, 8192, 16384, 32768] {
            for new_checksum in [false, true] {
                let mut page: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
                let flags = if new_checksum {
                    page::flags::NEW_CHECKSUM
                } else {
                    0
                };
                LittleEndian::write_u32(
                    &mut page[page::offsets::FLAGS..page::offsets::FLAGS + 4],
                    flags,
                );
                let before = page.clone();
                stamp_page(&mut page, 77);
                let inside = |i: usize| stamp_ranges(size).any(|r| r.contains(&i));
                let changed: Vec<usize> = (0..size).filter(|&i| page[i] != before[i]).collect();
                assert!(!changed.is_empty(), "{size} {new_checksum}");
                assert!(changed.iter().all(|&i| inside(i)), "{size} {new_checksum}");
            }
        }
    }

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

    /// Known answers: every initialised page of a 4 KiB and an 8 KiB real database carries
    /// the XOR+ECC checksum we compute; a flipped bit changes both halves.
    #[test]
    fn xor_ecc_matches_real_4k_and_8k_pages() {
        for (name, cb) in [
            ("basic.edb.gz", 4096usize),
            ("decompress_test.edb.gz", 8192),
        ] {
            let file = crate::ese::samples::gunzipped(name);
            let mut good = 0;
            for (i, page) in file.chunks_exact(cb).enumerate().skip(2) {
                let pgno = (i - 1) as u32;
                match check_page(page, pgno) {
                    PageCheck::Good(PageChecksumFormat::XorEcc) => good += 1,
                    PageCheck::Uninitialised => {}
                    other => panic!("{name} page {pgno}: {other:?}"),
                }
            }
            assert!(good > 10, "{name}: only {good} initialised pages");
            let page = &file[3 * cb..4 * cb];
            let mut copy = page.to_vec();
            copy[cb / 2] ^= 0x10;
            let PageCheck::Bad(_, m) = check_page(&copy, 2) else {
                panic!("flipped bit not detected");
            };
            assert_eq!(m[0].found, XorEcc::stored_at(page, 0).to_u64());
            assert_ne!(m[0].expected as u32, m[0].found as u32);
            assert_ne!((m[0].expected >> 32) as u32, (m[0].found >> 32) as u32);
            // The wrong page number is caught as well.
            assert!(matches!(check_page(page, 3), PageCheck::Bad(..)));
            stamp_page(&mut copy, 2);
            assert_eq!(
                check_page(&copy, 2),
                PageCheck::Good(PageChecksumFormat::XorEcc)
            );
        }
    }

    #[test]
    fn large_pages_checksum_every_block() {
        for cb in [16384usize, 32768] {
            let mut page: Vec<u8> = (0..cb).map(|i| (i * 7 + i / 251) as u8).collect();
            stamp_page(&mut page, 77);
            assert_eq!(
                check_page(&page, 77),
                PageCheck::Good(PageChecksumFormat::LargeXorEcc)
            );
            let mut copy = page.clone();
            copy[cb - 5] ^= 1;
            let PageCheck::Bad(_, m) = check_page(&copy, 77) else {
                panic!("flip in last block not detected");
            };
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].what, "block 3");
            assert_eq!(m[0].at, LARGE_PAGE_BLOCK_SUMS_OFFSET + 16);
        }
    }

    #[test]
    fn zero_pages_are_uninitialised_not_bad() {
        assert_eq!(check_page(&[0u8; 4096], 9), PageCheck::Uninitialised);
        assert_eq!(check_page(&[0u8; 16384], 9), PageCheck::Uninitialised);
        let mut p = [0u8; 4096];
        p[4000] = 1;
        assert!(matches!(check_page(&p, 9), PageCheck::Bad(..)));
    }
}
