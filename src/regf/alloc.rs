//! Cell allocation inside a hive being edited: first fit over the free cells (lowest offset
//! first) with a split, else a new bin appended at `4096 + hive bins size`; freed cells are
//! marked free and merged with free neighbours in their bin. Source: reference/regf.md §2
//! (ROS `HvAllocateCell`, `HvpAddBin`, `HvFreeCell`).
//!
//! The free cells are kept in offset order, with the largest free cell of every bin in a max
//! tree, so that "the first free cell that fits" is found in logarithmic time.

use super::bins::{BinItem, BinWalk};
use super::edit::Editor;
use super::error::RegfError;
use super::hive::{CellOffset, BIN_ALIGN, BIN_HEADER_SIZE, CELL_ALIGN};
use crate::bytes::BytesMut;
use std::collections::BTreeMap;

/// The largest cell this tool allocates (a cell size is an i32; MSDN's standard format limit
/// on value data is about 1 MB, the editor allows far more but not near the sign bit).
pub const MAX_CELL: u32 = 0x4000_0000;

/// The free cells of a hive and, per bin, the largest of them.
#[derive(Clone, Debug, Default)]
pub struct FreeSpace {
    /// Free cells: offset → size.
    cells: BTreeMap<u32, u32>,
    /// Bin start offsets, ascending.
    bin_starts: Vec<u32>,
    bin_ends: Vec<u32>,
    /// A max tree over the bins' largest free cell (leaves from `leaves`).
    tree: Vec<u32>,
    leaves: usize,
}

impl FreeSpace {
    /// Scans the bins of a hive for free cells (the walk `verify` uses; refused at the first
    /// fault, since the editor can also open a hive it has not verified).
    pub fn scan(data: &[u8], bins_size: u32) -> Result<FreeSpace, RegfError> {
        let mut fs = FreeSpace::default();
        for item in BinWalk::new(data, bins_size) {
            match item {
                BinItem::Bin { start, end } => {
                    fs.bin_starts.push(start);
                    fs.bin_ends.push(end);
                }
                BinItem::Cell { offset, size } => {
                    if size > 0 {
                        fs.cells.insert(offset.0, size.unsigned_abs());
                    }
                }
                BinItem::Fault { offset, what } => {
                    return Err(RegfError::Corrupt { offset, what });
                }
            }
        }
        fs.rebuild();
        Ok(fs)
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    fn rebuild(&mut self) {
        self.leaves = self.bin_starts.len().next_power_of_two().max(1);
        self.tree = vec![0; 2 * self.leaves];
        for i in 0..self.bin_starts.len() {
            self.tree[self.leaves + i] = self.bin_max(i);
        }
        for i in (1..self.leaves).rev() {
            self.tree[i] = self.tree[2 * i].max(self.tree[2 * i + 1]);
        }
    }

    fn bin_max(&self, i: usize) -> u32 {
        self.cells
            .range(self.bin_starts[i]..self.bin_ends[i])
            .map(|(_, &s)| s)
            .max()
            .unwrap_or(0)
    }

    /// Recomputes the largest free cell of the bin holding `off`.
    fn update(&mut self, off: u32) {
        let i = match self.bin_starts.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let mut node = self.leaves + i;
        self.tree[node] = self.bin_max(i);
        while node > 1 {
            node /= 2;
            self.tree[node] = self.tree[2 * node].max(self.tree[2 * node + 1]);
        }
    }

    /// The lowest-offset free cell of at least `need` bytes.
    fn first_fit(&self, need: u32) -> Option<(u32, u32)> {
        if self.tree.get(1).copied().unwrap_or(0) < need {
            return None;
        }
        let mut node = 1;
        while node < self.leaves {
            node = if self.tree[2 * node] >= need {
                2 * node
            } else {
                2 * node + 1
            };
        }
        let i = node - self.leaves;
        self.cells
            .range(self.bin_starts[i]..self.bin_ends[i])
            .find(|(_, &s)| s >= need)
            .map(|(&o, &s)| (o, s))
    }

    fn insert(&mut self, off: u32, size: u32) {
        self.cells.insert(off, size);
        self.update(off);
    }

    fn remove(&mut self, off: u32) -> Option<u32> {
        let s = self.cells.remove(&off);
        if s.is_some() {
            self.update(off);
        }
        s
    }

    fn add_bin(&mut self, start: u32, end: u32) {
        self.bin_starts.push(start);
        self.bin_ends.push(end);
        if self.bin_starts.len() > self.leaves {
            self.rebuild();
        }
    }

    /// The free cell ending right at `off`, if any.
    fn before(&self, off: u32) -> Option<(u32, u32)> {
        self.cells
            .range(..off)
            .next_back()
            .filter(|(&p, &s)| p + s == off)
            .map(|(&p, &s)| (p, s))
    }
}

impl Editor {
    fn put_size(&mut self, rel: u32, size: i32) -> Result<(), RegfError> {
        let at = CellOffset(rel).file_offset() as usize;
        BytesMut::new(&mut self.data, 0).put("cell size", at, &size.to_le_bytes())?;
        Ok(())
    }

    /// Allocates a cell with room for `payload` bytes (zeroed) and returns its offset.
    pub(crate) fn alloc(&mut self, payload: usize) -> Result<CellOffset, RegfError> {
        let need = (payload as u64 + 4).div_ceil(CELL_ALIGN as u64) * CELL_ALIGN as u64;
        if need > MAX_CELL as u64 {
            return Err(RegfError::Unsupported {
                what: format!("a cell of {payload} bytes is larger than this tool allocates"),
            });
        }
        let need = need as u32;
        let (off, size) = match self.free.first_fit(need) {
            Some(f) => f,
            None => self.add_bin(need)?,
        };
        self.free.remove(off);
        let rest = size - need;
        let taken = if rest >= CELL_ALIGN {
            self.put_size(off + need, rest as i32)?;
            self.free.insert(off + need, rest);
            need
        } else {
            size
        };
        self.put_size(off, -(taken as i32))?;
        let start = CellOffset(off).file_offset() as usize + 4;
        BytesMut::new(&mut self.data, 0)
            .slice_mut("new cell", start, taken as usize - 4)?
            .fill(0);
        Ok(CellOffset(off))
    }

    /// Appends a bin big enough for a cell of `need` bytes; returns its one free cell.
    fn add_bin(&mut self, need: u32) -> Result<(u32, u32), RegfError> {
        let size = (need + BIN_HEADER_SIZE).div_ceil(BIN_ALIGN) * BIN_ALIGN;
        let pos = self.bins_size;
        let new_size = pos
            .checked_add(size)
            .ok_or_else(|| RegfError::Unsupported {
                what: "the hive would grow past 4 GiB".into(),
            })?;
        let start = CellOffset(pos).file_offset() as usize;
        let end = start + size as usize;
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        let mut w = BytesMut::new(&mut self.data, 0);
        w.slice_mut("new bin", start, size as usize)?.fill(0);
        w.put("hbin signature", start, b"hbin")?;
        w.put_u32("hbin offset", start + 4, pos)?;
        w.put_u32("hbin size", start + 8, size)?;
        self.bins_size = new_size;
        let cell = pos + BIN_HEADER_SIZE;
        let cell_size = size - BIN_HEADER_SIZE;
        self.put_size(cell, cell_size as i32)?;
        self.free.add_bin(pos, new_size);
        self.free.insert(cell, cell_size);
        Ok((cell, cell_size))
    }

    /// Marks the allocated cell at `rel` free and merges it with free neighbours (cells never
    /// span bins, so an adjacent free cell is always in the same bin).
    pub(crate) fn free_cell(&mut self, rel: CellOffset) -> Result<(), RegfError> {
        let size = self.hive().cell_size(rel)?;
        let rel = rel.0;
        let (mut off, mut len) = (rel, size);
        if let Some(next) = self.free.remove(rel + size) {
            len += next;
        }
        if let Some((p, ps)) = self.free.before(rel) {
            self.free.remove(p);
            off = p;
            len += ps;
        }
        self.put_size(off, len as i32)?;
        self.free.insert(off, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::FreeSpace;
    use crate::regf::edit::Editor;
    use crate::regf::hive::CellOffset;
    use crate::regf::write::{build_hive, HiveOptions, KeySpec};

    fn editor() -> Editor {
        let opts = HiveOptions {
            minor_version: 3,
            timestamp: 1,
            sequence: 1,
            file_name: String::new(),
            security_descriptor: vec![
                1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        };
        let root = KeySpec {
            name: "R".into(),
            ..Default::default()
        };
        Editor::open(build_hive(&root, &opts).unwrap(), 1).unwrap()
    }

    #[test]
    fn free_space_scan_refuses_a_cell_crossing_its_bin() {
        // One bin; its first cell (free) claims 0x7FFFFFF8 bytes: the old scan added that to
        // the cell offset (u32 overflow in debug) or read past the bin.
        let mut d = vec![0u8; 4096 + 4096];
        d[4096..4100].copy_from_slice(b"hbin");
        d[4096 + 8..4096 + 12].copy_from_slice(&4096u32.to_le_bytes());
        d[4096 + 32..4096 + 36].copy_from_slice(&0x7FFF_FFF8i32.to_le_bytes());
        let e = FreeSpace::scan(&d, 4096).unwrap_err();
        assert_eq!(e.offset(), Some(0x1020), "{e}");
        // A cell 8 bytes past the bin end too.
        d[4096 + 32..4096 + 36].copy_from_slice(&(4096i32 - 32 + 8).to_le_bytes());
        assert!(FreeSpace::scan(&d, 4096).is_err());
        // Filling the bin exactly is one free cell.
        d[4096 + 32..4096 + 36].copy_from_slice(&(4096i32 - 32).to_le_bytes());
        assert_eq!(FreeSpace::scan(&d, 4096).unwrap().len(), 1);
    }

    #[test]
    fn first_fit_split_merge_and_new_bins() {
        let mut ed = editor();
        // Ten 64-byte cells in a row.
        let cells: Vec<u32> = (0..10).map(|_| ed.alloc(60).unwrap().0).collect();
        for w in cells.windows(2) {
            assert_eq!(w[1], w[0] + 64, "allocated in a row");
        }
        // Free 1, 3 and 4: 3 and 4 merge into one 128-byte cell.
        for i in [1, 3, 4] {
            ed.free_cell(CellOffset(cells[i])).unwrap();
        }
        assert_eq!(ed.free.cells.get(&cells[3]), Some(&128));
        assert!(!ed.free.cells.contains_key(&cells[4]));
        // A 100-byte cell does not fit at 1: first fit is the merged cell at 3, split.
        let big = ed.alloc(100).unwrap().0;
        assert_eq!(big, cells[3]);
        assert_eq!(ed.free.cells.get(&(cells[3] + 104)), Some(&24));
        // A small one takes the lowest free cell, at 1.
        assert_eq!(ed.alloc(8).unwrap().0, cells[1]);
        // Something larger than any free cell comes from a new bin at the end.
        let bins_before = ed.bins_size;
        let huge = ed.alloc(10_000).unwrap().0;
        assert_eq!(huge, bins_before + 32);
        assert_eq!(ed.bins_size, bins_before + 12_288);
        let out = ed.finish();
        assert_eq!(
            u32::from_le_bytes(out[40..44].try_into().unwrap()),
            bins_before + 12_288
        );
    }
}
