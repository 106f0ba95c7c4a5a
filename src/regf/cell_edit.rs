//! Cell allocation of a hive being edited: [`Editor`]'s side of [`super::alloc`] (a new cell
//! taken from the free cells or a new bin, a freed cell marked and merged).

use super::alloc::MAX_CELL;
use super::edit::Editor;
use super::error::RegfError;
use super::hive::{CellOffset, BIN_ALIGN, BIN_HEADER_SIZE, CELL_ALIGN};
use crate::bytes::BytesMut;

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
    use crate::regf::alloc::FreeSpace;
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
