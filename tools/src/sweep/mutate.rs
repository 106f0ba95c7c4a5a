//! Seeded mutations of ESE databases and registry hives: blind ones (bit flips, byte runs,
//! truncations) and structure-aware ones (swapped pages, ESE leaf sibling links made cyclic
//! with the page checksum fixed, hive cells whose size reaches outside their bin, subkey lists
//! that reference themselves or their own key, base-block flips with the checksum fixed).
//!
//! A mutant is a pure function of (the original bytes, the seed, the target's name, its
//! index): the same mutants every run, and any one of them can be made again alone.

use coldpatch::ese::checksum::stamp_page;
use coldpatch::ese::page::{flags, offsets};
use coldpatch::regf::base_block::{put_checksum, BASE_BLOCK_SIZE};

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for mutant `index` of the target `name` under `seed`.
    pub fn for_mutant(seed: u64, name: &str, index: u64) -> Rng {
        // FNV-1a of the name, mixed with the seed and the index.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut r = Rng(seed ^ h ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `0..n` (`n` > 0; 0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.index(items.len()))
        }
    }
}

/// What a file is, for the mutations that know its structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Ese,
    Regf,
    /// Neither (a transaction log, a lone page): blind mutations only.
    Raw,
}

/// One mutated copy of a file.
#[derive(Clone, Debug)]
pub struct Mutant {
    pub index: u64,
    /// What was done, with offsets (for the failure report).
    pub what: String,
    pub bytes: Vec<u8>,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = at.checked_add(4).and_then(|end| b.get_mut(at..end)) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// ESE geometry: the page size and the pages that hold something.
#[derive(Clone, Debug, Default)]
pub struct EseLayout {
    pub page_size: usize,
    /// Initialised pages (not all zero), by page number.
    pub used: Vec<u32>,
    /// Leaf pages with their objidFDP.
    pub leaves: Vec<(u32, u32)>,
}

/// ESE header facts (offset of the page size in the header, the default page size).
const ESE_PAGE_SIZE_OFFSET: usize = 236;
const ESE_DEFAULT_PAGE_SIZE: usize = 4096;

impl EseLayout {
    pub fn of(bytes: &[u8]) -> EseLayout {
        let cb = match le32(bytes, ESE_PAGE_SIZE_OFFSET) {
            Some(v) if [2048, 4096, 8192, 16384, 32768].contains(&v) => v as usize,
            _ => ESE_DEFAULT_PAGE_SIZE,
        };
        let mut l = EseLayout {
            page_size: cb,
            ..EseLayout::default()
        };
        let pages = (bytes.len() / cb).saturating_sub(1);
        for pgno in 1..=pages as u32 {
            let Some(page) = page_slice(bytes, cb, pgno) else {
                break;
            };
            if page.iter().all(|&b| b == 0) {
                continue;
            }
            l.used.push(pgno);
            let f = le32(page, offsets::FLAGS).unwrap_or(0);
            if f & flags::LEAF != 0 && f & flags::SPACE_TREE == 0 {
                l.leaves
                    .push((pgno, le32(page, offsets::OBJID_FDP).unwrap_or(0)));
            }
        }
        l
    }
}

fn page_range(cb: usize, pgno: u32) -> Option<std::ops::Range<usize>> {
    let start = (pgno as usize).checked_add(1)?.checked_mul(cb)?;
    Some(start..start.checked_add(cb)?)
}

fn page_slice(bytes: &[u8], cb: usize, pgno: u32) -> Option<&[u8]> {
    bytes.get(page_range(cb, pgno)?)
}

/// A hive cell as the mutator sees it.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// File offset of the size field.
    pub at: usize,
    pub size: i32,
    /// File offset of the end of the bin holding it.
    pub bin_end: usize,
}

/// Hive geometry: cells, subkey lists and the keys that own them.
#[derive(Clone, Debug, Default)]
pub struct RegfLayout {
    pub cells: Vec<Cell>,
    /// (list cell file offset, owning key cell file offset if known).
    pub lists: Vec<(usize, Option<usize>)>,
}

/// Cell offsets in a hive are relative to the first bin.
fn cell_file_offset(rel: u32) -> usize {
    BASE_BLOCK_SIZE + rel as usize
}

fn cell_rel(file: usize) -> u32 {
    file.saturating_sub(BASE_BLOCK_SIZE) as u32
}

/// nk fields (after the cell's size): signature 0, subkey count 0x14, subkey list 0x1C.
const NK_SUBKEY_COUNT: usize = 0x14;
const NK_SUBKEY_LIST: usize = 0x1C;
const HBIN_HEADER: usize = 32;

impl RegfLayout {
    pub fn of(bytes: &[u8]) -> RegfLayout {
        let mut l = RegfLayout::default();
        let mut owner = std::collections::HashMap::new();
        let mut bin = BASE_BLOCK_SIZE;
        while bytes.get(bin..bin + 4) == Some(&b"hbin"[..]) {
            let size = le32(bytes, bin + 8).unwrap_or(0) as usize;
            if size < 4096 || size % 4096 != 0 {
                break;
            }
            let end = bin + size;
            let mut c = bin + HBIN_HEADER;
            while c + 8 <= end {
                let Some(s) = le32(bytes, c).map(|v| v as i32) else {
                    break;
                };
                let len = s.unsigned_abs() as usize;
                if len < 8 || len % 8 != 0 || c + len > end {
                    break;
                }
                l.cells.push(Cell {
                    at: c,
                    size: s,
                    bin_end: end,
                });
                if s < 0 {
                    match bytes.get(c + 4..c + 6) {
                        Some(b"nk") => {
                            let n = le32(bytes, c + 4 + NK_SUBKEY_COUNT).unwrap_or(0);
                            let list = le32(bytes, c + 4 + NK_SUBKEY_LIST).unwrap_or(u32::MAX);
                            if n > 0 && list != u32::MAX {
                                owner.insert(cell_file_offset(list), c);
                            }
                        }
                        Some(b"lf") | Some(b"lh") | Some(b"li") | Some(b"ri") => {
                            l.lists.push((c, None));
                        }
                        _ => {}
                    }
                }
                c += len;
            }
            bin = end;
        }
        for (list, own) in l.lists.iter_mut() {
            *own = owner.get(list).copied();
        }
        l
    }
}

/// Where the structure-aware mutations find their targets.
#[derive(Clone, Debug)]
pub enum Layout {
    Ese(EseLayout),
    Regf(RegfLayout),
    Raw,
}

impl Layout {
    pub fn of(kind: FileKind, bytes: &[u8]) -> Layout {
        match kind {
            FileKind::Ese => Layout::Ese(EseLayout::of(bytes)),
            FileKind::Regf => Layout::Regf(RegfLayout::of(bytes)),
            FileKind::Raw => Layout::Raw,
        }
    }
}

/// Mutant `index` of `original` (laid out as `layout`), for the target `name` under `seed`.
pub fn mutant(original: &[u8], layout: &Layout, seed: u64, name: &str, index: u64) -> Mutant {
    let mut rng = Rng::for_mutant(seed, name, index);
    let mut bytes = original.to_vec();
    let what = match layout {
        Layout::Ese(l) => match rng.below(100) {
            0..=19 => bit_flip(&mut bytes, &mut rng),
            20..=31 => byte_run(&mut bytes, &mut rng),
            32..=36 => truncate(&mut bytes, &mut rng, l.page_size),
            37..=46 => swap_blocks(&mut bytes, &mut rng, l.page_size, &l.used, "pages"),
            47..=66 => cyclic_sibling(&mut bytes, &mut rng, l),
            _ => restamped_flip(&mut bytes, &mut rng, l),
        },
        Layout::Regf(l) => match rng.below(100) {
            0..=19 => bit_flip(&mut bytes, &mut rng),
            20..=29 => byte_run(&mut bytes, &mut rng),
            30..=34 => truncate(&mut bytes, &mut rng, 4096),
            35..=39 => {
                let blocks: Vec<u32> = (1..(bytes.len() / 4096) as u32).collect();
                swap_blocks(&mut bytes, &mut rng, 4096, &blocks, "4 KiB blocks")
            }
            40..=59 => cell_outside_bin(&mut bytes, &mut rng, l),
            60..=79 => self_subkey_list(&mut bytes, &mut rng, l),
            80..=84 => base_block_restamped(&mut bytes, &mut rng),
            _ => cell_field_flip(&mut bytes, &mut rng, l),
        },
        Layout::Raw => match rng.below(100) {
            0..=49 => bit_flip(&mut bytes, &mut rng),
            50..=84 => byte_run(&mut bytes, &mut rng),
            _ => truncate(&mut bytes, &mut rng, 512),
        },
    };
    Mutant { index, what, bytes }
}

fn bit_flip(b: &mut [u8], rng: &mut Rng) -> String {
    if b.is_empty() {
        return "nothing (empty file)".into();
    }
    let at = rng.index(b.len());
    let bit = rng.below(8) as u8;
    if let Some(x) = b.get_mut(at) {
        *x ^= 1 << bit;
    }
    format!("bit {bit} flipped at offset {at:#x}")
}

fn byte_run(b: &mut [u8], rng: &mut Rng) -> String {
    if b.is_empty() {
        return "nothing (empty file)".into();
    }
    let at = rng.index(b.len());
    let len = (1 + rng.index(64)).min(b.len() - at);
    let fill = match rng.below(4) {
        0 => Some(0u8),
        1 => Some(0xFF),
        2 => Some(rng.below(256) as u8),
        _ => None,
    };
    for x in b.iter_mut().skip(at).take(len) {
        *x = fill.unwrap_or_else(|| rng.below(256) as u8);
    }
    match fill {
        Some(v) => format!("{len} bytes set to {v:#04x} at offset {at:#x}"),
        None => format!("{len} random bytes at offset {at:#x}"),
    }
}

fn truncate(b: &mut Vec<u8>, rng: &mut Rng, unit: usize) -> String {
    let len = match rng.below(3) {
        // On a page or block boundary, or just past one.
        0 => rng.index(b.len() / unit + 1) * unit,
        1 => (rng.index(b.len() / unit + 1) * unit + 1 + rng.index(unit)).min(b.len()),
        _ => rng.index(b.len().max(1)),
    };
    let len = len.min(b.len().saturating_sub(1));
    b.truncate(len);
    format!("cut to {len} bytes")
}

fn swap_blocks(b: &mut [u8], rng: &mut Rng, unit: usize, pool: &[u32], what: &str) -> String {
    let (Some(&x), Some(&y)) = (rng.pick(pool), rng.pick(pool)) else {
        return bit_flip(b, rng);
    };
    if x == y {
        return bit_flip(b, rng);
    }
    // `pool` numbers ESE pages from 1 past the header pages, blocks from 0.
    let start = |n: u32| {
        if what == "pages" {
            (n as usize + 1) * unit
        } else {
            n as usize * unit
        }
    };
    let (a, c) = (start(x.min(y)), start(x.max(y)));
    if c + unit > b.len() {
        return bit_flip(b, rng);
    }
    let (lo, hi) = b.split_at_mut(c);
    if let (Some(p), Some(q)) = (lo.get_mut(a..a + unit), hi.get_mut(..unit)) {
        p.swap_with_slice(q);
    }
    format!("{what} {x} and {y} swapped")
}

/// A leaf page's pgnoNext or pgnoPrev pointed at itself or at another leaf of the same tree,
/// the page checksum fixed so only the structure walk can notice.
fn cyclic_sibling(b: &mut [u8], rng: &mut Rng, l: &EseLayout) -> String {
    let Some(&(pgno, objid)) = rng.pick(&l.leaves) else {
        return restamped_flip(b, rng, l);
    };
    let same: Vec<u32> = l
        .leaves
        .iter()
        .filter(|(_, o)| *o == objid)
        .map(|(p, _)| *p)
        .collect();
    let to = match rng.below(3) {
        0 => pgno,
        _ => rng.pick(&same).copied().unwrap_or(pgno),
    };
    let (field, name) = if rng.below(2) == 0 {
        (offsets::PGNO_NEXT, "pgnoNext")
    } else {
        (offsets::PGNO_PREV, "pgnoPrev")
    };
    let Some(range) = page_range(l.page_size, pgno) else {
        return bit_flip(b, rng);
    };
    let Some(page) = b.get_mut(range) else {
        return bit_flip(b, rng);
    };
    put32(page, field, to);
    stamp_page(page, pgno);
    format!("leaf page {pgno}: {name} set to {to}, checksum fixed")
}

/// A flip inside an initialised page (its header and tag array more often than the rest),
/// the page checksum fixed.
fn restamped_flip(b: &mut [u8], rng: &mut Rng, l: &EseLayout) -> String {
    let Some(&pgno) = rng.pick(&l.used) else {
        return bit_flip(b, rng);
    };
    let cb = l.page_size;
    let at = match rng.below(3) {
        0 => 8 + rng.index(32),
        1 => cb - 1 - rng.index(64.min(cb)),
        _ => 8 + rng.index(cb - 8),
    };
    let bit = rng.below(8) as u8;
    let Some(page) = page_range(cb, pgno).and_then(|r| b.get_mut(r)) else {
        return bit_flip(b, rng);
    };
    if let Some(x) = page.get_mut(at) {
        *x ^= 1 << bit;
    }
    stamp_page(page, pgno);
    format!("page {pgno}: bit {bit} flipped at page offset {at:#x}, checksum fixed")
}

/// A cell's size made to reach past the end of its bin (used cells stay used, free stay free).
fn cell_outside_bin(b: &mut [u8], rng: &mut Rng, l: &RegfLayout) -> String {
    let Some(&c) = rng.pick(&l.cells) else {
        return bit_flip(b, rng);
    };
    let to_end = c.bin_end - c.at;
    let len = match rng.below(4) {
        0 => to_end + 8,
        1 => to_end + 8 * (1 + rng.index(512)),
        2 => to_end + 4096,
        _ => 0x7FFF_FFF8,
    };
    let len = len.min(0x7FFF_FFF8) as i32;
    let size = if c.size < 0 { -len } else { len };
    put32(b, c.at, size as u32);
    format!(
        "cell at offset {:#x}: size {} -> {size} (bin ends at {:#x})",
        c.at, c.size, c.bin_end
    )
}

/// An entry of a subkey list pointed at the list itself or at the key that owns the list.
fn self_subkey_list(b: &mut [u8], rng: &mut Rng, l: &RegfLayout) -> String {
    let Some(&(list, owner)) = rng.pick(&l.lists) else {
        return cell_outside_bin(b, rng, l);
    };
    let count = le16(b, list + 6).unwrap_or(0) as usize;
    if count == 0 {
        return cell_outside_bin(b, rng, l);
    }
    let sig = b.get(list + 4..list + 6).unwrap_or_default().to_vec();
    let stride = if sig == b"lf" || sig == b"lh" { 8 } else { 4 };
    let entry = rng.index(count);
    let (to, what) = match owner {
        Some(k) if rng.below(2) == 0 => (k, "its own key"),
        _ => (list, "the list itself"),
    };
    put32(b, list + 8 + entry * stride, cell_rel(to));
    format!(
        "subkey list at offset {list:#x} ({}): entry {entry} points at {what} ({to:#x})",
        String::from_utf8_lossy(&sig)
    )
}

/// A flip in the base block with its checksum fixed.
fn base_block_restamped(b: &mut [u8], rng: &mut Rng) -> String {
    if b.len() < 512 {
        return bit_flip(b, rng);
    }
    let at = rng.index(508);
    let bit = rng.below(8) as u8;
    if let Some(x) = b.get_mut(at) {
        *x ^= 1 << bit;
    }
    put_checksum(b);
    format!("base block: bit {bit} flipped at offset {at:#x}, checksum fixed")
}

/// A flip in the first 0x50 bytes of a used cell (its size, signature and fixed fields).
fn cell_field_flip(b: &mut [u8], rng: &mut Rng, l: &RegfLayout) -> String {
    let used: Vec<&Cell> = l.cells.iter().filter(|c| c.size < 0).collect();
    let Some(c) = rng.pick(&used) else {
        return bit_flip(b, rng);
    };
    let len = c.size.unsigned_abs() as usize;
    let at = c.at + rng.index(len.min(0x50));
    let bit = rng.below(8) as u8;
    if let Some(x) = b.get_mut(at) {
        *x ^= 1 << bit;
    }
    format!(
        "cell at offset {:#x}: bit {bit} flipped at offset {at:#x}",
        c.at
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_the_same_every_time_and_differ_from_each_other() {
        let original: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
        let layout = Layout::Raw;
        let a = mutant(&original, &layout, 1, "x", 5);
        let b = mutant(&original, &layout, 1, "x", 5);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.what, b.what);
        let distinct: std::collections::HashSet<Vec<u8>> = (0..50)
            .map(|i| mutant(&original, &layout, 1, "x", i).bytes)
            .collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
        assert!((0..50).all(|i| mutant(&original, &layout, 1, "x", i).bytes != original));
    }
}
