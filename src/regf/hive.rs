//! Read access to a hive image: cells, key nodes, values, subkey lists, security cells and
//! class names. Source: reference/regf.md §2–§3 (SUH, LIBREGF, ROS).
//!
//! Every record is parsed into an owned value (STYLE habit 4) so that the editor can read,
//! decide, and only then write.

use super::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use super::error::RegfError;
use super::name::{self, Name};
use crate::bytes::Bytes;

/// "No cell" (HCELL_NIL).
pub const NIL: u32 = 0xFFFF_FFFF;
/// Size of a hive-bin header.
pub const BIN_HEADER_SIZE: u32 = 32;
/// Bins are multiples of this.
pub const BIN_ALIGN: u32 = 4096;
/// Cell sizes are multiples of this.
pub const CELL_ALIGN: u32 = 8;

/// nk flags (SUH §Key node).
pub const KEY_VOLATILE: u16 = 0x0001;
pub const KEY_HIVE_EXIT: u16 = 0x0002;
pub const KEY_HIVE_ENTRY: u16 = 0x0004;
pub const KEY_NO_DELETE: u16 = 0x0008;
pub const KEY_SYM_LINK: u16 = 0x0010;
pub const KEY_COMP_NAME: u16 = 0x0020;
/// vk flag: the name is stored compressed (Latin-1).
pub const VALUE_COMP_NAME: u16 = 0x0001;
/// vk data size bit 31: the data lives in the data-offset field.
pub const DATA_INLINE: u32 = 0x8000_0000;
/// Largest value stored in one cell by hives of minor version ≥ 4; bigger data goes to a `db`
/// record with segments of exactly this many bytes (ROS `CmpIsKeyValueBig`).
pub const BIG_DATA_SEGMENT: u32 = 16344;
/// First minor version with `db` records (ROS `HSYS_WHISTLER_BETA1`).
pub const MINOR_BIG_DATA: u32 = 4;
/// First minor version whose new subkey lists are `lh`.
pub const MINOR_HASH_LEAF: u32 = 5;

/// nk field offsets inside the cell data (after the 4-byte size).
pub mod nk {
    pub const SIG: usize = 0;
    pub const FLAGS: usize = 2;
    pub const TIMESTAMP: usize = 4;
    pub const ACCESS: usize = 12;
    pub const PARENT: usize = 16;
    pub const SUBKEY_COUNT: usize = 20;
    pub const VOLATILE_COUNT: usize = 24;
    pub const SUBKEY_LIST: usize = 28;
    pub const VOLATILE_LIST: usize = 32;
    pub const VALUE_COUNT: usize = 36;
    pub const VALUE_LIST: usize = 40;
    pub const SECURITY: usize = 44;
    pub const CLASS: usize = 48;
    pub const MAX_NAME_LEN: usize = 52;
    pub const MAX_CLASS_LEN: usize = 56;
    pub const MAX_VALUE_NAME_LEN: usize = 60;
    pub const MAX_VALUE_DATA_LEN: usize = 64;
    pub const WORK_VAR: usize = 68;
    pub const NAME_LEN: usize = 72;
    pub const CLASS_LEN: usize = 74;
    pub const NAME: usize = 76;
}

/// vk field offsets inside the cell data.
pub mod vk {
    pub const SIG: usize = 0;
    pub const NAME_LEN: usize = 2;
    pub const DATA_SIZE: usize = 4;
    pub const DATA_OFFSET: usize = 8;
    pub const TYPE: usize = 12;
    pub const FLAGS: usize = 16;
    pub const SPARE: usize = 18;
    pub const NAME: usize = 20;
}

/// sk field offsets inside the cell data.
pub mod sk {
    pub const SIG: usize = 0;
    pub const FLINK: usize = 4;
    pub const BLINK: usize = 8;
    pub const REFCOUNT: usize = 12;
    pub const SD_SIZE: usize = 16;
    pub const SD: usize = 20;
}

/// A cell's offset relative to the start of the hive bins (as every record stores it); the
/// cell's size field is at file offset 4096 + this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct CellOffset(pub u32);

impl CellOffset {
    /// "No cell" (HCELL_NIL).
    pub const NIL: CellOffset = CellOffset(NIL);

    pub fn is_nil(self) -> bool {
        self.0 == NIL
    }

    /// As stored in a record.
    pub fn to_le_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// The absolute file offset of the cell's size field.
    pub fn file_offset(self) -> u64 {
        BASE_BLOCK_SIZE as u64 + self.0 as u64
    }

    /// The absolute file offset of the field at `at` of the cell's data (after its size).
    pub fn field(self, at: usize) -> u64 {
        self.file_offset() + 4 + at as u64
    }
}

/// Comparison with a raw stored value (e.g. [`NIL`]).
impl PartialEq<u32> for CellOffset {
    fn eq(&self, other: &u32) -> bool {
        self.0 == *other
    }
}

impl From<CellOffset> for u32 {
    fn from(c: CellOffset) -> u32 {
        c.0
    }
}

impl std::ops::Add<u32> for CellOffset {
    type Output = CellOffset;
    fn add(self, rhs: u32) -> CellOffset {
        CellOffset(self.0.wrapping_add(rhs))
    }
}

impl std::fmt::LowerHex for CellOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A cell offset → the absolute file offset of the cell's size field.
pub fn abs(rel: CellOffset) -> u64 {
    rel.file_offset()
}

/// A key node, owned.
#[derive(Clone, Debug)]
pub struct KeyNode {
    pub offset: CellOffset,
    pub flags: u16,
    pub timestamp: u64,
    pub parent: CellOffset,
    pub subkey_count: u32,
    pub subkey_list: CellOffset,
    pub value_count: u32,
    pub value_list: CellOffset,
    pub security: CellOffset,
    pub class: CellOffset,
    pub max_name_len: u32,
    pub max_class_len: u32,
    pub max_value_name_len: u32,
    pub max_value_data_len: u32,
    pub class_len: u16,
    pub name: Name,
}

/// A value record, owned (the data is read on demand).
#[derive(Clone, Debug)]
pub struct ValueNode {
    pub offset: CellOffset,
    pub name: Name,
    pub data_size_raw: u32,
    /// A cell offset, or the data itself when inline.
    pub data_offset: u32,
    pub kind: u32,
    pub flags: u16,
}

impl ValueNode {
    pub fn data_len(&self) -> u32 {
        self.data_size_raw & !DATA_INLINE
    }
    pub fn is_inline(&self) -> bool {
        self.data_size_raw & DATA_INLINE != 0
    }
}

/// Where a value's data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataPlace {
    /// In the vk's data-offset field (≤ 4 bytes).
    Inline,
    /// In one data cell.
    Cell(CellOffset),
    /// A `db` record: the db cell, its segment-list cell, the segments.
    Big {
        db: CellOffset,
        list: CellOffset,
        segments: Vec<CellOffset>,
    },
}

/// A subkey list cell, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListCell {
    /// `li`: nk offsets.
    Li(Vec<CellOffset>),
    /// `lf`: nk offsets with 4-byte name hints.
    Lf(Vec<(CellOffset, [u8; 4])>),
    /// `lh`: nk offsets with name hashes.
    Lh(Vec<(CellOffset, u32)>),
    /// `ri`: leaf offsets.
    Ri(Vec<CellOffset>),
}

/// A security cell, owned.
#[derive(Clone, Debug)]
pub struct SecurityCell {
    pub offset: CellOffset,
    pub flink: CellOffset,
    pub blink: CellOffset,
    pub refcount: u32,
    pub descriptor: Vec<u8>,
}

/// Read access to a hive held in memory (the whole file).
#[derive(Clone, Copy)]
pub struct HiveRef<'a> {
    pub data: &'a [u8],
    pub minor: u32,
    pub bins_size: u32,
    pub root: CellOffset,
}

impl<'a> HiveRef<'a> {
    /// Opens the bytes of a hive: checks the signature and that the hive bins fit in the file.
    pub fn new(data: &'a [u8]) -> Result<HiveRef<'a>, RegfError> {
        let bb = BaseBlock::parse(data)?;
        let end = BASE_BLOCK_SIZE as u64 + bb.bins_size as u64;
        if end > data.len() as u64 {
            return Err(RegfError::corrupt(
                40,
                format!(
                    "hive bins data size {:#x} runs past the end of the file ({:#x} bytes)",
                    bb.bins_size,
                    data.len()
                ),
            ));
        }
        Ok(HiveRef {
            data,
            minor: bb.minor,
            bins_size: bb.bins_size,
            root: CellOffset(bb.root),
        })
    }

    fn bins(&self) -> Bytes<'a> {
        // `new` checked the bins are inside the file; a salvaged hive's are cut to what is
        // there, and a file that ends inside its base block has none.
        let end = BASE_BLOCK_SIZE + self.bins_size as usize;
        let bins = self.data.get(BASE_BLOCK_SIZE..end).unwrap_or_default();
        Bytes::new(bins, BASE_BLOCK_SIZE as u64)
    }

    /// The payload (after the size field) of the allocated cell at `rel`.
    pub fn cell(&self, rel: CellOffset, what: &'static str) -> Result<Bytes<'a>, RegfError> {
        let at = rel.0 as usize;
        if rel.0 % CELL_ALIGN != 0 || rel.0 < BIN_HEADER_SIZE {
            return Err(RegfError::corrupt(
                abs(rel),
                format!("{what}: cell offset {rel:#x} is not a cell start"),
            ));
        }
        let bins = self.bins();
        let size = bins.i32(what, at)?;
        if size >= 0 {
            return Err(RegfError::corrupt(
                abs(rel),
                format!("{what}: cell at {rel:#x} is free (size {size}), expected allocated"),
            ));
        }
        let size = size.unsigned_abs();
        if size < CELL_ALIGN || size % CELL_ALIGN != 0 {
            return Err(RegfError::corrupt(
                abs(rel),
                format!("{what}: cell size {size} is not a multiple of 8"),
            ));
        }
        Ok(bins.sub(what, at + 4, size as usize - 4)?)
    }

    /// The allocated size (header included) of the cell at `rel`.
    pub fn cell_size(&self, rel: CellOffset) -> Result<u32, RegfError> {
        Ok(self.cell(rel, "cell")?.len() as u32 + 4)
    }

    fn signature(c: &Bytes<'a>, expected: &[u8; 2], what: &'static str) -> Result<(), RegfError> {
        let sig = c.slice(what, 0, 2)?;
        if sig != expected {
            return Err(RegfError::corrupt(
                c.base() - 4,
                format!(
                    "{what}: expected signature {}, found {}",
                    crate::text::quoted(&String::from_utf8_lossy(expected)),
                    crate::text::hex_bytes(sig)
                ),
            ));
        }
        Ok(())
    }

    pub fn key(&self, rel: CellOffset) -> Result<KeyNode, RegfError> {
        let c = self.cell(rel, "key node")?;
        Self::signature(&c, b"nk", "key node")?;
        let flags = c.u16("nk flags", nk::FLAGS)?;
        let name_len = c.u16("nk name length", nk::NAME_LEN)? as usize;
        let raw = c.slice("nk name", nk::NAME, name_len)?;
        let compressed = flags & KEY_COMP_NAME != 0;
        if !compressed && name_len % 2 != 0 {
            return Err(RegfError::corrupt(
                c.base() - 4,
                format!("key node: UTF-16 name has odd length {name_len}"),
            ));
        }
        Ok(KeyNode {
            offset: rel,
            flags,
            timestamp: c.u64("nk timestamp", nk::TIMESTAMP)?,
            parent: CellOffset(c.u32("nk parent", nk::PARENT)?),
            subkey_count: c.u32("nk subkey count", nk::SUBKEY_COUNT)?,
            subkey_list: CellOffset(c.u32("nk subkey list", nk::SUBKEY_LIST)?),
            value_count: c.u32("nk value count", nk::VALUE_COUNT)?,
            value_list: CellOffset(c.u32("nk value list", nk::VALUE_LIST)?),
            security: CellOffset(c.u32("nk security", nk::SECURITY)?),
            class: CellOffset(c.u32("nk class", nk::CLASS)?),
            max_name_len: c.u32("nk max name length", nk::MAX_NAME_LEN)?,
            max_class_len: c.u32("nk max class length", nk::MAX_CLASS_LEN)?,
            max_value_name_len: c.u32("nk max value name length", nk::MAX_VALUE_NAME_LEN)?,
            max_value_data_len: c.u32("nk max value data length", nk::MAX_VALUE_DATA_LEN)?,
            class_len: c.u16("nk class length", nk::CLASS_LEN)?,
            name: name::decode(raw, compressed),
        })
    }

    pub fn value(&self, rel: CellOffset) -> Result<ValueNode, RegfError> {
        let c = self.cell(rel, "value")?;
        Self::signature(&c, b"vk", "value")?;
        let name_len = c.u16("vk name length", vk::NAME_LEN)? as usize;
        let flags = c.u16("vk flags", vk::FLAGS)?;
        let raw = c.slice("vk name", vk::NAME, name_len)?;
        let compressed = flags & VALUE_COMP_NAME != 0;
        if !compressed && name_len % 2 != 0 {
            return Err(RegfError::corrupt(
                c.base() - 4,
                format!("value: UTF-16 name has odd length {name_len}"),
            ));
        }
        Ok(ValueNode {
            offset: rel,
            name: name::decode(raw, compressed),
            data_size_raw: c.u32("vk data size", vk::DATA_SIZE)?,
            data_offset: c.u32("vk data offset", vk::DATA_OFFSET)?,
            kind: c.u32("vk type", vk::TYPE)?,
            flags,
        })
    }

    /// Where the value's data lives, following the hive version's rules.
    pub fn data_place(&self, v: &ValueNode) -> Result<DataPlace, RegfError> {
        let len = v.data_len();
        if v.is_inline() {
            if len > 4 {
                return Err(RegfError::corrupt(
                    abs(v.offset),
                    format!("value: inline data of {len} bytes (at most 4 fit)"),
                ));
            }
            return Ok(DataPlace::Inline);
        }
        if len == 0 {
            // A zero-length value with a data cell: Windows stores none; accept NIL or a cell.
            if v.data_offset == NIL {
                return Ok(DataPlace::Inline);
            }
            return Ok(DataPlace::Cell(CellOffset(v.data_offset)));
        }
        if self.minor >= MINOR_BIG_DATA && len > BIG_DATA_SEGMENT {
            let c = self.cell(CellOffset(v.data_offset), "big data record")?;
            Self::signature(&c, b"db", "big data record")?;
            let count = c.u16("db segment count", 2)? as u32;
            let list = CellOffset(c.u32("db segment list", 4)?);
            let need = len.div_ceil(BIG_DATA_SEGMENT);
            if count != need {
                return Err(RegfError::corrupt(
                    c.base() - 4,
                    format!("big data record: {count} segments, expected {need} for {len} bytes"),
                ));
            }
            let lc = self.cell(list, "big data segment list")?;
            let mut segments = Vec::with_capacity(count as usize);
            for i in 0..count as usize {
                segments.push(CellOffset(lc.u32("db segment offset", i * 4)?));
            }
            return Ok(DataPlace::Big {
                db: CellOffset(v.data_offset),
                list,
                segments,
            });
        }
        Ok(DataPlace::Cell(CellOffset(v.data_offset)))
    }

    /// The value's data as stored.
    pub fn value_data(&self, v: &ValueNode) -> Result<Vec<u8>, RegfError> {
        let len = v.data_len() as usize;
        match self.data_place(v)? {
            DataPlace::Inline => {
                let mut d = v.data_offset.to_le_bytes().to_vec();
                d.truncate(len);
                if !v.is_inline() {
                    d.clear();
                }
                Ok(d)
            }
            DataPlace::Cell(off) => {
                let c = self.cell(off, "value data")?;
                Ok(c.slice("value data", 0, len)?.to_vec())
            }
            DataPlace::Big { segments, .. } => {
                let mut out = Vec::with_capacity(len);
                for seg in segments {
                    let want = (len - out.len()).min(BIG_DATA_SEGMENT as usize);
                    let c = self.cell(seg, "big data segment")?;
                    out.extend_from_slice(c.slice("big data segment", 0, want)?);
                }
                Ok(out)
            }
        }
    }

    pub fn list(&self, rel: CellOffset) -> Result<ListCell, RegfError> {
        let c = self.cell(rel, "subkey list")?;
        let sig = c.slice("subkey list signature", 0, 2)?;
        let count = c.u16("subkey list count", 2)? as usize;
        let mut out = match sig {
            b"li" => ListCell::Li(Vec::with_capacity(count)),
            b"lf" => ListCell::Lf(Vec::with_capacity(count)),
            b"lh" => ListCell::Lh(Vec::with_capacity(count)),
            b"ri" => ListCell::Ri(Vec::with_capacity(count)),
            other => {
                return Err(RegfError::corrupt(
                    abs(rel),
                    format!(
                        "subkey list: expected li/lf/lh/ri, found {}",
                        crate::text::hex_bytes(other)
                    ),
                ))
            }
        };
        for i in 0..count {
            match &mut out {
                ListCell::Li(v) | ListCell::Ri(v) => {
                    v.push(CellOffset(c.u32("list entry", 4 + i * 4)?))
                }
                ListCell::Lf(v) => {
                    let off = CellOffset(c.u32("lf entry", 4 + i * 8)?);
                    let hint = c.slice("lf hint", 8 + i * 8, 4)?;
                    v.push((off, [hint[0], hint[1], hint[2], hint[3]]));
                }
                ListCell::Lh(v) => v.push((
                    CellOffset(c.u32("lh entry", 4 + i * 8)?),
                    c.u32("lh hash", 8 + i * 8)?,
                )),
            }
        }
        Ok(out)
    }

    /// The nk offsets of a subkey list, in list order (through an `ri`).
    pub fn subkeys(&self, list: CellOffset) -> Result<Vec<CellOffset>, RegfError> {
        if list == NIL {
            return Ok(Vec::new());
        }
        match self.list(list)? {
            ListCell::Ri(leaves) => {
                let mut out = Vec::new();
                for leaf in leaves {
                    match self.list(leaf)? {
                        ListCell::Ri(_) => {
                            return Err(RegfError::corrupt(
                                abs(leaf),
                                "index root points at another index root",
                            ))
                        }
                        l => out.extend(leaf_entries(&l)),
                    }
                }
                Ok(out)
            }
            l => Ok(leaf_entries(&l)),
        }
    }

    /// The vk offsets of a key's values.
    pub fn value_offsets(&self, key: &KeyNode) -> Result<Vec<CellOffset>, RegfError> {
        if key.value_count == 0 {
            return Ok(Vec::new());
        }
        let c = self.cell(key.value_list, "value list")?;
        (0..key.value_count as usize)
            .map(|i| Ok(CellOffset(c.u32("value list entry", i * 4)?)))
            .collect()
    }

    pub fn values(&self, key: &KeyNode) -> Result<Vec<ValueNode>, RegfError> {
        self.value_offsets(key)?
            .into_iter()
            .map(|o| self.value(o))
            .collect()
    }

    pub fn security(&self, rel: CellOffset) -> Result<SecurityCell, RegfError> {
        let c = self.cell(rel, "security cell")?;
        Self::signature(&c, b"sk", "security cell")?;
        let size = c.u32("sk descriptor size", sk::SD_SIZE)? as usize;
        Ok(SecurityCell {
            offset: rel,
            flink: CellOffset(c.u32("sk flink", sk::FLINK)?),
            blink: CellOffset(c.u32("sk blink", sk::BLINK)?),
            refcount: c.u32("sk reference count", sk::REFCOUNT)?,
            descriptor: c.slice("sk descriptor", sk::SD, size)?.to_vec(),
        })
    }

    /// The class name bytes (UTF-16LE) of a key, if it has one.
    pub fn class_bytes(&self, key: &KeyNode) -> Result<Option<Vec<u8>>, RegfError> {
        if key.class_len == 0 || key.class == NIL {
            return Ok(None);
        }
        let c = self.cell(key.class, "class name")?;
        Ok(Some(
            c.slice("class name", 0, key.class_len as usize)?.to_vec(),
        ))
    }

    /// Finds a direct subkey by name (case-insensitive) the way Windows does: in an `ri`, the
    /// first leaf whose last name is not below the wanted one; in a leaf, binary search.
    pub fn find_subkey(&self, key: &KeyNode, wanted: &[u16]) -> Result<Option<KeyNode>, RegfError> {
        if key.subkey_list == NIL {
            return Ok(None);
        }
        let c = self.cell(key.subkey_list, "subkey list")?;
        if c.slice("subkey list signature", 0, 2)? == b"ri" {
            let count = c.u16("ri count", 2)? as usize;
            for i in 0..count {
                let leaf = CellOffset(c.u32("ri entry", 4 + i * 4)?);
                let lc = self.cell(leaf, "subkey list leaf")?;
                let n = lc.u16("leaf count", 2)? as usize;
                if n == 0 {
                    continue;
                }
                let last = self.key(Self::leaf_entry(&lc, n - 1)?)?;
                if name::compare(wanted, &last.name) != std::cmp::Ordering::Greater {
                    return self.search_leaf(&lc, wanted);
                }
            }
            return Ok(None);
        }
        self.search_leaf(&c, wanted)
    }

    /// The nk offset of entry `i` of a leaf cell (li: 4-byte entries, lf/lh: 8-byte).
    fn leaf_entry(leaf: &Bytes<'a>, i: usize) -> Result<CellOffset, RegfError> {
        let wide = leaf.slice("leaf signature", 0, 2)? != b"li";
        let stride = if wide { 8 } else { 4 };
        Ok(CellOffset(leaf.u32("leaf entry", 4 + i * stride)?))
    }

    fn search_leaf(&self, leaf: &Bytes<'a>, wanted: &[u16]) -> Result<Option<KeyNode>, RegfError> {
        let sig = leaf.slice("leaf signature", 0, 2)?;
        if !matches!(sig, b"li" | b"lf" | b"lh") {
            return Err(RegfError::corrupt(
                leaf.base() - 4,
                format!(
                    "subkey list leaf: expected li/lf/lh, found {}",
                    crate::text::hex_bytes(sig)
                ),
            ));
        }
        let (mut lo, mut hi) = (0usize, leaf.u16("leaf count", 2)? as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let k = self.key(Self::leaf_entry(leaf, mid)?)?;
            match name::compare(wanted, &k.name) {
                std::cmp::Ordering::Equal => return Ok(Some(k)),
                std::cmp::Ordering::Less => hi = mid,
                std::cmp::Ordering::Greater => lo = mid + 1,
            }
        }
        Ok(None)
    }

    pub fn root_key(&self) -> Result<KeyNode, RegfError> {
        self.key(self.root)
    }

    /// The key at a backslash-separated path below the root ("" = the root).
    pub fn key_by_path(&self, path: &str) -> Result<Option<KeyNode>, RegfError> {
        let mut k = self.root_key()?;
        for part in split_path(path) {
            match self.find_subkey(&k, &name::from_str(part))? {
                Some(next) => k = next,
                None => return Ok(None),
            }
        }
        Ok(Some(k))
    }

    /// Finds a value of a key by name (case-insensitive).
    pub fn find_value(
        &self,
        key: &KeyNode,
        wanted: &[u16],
    ) -> Result<Option<ValueNode>, RegfError> {
        for off in self.value_offsets(key)? {
            // Upper-casing maps one UTF-16 unit to one, so a name of another length cannot
            // match: skip it without decoding it (a key with many values is searched once per
            // value set).
            let c = self.cell(off, "value")?;
            Self::signature(&c, b"vk", "value")?;
            let name_len = c.u16("vk name length", vk::NAME_LEN)? as usize;
            let flags = c.u16("vk flags", vk::FLAGS)?;
            let units = if flags & VALUE_COMP_NAME != 0 {
                name_len
            } else {
                name_len / 2
            };
            if units != wanted.len() {
                continue;
            }
            let v = self.value(off)?;
            if name::eq(&v.name, wanted) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// The nk offsets of a leaf list.
pub fn leaf_entries(l: &ListCell) -> Vec<CellOffset> {
    match l {
        ListCell::Li(v) | ListCell::Ri(v) => v.clone(),
        ListCell::Lf(v) => v.iter().map(|e| e.0).collect(),
        ListCell::Lh(v) => v.iter().map(|e| e.0).collect(),
    }
}

/// Splits a key path on backslashes, ignoring empty parts (leading/trailing/doubled).
pub fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('\\').filter(|p| !p.is_empty())
}
