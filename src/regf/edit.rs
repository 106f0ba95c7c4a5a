//! Edits of a hive in memory: create and delete keys (recursively), set and delete values,
//! with every counter kept exact as reference/regf.md §3 says Windows keeps them; the write
//! itself (sequence numbers, timestamps, checksum) follows §4.
//!
//! An [`Editor`] is opened only on a hive that `verify` passes and that is not dirty.

use super::alloc::FreeSpace;
use super::base_block::{self, BaseBlock, OFF_BINS_SIZE, OFF_SEQ1, OFF_SEQ2, OFF_TIMESTAMP};
use super::error::RegfError;
use super::hive::{
    abs, nk, sk, split_path, CellOffset, HiveRef, KeyNode, ListCell, BIN_ALIGN, KEY_COMP_NAME,
    KEY_HIVE_ENTRY, KEY_NO_DELETE, KEY_SYM_LINK, NIL,
};
use super::name::{self, Name};
use super::verify::verify;
use crate::bytes::BytesMut;

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
    pub(crate) root: CellOffset,
    pub(crate) free: FreeSpace,
    /// FILETIME written as LastWriteTime of every key changed.
    pub(crate) now: u64,
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
        // Every base-block and first-bin field written later lies inside this.
        if bb.bins_size < BIN_ALIGN {
            return Err(RegfError::corrupt(
                OFF_BINS_SIZE as u64,
                format!("hive bins data size {:#x}: no bin", bb.bins_size),
            ));
        }
        let free = FreeSpace::scan(&data, bb.bins_size)?;
        Ok(Editor {
            minor: bb.minor,
            bins_size: bb.bins_size,
            root: CellOffset(bb.root),
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
    pub(crate) fn put(
        &mut self,
        rel: CellOffset,
        at: usize,
        bytes: &[u8],
    ) -> Result<(), RegfError> {
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
        BytesMut::new(&mut self.data, 0).put("cell data", start, bytes)?;
        Ok(())
    }

    /// Writes a u32 field (a count, or a cell offset) of the cell `rel`.
    pub(crate) fn put_u32(
        &mut self,
        rel: CellOffset,
        at: usize,
        v: impl Into<u32>,
    ) -> Result<(), RegfError> {
        self.put(rel, at, &v.into().to_le_bytes())
    }

    pub(crate) fn touch(&mut self, key: CellOffset) -> Result<(), RegfError> {
        let now = self.now;
        self.put(key, nk::TIMESTAMP, &now.to_le_bytes())
    }

    /// A new cell holding `bytes`.
    pub(crate) fn new_cell(&mut self, bytes: &[u8]) -> Result<CellOffset, RegfError> {
        let off = self.alloc(bytes.len())?;
        self.put(off, 0, bytes)?;
        Ok(off)
    }

    /// Rewrites a cell's content, in place when it fits, else in a new cell (the old one
    /// freed). Returns the cell's offset.
    pub(crate) fn rewrite(
        &mut self,
        rel: CellOffset,
        bytes: &[u8],
    ) -> Result<CellOffset, RegfError> {
        if rel != CellOffset::NIL && self.hive().cell(rel, "cell")?.len() >= bytes.len() {
            self.put(rel, 0, bytes)?;
            return Ok(rel);
        }
        let off = self.new_cell(bytes)?;
        if rel != CellOffset::NIL {
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
    pub fn create_key(&mut self, path: &str) -> Result<CellOffset, RegfError> {
        Ok(self.create_key_counted(path)?.0)
    }

    /// [`Editor::create_key`], also returning how many keys were created.
    pub fn create_key_counted(&mut self, path: &str) -> Result<(CellOffset, usize), RegfError> {
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
        parent: CellOffset,
        child: &[u16],
        class: Option<&[u8]>,
    ) -> Result<CellOffset, RegfError> {
        if child.is_empty() || child.len() > MAX_KEY_NAME || child.contains(&(b'\\' as u16)) {
            return Err(RegfError::InvalidName {
                name: name::to_string(child),
                why: "a key name has 1 to 255 characters and no backslash",
            });
        }
        let p = self.hive().key(parent)?;
        if p.flags & KEY_SYM_LINK != 0 {
            return Err(RegfError::Unsupported {
                what: format!(
                    "key {} is a symbolic link; it has no subkeys",
                    crate::text::quoted(&name::to_string(&p.name))
                ),
            });
        }
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
            _ => CellOffset::NIL,
        };
        let mut rec = vec![0u8; nk::NAME + raw.len()];
        rec[0..2].copy_from_slice(b"nk");
        let flags: u16 = if comp { KEY_COMP_NAME } else { 0 };
        rec[nk::FLAGS..nk::FLAGS + 2].copy_from_slice(&flags.to_le_bytes());
        rec[nk::TIMESTAMP..nk::TIMESTAMP + 8].copy_from_slice(&self.now.to_le_bytes());
        let put = |rec: &mut Vec<u8>, at: usize, v: CellOffset| {
            rec[at..at + 4].copy_from_slice(&v.0.to_le_bytes())
        };
        put(&mut rec, nk::PARENT, parent);
        put(&mut rec, nk::SUBKEY_LIST, CellOffset::NIL);
        put(&mut rec, nk::VOLATILE_LIST, CellOffset::NIL);
        put(&mut rec, nk::VALUE_LIST, CellOffset::NIL);
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
            self.put_u32(parent.offset, nk::MAX_CLASS_LEN, 0u32)?;
        }
        self.touch(parent.offset)?;
        Ok(true)
    }

    /// Frees one key's own cells: values, value list, class, security reference, its subkey
    /// list cells (the subkeys themselves are freed by the caller), the nk.
    fn free_key(&mut self, off: CellOffset) -> Result<(), RegfError> {
        let k = self.hive().key(off)?;
        for v in self.hive().values(&k)? {
            let place = self.hive().data_place(&v)?;
            self.free_data(&place)?;
            self.free_cell(v.offset)?;
        }
        if k.value_count > 0 {
            self.free_cell(k.value_list)?;
        }
        if k.class_len > 0 && k.class != CellOffset::NIL {
            self.free_cell(k.class)?;
        }
        if k.subkey_list != CellOffset::NIL {
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

    /// Sets the class name (UTF-16LE bytes) of an existing key.
    pub fn set_class(&mut self, path: &str, class: &[u8]) -> Result<(), RegfError> {
        let key = self.key(path)?;
        self.set_class_at(key.offset, class)
    }

    /// [`Editor::set_class`] on the key node at `key_off`.
    pub fn set_class_at(&mut self, key_off: CellOffset, class: &[u8]) -> Result<(), RegfError> {
        let key = self.hive().key(key_off)?;
        if class.len() > u16::MAX as usize {
            return Err(RegfError::Unsupported {
                what: "class name longer than 65535 bytes".into(),
            });
        }
        let old = if key.class_len > 0 && key.class != CellOffset::NIL {
            key.class
        } else {
            CellOffset::NIL
        };
        let cell = if class.is_empty() {
            if old != CellOffset::NIL {
                self.free_cell(old)?;
            }
            CellOffset::NIL
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
    ) -> Result<CellOffset, RegfError> {
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
        // The root has no parent in the file (offreg writes CellOffset::NIL; Windows leaves a stale pointer
        // into its in-memory master hive there).
        for at in [
            nk::PARENT,
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
        self.data[36..40].copy_from_slice(&root.0.to_le_bytes());
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
