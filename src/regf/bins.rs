//! The one walk over a hive's bins and the cells that tile them, shared by `verify` (which
//! reports every fault) and the editor's free-space map (which refuses on the first).
//! Source: reference/regf.md §2 (hive bins and cells).
//!
//! Every size comes from unverified bytes: a bin must lie inside the hive bins data, a cell
//! inside its bin, and all arithmetic stays below those ends, so nothing overflows.

use super::base_block::BASE_BLOCK_SIZE;
use super::hive::{CellOffset, BIN_ALIGN, BIN_HEADER_SIZE, CELL_ALIGN};
use crate::bytes::Bytes;

/// A hive bin starts with this signature.
pub const HBIN_SIGNATURE: &[u8; 4] = b"hbin";
/// Offsets inside a bin header (reference/regf.md §2).
const HBIN_OFF_OFFSET: usize = 4;
const HBIN_OFF_SIZE: usize = 8;

/// What the walk finds, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinItem {
    /// A bin with a good header: its start and end (cell offsets, end exclusive).
    Bin { start: u32, end: u32 },
    /// A cell: its offset and signed size (negative = allocated).
    Cell { offset: CellOffset, size: i32 },
    /// Something wrong at an absolute file offset. After a bad bin-offset field the walk goes
    /// on; after a bad cell it goes to the next bin; after a bad bin signature or size it ends.
    Fault { offset: u64, what: String },
}

/// Iterator over the bins and cells of `data` (a whole hive file) for `bins_size` bytes of
/// hive bins.
pub struct BinWalk<'a> {
    bins: Bytes<'a>,
    bins_size: u32,
    /// The next bin's start.
    pos: u32,
    /// Inside a bin: the next cell, and the bin's end.
    cell: Option<(u32, u32)>,
    /// A good bin header read, to be reported after its offset-field fault.
    pending: Option<BinItem>,
    done: bool,
}

impl<'a> BinWalk<'a> {
    pub fn new(data: &'a [u8], bins_size: u32) -> BinWalk<'a> {
        let avail = data.len().saturating_sub(BASE_BLOCK_SIZE);
        let take = avail.min(bins_size as usize);
        BinWalk {
            bins: Bytes::new(
                &data[BASE_BLOCK_SIZE.min(data.len())..BASE_BLOCK_SIZE.min(data.len()) + take],
                BASE_BLOCK_SIZE as u64,
            ),
            bins_size,
            pos: 0,
            cell: None,
            pending: None,
            done: false,
        }
    }

    fn end_with(&mut self, offset: u64, what: String) -> Option<BinItem> {
        self.done = true;
        Some(BinItem::Fault { offset, what })
    }

    fn next_cell(&mut self, c: u32, end: u32) -> Option<BinItem> {
        let Ok(s) = self.bins.i32("cell size", c as usize) else {
            self.cell = None;
            return Some(BinItem::Fault {
                offset: CellOffset(c).file_offset(),
                what: "cell size cut off by the end of the file".into(),
            });
        };
        let len = s.unsigned_abs();
        // `c < end`, so `end - c` cannot underflow; `len <= end - c` keeps `c + len <= end`.
        if len == 0 || len % CELL_ALIGN != 0 || len > end - c {
            self.cell = None;
            return Some(BinItem::Fault {
                offset: CellOffset(c).file_offset(),
                what: format!(
                    "cell size {s}: not a non-zero multiple of 8 inside its bin (bin ends at {:#x})",
                    CellOffset(end).file_offset()
                ),
            });
        }
        let next = c + len;
        self.cell = (next < end).then_some((next, end));
        Some(BinItem::Cell {
            offset: CellOffset(c),
            size: s,
        })
    }
}

impl Iterator for BinWalk<'_> {
    type Item = BinItem;

    fn next(&mut self) -> Option<BinItem> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        if let Some((c, end)) = self.cell {
            return self.next_cell(c, end);
        }
        if self.done || self.pos >= self.bins_size {
            return None;
        }
        let pos = self.pos;
        let at = CellOffset(pos).file_offset();
        let sig = self.bins.slice("hbin", pos as usize, 4).unwrap_or(b"????");
        if sig != HBIN_SIGNATURE {
            return self.end_with(
                at,
                format!(
                    "hive bin signature: expected \"hbin\", found {}",
                    crate::text::hex_bytes(sig)
                ),
            );
        }
        let off = self.bins.u32("hbin offset", pos as usize + HBIN_OFF_OFFSET);
        let size = self
            .bins
            .u32("hbin size", pos as usize + HBIN_OFF_SIZE)
            .unwrap_or(0);
        let left = self.bins_size - pos;
        if size == 0 || size % BIN_ALIGN != 0 || size > left {
            return self.end_with(
                at + HBIN_OFF_SIZE as u64,
                format!(
                    "hive bin size {size:#x} is not a multiple of 4096 inside the {left:#x} bytes left"
                ),
            );
        }
        let end = pos + size;
        self.pos = end;
        // A bin is at least one 4096-byte block, so its header fits and a first cell follows.
        self.cell = Some((pos + BIN_HEADER_SIZE, end));
        let bin = BinItem::Bin { start: pos, end };
        match off {
            Ok(o) if o == pos => Some(bin),
            other => {
                self.pending = Some(bin);
                Some(BinItem::Fault {
                    offset: at + HBIN_OFF_OFFSET as u64,
                    what: match other {
                        Ok(o) => format!("hive bin offset field {o:#x}, expected {pos:#x}"),
                        Err(e) => e.to_string(),
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 4096-byte bin after a zeroed base block, its first cell of `first` bytes (signed).
    fn hive_with_cell(first: i32) -> Vec<u8> {
        let mut d = vec![0u8; BASE_BLOCK_SIZE + 4096];
        let b = &mut d[BASE_BLOCK_SIZE..];
        b[..4].copy_from_slice(HBIN_SIGNATURE);
        b[8..12].copy_from_slice(&4096u32.to_le_bytes());
        b[32..36].copy_from_slice(&first.to_le_bytes());
        d
    }

    #[test]
    fn cell_crossing_its_bin_is_a_fault_not_an_overflow() {
        // A free cell claiming nearly 4 GiB: `c + len` would wrap a u32.
        for size in [0x7FFF_FFF8i32, 4096 - 32 + 8, i32::MIN + 8] {
            let d = hive_with_cell(size);
            let items: Vec<BinItem> = BinWalk::new(&d, 4096).collect();
            assert_eq!(items.len(), 2, "{size:#x}: {items:?}");
            assert!(
                matches!(items[1], BinItem::Fault { offset: 0x1020, .. }),
                "{items:?}"
            );
        }
        // The cell that fills the bin exactly is fine.
        let d = hive_with_cell(4096 - 32);
        let items: Vec<BinItem> = BinWalk::new(&d, 4096).collect();
        assert_eq!(
            items,
            vec![
                BinItem::Bin {
                    start: 0,
                    end: 4096
                },
                BinItem::Cell {
                    offset: CellOffset(32),
                    size: 4096 - 32
                }
            ]
        );
    }
}
