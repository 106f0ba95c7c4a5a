//! Edits of a hive in memory: create and delete keys (recursively), set and delete values,
//! with every counter kept exact as reference/regf.md §3 says Windows keeps them; the write
//! itself (sequence numbers, timestamps, checksum) follows §4.
//!
//! An [`Editor`] is opened only on a hive that `verify` passes and that is not dirty.

use super::base_block::{self, BaseBlock, OFF_BINS_SIZE, OFF_SEQ1, OFF_SEQ2, OFF_TIMESTAMP};
use super::error::RegfError;
use super::hive::{
    abs, leaf_entries, nk, sk, split_path, vk, DataPlace, HiveRef, KeyNode, ListCell,
    BIG_DATA_SEGMENT, DATA_INLINE, KEY_COMP_NAME, KEY_HIVE_ENTRY, KEY_NO_DELETE, MINOR_BIG_DATA,
    MINOR_HASH_LEAF, NIL, VALUE_COMP_NAME,
};
use super::name::{self, Name};
use super::verify::verify;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// An `lf` leaf that holds this many entries is turned into an `li` leaf (1.3 hives) —
/// ROS `CmpMaxFastIndexPerHblock` = (4096 − 40) / 8.
pub const MAX_FAST_LEAF: usize = 507;
/// An `li` leaf holds at most this many entries before it is split under an `ri` —
/// ROS `CmpMaxIndexPerHblock` = (4096 − 40) / 4 − 1.
pub const MAX_INDEX_LEAF: usize = 1013;
/// Longest key name (UTF-16 units).
pub const MAX_KEY_NAME: usize = 255;
/// Longest value name (UTF-16 units).
pub const MAX_VALUE_NAME: usize = 16383;
/// Offset of the timestamp in the first bin's header (a copy of the base block's).
pub const OFF_HBIN0_TIMESTAMP: usize = 4096 + 20;

/// Position of the file-type field (for replayed hives).
const OFF_FILE_TYPE: usize = 28;

/// A hive opened for editing.
pub struct Editor {
    pub(crate) data: Vec<u8>,
    pub(crate) minor: u32,
    pub(crate) bins_size: u32,
    pub(crate) root: u32,
    pub(crate) free: BTreeMap<u32, u32>,
    /// FILETIME written as LastWriteTime of every key changed.
    pub(crate) now: u64,
}

/// A leaf insert: the leaf stayed one leaf, or was split in two.
enum Inserted {
    One(u32),
    Two(u32, u32),
}

/// Leaf kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Li,
    Lf,
    Lh,
}

impl Editor {
    /// Opens a hive for editing. Refused when it is dirty or `verify` flags anything.
    pub fn open(data: Vec<u8>, now: u64) -> Result<Editor, RegfError> {
        let r = verify(&data);
        if r.dirty {
            return Err(RegfError::Dirty {
                primary: r.sequence1,
                secondary: r.sequence2,
            });
        }
        if let Some(first) = r.errors.first() {
            return Err(RegfError::Flagged {
                count: r.errors.len(),
                offset: first.offset,
                what: first.what.clone(),
            });
        }
        Editor::open_unchecked(data, now)
    }

    /// Opens without `verify` (for hives this tool has just built).
    pub(crate) fn open_unchecked(data: Vec<u8>, now: u64) -> Result<Editor, RegfError> {
        let bb = BaseBlock::parse(&data)?;
        HiveRef::new(&data)?;
        let free = super::alloc::scan_free(&data, bb.bins_size)?;
        Ok(Editor {
            minor: bb.minor,
            bins_size: bb.bins_size,
            root: bb.root,
            free,
            now,
            data,
        })
    }

    /// Read access to the hive as it is now.
    pub fn hive(&self) -> HiveRef<'_> {
        HiveRef {
            data: &self.data,
            minor: self.minor,
            bins_size: self.bins_size,
            root: self.root,
        }
    }

    pub fn minor_version(&self) -> u32 {
        self.minor
    }

    /// Finishes a write as Windows does: both sequence numbers := primary + 1, base-block and
    /// first-bin timestamps := `now`, the bins size, and the checksum last.
    pub fn finish(self) -> Vec<u8> {
        let seq = u32::from_le_bytes(
            self.data[OFF_SEQ1..OFF_SEQ1 + 4]
                .try_into()
                .unwrap_or([0; 4]),
        )
        .wrapping_add(1);
        let now = self.now;
        self.finish_with(seq, now)
    }

    /// Finishes with given sequence number and timestamp.
    pub fn finish_with(mut self, seq: u32, timestamp: u64) -> Vec<u8> {
        self.data[OFF_SEQ1..OFF_SEQ1 + 4].copy_from_slice(&seq.to_le_bytes());
        self.data[OFF_SEQ2..OFF_SEQ2 + 4].copy_from_slice(&seq.to_le_bytes());
        self.data[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].copy_from_slice(&timestamp.to_le_bytes());
        self.data[OFF_HBIN0_TIMESTAMP..OFF_HBIN0_TIMESTAMP + 8]
            .copy_from_slice(&timestamp.to_le_bytes());
        self.data[OFF_BINS_SIZE..OFF_BINS_SIZE + 4].copy_from_slice(&self.bins_size.to_le_bytes());
        self.data[OFF_FILE_TYPE..OFF_FILE_TYPE + 4].copy_from_slice(&0u32.to_le_bytes());
        base_block::put_checksum(&mut self.data);
        self.data
    }

    // ---- raw writes -------------------------------------------------------------------

    /// Writes `bytes` at `at` inside the payload of the allocated cell `rel`.
    fn put(&mut self, rel: u32, at: usize, bytes: &[u8]) -> Result<(), RegfError> {
        let payload = self.hive().cell(rel, "cell being written")?.len();
        if at + bytes.len() > payload {
            return Err(RegfError::corrupt(
                abs(rel),
                format!(
                    "write of {} bytes at {at} past a {payload}-byte cell",
                    bytes.len()
                ),
            ));
        }
        let start = abs(rel) as usize + 4 + at;
        self.data[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn put_u32(&mut self, rel: u32, at: usize, v: u32) -> Result<(), RegfError> {
        self.put(rel, at, &v.to_le_bytes())
    }

    fn touch(&mut self, key: u32) -> Result<(), RegfError> {
        let now = self.now;
        self.put(key, nk::TIMESTAMP, &now.to_le_bytes())
    }

    /// A new cell holding `bytes`.
    fn new_cell(&mut self, bytes: &[u8]) -> Result<u32, RegfError> {
        let off = self.alloc(bytes.len())?;
        self.put(off, 0, bytes)?;
        Ok(off)
    }

    /// Rewrites a cell's content, in place when it fits, else in a new cell (the old one
    /// freed). Returns the cell's offset.
    fn rewrite(&mut self, rel: u32, bytes: &[u8]) -> Result<u32, RegfError> {
        if rel != NIL && self.hive().cell(rel, "cell")?.len() >= bytes.len() {
            self.put(rel, 0, bytes)?;
            return Ok(rel);
        }
        let off = self.new_cell(bytes)?;
        if rel != NIL {
            self.free_cell(rel)?;
        }
        Ok(off)
    }

    // ---- lookups ----------------------------------------------------------------------

    /// The key node at `path` (backslash-separated, relative to the root).
    pub fn key(&self, path: &str) -> Result<KeyNode, RegfError> {
        self.hive()
            .key_by_path(path)?
            .ok_or_else(|| RegfError::KeyNotFound {
                path: path.to_string(),
            })
    }

    // ---- keys -------------------------------------------------------------------------

    /// Creates the key at `path` and any missing parents; returns its nk offset. An existing
    /// key is left as it is.
    pub fn create_key(&mut self, path: &str) -> Result<u32, RegfError> {
        Ok(self.create_key_counted(path)?.0)
    }

    /// [`Editor::create_key`], also returning how many keys were created.
    pub fn create_key_counted(&mut self, path: &str) -> Result<(u32, usize), RegfError> {
        let mut created = 0;
        let mut cur = self.hive().root_key()?;
        for part in split_path(path) {
            let n = name::from_str(part);
            cur = match self.hive().find_subkey(&cur, &n)? {
                Some(k) => k,
                None => {
                    let off = self.create_child(cur.offset, &n, None)?;
                    created += 1;
                    self.hive().key(off)?
                }
            };
        }
        Ok((cur.offset, created))
    }

    /// Creates one subkey of `parent` (which must not have it yet), with an optional class
    /// name (UTF-16LE bytes, kept as given).
    pub fn create_child(
        &mut self,
        parent: u32,
        child: &[u16],
        class: Option<&[u8]>,
    ) -> Result<u32, RegfError> {
        if child.is_empty() || child.len() > MAX_KEY_NAME || child.contains(&(b'\\' as u16)) {
            return Err(RegfError::InvalidName {
                name: name::to_string(child),
                why: "a key name has 1 to 255 characters and no backslash",
            });
        }
        let p = self.hive().key(parent)?;
        if self.hive().find_subkey(&p, child)?.is_some() {
            return Err(RegfError::InvalidName {
                name: name::to_string(child),
                why: "the key already exists",
            });
        }
        let (raw, comp) = name::encode(child);
        let class_len = class.map(|c| c.len()).unwrap_or(0);
        if class_len > u16::MAX as usize {
            return Err(RegfError::InvalidName {
                name: name::to_string(child),
                why: "class name longer than 65535 bytes",
            });
        }
        let class_cell = match class {
            Some(c) if !c.is_empty() => self.new_cell(c)?,
            _ => NIL,
        };
        let mut rec = vec![0u8; nk::NAME + raw.len()];
        rec[0..2].copy_from_slice(b"nk");
        let flags: u16 = if comp { KEY_COMP_NAME } else { 0 };
        rec[nk::FLAGS..nk::FLAGS + 2].copy_from_slice(&flags.to_le_bytes());
        rec[nk::TIMESTAMP..nk::TIMESTAMP + 8].copy_from_slice(&self.now.to_le_bytes());
        let put = |rec: &mut Vec<u8>, at: usize, v: u32| {
            rec[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut rec, nk::PARENT, parent);
        put(&mut rec, nk::SUBKEY_LIST, NIL);
        put(&mut rec, nk::VOLATILE_LIST, NIL);
        put(&mut rec, nk::VALUE_LIST, NIL);
        put(&mut rec, nk::SECURITY, p.security);
        put(&mut rec, nk::CLASS, class_cell);
        rec[nk::NAME_LEN..nk::NAME_LEN + 2].copy_from_slice(&(raw.len() as u16).to_le_bytes());
        rec[nk::CLASS_LEN..nk::CLASS_LEN + 2].copy_from_slice(&(class_len as u16).to_le_bytes());
        rec[nk::NAME..].copy_from_slice(&raw);
        let off = self.new_cell(&rec)?;
        self.security_ref(p.security, 1)?;
        let list = self.list_insert(p.subkey_list, off, child)?;
        self.put_u32(parent, nk::SUBKEY_LIST, list)?;
        self.put_u32(parent, nk::SUBKEY_COUNT, p.subkey_count + 1)?;
        let name_bytes = child.len() as u32 * 2;
        if p.max_name_len & 0xFFFF < name_bytes {
            self.put_u32(
                parent,
                nk::MAX_NAME_LEN,
                (p.max_name_len & !0xFFFF) | name_bytes,
            )?;
        }
        if p.max_class_len < class_len as u32 {
            self.put_u32(parent, nk::MAX_CLASS_LEN, class_len as u32)?;
        }
        self.touch(parent)?;
        Ok(off)
    }

    /// Deletes the key at `path` and everything below it. Returns false when it does not exist.
    pub fn delete_key(&mut self, path: &str) -> Result<bool, RegfError> {
        if split_path(path).next().is_none() {
            return Err(RegfError::Unsupported {
                what: "the root key cannot be deleted".into(),
            });
        }
        let Some(key) = self.hive().key_by_path(path)? else {
            return Ok(false);
        };
        if key.flags & KEY_NO_DELETE != 0 {
            return Err(RegfError::Unsupported {
                what: format!("key {path} is marked as not deletable"),
            });
        }
        // Everything below, parents before children; freed children first.
        let mut order = vec![key.offset];
        let mut i = 0;
        while i < order.len() {
            let k = self.hive().key(order[i])?;
            order.extend(self.hive().subkeys(k.subkey_list)?);
            i += 1;
        }
        for &off in order.iter().rev() {
            self.free_key(off)?;
        }
        let parent = self.hive().key(key.parent)?;
        let list = self.list_remove(parent.subkey_list, key.offset)?;
        self.put_u32(parent.offset, nk::SUBKEY_LIST, list)?;
        let count = parent.subkey_count - 1;
        self.put_u32(parent.offset, nk::SUBKEY_COUNT, count)?;
        if count == 0 {
            self.put_u32(
                parent.offset,
                nk::MAX_NAME_LEN,
                parent.max_name_len & !0xFFFF,
            )?;
            self.put_u32(parent.offset, nk::MAX_CLASS_LEN, 0)?;
        }
        self.touch(parent.offset)?;
        Ok(true)
    }

    /// Frees one key's own cells: values, value list, class, security reference, its subkey
    /// list cells (the subkeys themselves are freed by the caller), the nk.
    fn free_key(&mut self, off: u32) -> Result<(), RegfError> {
        let k = self.hive().key(off)?;
        for v in self.hive().values(&k)? {
            let place = self.hive().data_place(&v)?;
            self.free_data(&place)?;
            self.free_cell(v.offset)?;
        }
        if k.value_count > 0 {
            self.free_cell(k.value_list)?;
        }
        if k.class_len > 0 && k.class != NIL {
            self.free_cell(k.class)?;
        }
        if k.subkey_list != NIL {
            if let ListCell::Ri(leaves) = self.hive().list(k.subkey_list)? {
                for l in leaves {
                    self.free_cell(l)?;
                }
            }
            self.free_cell(k.subkey_list)?;
        }
        self.security_ref(k.security, -1)?;
        self.free_cell(off)
    }

    // ---- subkey lists -----------------------------------------------------------------

    fn leaf_kind(&self, l: &ListCell) -> LeafKind {
        match l {
            ListCell::Lf(_) => LeafKind::Lf,
            ListCell::Lh(_) => LeafKind::Lh,
            _ => LeafKind::Li,
        }
    }

    /// Entries of a leaf with their aux words (hint or hash; 0 for li).
    fn leaf_with_aux(l: &ListCell) -> Vec<(u32, u32)> {
        match l {
            ListCell::Li(v) | ListCell::Ri(v) => v.iter().map(|&o| (o, 0)).collect(),
            ListCell::Lf(v) => v.iter().map(|&(o, h)| (o, u32::from_le_bytes(h))).collect(),
            ListCell::Lh(v) => v.clone(),
        }
    }

    fn encode_list(sig: &[u8; 2], entries: &[(u32, u32)], wide: bool) -> Vec<u8> {
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
        rel: u32,
        kind: LeafKind,
        entries: &[(u32, u32)],
    ) -> Result<u32, RegfError> {
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
    fn list_insert(&mut self, list: u32, child: u32, n: &[u16]) -> Result<u32, RegfError> {
        if list == NIL {
            let kind = if self.minor >= MINOR_HASH_LEAF {
                LeafKind::Lh
            } else {
                LeafKind::Lf
            };
            return self.write_leaf(NIL, kind, &[(child, Self::aux(kind, n))]);
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
                let e: Vec<(u32, u32)> = leaves.iter().map(|&o| (o, 0)).collect();
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

    fn leaf_insert(&mut self, leaf: u32, child: u32, n: &[u16]) -> Result<Inserted, RegfError> {
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
        let right = self.write_leaf(NIL, kind, &entries[half..])?;
        Ok(Inserted::Two(left, right))
    }

    /// Removes `child` from the list; returns the list's offset, or NIL when it is now empty.
    fn list_remove(&mut self, list: u32, child: u32) -> Result<u32, RegfError> {
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
                if leaf == NIL {
                    leaves.remove(i);
                    if leaves.is_empty() {
                        self.free_cell(list)?;
                        return Ok(NIL);
                    }
                    let e: Vec<(u32, u32)> = leaves.iter().map(|&o| (o, 0)).collect();
                    return self.rewrite(list, &Self::encode_list(b"ri", &e, false));
                }
                Ok(list)
            }
            _ => self.leaf_remove(list, child),
        }
    }

    fn leaf_remove(&mut self, leaf: u32, child: u32) -> Result<u32, RegfError> {
        let l = self.hive().list(leaf)?;
        let kind = self.leaf_kind(&l);
        let mut entries = Self::leaf_with_aux(&l);
        let pos = entries.iter().position(|e| e.0 == child).ok_or_else(|| {
            RegfError::corrupt(abs(leaf), format!("key {child:#x} is not in this leaf"))
        })?;
        entries.remove(pos);
        if entries.is_empty() {
            self.free_cell(leaf)?;
            return Ok(NIL);
        }
        self.write_leaf(leaf, kind, &entries)
    }

    // ---- security ---------------------------------------------------------------------

    /// Adds `delta` (±1) to an sk's reference count; at 0 the sk is unlinked and freed.
    fn security_ref(&mut self, skoff: u32, delta: i32) -> Result<(), RegfError> {
        let s = self.hive().security(skoff)?;
        let count = s.refcount.checked_add_signed(delta).ok_or_else(|| {
            RegfError::corrupt(abs(skoff), "security cell reference count underflow")
        })?;
        if count == 0 && s.flink != skoff {
            self.put_u32(s.blink, sk::FLINK, s.flink)?;
            self.put_u32(s.flink, sk::BLINK, s.blink)?;
            return self.free_cell(skoff);
        }
        self.put_u32(skoff, sk::REFCOUNT, count)
    }

    /// Gives the key at `path` this self-relative security descriptor: an sk with the same
    /// descriptor is shared (reference count + 1), else a new sk joins the list.
    pub fn set_security(&mut self, path: &str, descriptor: &[u8]) -> Result<(), RegfError> {
        let key = self.key(path)?;
        let old = key.security;
        // Look for an equal descriptor in the ring.
        let mut cur = old;
        let mut found = None;
        for _ in 0..=self.free.len() + self.bins_size as usize / 8 {
            let s = self.hive().security(cur)?;
            if s.descriptor == descriptor {
                found = Some(cur);
                break;
            }
            cur = s.flink;
            if cur == old {
                break;
            }
        }
        let target = match found {
            Some(t) => t,
            None => {
                let head = self.hive().security(old)?;
                let mut rec = vec![0u8; sk::SD + descriptor.len()];
                rec[0..2].copy_from_slice(b"sk");
                rec[sk::FLINK..sk::FLINK + 4].copy_from_slice(&old.to_le_bytes());
                rec[sk::BLINK..sk::BLINK + 4].copy_from_slice(&head.blink.to_le_bytes());
                rec[sk::SD_SIZE..sk::SD_SIZE + 4]
                    .copy_from_slice(&(descriptor.len() as u32).to_le_bytes());
                rec[sk::SD..].copy_from_slice(descriptor);
                let off = self.new_cell(&rec)?;
                self.put_u32(head.blink, sk::FLINK, off)?;
                self.put_u32(old, sk::BLINK, off)?;
                off
            }
        };
        if target == old {
            return Ok(());
        }
        self.security_ref(target, 1)?;
        self.put_u32(key.offset, nk::SECURITY, target)?;
        self.security_ref(old, -1)
    }

    // ---- values -----------------------------------------------------------------------

    /// Frees the data cells of a value.
    fn free_data(&mut self, place: &DataPlace) -> Result<(), RegfError> {
        match place {
            DataPlace::Inline => Ok(()),
            DataPlace::Cell(c) => self.free_cell(*c),
            DataPlace::Big { db, list, segments } => {
                for &s in segments {
                    self.free_cell(s)?;
                }
                self.free_cell(*list)?;
                self.free_cell(*db)
            }
        }
    }

    /// Stores data as the hive's version wants it; returns (vk data size, vk data offset).
    fn store_data(&mut self, data: &[u8]) -> Result<(u32, u32), RegfError> {
        let len = data.len();
        if len > (!DATA_INLINE) as usize {
            return Err(RegfError::Unsupported {
                what: format!("value data of {len} bytes"),
            });
        }
        if len <= 4 {
            let mut w = [0u8; 4];
            w[..len].copy_from_slice(data);
            return Ok((len as u32 | DATA_INLINE, u32::from_le_bytes(w)));
        }
        if self.minor >= MINOR_BIG_DATA && len > BIG_DATA_SEGMENT as usize {
            let mut segs = Vec::new();
            for chunk in data.chunks(BIG_DATA_SEGMENT as usize) {
                segs.push(self.new_cell(chunk)?);
            }
            let list_bytes: Vec<u8> = segs.iter().flat_map(|s| s.to_le_bytes()).collect();
            let list = self.new_cell(&list_bytes)?;
            let mut db = Vec::with_capacity(12);
            db.extend_from_slice(b"db");
            db.extend_from_slice(&(segs.len() as u16).to_le_bytes());
            db.extend_from_slice(&list.to_le_bytes());
            db.extend_from_slice(&0u32.to_le_bytes());
            let dbo = self.new_cell(&db)?;
            return Ok((len as u32, dbo));
        }
        Ok((len as u32, self.new_cell(data)?))
    }

    /// Sets a value of the key at `path` (the key must exist): replaces the data of an
    /// existing value (case-insensitive name), or adds the value.
    pub fn set_value(
        &mut self,
        path: &str,
        value: &str,
        kind: u32,
        data: &[u8],
    ) -> Result<(), RegfError> {
        let key = self.key(path)?;
        self.set_value_at(key.offset, value, kind, data)
    }

    /// [`Editor::set_value`] on the key node at `key_off`.
    pub fn set_value_at(
        &mut self,
        key_off: u32,
        value: &str,
        kind: u32,
        data: &[u8],
    ) -> Result<(), RegfError> {
        let key = self.hive().key(key_off)?;
        let vname = name::from_str(value);
        if vname.len() > MAX_VALUE_NAME {
            return Err(RegfError::InvalidName {
                name: value.to_string(),
                why: "a value name has at most 16383 characters",
            });
        }
        if let Some(v) = self.hive().find_value(&key, &vname)? {
            let place = self.hive().data_place(&v)?;
            let big = self.minor >= MINOR_BIG_DATA && data.len() > BIG_DATA_SEGMENT as usize;
            let fits = match place {
                DataPlace::Cell(c) if data.len() > 4 && !big => {
                    self.hive().cell(c, "value data")?.len() >= data.len()
                }
                _ => false,
            };
            let (size, off) = if fits {
                let DataPlace::Cell(c) = place else {
                    unreachable!("checked above")
                };
                self.put(c, 0, data)?;
                (data.len() as u32, c)
            } else {
                self.free_data(&place)?;
                self.store_data(data)?
            };
            self.put_u32(v.offset, vk::DATA_SIZE, size)?;
            self.put_u32(v.offset, vk::DATA_OFFSET, off)?;
            self.put_u32(v.offset, vk::TYPE, kind)?;
        } else {
            let (raw, comp) = name::encode(&vname);
            let (size, off) = self.store_data(data)?;
            let mut rec = vec![0u8; vk::NAME + raw.len()];
            rec[0..2].copy_from_slice(b"vk");
            rec[vk::NAME_LEN..vk::NAME_LEN + 2].copy_from_slice(&(raw.len() as u16).to_le_bytes());
            rec[vk::DATA_SIZE..vk::DATA_SIZE + 4].copy_from_slice(&size.to_le_bytes());
            rec[vk::DATA_OFFSET..vk::DATA_OFFSET + 4].copy_from_slice(&off.to_le_bytes());
            rec[vk::TYPE..vk::TYPE + 4].copy_from_slice(&kind.to_le_bytes());
            let flags: u16 = if comp && !vname.is_empty() {
                VALUE_COMP_NAME
            } else {
                0
            };
            rec[vk::FLAGS..vk::FLAGS + 2].copy_from_slice(&flags.to_le_bytes());
            rec[vk::NAME..].copy_from_slice(&raw);
            let vko = self.new_cell(&rec)?;
            let mut list: Vec<u8> = self
                .hive()
                .value_offsets(&key)?
                .iter()
                .flat_map(|o| o.to_le_bytes())
                .collect();
            list.extend_from_slice(&vko.to_le_bytes());
            let old = if key.value_count > 0 {
                key.value_list
            } else {
                NIL
            };
            let lo = self.rewrite(old, &list)?;
            self.put_u32(key.offset, nk::VALUE_LIST, lo)?;
            self.put_u32(key.offset, nk::VALUE_COUNT, key.value_count + 1)?;
        }
        let name_bytes = vname.len() as u32 * 2;
        if key.max_value_name_len < name_bytes {
            self.put_u32(key.offset, nk::MAX_VALUE_NAME_LEN, name_bytes)?;
        }
        if key.max_value_data_len < data.len() as u32 {
            self.put_u32(key.offset, nk::MAX_VALUE_DATA_LEN, data.len() as u32)?;
        }
        self.touch(key.offset)
    }

    /// Deletes a value; returns false when the key has no such value.
    pub fn delete_value(&mut self, path: &str, value: &str) -> Result<bool, RegfError> {
        let key = self.key(path)?;
        let vname = name::from_str(value);
        let offs = self.hive().value_offsets(&key)?;
        let mut hit = None;
        for (i, &o) in offs.iter().enumerate() {
            if name::eq(&self.hive().value(o)?.name, &vname) {
                hit = Some(i);
                break;
            }
        }
        let Some(i) = hit else { return Ok(false) };
        let v = self.hive().value(offs[i])?;
        let place = self.hive().data_place(&v)?;
        self.free_data(&place)?;
        self.free_cell(v.offset)?;
        let mut rest = offs;
        rest.remove(i);
        if rest.is_empty() {
            self.free_cell(key.value_list)?;
            self.put_u32(key.offset, nk::VALUE_LIST, NIL)?;
            self.put_u32(key.offset, nk::MAX_VALUE_NAME_LEN, 0)?;
            self.put_u32(key.offset, nk::MAX_VALUE_DATA_LEN, 0)?;
        } else {
            let bytes: Vec<u8> = rest.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.put(key.value_list, 0, &bytes)?;
        }
        self.put_u32(key.offset, nk::VALUE_COUNT, rest.len() as u32)?;
        self.touch(key.offset)?;
        Ok(true)
    }

    /// Sets the class name (UTF-16LE bytes) of an existing key.
    pub fn set_class(&mut self, path: &str, class: &[u8]) -> Result<(), RegfError> {
        let key = self.key(path)?;
        self.set_class_at(key.offset, class)
    }

    /// [`Editor::set_class`] on the key node at `key_off`.
    pub fn set_class_at(&mut self, key_off: u32, class: &[u8]) -> Result<(), RegfError> {
        let key = self.hive().key(key_off)?;
        if class.len() > u16::MAX as usize {
            return Err(RegfError::Unsupported {
                what: "class name longer than 65535 bytes".into(),
            });
        }
        let old = if key.class_len > 0 && key.class != NIL {
            key.class
        } else {
            NIL
        };
        let cell = if class.is_empty() {
            if old != NIL {
                self.free_cell(old)?;
            }
            NIL
        } else {
            self.rewrite(old, class)?
        };
        self.put_u32(key.offset, nk::CLASS, cell)?;
        self.put(
            key.offset,
            nk::CLASS_LEN,
            &(class.len() as u16).to_le_bytes(),
        )?;
        if key.offset != self.root {
            let p = self.hive().key(key.parent)?;
            if p.max_class_len < class.len() as u32 {
                self.put_u32(p.offset, nk::MAX_CLASS_LEN, class.len() as u32)?;
            }
        }
        self.touch(key.offset)
    }

    /// Fills an empty hive (one bin, all free) with its root key and first security cell.
    pub(crate) fn create_root(
        &mut self,
        root_name: &[u16],
        descriptor: &[u8],
    ) -> Result<u32, RegfError> {
        if root_name.len() > MAX_KEY_NAME || root_name.contains(&(b'\\' as u16)) {
            return Err(RegfError::InvalidName {
                name: name::to_string(root_name),
                why: "a key name has at most 255 characters and no backslash",
            });
        }
        let (raw, comp) = name::encode(root_name);
        let mut rec = vec![0u8; nk::NAME + raw.len()];
        rec[0..2].copy_from_slice(b"nk");
        let flags = KEY_HIVE_ENTRY | KEY_NO_DELETE | if comp { KEY_COMP_NAME } else { 0 };
        rec[nk::FLAGS..nk::FLAGS + 2].copy_from_slice(&flags.to_le_bytes());
        rec[nk::TIMESTAMP..nk::TIMESTAMP + 8].copy_from_slice(&self.now.to_le_bytes());
        for at in [
            nk::SUBKEY_LIST,
            nk::VOLATILE_LIST,
            nk::VALUE_LIST,
            nk::CLASS,
        ] {
            rec[at..at + 4].copy_from_slice(&NIL.to_le_bytes());
        }
        rec[nk::NAME_LEN..nk::NAME_LEN + 2].copy_from_slice(&(raw.len() as u16).to_le_bytes());
        rec[nk::NAME..].copy_from_slice(&raw);
        let root = self.new_cell(&rec)?;
        let mut s = vec![0u8; sk::SD + descriptor.len()];
        s[0..2].copy_from_slice(b"sk");
        s[sk::REFCOUNT..sk::REFCOUNT + 4].copy_from_slice(&1u32.to_le_bytes());
        s[sk::SD_SIZE..sk::SD_SIZE + 4].copy_from_slice(&(descriptor.len() as u32).to_le_bytes());
        s[sk::SD..].copy_from_slice(descriptor);
        let sko = self.new_cell(&s)?;
        self.put_u32(sko, sk::FLINK, sko)?;
        self.put_u32(sko, sk::BLINK, sko)?;
        self.put_u32(root, nk::SECURITY, sko)?;
        self.root = root;
        self.data[36..40].copy_from_slice(&root.to_le_bytes());
        Ok(root)
    }

    /// The whole file as it is now (not finished: sequence numbers and checksum are old).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

/// A name from text, for callers building paths.
pub fn to_name(s: &str) -> Name {
    name::from_str(s)
}
