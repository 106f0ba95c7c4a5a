//! A hive's keys and values as an owned tree ([`KeySpec`]), for export, `get`, and tests.

use super::build::{KeySpec, ValueSpec};
use super::error::RegfError;
use super::hive::{HiveRef, KeyNode};
use super::name;

/// Deepest key nesting followed (Windows allows 512 levels).
pub const MAX_DEPTH: usize = 512;

/// Reads `key` and everything below it. Subkeys in list (sorted) order, values in list order.
pub fn read_tree(h: &HiveRef<'_>, key: &KeyNode) -> Result<KeySpec, RegfError> {
    read_at(h, key, 0)
}

fn read_at(h: &HiveRef<'_>, key: &KeyNode, depth: usize) -> Result<KeySpec, RegfError> {
    if depth > MAX_DEPTH {
        return Err(RegfError::corrupt(
            super::hive::abs(key.offset),
            format!("keys nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut values = Vec::new();
    for v in h.values(key)? {
        values.push(ValueSpec {
            name: name::to_string(&v.name),
            kind: v.kind,
            data: h.value_data(&v)?,
        });
    }
    let mut subkeys = Vec::new();
    for off in h.subkeys(key.subkey_list)? {
        subkeys.push(read_at(h, &h.key(off)?, depth + 1)?);
    }
    let class = h.class_bytes(key)?.map(|b| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        name::to_string(&units)
    });
    Ok(KeySpec {
        name: name::to_string(&key.name),
        class,
        values,
        subkeys,
    })
}

/// The whole hive from its root.
pub fn read_hive(data: &[u8]) -> Result<KeySpec, RegfError> {
    let h = HiveRef::new(data)?;
    read_tree(&h, &h.root_key()?)
}
