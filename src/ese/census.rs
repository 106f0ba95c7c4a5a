//! The census: where given 16-byte values (GUIDs) occur in a database, in any table and any
//! column, and in the bytes outside parsed values.
//!
//! Each page is searched whole first (the common case: nothing found, nothing parsed). A page
//! with an occurrence is parsed just far enough to say what holds it: a column value of a record
//! (fixed, variable, tagged, each instance of a multi-valued one, an intrinsic long value), a
//! chunk of a separated long value (attributed to the column whose record refers to its LID by
//! [`resolve_long_values`]), or raw bytes — a key, a page's free space, an unused page, a space
//! tree, the file header — by place and owning tree. A value is found in three forms: its 16
//! bytes in Windows layout, its text form (`0f3a6b1c-…`, any case; braces do not matter, the
//! text inside them is found) in a single-byte code page, and the same text in UTF-16LE.
//!
//! The format layer finds values and bytes; which values to look for is the caller's (the patch
//! layer's) business. A page too damaged to parse never stops the census: its occurrences are
//! counted as raw bytes of an unparsable page.

use crate::bytes::Bytes;
use crate::ese::btree::Database;
use crate::ese::catalog::{walk_rows, Catalog};
use crate::ese::error::EseError;
use crate::ese::node::Node;
use crate::ese::page::{flags, Page};
use crate::ese::record::{Record, FID_TAGGED_FIRST, FID_VAR_FIRST, FID_VAR_LAST};
use memchr::{memchr_iter, memmem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::ops::Range;
use std::sync::atomic::Ordering;

/// Sample primary keys kept per column.
const SAMPLES: usize = 3;
/// Bytes of the LV chunk key after the LID: the big-endian offset.
const LV_OFFSET_LEN: usize = 4;

/// A value to look for: its label (in reports) and its 16 bytes in Windows layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    pub label: String,
    pub bytes: [u8; 16],
}

impl Needle {
    /// The text form, lower case, without braces: `0f3a6b1c-2d4e-…`.
    pub fn text(&self) -> String {
        let b = &self.bytes;
        let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let d2 = u16::from_le_bytes([b[4], b[5]]);
        let d3 = u16::from_le_bytes([b[6], b[7]]);
        let tail: String = b[8..].iter().map(|x| format!("{x:02x}")).collect();
        format!("{d1:08x}-{d2:04x}-{d3:04x}-{}-{}", &tail[..4], &tail[4..])
    }
}

/// How an occurrence is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// The 16 bytes in Windows layout.
    Binary,
    /// The text form in a single-byte code page (ASCII hex digits and dashes).
    Text,
    /// The text form in UTF-16LE.
    TextUtf16,
}

/// One occurrence in a byte string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub at: Range<usize>,
    pub needle: usize,
    pub form: Form,
}

/// Finds every needle in every form.
pub struct Matcher {
    binary: Vec<memmem::Finder<'static>>,
    /// Each needle's text form (lower case), by needle index.
    text: Vec<[u8; TEXT_LEN]>,
    labels: Vec<String>,
}

/// Characters of a GUID's text form, and where its first dash is.
const TEXT_LEN: usize = 36;
const FIRST_DASH: usize = 8;
/// Where the other dashes are: checked before any needle is compared.
const OTHER_DASHES: [usize; 3] = [13, 18, 23];

impl Matcher {
    pub fn new(needles: &[Needle]) -> Matcher {
        let text = needles
            .iter()
            .map(|n| {
                let mut t = [0u8; TEXT_LEN];
                for (d, s) in t.iter_mut().zip(n.text().bytes()) {
                    *d = s;
                }
                t
            })
            .collect();
        Matcher {
            binary: needles
                .iter()
                .map(|n| memmem::Finder::new(&n.bytes).into_owned())
                .collect(),
            text,
            labels: needles.iter().map(|n| n.label.clone()).collect(),
        }
    }

    /// The needles' labels, by needle index.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Every occurrence in `bytes`, appended to `out` (binary ones first, then text in the
    /// order they start).
    pub fn find(&self, bytes: &[u8], out: &mut Vec<Hit>) {
        for (i, f) in self.binary.iter().enumerate() {
            out.extend(f.find_iter(bytes).map(|at| Hit {
                at: at..at + 16,
                needle: i,
                form: Form::Binary,
            }));
        }
        if self.text.is_empty() {
            return;
        }
        // Every text occurrence has a first dash; a dash is rare in page bytes, so each one
        // is a candidate start (8 characters before it, single-byte or UTF-16LE) checked
        // against the needles. Two occurrences cannot overlap (their dashes would have to
        // line up with hex digits), so this finds each one once, in the order they start.
        for dash in memchr_iter(b'-', bytes) {
            if let Some(start) = dash.checked_sub(FIRST_DASH) {
                if let Some(needle) = self.text_at(bytes, start, 1) {
                    out.push(Hit {
                        at: start..start + TEXT_LEN,
                        needle,
                        form: Form::Text,
                    });
                    continue;
                }
            }
            if let Some(start) = dash.checked_sub(2 * FIRST_DASH) {
                if let Some(needle) = self.text_at(bytes, start, 2) {
                    out.push(Hit {
                        at: start..start + 2 * TEXT_LEN,
                        needle,
                        form: Form::TextUtf16,
                    });
                }
            }
        }
    }

    /// The first needle whose text form, in any case, starts at `start` with `width` bytes
    /// per character (1: a single-byte code page; 2: UTF-16LE, the high bytes zero).
    fn text_at(&self, bytes: &[u8], start: usize, width: usize) -> Option<usize> {
        let window = bytes.get(start..start + width * TEXT_LEN)?;
        let char_at = |i: usize| window.get(i * width).copied().unwrap_or(0);
        if OTHER_DASHES.iter().any(|&i| char_at(i) != b'-') {
            return None;
        }
        if width == 2 && window.iter().skip(1).step_by(2).any(|&high| high != 0) {
            return None;
        }
        self.text.iter().position(|t| {
            t.iter()
                .enumerate()
                .all(|(i, &c)| char_at(i).eq_ignore_ascii_case(&c))
        })
    }
}

/// Where raw bytes (not a column value) are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The two header pages of the file.
    FileHeader,
    /// A page's header.
    PageHeader,
    /// A page's tag array.
    TagArray,
    /// A page's bytes outside every line (free space, or space freed but not cleared).
    FreeSpace,
    /// A page no tree uses (empty, or of an unknown object).
    UnusedPage,
    /// The key prefix (or external header) line of a page.
    KeyPrefix,
    /// A node's key: a record's primary key, an index key, a long value's key.
    Key,
    /// A record's own structure (header, offsets, tagged-field headers), not a value.
    RecordStructure,
    /// An index entry's data (the record's primary key).
    IndexEntry,
    /// A branch page's data (child page numbers).
    Branch,
    /// A space-tree page.
    SpaceTree,
    /// A long value's root (reference count and size).
    LongValueRoot,
    /// A long value no record refers to.
    LongValueUnreferenced,
    /// A node flagged deleted (a row, index entry or long-value chunk every reader skips and
    /// the patch leaves as it is, as the engine's own cleanup would remove it).
    DeletedNode,
    /// A page that could not be parsed.
    Unparsable,
}

impl Place {
    /// Places whose bytes no reader of the database sees as data.
    pub fn is_dead_space(self) -> bool {
        matches!(
            self,
            Place::FreeSpace | Place::UnusedPage | Place::DeletedNode
        )
    }
}

/// Which tree of a table an object id names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tree {
    Data,
    Index(String),
    LongValues,
}

/// Column facts the census needs.
#[derive(Clone, Debug)]
struct ColumnInfo {
    fid: u16,
    name: String,
    /// Fixed columns: record offset and size.
    fixed: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
struct TableInfo {
    name: String,
    columns: Vec<ColumnInfo>,
}

/// The catalog as the census needs it: which table and tree each object id is.
#[derive(Clone, Debug)]
pub struct Owners {
    tables: Vec<TableInfo>,
    by_objid: HashMap<u32, (usize, Tree)>,
}

impl Owners {
    pub fn new(catalog: &Catalog) -> Owners {
        let mut by_objid = HashMap::new();
        let mut tables = Vec::new();
        for (t, table) in catalog.tables.iter().enumerate() {
            for ix in &table.indexes {
                by_objid
                    .entry(ix.objid)
                    .or_insert((t, Tree::Index(ix.name.clone())));
            }
            if let Some((_, objid)) = table.long_values {
                by_objid.insert(objid, (t, Tree::LongValues));
            }
            by_objid.insert(table.objid, (t, Tree::Data));
            tables.push(TableInfo {
                name: table.name.clone(),
                columns: table
                    .columns
                    .iter()
                    .map(|c| ColumnInfo {
                        fid: c.fid,
                        name: c.name.clone(),
                        fixed: c.fixed_offset.zip(c.fixed_size),
                    })
                    .collect(),
            });
        }
        Owners { tables, by_objid }
    }

    /// The catalog's tables by name, in catalog order.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name.clone()).collect()
    }

    /// The table (index into [`Owners::table_names`]) whose tree `objid` is: its data, an
    /// index or its long values.
    pub fn table_of(&self, objid: u32) -> Option<usize> {
        self.by_objid.get(&objid).map(|(t, _)| *t)
    }

    fn owner_name(&self, objid: u32) -> String {
        match self.by_objid.get(&objid) {
            Some((t, Tree::Data)) => self.tables[*t].name.clone(),
            Some((t, Tree::Index(ix))) => format!("{} index {ix}", self.tables[*t].name),
            Some((t, Tree::LongValues)) => format!("{} long values", self.tables[*t].name),
            None => format!("object {objid}"),
        }
    }

    fn column_name(&self, table: usize, fid: u16) -> String {
        self.tables[table]
            .columns
            .iter()
            .find(|c| c.fid == fid)
            .map_or_else(|| format!("column {fid}"), |c| c.name.clone())
    }
}

/// Occurrences in one column of one table, for one needle.
#[derive(Clone, Debug, Default)]
struct ColumnTally {
    records: u64,
    forms: BTreeMap<Form, u64>,
    samples: Vec<Vec<u8>>,
}

/// What the census has counted so far (merge tallies of page ranges with [`Tally::merge`]).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// (table, fid, needle) → records.
    columns: BTreeMap<(usize, u16, usize), ColumnTally>,
    /// (place, owner, needle) → occurrences.
    raw: BTreeMap<(Place, String, usize), u64>,
    /// (table, LID key, needle) → occurrences per form, until resolved to columns.
    long_values: BTreeMap<(usize, Vec<u8>, usize), BTreeMap<Form, u64>>,
    pub pages: u64,
    pub pages_with_hits: u64,
    /// Buffers the tally of a page reuses from page to page (no allocation per page).
    scratch: PageScratch,
}

/// [`Tally::scratch`]: what [`tally_parsed`] keeps of one page while it counts its hits.
#[derive(Clone, Debug, Default)]
struct PageScratch {
    /// (itag, byte range in the page) of every line.
    lines: Vec<(usize, Range<usize>)>,
    /// (record itag, fid, needle) and (…, form) seen on the page: a record counts once.
    seen: Vec<(usize, u16, usize)>,
    seen_forms: Vec<(usize, u16, usize, Form)>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        for (k, v) in other.columns {
            let c = self.columns.entry(k).or_default();
            c.records += v.records;
            for (f, n) in v.forms {
                *c.forms.entry(f).or_default() += n;
            }
            for s in v.samples {
                if c.samples.len() < SAMPLES {
                    c.samples.push(s);
                }
            }
        }
        for (k, v) in other.raw {
            *self.raw.entry(k).or_default() += v;
        }
        for (k, v) in other.long_values {
            let e = self.long_values.entry(k).or_default();
            for (f, n) in v {
                *e.entry(f).or_default() += n;
            }
        }
        self.pages += other.pages;
        self.pages_with_hits += other.pages_with_hits;
    }

    /// Records per column holding needle `needle` so far: (table, column, records).
    pub fn column_records(&self, owners: &Owners, needle: usize) -> Vec<(String, String, u64)> {
        self.columns
            .iter()
            .filter(|((_, _, n), _)| *n == needle)
            .map(|(&(t, fid, _), c)| {
                (
                    owners.tables[t].name.clone(),
                    owners.column_name(t, fid),
                    c.records,
                )
            })
            .collect()
    }

    fn raw(&mut self, place: Place, owner: String, needle: usize) {
        *self.raw.entry((place, owner, needle)).or_default() += 1;
    }
}

/// Counts the occurrences in one page of the file: `bytes` is the page, `offset` its file
/// offset, `pgno` its database page number (`None` for the two header pages).
pub fn tally_page(
    bytes: &[u8],
    offset: u64,
    pgno: Option<u32>,
    owners: &Owners,
    matcher: &Matcher,
    tally: &mut Tally,
) {
    let mut hits = Vec::new();
    matcher.find(bytes, &mut hits);
    tally_hits(bytes, offset, pgno, owners, &hits, tally);
}

/// The longest form of a needle, in bytes (the text form in UTF-16LE).
const LONGEST_FORM: usize = 2 * TEXT_LEN;

/// The occurrences in a page after a patch, from those before it: `before` are the page's
/// hits as [`Matcher::find`] gave them, `after` the patched page, `changed` the byte ranges
/// of the page the patch may have changed (ascending). An occurrence that touches no changed
/// byte was there before, unchanged; any other lies within the longest form's reach of a
/// changed range, and only there is the page searched again. Appends to `out` what
/// [`Matcher::find`] on `after` would give, in its order.
pub fn hits_after(
    before: &[Hit],
    after: &[u8],
    changed: &[Range<usize>],
    matcher: &Matcher,
    out: &mut Vec<Hit>,
) {
    let touches = |at: &Range<usize>| {
        changed
            .iter()
            .any(|c| c.start < at.end && at.start < c.end && c.start < c.end)
    };
    let first = out.len();
    out.extend(before.iter().filter(|h| !touches(&h.at)).cloned());
    // Windows around the changed ranges, merged where they meet, searched once each.
    let reach = LONGEST_FORM - 1;
    let mut windows: Vec<Range<usize>> = Vec::new();
    for c in changed.iter().filter(|c| c.start < c.end) {
        let w = c.start.saturating_sub(reach)..c.end.saturating_add(reach).min(after.len());
        match windows.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => windows.push(w),
        }
    }
    let mut found = Vec::new();
    for w in windows {
        let Some(bytes) = after.get(w.clone()) else {
            continue;
        };
        found.clear();
        matcher.find(bytes, &mut found);
        out.extend(found.drain(..).filter_map(|mut h| {
            h.at = h.at.start + w.start..h.at.end + w.start;
            touches(&h.at).then_some(h)
        }));
    }
    // Matcher::find's order: the binary form needle by needle, then the text forms, each
    // in the order they start.
    out[first..].sort_by_key(|h| {
        let binary = h.form == Form::Binary;
        (!binary, if binary { h.needle } else { 0 }, h.at.start)
    });
}

/// [`tally_page`] of occurrences already found in the page (`hits`, as [`Matcher::find`]
/// gives them).
pub fn tally_hits(
    bytes: &[u8],
    offset: u64,
    pgno: Option<u32>,
    owners: &Owners,
    hits: &[Hit],
    tally: &mut Tally,
) {
    tally.pages += 1;
    if hits.is_empty() {
        return;
    }
    tally.pages_with_hits += 1;
    let Some(pgno) = pgno else {
        for h in hits {
            tally.raw(Place::FileHeader, "file header".into(), h.needle);
        }
        return;
    };
    let mut scratch = std::mem::take(&mut tally.scratch);
    let parsed = tally_parsed(bytes, offset, pgno, owners, hits, tally, &mut scratch);
    tally.scratch = scratch;
    if parsed.is_err() {
        for h in hits {
            tally.raw(Place::Unparsable, format!("page {pgno}"), h.needle);
        }
    }
}

/// What a record of a table holds at a page offset.
enum InRecord {
    Column(u16),
    Structure,
    /// A separated long value's LID: the value lives in the long-value tree.
    Separated,
}

fn tally_parsed(
    bytes: &[u8],
    offset: u64,
    pgno: u32,
    owners: &Owners,
    hits: &[Hit],
    tally: &mut Tally,
    scratch: &mut PageScratch,
) -> Result<(), EseError> {
    let page = Page::parse(Bytes::new(bytes, offset), pgno)?;
    let h = page.header;
    let owner = owners.by_objid.get(&h.objid_fdp);
    let PageScratch {
        lines,
        seen,
        seen_forms,
    } = scratch;
    lines.clear();
    seen.clear();
    seen_forms.clear();
    // Lines, parsed once (most pages with a hit have one).
    for itag in 0..page.tag_count() {
        let (tag, _) = page.tag_data(itag)?;
        let start = page.header_len() + tag.ib;
        lines.push((itag, start..start + tag.cb));
    }
    let tags_start = bytes
        .len()
        .saturating_sub(page.tag_count() * crate::ese::page::TAG_LEN);
    for hit in hits {
        // The owner's name is made only for a raw occurrence (most are in columns).
        let raw =
            |tally: &mut Tally, place| tally.raw(place, owners.owner_name(h.objid_fdp), hit.needle);
        if hit.at.start < page.header_len() {
            raw(tally, Place::PageHeader);
            continue;
        }
        if hit.at.end > tags_start {
            raw(tally, Place::TagArray);
            continue;
        }
        if h.has(flags::EMPTY) || owner.is_none() && h.objid_fdp != 0 && !is_system(h.objid_fdp) {
            raw(tally, Place::UnusedPage);
            continue;
        }
        let Some(&(itag, ref line)) = lines
            .iter()
            .find(|(_, r)| r.start <= hit.at.start && hit.at.end <= r.end)
        else {
            // Not inside one line: free space (or straddling two lines, which no value does).
            raw(tally, Place::FreeSpace);
            continue;
        };
        if itag == 0 {
            raw(tally, Place::KeyPrefix);
            continue;
        }
        if h.has(flags::SPACE_TREE) {
            raw(tally, Place::SpaceTree);
            continue;
        }
        let node = Node::parse(&page, itag)?;
        if node.is_deleted() {
            raw(tally, Place::DeletedNode);
            continue;
        }
        let data_start = node.data_offset_in_page(&page);
        if hit.at.start < data_start {
            raw(tally, Place::Key);
            continue;
        }
        if !h.has(flags::LEAF) {
            raw(tally, Place::Branch);
            continue;
        }
        let _ = line;
        match owner {
            Some((t, Tree::Data)) => {
                let record = Record::parse(node.data, page.record_form())?;
                let at = hit.at.start - data_start..hit.at.end - data_start;
                match locate(&record, &owners.tables[*t], &at)? {
                    InRecord::Column(fid) => {
                        let key = (itag, fid, hit.needle);
                        let c = tally.columns.entry((*t, fid, hit.needle)).or_default();
                        if !seen.contains(&key) {
                            seen.push(key);
                            c.records += 1;
                            if c.samples.len() < SAMPLES {
                                c.samples.push(node.key());
                            }
                        }
                        let fkey = (itag, fid, hit.needle, hit.form);
                        if !seen_forms.contains(&fkey) {
                            seen_forms.push(fkey);
                            *c.forms.entry(hit.form).or_default() += 1;
                        }
                    }
                    InRecord::Structure | InRecord::Separated => raw(tally, Place::RecordStructure),
                }
            }
            Some((_, Tree::Index(_))) => raw(tally, Place::IndexEntry),
            Some((t, Tree::LongValues)) => {
                let key = node.key();
                if key.len() > LV_OFFSET_LEN {
                    let lid = key[..key.len() - LV_OFFSET_LEN].to_vec();
                    *tally
                        .long_values
                        .entry((*t, lid, hit.needle))
                        .or_default()
                        .entry(hit.form)
                        .or_default() += 1;
                } else {
                    raw(tally, Place::LongValueRoot);
                }
            }
            None => raw(tally, Place::UnusedPage),
        }
    }
    Ok(())
}

/// The catalog and its shadow (object ids 2 and 3 in every ESE database) and the system tables
/// below the first user object are owned even when the catalog does not list them.
fn is_system(objid: u32) -> bool {
    objid <= 3
}

/// Which column of `record` holds the bytes `at` (relative to the record).
fn locate(record: &Record, table: &TableInfo, at: &Range<usize>) -> Result<InRecord, EseError> {
    let inside = |r: &Range<usize>| r.start <= at.start && at.end <= r.end;
    for c in &table.columns {
        if let Some((offset, size)) = c.fixed {
            if let Some(r) = record.fixed_range(c.fid, offset, size)? {
                if inside(&r) {
                    return Ok(InRecord::Column(c.fid));
                }
            }
        }
    }
    if at.start >= record.var_data_start && at.end <= record.tagged_start {
        for fid in FID_VAR_FIRST..=u16::from(record.fid_var_last).min(FID_VAR_LAST) {
            if let Some(r) = record.variable_range(fid)? {
                if inside(&r) {
                    return Ok(InRecord::Column(fid));
                }
            }
        }
    }
    if at.start >= record.tagged_start {
        let base = record.bytes.base();
        for col in record.tagged()? {
            for inst in &col.instances {
                let start = (inst.data.base() - base) as usize;
                if inside(&(start..start + inst.data.len())) {
                    return Ok(if inst.separated {
                        InRecord::Separated
                    } else {
                        InRecord::Column(col.fid.max(FID_TAGGED_FIRST))
                    });
                }
            }
        }
    }
    Ok(InRecord::Structure)
}

/// Attributes the occurrences found in long-value chunks to the columns whose records refer to
/// them (a walk of each table that has any); a long value no record refers to is counted raw.
pub fn resolve_long_values(
    db: &Database,
    catalog: &Catalog,
    owners: &Owners,
    tally: &mut Tally,
) -> Result<(), EseError> {
    let pending = std::mem::take(&mut tally.long_values);
    let tables: Vec<usize> = {
        let mut t: Vec<usize> = pending.keys().map(|k| k.0).collect();
        t.dedup();
        t
    };
    let mut referenced: Vec<(usize, Vec<u8>, usize)> = Vec::new();
    for t in tables {
        let Some(table) = catalog.tables.get(t) else {
            continue;
        };
        walk_rows(db, table, |row| {
            for col in row.record.tagged()? {
                for inst in col.instances.iter().filter(|i| i.separated) {
                    let lid: Vec<u8> = inst.data.as_slice().iter().rev().copied().collect();
                    for ((pt, plid, needle), forms) in pending.range((t, lid.clone(), 0)..) {
                        if *pt != t || *plid != lid {
                            break;
                        }
                        let c = tally.columns.entry((t, col.fid, *needle)).or_default();
                        c.records += 1;
                        if c.samples.len() < SAMPLES {
                            c.samples.push(row.node.key());
                        }
                        for f in forms.keys() {
                            *c.forms.entry(*f).or_default() += 1;
                        }
                        referenced.push((t, lid.clone(), *needle));
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
    }
    for ((t, lid, needle), forms) in pending {
        if !referenced.contains(&(t, lid, needle)) {
            let owner = format!("{} long values", owners.tables[t].name);
            *tally
                .raw
                .entry((Place::LongValueUnreferenced, owner, needle))
                .or_default() += forms.values().sum::<u64>();
        }
    }
    Ok(())
}

/// Records of one column holding one needle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnCount {
    pub table: String,
    pub column: String,
    pub fid: u16,
    pub needle: String,
    pub records: u64,
    /// Records per form the value was written in.
    pub forms: BTreeMap<Form, u64>,
    /// A few of those records' primary keys, hex.
    pub samples: Vec<String>,
}

/// Raw occurrences in one place of one tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCount {
    pub place: Place,
    pub owner: String,
    pub needle: String,
    pub count: u64,
}

/// The census of a database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusReport {
    pub pages: u64,
    pub pages_with_hits: u64,
    pub columns: Vec<ColumnCount>,
    pub raw: Vec<RawCount>,
}

impl CensusReport {
    /// Records of `table.column` holding `needle`.
    pub fn records(&self, table: &str, column: &str, needle: &str) -> u64 {
        self.columns
            .iter()
            .filter(|c| c.table == table && c.column == column && c.needle == needle)
            .map(|c| c.records)
            .sum()
    }
}

impl Tally {
    /// The report (call [`resolve_long_values`] first).
    pub fn report(&self, owners: &Owners, matcher: &Matcher) -> CensusReport {
        let label = |n: usize| matcher.labels().get(n).cloned().unwrap_or_default();
        let hex = |k: &Vec<u8>| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
        CensusReport {
            pages: self.pages,
            pages_with_hits: self.pages_with_hits,
            columns: self
                .columns
                .iter()
                .map(|(&(t, fid, n), c)| ColumnCount {
                    table: owners.tables[t].name.clone(),
                    column: owners.column_name(t, fid),
                    fid,
                    needle: label(n),
                    records: c.records,
                    forms: c.forms.clone(),
                    samples: c.samples.iter().map(hex).collect(),
                })
                .collect(),
            raw: self
                .raw
                .iter()
                .map(|((place, owner, n), &count)| RawCount {
                    place: *place,
                    owner: owner.clone(),
                    needle: label(*n),
                    count,
                })
                .chain(self.long_values.iter().map(|((t, _, n), forms)| RawCount {
                    place: Place::LongValueUnreferenced,
                    owner: format!("{} long values", owners.tables[*t].name),
                    needle: label(*n),
                    count: forms.values().sum(),
                }))
                .collect(),
        }
    }
}

/// Threads of [`census`] (the goal machine has 2 cores).
const CENSUS_THREADS: usize = 2;

/// The census of a whole database in memory: every page searched (the file split between
/// [`CENSUS_THREADS`] threads, their tallies merged in file order), long values resolved.
/// `progress` gets the bytes done.
pub fn census(
    db: &Database,
    catalog: &Catalog,
    matcher: &Matcher,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<CensusReport, EseError> {
    let owners = Owners::new(catalog);
    let ps = db.page_size as usize;
    let pages = db.bytes.len() / ps;
    let per = pages.div_ceil(CENSUS_THREADS).max(1);
    let done = std::sync::atomic::AtomicU64::new(0);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CENSUS_THREADS)
            .map(|t| {
                let (owners, done) = (&owners, &done);
                let first = (t * per).min(pages);
                let last = ((t + 1) * per).min(pages);
                s.spawn(move || {
                    let mut tally = Tally::default();
                    for i in first..last {
                        let offset = i * ps;
                        let pgno = (i as u64)
                            .checked_sub(crate::ese::header::HEADER_PAGES)
                            .map(|p| (p + 1) as u32);
                        let page = &db.bytes[offset..offset + ps];
                        tally_page(page, offset as u64, pgno, owners, matcher, &mut tally);
                        if (i - first) % 1024 == 1023 {
                            let n = done.fetch_add(1024 * ps as u64, Ordering::Relaxed);
                            progress(n + 1024 * ps as u64);
                        }
                    }
                    tally
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    progress((pages * ps) as u64);
    let mut tally = Tally::default();
    for t in tallies {
        tally.merge(t);
    }
    resolve_long_values(db, catalog, &owners, &mut tally)?;
    Ok(tally.report(&owners, matcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needle() -> Needle {
        Needle {
            label: "old".into(),
            bytes: [
                0x1c, 0x6b, 0x3a, 0x0f, 0x4e, 0x2d, 0x8a, 0x41, 0x9b, 0x01, 0x23, 0x45, 0x67, 0x89,
                0xab, 0xcd,
            ],
        }
    }

    #[test]
    fn text_form_is_windows_layout_read_as_fields() {
        assert_eq!(needle().text(), "0f3a6b1c-2d4e-418a-9b01-23456789abcd");
    }

    #[test]
    fn finds_every_form_in_any_case_with_or_without_braces() {
        let m = Matcher::new(&[needle()]);
        let mut hay = vec![0u8; 10];
        hay.extend_from_slice(&needle().bytes);
        hay.extend_from_slice(b"..{0F3A6B1C-2D4E-418A-9B01-23456789ABCD}..");
        hay.extend_from_slice(b"0f3a6b1c-2d4e-418a-9b01-23456789abcd");
        let utf16: Vec<u8> = "{0F3a6b1c-2D4E-418a-9B01-23456789abCD}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        hay.extend_from_slice(&utf16);
        // Near misses: one digit off, and the bytes in text order.
        hay.extend_from_slice(b"0f3a6b1c-2d4e-418a-9b01-23456789abce");
        let mut hits = Vec::new();
        m.find(&hay, &mut hits);
        let forms: Vec<Form> = hits.iter().map(|h| h.form).collect();
        assert_eq!(
            forms,
            vec![Form::Binary, Form::Text, Form::Text, Form::TextUtf16]
        );
        assert_eq!(hits[0].at, 10..26);
        assert!(hits.iter().all(|h| h.needle == 0));
    }

    /// Every place a needle's text starts, by comparing every position with every needle in
    /// both forms (leftmost first, no overlaps): what [`Matcher::find`] must agree with.
    fn text_hits_by_brute_force(needles: &[Needle], hay: &[u8]) -> Vec<Hit> {
        let forms: Vec<(usize, Form, Vec<u8>)> = needles
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                let t = n.text();
                let utf16 = t.encode_utf16().flat_map(u16::to_le_bytes).collect();
                [(i, Form::Text, t.into_bytes()), (i, Form::TextUtf16, utf16)]
            })
            .collect();
        let mut hits = Vec::new();
        let mut at = 0;
        while at < hay.len() {
            let found = forms.iter().find(|(_, _, p)| {
                hay.get(at..at + p.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(p))
            });
            match found {
                Some((needle, form, p)) => {
                    hits.push(Hit {
                        at: at..at + p.len(),
                        needle: *needle,
                        form: *form,
                    });
                    at += p.len();
                }
                None => at += 1,
            }
        }
        hits
    }

    /// A small deterministic generator (xorshift64) from `seed` (not zero).
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn text_forms_are_found_where_a_byte_by_byte_search_finds_them() {
        let needles = [
            needle(),
            Needle {
                label: "new".into(),
                bytes: [0xee; 16],
            },
        ];
        let m = Matcher::new(&needles);
        // Pages of dashes, zeros, hex digits and GUID texts (either needle, either form,
        // random case, some with one character changed), glued together with no gap, at page
        // edges too.
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..300 {
            let mut hay = Vec::new();
            while hay.len() < 600 {
                match next() % 6 {
                    0 => hay.push(b'-'),
                    1 => hay.push(0),
                    2 => hay.extend_from_slice(
                        b"0123456789abcdefABCDEF"
                            .get((next() % 22) as usize..)
                            .unwrap_or(&[]),
                    ),
                    _ => {
                        let n = &needles[(next() % 2) as usize];
                        let mut t: Vec<u8> = n
                            .text()
                            .bytes()
                            .map(|c| {
                                if next() % 2 == 0 {
                                    c.to_ascii_uppercase()
                                } else {
                                    c
                                }
                            })
                            .collect();
                        if next() % 4 == 0 {
                            let i = (next() % 36) as usize;
                            t[i] = if t[i] == b'-' { b'0' } else { b'-' };
                        }
                        if next() % 2 == 0 {
                            hay.extend(t.iter().flat_map(|&c| [c, 0]));
                        } else {
                            hay.extend_from_slice(&t);
                        }
                    }
                }
            }
            let mut hits = Vec::new();
            m.find(&hay, &mut hits);
            hits.retain(|h| h.form != Form::Binary);
            assert_eq!(hits, text_hits_by_brute_force(&needles, &hay), "{hay:02x?}");
        }
    }

    /// What `hits_after` derives from the hits before and the changed ranges is what a whole
    /// search of the patched page finds, in the same order: occurrences made, broken, kept,
    /// next to a change or across its edge, at the page's ends, in every form.
    #[test]
    fn hits_after_a_patch_are_those_a_whole_search_finds() {
        let needles = [
            needle(),
            Needle {
                label: "new".into(),
                bytes: [
                    0x5d, 0x10, 0xc7, 0x2a, 0x91, 0x03, 0x44, 0xe8, 0x7f, 0x36, 0xb2, 0x0c, 0xd9,
                    0x65, 0x18, 0xa4,
                ],
            },
        ];
        let m = Matcher::new(&needles);
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        // A piece of page: noise, or a needle in one of its forms, sometimes spoiled.
        let piece = |next: &mut dyn FnMut() -> u64| -> Vec<u8> {
            let n = &needles[(next() % 2) as usize];
            let mut p = match next() % 5 {
                0 => (0..(next() % 40)).map(|_| next() as u8).collect(),
                1 => n.bytes.to_vec(),
                2 => n.text().into_bytes(),
                3 => n
                    .text()
                    .to_uppercase()
                    .bytes()
                    .flat_map(|c| [c, 0])
                    .collect(),
                _ => vec![b'-'; (next() % 3 + 1) as usize],
            };
            if !p.is_empty() && next() % 5 == 0 {
                let i = (next() as usize) % p.len();
                p[i] ^= 0x20;
            }
            p
        };
        let mut derived_any = 0;
        for _ in 0..2000 {
            let mut before = Vec::new();
            while before.len() < 700 {
                before.extend(piece(&mut next));
            }
            before.truncate(700);
            let mut after = before.clone();
            let mut changed: Vec<Range<usize>> = Vec::new();
            let mut at = (next() % 40) as usize;
            while at < after.len() && changed.len() < 6 {
                let p = piece(&mut next);
                let end = (at + p.len()).min(after.len());
                after[at..end].copy_from_slice(&p[..end - at]);
                changed.push(at..end);
                at = end + (next() % 120) as usize;
            }
            let mut hits_before = Vec::new();
            m.find(&before, &mut hits_before);
            let mut want = Vec::new();
            m.find(&after, &mut want);
            let mut got = vec![Hit {
                at: 0..1,
                needle: 9,
                form: Form::Text,
            }];
            hits_after(&hits_before, &after, &changed, &m, &mut got);
            assert_eq!(got.remove(0).needle, 9, "what was in `out` stays first");
            assert_eq!(got, want, "changed {changed:?}");
            derived_any += usize::from(want != hits_before);
        }
        assert!(derived_any > 500, "the changes made and broke occurrences");
    }
}
