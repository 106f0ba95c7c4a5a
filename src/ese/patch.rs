//! Patching a database one page at a time, in file order, for the streaming pass: each page
//! is checked (checksum in its own format, page format no newer than the file's), the rows of
//! the planned tables on it are edited, and a changed page gets the plan's dbtime and a new
//! checksum in its own format. Every changed byte range is reported with its reason.
//!
//! Nothing here knows Exchange: the tables, columns and values arrive as a [`PagePlan`].
//! Leaf pages of a table's primary tree are the pages whose `objidFDP` is the table's object
//! id with the leaf flag and neither the space-tree, index nor long-value flag
//! (reference/ese.md §3 page flags): secondary indexes and long-value trees have object ids of
//! their own, and only the primary tree holds records.

use crate::ese::catalog::{Column, Storage};
use crate::ese::checksum::{check_page, is_all_zero, ChecksumMismatch, PageCheck};
use crate::ese::edit::{record_with_variable, ChangeOut, EditError, HeaderBuf, PageBuf};
use crate::ese::error::EseError;
use crate::ese::node::Node;
use crate::ese::page::{flags, offsets};
use crate::ese::record::Record;
use byteorder::{ByteOrder, LittleEndian};
use std::collections::BTreeMap;

/// The last ESE97 revision: pages of such a file never carry the ESE98 record format or the
/// new checksum (reference/ese.md, "Format version / revision", "Refuse").
pub const ESE97_LAST_REVISION: u32 = 2;
/// The first revision whose pages may carry the XOR+ECC checksum (reference/ese.md §2.3).
pub const ECC_FIRST_REVISION: u32 = 0x0B;

/// The page's flags when they hold a format newer than `revision` allows (ESE98 records or
/// XOR+ECC checksums in an ESE97 file, XOR+ECC before revision 0x0B), else `None`.
pub fn newer_page_flags(page: &[u8], revision: u32) -> Option<u32> {
    let f = page
        .get(offsets::FLAGS..offsets::FLAGS + 4)
        .map_or(0, LittleEndian::read_u32);
    let newer = |flag: u32, last: u32| f & flag != 0 && revision <= last;
    (newer(flags::NEW_RECORD_FORMAT, ESE97_LAST_REVISION)
        || newer(flags::NEW_CHECKSUM, ECC_FIRST_REVISION - 1))
    .then_some(f)
}

/// A fixed column's place in a record, resolved from the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedField {
    pub fid: u16,
    pub offset: usize,
    pub size: usize,
}

/// What to do to the rows of one table.
#[derive(Clone, Debug, PartialEq)]
pub enum RowEdit {
    /// Rows whose `field` holds `old`: `field` := `new`, and each of `also` set in the same row.
    ReplaceWhere {
        field: FixedField,
        old: Vec<u8>,
        new: Vec<u8>,
        also: Vec<(FixedField, Vec<u8>)>,
    },
    /// Every row: the fixed fields set, then the variable columns (`None` = NULL); a record
    /// whose length changes is rewritten inside its page.
    SetAll {
        fixed: Vec<(FixedField, Vec<u8>)>,
        variable: Vec<(u16, Option<Vec<u8>>)>,
    },
}

/// The edits of one table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableEdits {
    /// The table's object id (`objidFDP` of its primary tree's pages).
    pub objid: u32,
    pub name: String,
    /// Column names by fid, for reasons.
    pub column_names: BTreeMap<u16, String>,
    /// A fixed column shown in reasons to name the row.
    pub row_key: Option<FixedField>,
    pub edits: Vec<RowEdit>,
}

/// Everything the per-page patch needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PagePlan {
    pub tables: Vec<TableEdits>,
    /// Stamped into every changed page (and the header).
    pub dbtime: u64,
    /// The file's format revision (header), to refuse pages of a newer format.
    pub revision: u32,
}

impl PagePlan {
    /// Number of edits over all tables (the length of [`EditCounts::rows`]).
    pub fn edit_count(&self) -> usize {
        self.tables.iter().map(|t| t.edits.len()).sum()
    }
}

/// One changed byte range and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change<'a> {
    pub offset: u64,
    pub old: &'a [u8],
    pub new: &'a [u8],
    pub why: &'a str,
}

/// Changed byte ranges and their reasons, in the order they were made, kept in buffers that
/// are cleared and reused: a pass reports about a million changes per GB, and none costs an
/// allocation once the buffers have grown to a page's worth.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    entries: Vec<Entry>,
    /// Each change's old bytes, then its new bytes.
    bytes: Vec<u8>,
    reasons: String,
}

/// Where one change's parts are in [`Changes`]'s buffers.
#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u64,
    at: usize,
    old_len: usize,
    new_len: usize,
    why: Reason,
}

/// A reason written into a [`Changes`], to be given to the changes it explains.
#[derive(Clone, Copy, Debug)]
pub struct Reason {
    start: usize,
    end: usize,
}

impl Changes {
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
        self.reasons.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The changes, in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = Change<'_>> + '_ {
        self.entries.iter().map(|e| Change {
            offset: e.offset,
            old: &self.bytes[e.at..e.at + e.old_len],
            new: &self.bytes[e.at + e.old_len..e.at + e.old_len + e.new_len],
            why: &self.reasons[e.why.start..e.why.end],
        })
    }

    /// A reason, written by `text` into the buffer of reasons.
    pub fn reason(&mut self, text: impl FnOnce(&mut String)) -> Reason {
        let start = self.reasons.len();
        text(&mut self.reasons);
        Reason {
            start,
            end: self.reasons.len(),
        }
    }

    /// One change, explained by `why` (a reason of this buffer).
    pub fn push(&mut self, offset: u64, old: &[u8], new: &[u8], why: Reason) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(old);
        self.bytes.extend_from_slice(new);
        self.entries.push(Entry {
            offset,
            at,
            old_len: old.len(),
            new_len: new.len(),
            why,
        });
    }

    /// An edit's output: each range it changes is pushed with reason `why`.
    fn under(&mut self, why: Reason) -> Under<'_> {
        Under { changes: self, why }
    }
}

/// [`Changes::under`].
struct Under<'a> {
    changes: &'a mut Changes,
    why: Reason,
}

impl ChangeOut for Under<'_> {
    fn range(&mut self, offset: u64, old: &[u8], new: &[u8]) {
        self.changes.push(offset, old, new, self.why);
    }
}

/// What [`patch_page`] keeps from one page to the next: the page being edited and its
/// changes, in buffers reused for every page.
pub struct PagePatch {
    buf: PageBuf,
    changes: Changes,
    key_text: String,
}

impl Default for PagePatch {
    fn default() -> PagePatch {
        PagePatch {
            buf: PageBuf::from_bytes(0, 0, Vec::new()),
            changes: Changes::default(),
            key_text: String::new(),
        }
    }
}

impl PagePatch {
    /// The last page's changes (none when it stayed as it was).
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// The last page as patched (meaningful when [`patch_page`] said it changed).
    pub fn page(&self) -> &[u8] {
        &self.buf.bytes
    }
}

/// Rows the patch changed and looked at, per edit, summed over the pages it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EditCounts {
    /// Rows changed per edit, in the plan's order (tables, then their edits).
    pub rows: Vec<u64>,
    /// Rows each edit looked at (changed or not), in the same order.
    pub seen: Vec<u64>,
}

impl EditCounts {
    /// All zero, one count per edit of `plan`.
    pub fn new(plan: &PagePlan) -> EditCounts {
        EditCounts {
            rows: vec![0; plan.edit_count()],
            seen: vec![0; plan.edit_count()],
        }
    }
}

/// The page's `dbtimeDirtied`.
pub fn page_dbtime(page: &[u8]) -> u64 {
    page.get(offsets::DBTIME..offsets::DBTIME + 8)
        .map_or(0, LittleEndian::read_u64)
}

/// A page's object id (`objidFDP`: the tree it belongs to; 0 on a page never written, 1 for
/// the database's own trees).
pub fn page_objid(page: &[u8]) -> u32 {
    page.get(offsets::OBJID_FDP..offsets::OBJID_FDP + 4)
        .map_or(0, LittleEndian::read_u32)
}

/// The reasons of the stamps every changed page gets, beside the changes to its rows.
pub const PAGE_DBTIME_WHY: &str = "page dbtime";
pub const PAGE_CHECKSUM_WHY: &str = "page checksum";
pub const PAGE_STAMP_WHYS: [&str; 2] = [PAGE_DBTIME_WHY, PAGE_CHECKSUM_WHY];

fn column_of(f: &FixedField) -> Column {
    Column {
        fid: f.fid,
        name: String::new(),
        coltyp: 0,
        storage: Storage::Fixed,
        cb_max: f.size as u32,
        flags: 0,
        code_page: 0,
        fixed_offset: Some(f.offset),
        fixed_size: Some(f.size),
        default_value: None,
        from_template: false,
        record_offset: None,
    }
}

/// Checks one page and patches it under `plan`: true when anything changed, the new page
/// and its changes then in `work` ([`PagePatch::page`], [`PagePatch::changes`]; no changes
/// when the page stays as it is), the rows counted in `counts`. See the module
/// documentation.
pub fn patch_page(
    page: &[u8],
    pgno: u32,
    file_offset: u64,
    plan: &PagePlan,
    work: &mut PagePatch,
    counts: &mut EditCounts,
) -> Result<bool, EditError> {
    work.changes.clear();
    if is_all_zero(page) {
        return Ok(false);
    }
    if let PageCheck::Bad(format, bad) = check_page(page, pgno) {
        let m = bad.first().copied().unwrap_or(ChecksumMismatch {
            at: 0,
            what: "checksum",
            expected: 0,
            found: 0,
        });
        return Err(EditError::Read(EseError::corrupt(
            file_offset + m.at as u64,
            Some(pgno),
            "page checksum",
            format!("{} {} {:#x}", format.name(), m.what, m.expected),
            format!("{:#x}", m.found),
        )));
    }
    let page_flags = LittleEndian::read_u32(&page[offsets::FLAGS..offsets::FLAGS + 4]);
    if newer_page_flags(page, plan.revision).is_some() {
        return Err(EditError::Read(EseError::corrupt(
            file_offset + offsets::FLAGS as u64,
            Some(pgno),
            "page flags",
            format!("no flag newer than the file's revision {}", plan.revision),
            format!(
                "{page_flags:#x} (a page in a newer format than the file claims: a later \
                 engine touched it)"
            ),
        )));
    }
    let objid = page_objid(page);
    let not_records = flags::SPACE_TREE | flags::INDEX | flags::LONG_VALUE;
    if page_flags & flags::LEAF == 0 || page_flags & not_records != 0 {
        return Ok(false);
    }
    let mut first_edit = 0;
    let Some(table) = plan.tables.iter().find(|t| {
        if t.objid == objid {
            return true;
        }
        first_edit += t.edits.len();
        false
    }) else {
        return Ok(false);
    };
    let PagePatch {
        buf,
        changes,
        key_text,
    } = work;
    buf.reset(pgno, file_offset, page);
    let lines = buf.page()?.line_tags();
    // The reasons of this table's changes: "Table.Column row KeyColumn=key".
    let key_column = table
        .row_key
        .as_ref()
        .and_then(|k| table.column_names.get(&k.fid));
    for itag in lines {
        // The row's key, and the first edit's test (on the row as the input has it), from
        // one parse of the row.
        let (deleted, first_holds) = {
            let p = buf.page()?;
            let node = Node::parse(&p, itag)?;
            let deleted = node.is_deleted();
            let first_test = match table.edits.first() {
                Some(RowEdit::ReplaceWhere { field, old, .. }) if !deleted => Some((field, old)),
                _ => None,
            };
            let rec = match (&table.row_key, first_test) {
                (None, None) => None,
                _ => Some(Record::parse(node.data, p.record_form())?),
            };
            key_text.clear();
            match (&table.row_key, &rec) {
                (Some(k), Some(rec)) => match rec.fixed(k.fid, k.offset, k.size)? {
                    Some(b) => push_key_value(key_text, b.as_slice()),
                    None => key_text.push_str("NULL"),
                },
                _ => {
                    key_text.push_str("line ");
                    key_text.push_str(itoa::Buffer::new().format(itag));
                }
            }
            let first_holds = match (first_test, &rec) {
                (Some((field, old)), Some(rec)) => Some(field_holds(rec, field, old)?),
                _ => None,
            };
            (deleted, first_holds)
        };
        if deleted {
            continue;
        }
        let why = |changes: &mut Changes, fid: u16| {
            changes.reason(|s| {
                s.push_str(&table.name);
                s.push('.');
                match table.column_names.get(&fid) {
                    Some(c) => s.push_str(c),
                    None => {
                        s.push_str("column ");
                        s.push_str(itoa::Buffer::new().format(fid));
                    }
                }
                s.push_str(" row");
                if let Some(k) = key_column {
                    s.push(' ');
                    s.push_str(k);
                }
                s.push('=');
                s.push_str(key_text);
            })
        };
        for (i, edit) in table.edits.iter().enumerate() {
            counts.seen[first_edit + i] += 1;
            match edit {
                RowEdit::ReplaceWhere {
                    field,
                    old,
                    new,
                    also,
                } => {
                    let holds = match (i, first_holds) {
                        (0, Some(h)) => h,
                        _ => {
                            let p = buf.page()?;
                            let node = Node::parse(&p, itag)?;
                            field_holds(&Record::parse(node.data, p.record_form())?, field, old)?
                        }
                    };
                    if !holds {
                        continue;
                    }
                    let r = why(changes, field.fid);
                    buf.set_fixed_column(itag, &column_of(field), new, &mut changes.under(r))?;
                    for (f, v) in also {
                        let r = why(changes, f.fid);
                        buf.set_fixed_column(itag, &column_of(f), v, &mut changes.under(r))?;
                    }
                    counts.rows[first_edit + i] += 1;
                }
                RowEdit::SetAll { fixed, variable } => {
                    for (f, v) in fixed {
                        let r = why(changes, f.fid);
                        buf.set_fixed_column(itag, &column_of(f), v, &mut changes.under(r))?;
                    }
                    for (fid, v) in variable {
                        let record = {
                            let p = buf.page()?;
                            let node = Node::parse(&p, itag)?;
                            let rec = Record::parse(node.data, p.record_form())?;
                            record_with_variable(&rec, *fid, v.as_deref())?
                        };
                        let r = why(changes, *fid);
                        buf.replace_record(itag, &record, &mut changes.under(r))?;
                    }
                    counts.rows[first_edit + i] += 1;
                }
            }
        }
    }
    if !buf.is_touched() {
        return Ok(false);
    }
    let r = changes.reason(|s| s.push_str(PAGE_DBTIME_WHY));
    buf.stamp_dbtime(plan.dbtime, &mut changes.under(r));
    let r = changes.reason(|s| s.push_str(PAGE_CHECKSUM_WHY));
    buf.restamp_checksum(&mut changes.under(r));
    Ok(true)
}

/// Whether `field` of `rec` holds `old` (a NULL field holds nothing).
fn field_holds(rec: &Record, field: &FixedField, old: &[u8]) -> Result<bool, EseError> {
    Ok(rec
        .fixed(field.fid, field.offset, field.size)?
        .is_some_and(|b| b.as_slice() == old))
}

/// Appends a row key as text: little-endian integers of 4 or 8 bytes in decimal, else hex.
fn push_key_value(out: &mut String, b: &[u8]) {
    let mut n = itoa::Buffer::new();
    match b.len() {
        4 => out.push_str(n.format(LittleEndian::read_i32(b))),
        8 => out.push_str(n.format(LittleEndian::read_i64(b))),
        _ => out.push_str(&crate::manifest::sums::hex(b)),
    }
}

/// The two header pages with `dbtime` in both copies (checksums restamped); refuses a header
/// the edit would hide damage in ([`HeaderBuf::read`]). Changes are reported with reasons.
pub fn patch_header(head: &[u8], dbtime: u64, changes: &mut Changes) -> Result<Vec<u8>, EditError> {
    let mut h = HeaderBuf::read(head)?;
    h.set_dbtime(dbtime);
    let page_size = head.len() / 2;
    let mut out = head.to_vec();
    for c in h.finish() {
        let at = c.offset as usize;
        out[at..at + c.new.len()].copy_from_slice(&c.new);
        let copy = if at < page_size {
            "header"
        } else {
            "shadow header"
        };
        let what = if at % page_size < 4 {
            "checksum"
        } else {
            "dbtime"
        };
        let why = changes.reason(|s| {
            s.push_str(copy);
            s.push(' ');
            s.push_str(what);
        });
        changes.push(c.offset, &c.old, &c.new, why);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libesedb's old-format page (flags 0x803: root, leaf, ESE98 records; objidFDP 1).
    fn page1() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/samples/ese/page.1"
        ))
        .unwrap()
    }

    fn plan(revision: u32, objid: u32) -> PagePlan {
        PagePlan {
            tables: vec![TableEdits {
                objid,
                name: "t".into(),
                column_names: BTreeMap::new(),
                row_key: None,
                edits: vec![RowEdit::ReplaceWhere {
                    field: FixedField {
                        fid: 1,
                        offset: 4,
                        size: 4,
                    },
                    old: vec![0xde, 0xad, 0xbe, 0xef],
                    new: vec![0; 4],
                    also: vec![],
                }],
            }],
            dbtime: u64::MAX,
            revision,
        }
    }

    #[test]
    fn a_page_nothing_matches_on_is_left_byte_for_byte() {
        let p = page1();
        let mut work = PagePatch::default();
        for objid in [1, 77] {
            let plan = plan(9, objid);
            let mut counts = EditCounts::new(&plan);
            let changed = patch_page(&p, 1, 0x2000, &plan, &mut work, &mut counts).unwrap();
            assert!(!changed);
            assert_eq!(counts.rows, vec![0]);
            assert!(work.changes().is_empty());
        }
    }

    /// The first leaf page of the catalog (objid 2, whose rows all have fixed column 1 at
    /// offset 4) of a real database with rows on it: its page number and bytes.
    fn catalog_leaf() -> (u32, Vec<u8>) {
        let file = crate::ese::samples::gunzipped("basic.edb.gz");
        let cb = 4096;
        let not_records = flags::SPACE_TREE | flags::INDEX | flags::LONG_VALUE;
        file.chunks_exact(cb)
            .enumerate()
            .skip(2)
            .map(|(i, page)| ((i - 1) as u32, page.to_vec()))
            .find(|(_, page)| {
                let f = LittleEndian::read_u32(&page[offsets::FLAGS..offsets::FLAGS + 4]);
                page_objid(page) == 2 && f & flags::LEAF != 0 && f & not_records == 0
            })
            .expect("a catalog leaf")
    }

    /// Every row's fixed column 1 set: each row of the catalog page changes.
    fn set_all(value: u32) -> PagePlan {
        let mut p = plan(0x14, 2);
        p.tables[0].edits = vec![RowEdit::SetAll {
            fixed: vec![(
                FixedField {
                    fid: 1,
                    offset: 4,
                    size: 4,
                },
                value.to_le_bytes().to_vec(),
            )],
            variable: vec![],
        }];
        p
    }

    /// One `PagePatch` used for page after page gives what a new one gives for each: nothing
    /// of an earlier page (its bytes, its changes, its reasons) is left in the next.
    #[test]
    fn a_reused_page_patch_holds_only_the_last_page() {
        let (pgno, p) = catalog_leaf();
        let at = u64::from(pgno + 1) * 4096;
        let mut reused = PagePatch::default();
        for value in [7u32, 0x0102_0304, 7] {
            let plan = set_all(value);
            let mut counts = EditCounts::new(&plan);
            let mut fresh = PagePatch::default();
            assert!(patch_page(&p, pgno, at, &plan, &mut fresh, &mut counts).unwrap());
            assert!(patch_page(&p, pgno, at, &plan, &mut reused, &mut counts).unwrap());
            assert_eq!(reused.page(), fresh.page());
            let list = |w: &PagePatch| {
                w.changes()
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
            };
            assert_eq!(list(&reused), list(&fresh));
            assert!(fresh.changes().len() > 2, "rows, dbtime and checksum");
            // The reasons name the column's row and the stamps, in order.
            let whys: Vec<&str> = fresh.changes().iter().map(|c| c.why).collect();
            assert!(whys[0].starts_with("t.column 1 row="), "{whys:?}");
            assert_eq!(whys[whys.len() - 1], PAGE_CHECKSUM_WHY);
            // The changes take the old page to the new one.
            let mut back = p.clone();
            for c in fresh.changes().iter() {
                let i = (c.offset - at) as usize;
                assert_eq!(&back[i..i + c.old.len()], c.old);
                back[i..i + c.new.len()].copy_from_slice(c.new);
            }
            assert_eq!(back, fresh.page());
        }
        // A page nothing changes on leaves no change of the one before.
        let plan = plan(0x14, 77);
        let mut counts = EditCounts::new(&plan);
        assert!(!patch_page(&p, pgno, at, &plan, &mut reused, &mut counts).unwrap());
        assert!(reused.changes().is_empty());
    }

    #[test]
    fn a_bad_checksum_is_refused_with_page_and_offset() {
        let mut p = page1();
        p[100] ^= 1;
        let plan = plan(9, 1);
        let mut counts = EditCounts::new(&plan);
        let e =
            patch_page(&p, 1, 0x2000, &plan, &mut PagePatch::default(), &mut counts).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("page 1") && text.contains("checksum"),
            "{text}"
        );
    }

    #[test]
    fn ese98_records_in_an_ese97_file_are_a_newer_format() {
        let p = page1();
        assert_eq!(newer_page_flags(&p, 9), None);
        assert_eq!(newer_page_flags(&p, 2), Some(0x803));
        let plan = plan(2, 1);
        let mut counts = EditCounts::new(&plan);
        let e =
            patch_page(&p, 1, 0x2000, &plan, &mut PagePatch::default(), &mut counts).unwrap_err();
        assert!(e.to_string().contains("newer format"), "{e}");
    }

    #[test]
    fn page_dbtime_reads_the_header_field() {
        let mut p = vec![0u8; 4096];
        p[8..16].copy_from_slice(&0x1234u64.to_le_bytes());
        assert_eq!(page_dbtime(&p), 0x1234);
        assert_eq!(page_dbtime(&[0u8; 4]), 0);
    }
}
