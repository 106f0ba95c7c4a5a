//! A hive's keys and values as an owned tree ([`KeySpec`]), for export, `get`, and tests.

use super::error::RegfError;
use super::hive::{CellOffset, HiveRef, KeyNode};
use super::model::{KeySpec, ValueSpec};
use super::name;
use std::collections::HashSet;

/// Deepest key nesting followed (Windows allows 512 levels).
pub const MAX_DEPTH: usize = 512;

/// Reads `key` and everything below it. Subkeys in list (sorted) order, values in list order.
/// A key reached twice (a subkey list naming an ancestor, or one key in two lists) is an
/// error: the bytes are not verified here, and following it again would cost exponential time.
pub fn read_tree(h: &HiveRef<'_>, key: &KeyNode) -> Result<KeySpec, RegfError> {
    read_at(h, key, 0, &mut HashSet::new())
}

fn read_at(
    h: &HiveRef<'_>,
    key: &KeyNode,
    depth: usize,
    seen: &mut HashSet<CellOffset>,
) -> Result<KeySpec, RegfError> {
    if depth > MAX_DEPTH {
        return Err(RegfError::corrupt(
            super::hive::abs(key.offset),
            format!("keys nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if !seen.insert(key.offset) {
        return Err(RegfError::corrupt(
            super::hive::abs(key.offset),
            format!(
                "key {} reached a second time through a subkey list: expected a tree, \
                 found a cycle or a shared key",
                crate::text::quoted(&name::to_string(&key.name))
            ),
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
        subkeys.push(read_at(h, &h.key(off)?, depth + 1, seen)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regf::base_block::{self, BASE_BLOCK_SIZE};
    use crate::regf::write::{build_hive, HiveOptions};

    fn key(name: &str, subkeys: Vec<KeySpec>) -> KeySpec {
        KeySpec {
            name: name.into(),
            subkeys,
            ..KeySpec::default()
        }
    }

    #[test]
    fn subkey_list_naming_a_key_twice_is_refused() {
        let spec = key(
            "ROOT",
            vec![key("A", vec![key("B", vec![])]), key("C", vec![])],
        );
        let opts = HiveOptions {
            minor_version: 5,
            timestamp: 1,
            sequence: 1,
            file_name: "t".into(),
            // An empty self-relative descriptor (revision 1, SE_SELF_RELATIVE).
            security_descriptor: vec![
                1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        };
        let mut bytes = build_hive(&spec, &opts).unwrap();
        assert_eq!(read_hive(&bytes).unwrap().subkeys.len(), 2);
        let (list, a) = {
            let h = HiveRef::new(&bytes).unwrap();
            let root = h.root_key().unwrap();
            (root.subkey_list, h.subkeys(root.subkey_list).unwrap()[0])
        };
        // The root's list (lf/lh: 8-byte entries after a 4-byte header, inside a cell whose
        // 4-byte size comes first) now names A in both slots.
        let second = BASE_BLOCK_SIZE + list.0 as usize + 4 + 4 + 8;
        bytes[second..second + 4].copy_from_slice(&a.0.to_le_bytes());
        base_block::put_checksum(&mut bytes);
        let e = read_hive(&bytes).unwrap_err();
        assert!(e.to_string().contains("second time"), "{e}");
        assert_eq!(e.offset(), Some(super::super::hive::abs(a)));
    }
}
