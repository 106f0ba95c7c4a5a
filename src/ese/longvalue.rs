//! Separated long values: reading a value out of a table's long-value tree.
//!
//! Source: reference/ese.md §7 item 4 ([MS] `rec.hxx`): the LV tree's keys are the LID in
//! big-endian order; the LVROOT node (key = LID) holds `{u32 refcount, u32 size}`; the chunk
//! nodes (key = LID + big-endian u32 offset) hold the value's bytes from that offset. The record
//! stores the LID little-endian (4 bytes, or 8 in formats with 64-bit LIDs).

use crate::bytes::Bytes;
use crate::ese::btree::Database;
use crate::ese::catalog::Table;
use crate::ese::error::EseError;
use std::ops::ControlFlow;

/// A value larger than this is not assembled (no ESE long value exceeds 2 GiB).
const MAX_LONG_VALUE: u64 = 0x7FFF_FFFF;

/// A separated long value as stored.
#[derive(Debug)]
pub struct LongValue {
    /// The value's length as the LVROOT records it.
    pub size: u64,
    /// The chunks' bytes in key order. Shorter than `size` when the chunks are compressed
    /// (newer formats; not decoded here).
    pub data: Vec<u8>,
}

impl LongValue {
    /// Whether the stored bytes are the value itself (not compressed).
    pub fn is_plain(&self) -> bool {
        self.data.len() as u64 == self.size
    }
}

/// Reads the separated long value whose LID (as stored in the record) is `lid`.
pub fn read_long_value(db: &Database, table: &Table, lid: Bytes) -> Result<LongValue, EseError> {
    let Some((root, objid)) = table.long_values else {
        return Err(EseError::Catalog(format!(
            "table {} has a separated long value but no long-value tree",
            table.name
        )));
    };
    let key: Vec<u8> = lid.as_slice().iter().rev().copied().collect();
    let mut size: Option<u64> = None;
    let mut chunks: Vec<Chunk> = Vec::new();
    db.walk_from(root, objid, &key, |entry| {
        let k = entry.node.key();
        if k.len() < key.len() || k[..key.len()] != key[..] {
            // Keys are in order: once past the LID's range, stop.
            return Ok(if k.as_slice() > key.as_slice() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            });
        }
        if k.len() == key.len() {
            size = Some(u64::from(entry.node.data.u32("LVROOT.size", 4)?));
        } else if k.len() == key.len() + 4 {
            let offset = Bytes::new(&k, 0).u32_be("LV chunk offset", key.len())?;
            chunks.push(Chunk {
                pgno: entry.page.pgno,
                offset: u64::from(offset),
                data: entry.node.data,
            });
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let size = size.ok_or_else(|| {
        EseError::Catalog(format!(
            "table {}: long value {} has no LVROOT in its long-value tree",
            table.name,
            crate::text::hex_bytes(lid.as_slice())
        ))
    })?;
    if size > MAX_LONG_VALUE {
        return Err(EseError::corrupt(
            lid.base(),
            None,
            "long value size",
            format!("at most {MAX_LONG_VALUE}"),
            size.to_string(),
        ));
    }
    assemble(size, &chunks, lid.base())
}

/// One chunk node of a long value.
struct Chunk<'a> {
    pgno: u32,
    /// The logical offset in the value (from the key).
    offset: u64,
    data: Bytes<'a>,
}

/// Compression schemes a chunk's first byte can name (its top 5 bits): 7-bit ASCII, 7-bit
/// Unicode, XPRESS, XPRESS9, XPRESS10 (format source: ESE `COMPRESSION_SCHEME`; scheme 4 is
/// scrubbed data, not a compression).
const COMPRESSION_SCHEMES: [u8; 5] = [1, 2, 3, 5, 6];

/// Joins the chunks of a value of `size` bytes. Each chunk must start where the previous one
/// ended (no gap, no overlap) and the chunks must end at `size`. A chunk stored shorter than
/// the room up to the next chunk (or the end) whose first byte names a compression scheme is
/// taken as compressed: it covers that room, and its stored bytes are kept as they are.
fn assemble(size: u64, chunks: &[Chunk], lid_at: u64) -> Result<LongValue, EseError> {
    let mut out = Vec::with_capacity(size as usize);
    let mut pos = 0u64;
    for (i, c) in chunks.iter().enumerate() {
        if c.offset != pos {
            return Err(EseError::corrupt(
                c.data.base(),
                Some(c.pgno),
                if c.offset > pos {
                    "long value chunk offset (a gap before this chunk)"
                } else {
                    "long value chunk offset (overlaps the previous chunk)"
                },
                pos.to_string(),
                c.offset.to_string(),
            ));
        }
        let room = chunks
            .get(i + 1)
            .map_or(size, |n| n.offset)
            .saturating_sub(c.offset);
        let len = c.data.len() as u64;
        let compressed = len < room
            && c.data
                .as_slice()
                .first()
                .is_some_and(|b| COMPRESSION_SCHEMES.contains(&(b >> 3)));
        pos += if compressed { room } else { len };
        if pos > size {
            return Err(EseError::corrupt(
                c.data.base(),
                Some(c.pgno),
                "long value chunk end (past the LVROOT size)",
                format!("at most {size}"),
                pos.to_string(),
            ));
        }
        out.extend_from_slice(c.data.as_slice());
    }
    if pos != size {
        let (at, pgno) = chunks.last().map_or((lid_at, None), |c| {
            (c.data.base() + c.data.len() as u64, Some(c.pgno))
        });
        return Err(EseError::corrupt(
            at,
            pgno,
            "long value length (the chunks end short of the LVROOT size)",
            size.to_string(),
            pos.to_string(),
        ));
    }
    Ok(LongValue { size, data: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[(u64, &'static [u8])]) -> Vec<Chunk<'static>> {
        parts
            .iter()
            .map(|&(offset, data)| Chunk {
                pgno: 9,
                offset,
                data: Bytes::new(data, 0x4000 + offset),
            })
            .collect()
    }

    #[test]
    fn long_value_chunks_must_abut_and_end_at_the_lvroot_size() {
        let ok = assemble(6, &chunks(&[(0, b"abc"), (3, b"def")]), 0).unwrap();
        assert_eq!(ok.data, b"abcdef");
        assert!(ok.is_plain());
        type Parts = &'static [(u64, &'static [u8])];
        let cases: [(&str, u64, Parts); 5] = [
            ("gap", 7, &[(0, b"abc"), (4, b"def")]),
            ("overlap", 5, &[(0, b"abc"), (2, b"def")]),
            ("first chunk not at 0", 3, &[(1, b"abc")]),
            ("short of size", 8, &[(0, b"abc"), (3, b"def")]),
            ("past size", 5, &[(0, b"abc"), (3, b"def")]),
        ];
        for (label, size, parts) in cases {
            let err = assemble(size, &chunks(parts), 0).expect_err(label);
            let EseError::Corrupt { pgno, .. } = &err else {
                panic!("{label}: {err:?}");
            };
            assert_eq!(*pgno, Some(9), "{label}");
        }
        // No chunks at all for a non-empty value: short, reported at the LID.
        let err = assemble(4, &[], 0x77).unwrap_err();
        assert_eq!(err.location(), (0x77, None));
        // A chunk shorter than its room that starts with a compression scheme (XPRESS, 3 << 3)
        // covers the room; the value is kept as stored and reported as not plain.
        let c = assemble(10, &chunks(&[(0, b"\x18xy"), (6, b"ghij")]), 0).unwrap();
        assert!(!c.is_plain());
    }
}
