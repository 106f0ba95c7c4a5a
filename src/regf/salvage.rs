//! Forensic reading of a damaged hive: every key and value that can still be read, and a list
//! of what could not be (the key it belongs to and why). For the read-only verbs only; the
//! editor stays strict (STYLE habit 6: leniency is explicit, and its use is reported).
//!
//! What is tolerated: a wrong base-block checksum or other base-block field (never read
//! here), a file cut short (the bins that remain are read; cells past the end are gaps), and
//! any cell that does not parse (its key, value, subkey list or class is left out, the rest
//! of the tree is read).

use super::error::RegfError;
use super::hive::{leaf_entries, CellOffset, HiveRef, KeyNode, ListCell, NIL};
use super::model::{KeySpec, ValueSpec};
use super::name;
use super::tree::MAX_DEPTH;
use std::collections::HashSet;

/// A part of the tree that could not be read: the key it belongs to (its path inside the
/// hive, `\`-rooted), what was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The key whose content is incomplete, e.g. `\ControlSet001\Services`.
    pub key: String,
    /// What is missing from it: "a subkey", "its values", "the value \"X\"'s data", …
    pub left_out: String,
    /// Why, without a location (the key is the location).
    pub why: String,
}

/// A key tree read as far as the bytes allow.
#[derive(Clone, Debug)]
pub struct Salvaged {
    pub tree: KeySpec,
    pub gaps: Vec<Gap>,
}

/// Opens a hive whose bins may run past the end of the file (a truncated copy): the bins are
/// taken as the bytes the file has, so that every cell still present can be read. The
/// signature must be there; nothing else of the base block is checked.
pub fn open(data: &[u8]) -> Result<HiveRef<'_>, RegfError> {
    match HiveRef::new(data) {
        Ok(h) => Ok(h),
        Err(RegfError::Corrupt { .. }) if data.len() < super::base_block::BASE_BLOCK_SIZE => {
            Err(RegfError::corrupt(
                data.len() as u64,
                format!(
                    "the file ends inside its base block ({} of {}): it holds no key",
                    crate::text::count(data.len() as u64, "byte", "bytes"),
                    super::base_block::BASE_BLOCK_SIZE
                ),
            ))
        }
        Err(RegfError::Corrupt { .. }) => {
            let bb = super::base_block::BaseBlock::parse(data)?;
            let have = data
                .len()
                .saturating_sub(super::base_block::BASE_BLOCK_SIZE);
            Ok(HiveRef {
                data,
                minor: bb.minor,
                bins_size: u32::try_from(have).unwrap_or(u32::MAX).min(bb.bins_size),
                root: CellOffset(bb.root),
            })
        }
        Err(e) => Err(e),
    }
}

/// Reads `key` (at `path`, `\`-rooted) and everything below it that can be read.
pub fn read_tree(h: &HiveRef<'_>, key: &KeyNode, path: &str) -> Salvaged {
    let mut s = Salvage {
        h,
        seen: HashSet::new(),
        gaps: Vec::new(),
    };
    let tree = s.key(key, path, 0);
    Salvaged { tree, gaps: s.gaps }
}

/// The values of `key` that can be read, in list order, and the gaps among them.
pub fn read_values(h: &HiveRef<'_>, key: &KeyNode, path: &str) -> (Vec<ValueSpec>, Vec<Gap>) {
    let mut s = Salvage {
        h,
        seen: HashSet::new(),
        gaps: Vec::new(),
    };
    let values = s.values(key, path);
    (values, s.gaps)
}

/// A child's path: `\` joins, the root is `\`.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('\\') {
        format!("{parent}{name}")
    } else {
        format!("{parent}\\{name}")
    }
}

struct Salvage<'h, 'a> {
    h: &'h HiveRef<'a>,
    seen: HashSet<CellOffset>,
    gaps: Vec<Gap>,
}

impl Salvage<'_, '_> {
    fn gap(&mut self, key: &str, left_out: impl Into<String>, why: &RegfError) {
        self.gaps.push(Gap {
            key: key.to_string(),
            left_out: left_out.into(),
            why: why.detail(),
        });
    }

    fn key(&mut self, key: &KeyNode, path: &str, depth: usize) -> KeySpec {
        self.seen.insert(key.offset);
        let values = self.values(key, path);
        let class = match self.h.class_bytes(key) {
            Ok(b) => b.map(|b| {
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                name::to_string(&units)
            }),
            Err(e) => {
                self.gap(path, "its class name", &e);
                None
            }
        };
        let mut subkeys = Vec::new();
        for off in self.subkey_offsets(key, path) {
            let child = match self.h.key(off) {
                Ok(k) => k,
                Err(e) => {
                    self.gap(path, "a subkey (and everything below it)", &e);
                    continue;
                }
            };
            let child_path = child_path(path, &name::to_string(&child.name));
            if depth + 1 > MAX_DEPTH {
                let e = RegfError::corrupt(
                    child.offset.file_offset(),
                    format!("keys nested deeper than {MAX_DEPTH} levels"),
                );
                self.gap(&child_path, "this key and everything below it", &e);
                continue;
            }
            if self.seen.contains(&child.offset) {
                let e = RegfError::corrupt(
                    child.offset.file_offset(),
                    "reached a second time through a subkey list: expected a tree, found a \
                     cycle or a shared key",
                );
                self.gap(&child_path, "this key, read once already", &e);
                continue;
            }
            subkeys.push(self.key(&child, &child_path, depth + 1));
        }
        KeySpec {
            name: name::to_string(&key.name),
            class,
            values,
            subkeys,
        }
    }

    /// The nk offsets of the key's subkey list; a broken leaf of an `ri` loses that leaf only.
    fn subkey_offsets(&mut self, key: &KeyNode, path: &str) -> Vec<CellOffset> {
        if key.subkey_list == NIL || key.subkey_count == 0 {
            return Vec::new();
        }
        match self.h.list(key.subkey_list) {
            Ok(ListCell::Ri(leaves)) => {
                let mut out = Vec::new();
                for leaf in leaves {
                    match self.h.list(leaf) {
                        Ok(ListCell::Ri(_)) => self.gap(
                            path,
                            "a part of its subkeys",
                            &RegfError::corrupt(
                                leaf.file_offset(),
                                "index root points at another index root",
                            ),
                        ),
                        Ok(l) => out.extend(leaf_entries(&l)),
                        Err(e) => self.gap(path, "a part of its subkeys", &e),
                    }
                }
                out
            }
            Ok(l) => leaf_entries(&l),
            Err(e) => {
                self.gap(path, "its subkeys", &e);
                Vec::new()
            }
        }
    }

    fn values(&mut self, key: &KeyNode, path: &str) -> Vec<ValueSpec> {
        let offsets = match self.h.value_offsets(key) {
            Ok(o) => o,
            Err(e) => {
                self.gap(path, "its values", &e);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for off in offsets {
            let v = match self.h.value(off) {
                Ok(v) => v,
                Err(e) => {
                    self.gap(path, "a value", &e);
                    continue;
                }
            };
            let shown = name::to_string(&v.name);
            match self.h.value_data(&v) {
                Ok(data) => out.push(ValueSpec {
                    name: shown,
                    kind: v.kind,
                    data,
                }),
                Err(e) => {
                    let what = if shown.is_empty() {
                        "the default value".to_string()
                    } else {
                        format!("the value {}", crate::text::quoted(&shown))
                    };
                    self.gap(path, what, &e)
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regf::base_block::{self, BASE_BLOCK_SIZE};
    use crate::regf::write::{build_hive, HiveOptions};

    fn key(name: &str, values: Vec<ValueSpec>, subkeys: Vec<KeySpec>) -> KeySpec {
        KeySpec {
            name: name.into(),
            values,
            subkeys,
            ..KeySpec::default()
        }
    }

    fn hive() -> Vec<u8> {
        let v = |n: &str| ValueSpec {
            name: n.into(),
            kind: 3,
            data: vec![7; 40],
        };
        let spec = key(
            "ROOT",
            vec![],
            vec![
                key("A", vec![v("a1")], vec![key("A1", vec![v("x")], vec![])]),
                key("B", vec![v("b1"), v("b2")], vec![]),
                key("C", vec![v("c1")], vec![]),
            ],
        );
        let opts = HiveOptions {
            minor_version: 5,
            timestamp: 1,
            sequence: 1,
            file_name: "t".into(),
            security_descriptor: vec![
                1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        };
        build_hive(&spec, &opts).unwrap()
    }

    /// The corruption sweep's find: `reg export` of a hive cut inside its base block sliced
    /// its bins from past the end of the file and panicked.
    #[test]
    fn a_hive_cut_inside_its_base_block_is_an_error_not_a_panic() {
        let bytes = hive();
        for cut in [512, 1024, 1700, BASE_BLOCK_SIZE - 1] {
            let Err(e) = open(&bytes[..cut]) else {
                panic!("{cut} bytes opened as a hive");
            };
            let e = e.to_string();
            assert!(e.contains("ends inside its base block"), "{cut}: {e}");
        }
        let h = open(&bytes[..BASE_BLOCK_SIZE]).unwrap();
        assert!(h.root_key().is_err());
    }

    #[test]
    fn a_broken_key_loses_its_subtree_only() {
        let mut bytes = hive();
        let intact = crate::regf::tree::read_hive(&bytes).unwrap();
        let a = {
            let h = HiveRef::new(&bytes).unwrap();
            h.key_by_path("A").unwrap().unwrap().offset
        };
        // A's nk signature → "xx".
        let at = BASE_BLOCK_SIZE + a.0 as usize + 4;
        bytes[at..at + 2].copy_from_slice(b"xx");
        base_block::put_checksum(&mut bytes);
        assert!(crate::regf::tree::read_hive(&bytes).is_err());
        let h = open(&bytes).unwrap();
        let s = read_tree(&h, &h.root_key().unwrap(), "\\");
        assert_eq!(s.gaps.len(), 1, "{:?}", s.gaps);
        assert_eq!(s.gaps[0].key, "\\");
        assert!(s.gaps[0].why.contains("signature"), "{:?}", s.gaps);
        assert_eq!(s.tree.subkeys.len(), 2);
        assert_eq!(s.tree.subkeys[0], intact.subkeys[1]);
        assert_eq!(s.tree.subkeys[1], intact.subkeys[2]);
    }

    #[test]
    fn a_truncated_file_reads_the_cells_it_still_has() {
        let bytes = hive();
        let h = open(&bytes[..bytes.len() - 1]).unwrap();
        assert!(h.bins_size < HiveRef::new(&bytes).unwrap().bins_size);
        let s = read_tree(&h, &h.root_key().unwrap(), "\\");
        assert_eq!(s.tree.subkeys.len(), 3);
    }
}
