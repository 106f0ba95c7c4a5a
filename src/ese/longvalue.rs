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
    let mut chunks: Vec<(u64, Bytes)> = Vec::new();
    db.walk(
        root,
        objid,
        |_| {},
        |entry| {
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
                let off = Bytes::new(&k, 0).u32_be("LV chunk offset", key.len())?;
                chunks.push((u64::from(off), entry.node.data));
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let size = size.ok_or_else(|| {
        EseError::Catalog(format!(
            "table {}: long value {:02x?} has no LVROOT in its long-value tree",
            table.name,
            lid.as_slice()
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
    let mut out = Vec::with_capacity(size as usize);
    let mut next_min = 0u64;
    for (off, data) in chunks {
        // Chunk offsets are logical offsets into the value: increasing, inside it.
        if off < next_min || (off >= size && size > 0) {
            return Err(EseError::corrupt(
                data.base(),
                None,
                "long value chunk offset",
                format!("{next_min}..{size}"),
                off.to_string(),
            ));
        }
        next_min = off + 1;
        let room = (size as usize).saturating_sub(out.len());
        let take = room.min(data.len());
        out.extend_from_slice(data.slice("long value chunk", 0, take)?);
    }
    Ok(LongValue { size, data: out })
}
