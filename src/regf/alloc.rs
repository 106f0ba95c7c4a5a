//! Cell allocation inside a hive being edited: first fit over the free cells (lowest offset
//! first) with a split, else a new bin appended at `4096 + hive bins size`; freed cells are
//! marked free and merged with free neighbours in their bin. Source: reference/regf.md §2
//! (ROS `HvAllocateCell`, `HvpAddBin`, `HvFreeCell`).
//!
//! The free cells are kept in offset order, with the largest free cell of every bin in a max
//! tree, so that "the first free cell that fits" is found in logarithmic time.

use super::bins::{BinItem, BinWalk};
use super::error::RegfError;

use std::collections::BTreeMap;

/// The largest cell this tool allocates (a cell size is an i32; MSDN's standard format limit
/// on value data is about 1 MB, the editor allows far more but not near the sign bit).
pub const MAX_CELL: u32 = 0x4000_0000;

/// The free cells of a hive and, per bin, the largest of them.
#[derive(Clone, Debug, Default)]
pub struct FreeSpace {
    /// Free cells: offset → size.
    pub(crate) cells: BTreeMap<u32, u32>,
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
    pub(crate) fn first_fit(&self, need: u32) -> Option<(u32, u32)> {
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

    pub(crate) fn insert(&mut self, off: u32, size: u32) {
        self.cells.insert(off, size);
        self.update(off);
    }

    pub(crate) fn remove(&mut self, off: u32) -> Option<u32> {
        let s = self.cells.remove(&off);
        if s.is_some() {
            self.update(off);
        }
        s
    }

    pub(crate) fn add_bin(&mut self, start: u32, end: u32) {
        self.bin_starts.push(start);
        self.bin_ends.push(end);
        if self.bin_starts.len() > self.leaves {
            self.rebuild();
        }
    }

    /// The free cell ending right at `off`, if any.
    pub(crate) fn before(&self, off: u32) -> Option<(u32, u32)> {
        self.cells
            .range(..off)
            .next_back()
            .filter(|(&p, &s)| p + s == off)
            .map(|(&p, &s)| (p, s))
    }
}
