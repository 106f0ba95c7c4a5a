//! Cell allocation inside a hive being edited: first fit over the free cells with a split,
//! else a new bin appended at `4096 + hive bins size`; freed cells are marked free and merged
//! with free neighbours in their bin. Source: reference/regf.md §2 (ROS `HvAllocateCell`,
//! `HvpAddBin`, `HvFreeCell`).

use super::edit::Editor;
use super::error::RegfError;
use super::hive::{abs, BIN_ALIGN, BIN_HEADER_SIZE, CELL_ALIGN};
use crate::bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

/// The largest cell this tool allocates (a cell size is an i32; MSDN's standard format limit
/// on value data is about 1 MB, the editor allows far more but not near the sign bit).
pub const MAX_CELL: u32 = 0x4000_0000;

/// Free cells of the hive bins: offset → size.
pub fn scan_free(data: &[u8], bins_size: u32) -> Result<BTreeMap<u32, u32>, RegfError> {
    let bins = Bytes::new(&data[4096..4096 + bins_size as usize], 4096);
    let mut free = BTreeMap::new();
    let mut pos = 0u32;
    while pos < bins_size {
        let size = bins.u32("hbin size", pos as usize + 8)?;
        if size == 0 || size % BIN_ALIGN != 0 {
            return Err(RegfError::corrupt(
                abs(pos) + 8,
                format!("hive bin size {size:#x}"),
            ));
        }
        let end = pos
            .checked_add(size)
            .ok_or_else(|| RegfError::corrupt(abs(pos), "bin size overflows"))?;
        let mut c = pos + BIN_HEADER_SIZE;
        while c < end {
            let s = bins.i32("cell size", c as usize)?;
            let len = s.unsigned_abs();
            if len == 0 || len % CELL_ALIGN != 0 {
                return Err(RegfError::corrupt(abs(c), format!("cell size {s}")));
            }
            if s > 0 {
                free.insert(c, len);
            }
            c += len;
        }
        pos = end;
    }
    Ok(free)
}

impl Editor {
    fn put_size(&mut self, rel: u32, size: i32) -> Result<(), RegfError> {
        let at = abs(rel) as usize;
        BytesMut::new(&mut self.data, 0).put("cell size", at, &size.to_le_bytes())?;
        Ok(())
    }

    /// Allocates a cell with room for `payload` bytes (zeroed) and returns its offset.
    pub(crate) fn alloc(&mut self, payload: usize) -> Result<u32, RegfError> {
        let need = (payload as u64 + 4).div_ceil(CELL_ALIGN as u64) * CELL_ALIGN as u64;
        if need > MAX_CELL as u64 {
            return Err(RegfError::Unsupported {
                what: format!("a cell of {payload} bytes is larger than this tool allocates"),
            });
        }
        let need = need as u32;
        let found = self
            .free
            .iter()
            .find(|(_, &size)| size >= need)
            .map(|(&o, &s)| (o, s));
        let (off, size) = match found {
            Some(f) => f,
            None => self.add_bin(need)?,
        };
        self.free.remove(&off);
        let rest = size - need;
        let taken = if rest >= CELL_ALIGN {
            self.put_size(off + need, rest as i32)?;
            self.free.insert(off + need, rest);
            need
        } else {
            size
        };
        self.put_size(off, -(taken as i32))?;
        let start = abs(off) as usize + 4;
        BytesMut::new(&mut self.data, 0)
            .slice_mut("new cell", start, taken as usize - 4)?
            .fill(0);
        Ok(off)
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
        let start = abs(pos) as usize;
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
        self.free.insert(cell, cell_size);
        Ok((cell, cell_size))
    }

    /// Marks the allocated cell at `rel` free and merges it with free neighbours (cells never
    /// span bins, so an adjacent free cell is always in the same bin).
    pub(crate) fn free_cell(&mut self, rel: u32) -> Result<(), RegfError> {
        let size = self.hive().cell_size(rel)?;
        let (mut off, mut len) = (rel, size);
        if let Some(next) = self.free.remove(&(rel + size)) {
            len += next;
        }
        if let Some((&p, &ps)) = self.free.range(..rel).next_back() {
            if p + ps == rel {
                self.free.remove(&p);
                off = p;
                len += ps;
            }
        }
        self.put_size(off, len as i32)?;
        self.free.insert(off, len);
        Ok(())
    }
}
