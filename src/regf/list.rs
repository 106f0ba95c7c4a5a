//! Subkey lists of a hive being edited, grown and shrunk as Windows does: a new list is `lf`
//! (1.3) or `lh` (1.5+); an `lf` leaf that fills up turns into `li`; a full leaf is split in
//! halves under an `ri`. Source: reference/regf.md §1 "What 1.3-era hives look like" and §3
//! (ROS cmindex.c `CmpAddSubKey`, `CmpSplitLeaf`).

use super::edit::Editor;
use super::error::RegfError;
use super::hive::{abs, leaf_entries, CellOffset, ListCell, MINOR_HASH_LEAF};
use super::name;
use std::cmp::Ordering;

/// An `lf` leaf that holds this many entries is turned into an `li` leaf (1.3 hives) —
/// ROS `CmpMaxFastIndexPerHblock` = (4096 − 40) / 8.
pub const MAX_FAST_LEAF: usize = 507;
/// An `li` leaf holds at most this many entries before it is split under an `ri` —
/// ROS `CmpMaxIndexPerHblock` = (4096 − 40) / 4 − 1.
pub const MAX_INDEX_LEAF: usize = 1013;

/// A leaf insert: the leaf stayed one leaf, or was split in two.
enum Inserted {
    One(CellOffset),
    Two(CellOffset, CellOffset),
}

/// Leaf kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Li,
    Lf,
    Lh,
}

impl Editor {
    fn leaf_kind(&self, l: &ListCell) -> LeafKind {
        match l {
            ListCell::Lf(_) => LeafKind::Lf,
            ListCell::Lh(_) => LeafKind::Lh,
            _ => LeafKind::Li,
        }
    }

    /// Entries of a leaf with their aux words (hint or hash; 0 for li).
    fn leaf_with_aux(l: &ListCell) -> Vec<(CellOffset, u32)> {
        match l {
            ListCell::Li(v) | ListCell::Ri(v) => v.iter().map(|&o| (o, 0)).collect(),
            ListCell::Lf(v) => v.iter().map(|&(o, h)| (o, u32::from_le_bytes(h))).collect(),
            ListCell::Lh(v) => v.clone(),
        }
    }

    fn encode_list(sig: &[u8; 2], entries: &[(CellOffset, u32)], wide: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + entries.len() * 8);
        b.extend_from_slice(sig);
        b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for &(o, aux) in entries {
            b.extend_from_slice(&o.to_le_bytes());
            if wide {
                b.extend_from_slice(&aux.to_le_bytes());
            }
        }
        b
    }

    fn write_leaf(
        &mut self,
        rel: CellOffset,
        kind: LeafKind,
        entries: &[(CellOffset, u32)],
    ) -> Result<CellOffset, RegfError> {
        let bytes = match kind {
            LeafKind::Li => Self::encode_list(b"li", entries, false),
            LeafKind::Lf => Self::encode_list(b"lf", entries, true),
            LeafKind::Lh => Self::encode_list(b"lh", entries, true),
        };
        self.rewrite(rel, &bytes)
    }

    fn aux(kind: LeafKind, n: &[u16]) -> u32 {
        match kind {
            LeafKind::Li => 0,
            LeafKind::Lf => u32::from_le_bytes(name::lf_hint(n)),
            LeafKind::Lh => name::lh_hash(n),
        }
    }

    /// Inserts `child` (named `n`) into the subkey list `list`; returns the list's offset.
    pub(crate) fn list_insert(
        &mut self,
        list: CellOffset,
        child: CellOffset,
        n: &[u16],
    ) -> Result<CellOffset, RegfError> {
        if list == CellOffset::NIL {
            let kind = if self.minor >= MINOR_HASH_LEAF {
                LeafKind::Lh
            } else {
                LeafKind::Lf
            };
            return self.write_leaf(CellOffset::NIL, kind, &[(child, Self::aux(kind, n))]);
        }
        match self.hive().list(list)? {
            ListCell::Ri(mut leaves) => {
                // The first leaf whose last name sorts after the new one, else the last leaf.
                let mut pick = leaves.len() - 1;
                for (i, &leaf) in leaves.iter().enumerate() {
                    let entries = leaf_entries(&self.hive().list(leaf)?);
                    if let Some(&last) = entries.last() {
                        if name::compare(n, &self.hive().key(last)?.name) == Ordering::Less {
                            pick = i;
                            break;
                        }
                    }
                }
                match self.leaf_insert(leaves[pick], child, n)? {
                    Inserted::One(o) => leaves[pick] = o,
                    Inserted::Two(a, b) => {
                        leaves[pick] = a;
                        leaves.insert(pick + 1, b);
                    }
                }
                if leaves.len() > MAX_INDEX_LEAF {
                    return Err(RegfError::Unsupported {
                        what: "a key with more subkeys than one index root can hold".into(),
                    });
                }
                let e: Vec<(CellOffset, u32)> = leaves.iter().map(|&o| (o, 0)).collect();
                self.rewrite(list, &Self::encode_list(b"ri", &e, false))
            }
            _ => match self.leaf_insert(list, child, n)? {
                Inserted::One(o) => Ok(o),
                Inserted::Two(a, b) => {
                    self.new_cell(&Self::encode_list(b"ri", &[(a, 0), (b, 0)], false))
                }
            },
        }
    }

    fn leaf_insert(
        &mut self,
        leaf: CellOffset,
        child: CellOffset,
        n: &[u16],
    ) -> Result<Inserted, RegfError> {
        let l = self.hive().list(leaf)?;
        let mut kind = self.leaf_kind(&l);
        let mut entries = Self::leaf_with_aux(&l);
        // Sorted position (binary search by name).
        let (mut lo, mut hi) = (0usize, entries.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let k = self.hive().key(entries[mid].0)?;
            match name::compare(n, &k.name) {
                Ordering::Less => hi = mid,
                Ordering::Greater => lo = mid + 1,
                Ordering::Equal => {
                    return Err(RegfError::InvalidName {
                        name: name::to_string(n),
                        why: "the key already exists",
                    })
                }
            }
        }
        if kind == LeafKind::Lf && entries.len() >= MAX_FAST_LEAF {
            kind = LeafKind::Li;
        }
        entries.insert(lo, (child, Self::aux(kind, n)));
        let limit = match kind {
            LeafKind::Li => MAX_INDEX_LEAF,
            LeafKind::Lf | LeafKind::Lh => MAX_FAST_LEAF,
        };
        if entries.len() <= limit {
            return Ok(Inserted::One(self.write_leaf(leaf, kind, &entries)?));
        }
        let half = entries.len() / 2;
        let left = self.write_leaf(leaf, kind, &entries[..half])?;
        let right = self.write_leaf(CellOffset::NIL, kind, &entries[half..])?;
        Ok(Inserted::Two(left, right))
    }

    /// Removes `child` from the list; returns the list's offset, or CellOffset::NIL when it is now empty.
    pub(crate) fn list_remove(
        &mut self,
        list: CellOffset,
        child: CellOffset,
    ) -> Result<CellOffset, RegfError> {
        let not_found = || {
            RegfError::corrupt(
                abs(list),
                format!("key {child:#x} is not in its parent's subkey list"),
            )
        };
        match self.hive().list(list)? {
            ListCell::Ri(mut leaves) => {
                let mut hit = None;
                for (i, &leaf) in leaves.iter().enumerate() {
                    if leaf_entries(&self.hive().list(leaf)?).contains(&child) {
                        hit = Some(i);
                        break;
                    }
                }
                let i = hit.ok_or_else(not_found)?;
                let leaf = self.leaf_remove(leaves[i], child)?;
                if leaf == CellOffset::NIL {
                    leaves.remove(i);
                    if leaves.is_empty() {
                        self.free_cell(list)?;
                        return Ok(CellOffset::NIL);
                    }
                    let e: Vec<(CellOffset, u32)> = leaves.iter().map(|&o| (o, 0)).collect();
                    return self.rewrite(list, &Self::encode_list(b"ri", &e, false));
                }
                Ok(list)
            }
            _ => self.leaf_remove(list, child),
        }
    }

    fn leaf_remove(
        &mut self,
        leaf: CellOffset,
        child: CellOffset,
    ) -> Result<CellOffset, RegfError> {
        let l = self.hive().list(leaf)?;
        let kind = self.leaf_kind(&l);
        let mut entries = Self::leaf_with_aux(&l);
        let pos = entries.iter().position(|e| e.0 == child).ok_or_else(|| {
            RegfError::corrupt(abs(leaf), format!("key {child:#x} is not in this leaf"))
        })?;
        entries.remove(pos);
        if entries.is_empty() {
            self.free_cell(leaf)?;
            return Ok(CellOffset::NIL);
        }
        self.write_leaf(leaf, kind, &entries)
    }
}
