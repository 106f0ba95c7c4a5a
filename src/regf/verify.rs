//! Full structural check of a hive: base block, bins, cells, keys, values, subkey lists,
//! security cells. Writes nothing. Source for every rule: reference/regf.md §1–§3.
//!
//! A dirty hive (sequence numbers differ) is a state, reported in [`VerifyReport::dirty`],
//! not a finding.

use super::base_block::{
    BaseBlock, BASE_BLOCK_SIZE, FILE_FORMAT_DIRECT, FILE_TYPE_PRIMARY, OFF_BINS_SIZE, OFF_CHECKSUM,
    OFF_FILE_FORMAT, OFF_FILE_TYPE, OFF_MAJOR, OFF_MINOR,
};
use super::bins::{BinItem, BinWalk};
use super::hive::{
    abs, CellOffset, DataPlace, HiveRef, KeyNode, ListCell, BIG_DATA_SEGMENT, BIN_ALIGN,
    MINOR_HASH_LEAF, NIL,
};
use super::name;
use std::collections::{HashMap, HashSet};

/// One problem: where (absolute file offset) and what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub offset: u64,
    pub what: String,
}

/// What `verify` found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Cells scanned in the hive bins.
    pub cells: u64,
    pub keys: u64,
    pub values: u64,
    pub minor_version: u32,
    pub sequence1: u32,
    pub sequence2: u32,
    /// Sequence numbers differ: a write did not finish; the log holds the rest.
    pub dirty: bool,
    /// Allocated cells that no record references (leaked space; not an error — hivex leaves
    /// them, Windows does not).
    pub unreferenced: u64,
    pub errors: Vec<Finding>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Minor versions this tool reads (1.3 NT4/2000 … 1.6 Win10).
pub const MINOR_MIN: u32 = 3;
pub const MINOR_MAX: u32 = 6;

/// Checks a whole hive held in memory.
pub fn verify(data: &[u8]) -> VerifyReport {
    let mut r = VerifyReport::default();
    let err =
        |r: &mut VerifyReport, offset: u64, what: String| r.errors.push(Finding { offset, what });
    if data.len() < BASE_BLOCK_SIZE {
        err(
            &mut r,
            0,
            format!(
                "file is {} bytes, shorter than the 4096-byte base block",
                data.len()
            ),
        );
        return r;
    }
    let bb = match BaseBlock::parse(data) {
        Ok(bb) => bb,
        Err(e) => {
            err(&mut r, e.offset().unwrap_or(0), e.detail());
            return r;
        }
    };
    r.minor_version = bb.minor;
    r.sequence1 = bb.sequence1;
    r.sequence2 = bb.sequence2;
    r.dirty = bb.is_dirty();
    if bb.stored_checksum != bb.computed_checksum {
        err(
            &mut r,
            OFF_CHECKSUM as u64,
            format!(
                "base block checksum: stored {:#010x}, computed {:#010x}",
                bb.stored_checksum, bb.computed_checksum
            ),
        );
    }
    if bb.major != 1 {
        err(
            &mut r,
            OFF_MAJOR as u64,
            format!("major version {}, expected 1", bb.major),
        );
        return r;
    }
    if !(MINOR_MIN..=MINOR_MAX).contains(&bb.minor) {
        err(
            &mut r,
            OFF_MINOR as u64,
            format!(
                "minor version {}, expected {}",
                bb.minor,
                crate::text::range(MINOR_MIN, MINOR_MAX)
            ),
        );
        return r;
    }
    if bb.file_type != FILE_TYPE_PRIMARY {
        err(
            &mut r,
            OFF_FILE_TYPE as u64,
            format!(
                "file type {}: a transaction log, not a primary hive",
                bb.file_type
            ),
        );
    }
    if bb.file_format != FILE_FORMAT_DIRECT {
        err(
            &mut r,
            OFF_FILE_FORMAT as u64,
            format!("file format {}, expected 1", bb.file_format),
        );
    }
    let avail = (data.len() - BASE_BLOCK_SIZE) as u64;
    let mut bins_size = bb.bins_size;
    if bb.bins_size == 0 || bb.bins_size % BIN_ALIGN != 0 {
        err(
            &mut r,
            OFF_BINS_SIZE as u64,
            format!(
                "hive bins data size {:#x} is not a non-zero multiple of 4096",
                bb.bins_size
            ),
        );
        bins_size = bins_size / BIN_ALIGN * BIN_ALIGN;
    }
    if bins_size as u64 > avail {
        err(
            &mut r,
            OFF_BINS_SIZE as u64,
            format!(
                "hive bins data size {:#x} runs past the end of the file ({:#x} bytes of bins)",
                bb.bins_size, avail
            ),
        );
        bins_size = (avail as u32) / BIN_ALIGN * BIN_ALIGN;
    }
    let cells = scan_bins(data, bins_size, &mut r);
    let hive = HiveRef {
        data,
        minor: bb.minor,
        bins_size,
        root: CellOffset(bb.root),
    };
    let mut w = Walker {
        h: hive,
        claimed: vec![None; cells.len()],
        cells,
        sk_refs: HashMap::new(),
        r,
    };
    w.walk(CellOffset(bb.root));
    w.check_security();
    w.r.unreferenced = w
        .cells
        .iter()
        .zip(&w.claimed)
        .filter(|((_, size), by)| *size < 0 && by.is_none())
        .count() as u64;
    w.r
}

/// Walks the bins: headers, and cells that tile each bin. Returns (offset, size) of every cell.
fn scan_bins(data: &[u8], bins_size: u32, r: &mut VerifyReport) -> Vec<(CellOffset, i32)> {
    let mut cells = Vec::new();
    for item in BinWalk::new(data, bins_size) {
        match item {
            BinItem::Bin { .. } => {}
            BinItem::Cell { offset, size } => {
                cells.push((offset, size));
                r.cells += 1;
            }
            BinItem::Fault { offset, what } => r.errors.push(Finding { offset, what }),
        }
    }
    cells
}

struct Walker<'a> {
    h: HiveRef<'a>,
    cells: Vec<(CellOffset, i32)>,
    /// Per cell (same index as `cells`): the record that uses it.
    claimed: Vec<Option<&'static str>>,
    /// sk offset → (keys pointing at it, the first such reference).
    sk_refs: HashMap<CellOffset, (u32, u64)>,
    r: VerifyReport,
}

impl Walker<'_> {
    /// A read error as a finding: at the error's own offset when that lies in the file, else
    /// at `fallback` (the reference that led there).
    fn err_from(&mut self, e: &super::RegfError, fallback: u64) {
        let at = e
            .offset()
            .filter(|&o| o < self.h.data.len() as u64)
            .unwrap_or(fallback);
        self.err(at, e.detail());
    }

    fn err(&mut self, offset: u64, what: String) {
        self.r.errors.push(Finding { offset, what });
    }

    /// The cell at `off`, referenced from the field at absolute offset `from`, must exist, be
    /// allocated and not already used by another record. Findings point at the reference.
    fn claim(&mut self, off: CellOffset, what: &'static str, from: u64) -> bool {
        match self.cells.binary_search_by_key(&off, |c| c.0) {
            Err(_) => {
                self.err(from, format!("{what}: {off:#x} is not the start of a cell"));
                false
            }
            Ok(i) if self.cells[i].1 > 0 => {
                self.err(from, format!("{what}: cell {off:#x} is marked free"));
                false
            }
            Ok(i) => {
                if let Some(prev) = self.claimed[i].replace(what) {
                    self.err(
                        from,
                        format!("{what}: cell {off:#x} is already used as {prev}"),
                    );
                    return false;
                }
                true
            }
        }
    }

    fn is_claimed(&self, off: CellOffset) -> bool {
        self.cells
            .binary_search_by_key(&off, |c| c.0)
            .map(|i| self.claimed[i].is_some())
            .unwrap_or(false)
    }

    fn payload_at_least(&mut self, off: CellOffset, need: u64, what: &'static str) {
        if let Ok(c) = self.h.cell(off, what) {
            if (c.len() as u64) < need {
                self.err(
                    abs(off),
                    format!("{what}: cell holds {} bytes, needs {need}", c.len()),
                );
            }
        }
    }

    fn walk(&mut self, root: CellOffset) {
        let mut stack = vec![(root, None::<CellOffset>, super::base_block::OFF_ROOT as u64)];
        while let Some((off, parent, from)) = stack.pop() {
            if !self.claim(off, "key node", from) {
                continue;
            }
            let key = match self.h.key(off) {
                Ok(k) => k,
                Err(e) => {
                    self.err_from(&e, abs(off));
                    continue;
                }
            };
            self.r.keys += 1;
            if let Some(p) = parent {
                if key.parent != p {
                    self.err(
                        abs(off) + 4 + 16,
                        format!("key node parent {:#x}, expected {p:#x}", key.parent),
                    );
                }
            }
            if key.security == NIL {
                self.err(abs(off) + 4 + 44, "key node has no security cell".into());
            } else {
                self.sk_refs
                    .entry(key.security)
                    .or_insert((0, abs(off) + 4 + 44))
                    .0 += 1;
            }
            if key.class_len > 0 && self.claim(key.class, "class name", abs(off) + 4 + 48) {
                self.payload_at_least(key.class, key.class_len as u64, "class name");
            }
            self.check_values(&key);
            for (child, from) in self.check_subkeys(&key) {
                stack.push((child, Some(off), from));
            }
        }
    }

    fn check_values(&mut self, key: &KeyNode) {
        if key.value_count == 0 {
            return;
        }
        if !self.claim(key.value_list, "value list", abs(key.offset) + 4 + 40) {
            return;
        }
        self.payload_at_least(key.value_list, key.value_count as u64 * 4, "value list");
        let offs = match self.h.value_offsets(key) {
            Ok(o) => o,
            Err(e) => return self.err_from(&e, abs(key.offset)),
        };
        // Value names seen so far in this key, upper-cased as `name::eq` compares them: a set,
        // so a key with many values is checked in linear time.
        let mut names: std::collections::HashSet<Vec<u16>> = std::collections::HashSet::new();
        for (i, off) in offs.into_iter().enumerate() {
            if !self.claim(off, "value", abs(key.value_list) + 4 + i as u64 * 4) {
                continue;
            }
            let v = match self.h.value(off) {
                Ok(v) => v,
                Err(e) => {
                    self.err_from(&e, abs(off));
                    continue;
                }
            };
            self.r.values += 1;
            let name_bytes = v.name.len() as u32 * 2;
            if key.max_value_name_len < name_bytes {
                self.err(
                    abs(key.offset) + 4 + 60,
                    format!(
                        "key's max value name length {} is less than {} for value {}",
                        key.max_value_name_len,
                        name_bytes,
                        crate::text::quoted(&name::to_string(&v.name))
                    ),
                );
            }
            if key.max_value_data_len < v.data_len() {
                self.err(
                    abs(key.offset) + 4 + 64,
                    format!(
                        "key's max value data length {} is less than {} for value {}",
                        key.max_value_data_len,
                        v.data_len(),
                        crate::text::quoted(&name::to_string(&v.name))
                    ),
                );
            }
            if !names.insert(v.name.iter().map(|&u| name::upcase(u)).collect()) {
                self.err(
                    abs(off),
                    format!(
                        "duplicate value name {}",
                        crate::text::quoted(&name::to_string(&v.name))
                    ),
                );
            }
            let len = v.data_len() as u64;
            match self.h.data_place(&v) {
                Err(e) => self.err_from(&e, abs(off)),
                Ok(DataPlace::Inline) => {}
                Ok(DataPlace::Cell(d)) => {
                    if self.claim(d, "value data", abs(off) + 4 + 8) {
                        self.payload_at_least(d, len, "value data");
                    }
                }
                Ok(DataPlace::Big { db, list, segments }) => {
                    self.claim(db, "big data record", abs(off) + 4 + 8);
                    if self.claim(list, "big data segment list", abs(db) + 4 + 4) {
                        self.payload_at_least(
                            list,
                            segments.len() as u64 * 4,
                            "big data segment list",
                        );
                    }
                    let mut left = len;
                    for (i, s) in segments.into_iter().enumerate() {
                        let want = left.min(BIG_DATA_SEGMENT as u64);
                        if self.claim(s, "big data segment", abs(list) + 4 + i as u64 * 4) {
                            self.payload_at_least(s, want, "big data segment");
                        }
                        left -= want;
                    }
                }
            }
        }
    }

    /// Checks the subkey list of `key` and returns the child nk offsets to walk.
    fn check_subkeys(&mut self, key: &KeyNode) -> Vec<(CellOffset, u64)> {
        let list = key.subkey_list;
        let at = abs(key.offset);
        if list == NIL {
            if key.subkey_count != 0 {
                self.err(
                    at + 4 + 20,
                    format!("key has {} subkeys but no subkey list", key.subkey_count),
                );
            }
            return Vec::new();
        }
        if !self.claim(list, "subkey list", at + 4 + 28) {
            return Vec::new();
        }
        // Leaves with their entries and per-entry check data.
        let mut leaves: Vec<(CellOffset, ListCell)> = Vec::new();
        match self.h.list(list) {
            Err(e) => {
                self.err_from(&e, abs(list));
                return Vec::new();
            }
            Ok(ListCell::Ri(ls)) => {
                for (i, leaf) in ls.into_iter().enumerate() {
                    if !self.claim(leaf, "subkey list leaf", abs(list) + 8 + i as u64 * 4) {
                        continue;
                    }
                    match self.h.list(leaf) {
                        Err(e) => self.err_from(&e, abs(leaf)),
                        Ok(ListCell::Ri(_)) => {
                            self.err(abs(leaf), "index root points at another index root".into())
                        }
                        Ok(l) => leaves.push((leaf, l)),
                    }
                }
            }
            Ok(l) => leaves.push((list, l)),
        }
        let mut children = Vec::new();
        let mut prev: Option<Vec<u16>> = None;
        let mut max_name = 0u32;
        let mut max_class = 0u32;
        for (leaf_off, leaf) in &leaves {
            let leaf_at = abs(*leaf_off);
            if matches!(leaf, ListCell::Lh(_)) && self.h.minor < MINOR_HASH_LEAF {
                self.err(
                    leaf_at,
                    format!(
                        "lh subkey list in a version 1.{} hive (lh needs 1.5)",
                        self.h.minor
                    ),
                );
            }
            let entries: Vec<(CellOffset, Option<u32>, Option<[u8; 4]>)> = match leaf {
                ListCell::Li(v) => v.iter().map(|&o| (o, None, None)).collect(),
                ListCell::Lf(v) => v.iter().map(|&(o, h)| (o, None, Some(h))).collect(),
                ListCell::Lh(v) => v.iter().map(|&(o, h)| (o, Some(h), None)).collect(),
                ListCell::Ri(_) => Vec::new(),
            };
            let stride = if matches!(leaf, ListCell::Li(_)) {
                4
            } else {
                8
            };
            for (i, (child, hash, hint)) in entries.into_iter().enumerate() {
                let entry_at = leaf_at + 8 + i as u64 * stride;
                children.push((child, entry_at));
                let Ok(k) = self.h.key(child) else { continue };
                if let Some(h) = hash {
                    let want = name::lh_hash(&k.name);
                    if h != want {
                        self.err(
                            entry_at,
                            format!(
                                "lh hash of {}: stored {h:#010x}, expected {want:#010x}",
                                crate::text::quoted(&name::to_string(&k.name))
                            ),
                        );
                    }
                }
                if let Some(h) = hint {
                    let want = name::lf_hint(&k.name);
                    if h != want {
                        self.err(
                            entry_at,
                            format!(
                                "lf hint of {}: stored {}, expected {}",
                                crate::text::quoted(&name::to_string(&k.name)),
                                crate::text::hex_bytes(&h),
                                crate::text::hex_bytes(&want)
                            ),
                        );
                    }
                }
                if let Some(p) = &prev {
                    if name::compare(p, &k.name) != std::cmp::Ordering::Less {
                        self.err(
                            leaf_at,
                            format!(
                                "subkey list out of order: {} is listed before {}",
                                crate::text::quoted(&name::to_string(p)),
                                crate::text::quoted(&name::to_string(&k.name))
                            ),
                        );
                    }
                }
                max_name = max_name.max(k.name.len() as u32 * 2);
                max_class = max_class.max(k.class_len as u32);
                prev = Some(k.name);
            }
        }
        if children.len() as u64 != key.subkey_count as u64 {
            self.err(
                at + 4 + 20,
                format!(
                    "key's subkey count {} differs from the {} entries of its list",
                    key.subkey_count,
                    children.len()
                ),
            );
        }
        if key.max_name_len & 0xFFFF < max_name {
            self.err(
                at + 4 + 52,
                format!(
                    "key's max subkey name length {} is less than {max_name}",
                    key.max_name_len & 0xFFFF
                ),
            );
        }
        if key.max_class_len < max_class {
            self.err(
                at + 4 + 56,
                format!(
                    "key's max subkey class length {} is less than {max_class}",
                    key.max_class_len
                ),
            );
        }
        children
    }

    /// Reference counts equal the keys that point at each sk; the sk list is one closed ring
    /// that holds every referenced sk.
    fn check_security(&mut self) {
        let mut refs: Vec<(CellOffset, u32, u64)> =
            self.sk_refs.iter().map(|(a, b)| (*a, b.0, b.1)).collect();
        refs.sort_unstable();
        let mut good: HashSet<CellOffset> = HashSet::new();
        for &(off, count, from) in &refs {
            if !self.claim(off, "security cell", from) {
                continue;
            }
            match self.h.security(off) {
                Err(e) => self.err_from(&e, abs(off)),
                Ok(s) => {
                    good.insert(off);
                    if s.refcount != count {
                        self.err(
                            abs(off) + 4 + 12,
                            format!(
                                "security cell reference count {}, but {count} keys point at it",
                                s.refcount
                            ),
                        );
                    }
                }
            }
        }
        let Some(&start) = refs.first().map(|r| &r.0).filter(|o| good.contains(o)) else {
            return;
        };
        let mut seen: HashSet<CellOffset> = HashSet::new();
        let mut cur = start;
        let limit = self.cells.len() + 1;
        for _ in 0..limit {
            seen.insert(cur);
            let Ok(s) = self.h.security(cur) else {
                self.err(
                    abs(cur),
                    format!("security list: {cur:#x} is not a security cell"),
                );
                return;
            };
            if !good.contains(&s.flink) && !self.is_claimed(s.flink) {
                // An sk in the ring that no key references.
                if self.claim(s.flink, "security cell", abs(cur) + 4 + 4) {
                    good.insert(s.flink);
                    if let Ok(n) = self.h.security(s.flink) {
                        if n.refcount != 0 {
                            self.err(
                                abs(s.flink) + 16,
                                format!(
                                    "security cell reference count {}, but no key points at it",
                                    n.refcount
                                ),
                            );
                        }
                    }
                }
            }
            match self.h.security(s.flink) {
                Ok(n) if n.blink == cur => {}
                Ok(n) => {
                    self.err(
                        abs(s.flink) + 4 + 8,
                        format!("security list: blink {:#x}, expected {cur:#x}", n.blink),
                    );
                    return;
                }
                Err(e) => {
                    self.err(abs(cur) + 4 + 4, format!("security list: {}", e.detail()));
                    return;
                }
            }
            cur = s.flink;
            if cur == start {
                break;
            }
            if seen.contains(&cur) {
                self.err(
                    abs(cur),
                    "security list loops without returning to its start".into(),
                );
                return;
            }
        }
        for &(off, _, _) in &refs {
            if good.contains(&off) && !seen.contains(&off) {
                self.err(abs(off), "security cell is not in the security list".into());
            }
        }
    }
}
