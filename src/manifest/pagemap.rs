//! The page map of a patched database: what happened to every page — untouched, rows
//! rewritten, or only its header or dbtime stamped — and which table the pages belong to,
//! aggregated into at most [`MAX_BINS`] bins so that it stays small whatever the store's size.
//!
//! It is fed page by page during the patch's pass ([`PageMapBuilder`]) and recorded in
//! `report.json`; [`classes_from_audit`] rebuilds the page classes from the audit log alone,
//! so that `coldpatch report` can check the two agree before it draws the map.

use crate::manifest::audit::AuditEntry;
use serde::{Deserialize, Serialize};

/// Bins at most: a 64 × 64 grid in the case file.
pub const MAX_BINS: u64 = 4096;

/// The two header pages (the header and its shadow copy) at the start of every database.
const HEADER_PAGES: u64 = 2;

/// The changes of a page that are not its rows: the stamps every changed page gets.
use crate::ese::patch::PAGE_STAMP_WHYS as PAGE_STAMPS;

/// What happened to one page, weakest first (a bin shows the strongest of its pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageClass {
    Untouched,
    /// The header pages' fields, or only a page's dbtime and checksum.
    HeaderOnly,
    RowsRewritten,
}

impl PageClass {
    /// The character a bin of this class is recorded as in [`PageMap::bins`].
    pub fn letter(self) -> char {
        match self {
            PageClass::Untouched => '.',
            PageClass::HeaderOnly => 'H',
            PageClass::RowsRewritten => 'R',
        }
    }

    pub fn from_letter(c: char) -> Option<PageClass> {
        match c {
            '.' => Some(PageClass::Untouched),
            'H' => Some(PageClass::HeaderOnly),
            'R' => Some(PageClass::RowsRewritten),
            _ => None,
        }
    }

    /// In words, for people.
    pub fn name(self) -> &'static str {
        match self {
            PageClass::Untouched => "untouched",
            PageClass::HeaderOnly => "header or dbtime only",
            PageClass::RowsRewritten => "rows rewritten",
        }
    }

    /// The class of a changed page (file page `index`) from the reasons of its changes.
    pub fn of_changes<'a>(index: u64, whys: impl IntoIterator<Item = &'a str>) -> PageClass {
        if index < HEADER_PAGES {
            return PageClass::HeaderOnly;
        }
        let mut class = PageClass::Untouched;
        for why in whys {
            if PAGE_STAMPS.contains(&why) {
                class = class.max(PageClass::HeaderOnly);
            } else {
                return PageClass::RowsRewritten;
            }
        }
        class
    }
}

/// A run of bins most of whose pages belong to one table (or `header`, `database`, `unused`,
/// `other`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRun {
    pub table: String,
    pub first_bin: u64,
    pub bins: u64,
}

/// A database's page map as `report.json` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMap {
    pub page_size: u32,
    /// Pages in the file, the two header pages included.
    pub pages: u64,
    /// Pages per bin (the last bin may hold fewer).
    pub pages_per_bin: u64,
    pub untouched: u64,
    pub rows_rewritten: u64,
    pub header_only: u64,
    /// One character per bin, in file order: the most that happened to a page of the bin —
    /// `R` rows rewritten, `H` header or dbtime only, `.` untouched.
    pub bins: String,
    /// The table most of each bin's pages belong to, as runs of bins.
    pub tables: Vec<TableRun>,
}

impl PageMap {
    /// Pages per bin for a file of `pages` pages.
    pub fn pages_per_bin(pages: u64) -> u64 {
        pages.div_ceil(MAX_BINS).max(1)
    }

    /// The file pages (first, last) of bin `b`.
    pub fn bin_pages(&self, b: u64) -> (u64, u64) {
        let first = b * self.pages_per_bin;
        (first, (first + self.pages_per_bin).min(self.pages) - 1)
    }

    /// The class of bin `b` (untouched for a letter outside the three).
    pub fn bin_class(&self, b: usize) -> PageClass {
        self.bins
            .as_bytes()
            .get(b)
            .and_then(|&c| PageClass::from_letter(c as char))
            .unwrap_or(PageClass::Untouched)
    }
}

/// The owner label of a page: an index into the builder's labels.
pub type Owner = u32;

/// Builds a [`PageMap`] from the pages of a pass, in file order.
pub struct PageMapBuilder {
    map: PageMap,
    labels: Vec<String>,
    /// The bin being filled: its class and its pages per owner.
    bin: u64,
    class: PageClass,
    owners: Vec<(Owner, u64)>,
    next_index: u64,
}

impl PageMapBuilder {
    /// A map of a file of `size` bytes in pages of `page_size`; `tables` are the owner labels
    /// the pass will name pages by (the builder adds `header`, `database`, `unused` and `other`).
    pub fn new(size: u64, page_size: u32, tables: Vec<String>) -> PageMapBuilder {
        let pages = size / u64::from(page_size.max(1));
        let mut labels = tables;
        labels.extend(["header", "database", "unused", "other"].map(String::from));
        PageMapBuilder {
            map: PageMap {
                page_size,
                pages,
                pages_per_bin: PageMap::pages_per_bin(pages),
                untouched: 0,
                rows_rewritten: 0,
                header_only: 0,
                bins: String::with_capacity(MAX_BINS as usize),
                tables: Vec::new(),
            },
            labels,
            bin: 0,
            class: PageClass::Untouched,
            owners: Vec::new(),
            next_index: 0,
        }
    }

    fn label(&self, from_end: usize) -> Owner {
        (self.labels.len() - from_end) as Owner
    }

    /// The owner of the header pages.
    pub fn header(&self) -> Owner {
        self.label(4)
    }

    /// The owner of the database's own pages (object id 1: its root and space trees).
    pub fn database(&self) -> Owner {
        self.label(3)
    }

    /// The owner of a page no object owns (object id 0: never written).
    pub fn unused(&self) -> Owner {
        self.label(2)
    }

    /// The owner of a page whose object is not in the catalog.
    pub fn other(&self) -> Owner {
        self.label(1)
    }

    /// Table `i` of the labels given to [`PageMapBuilder::new`].
    pub fn table(&self, i: usize) -> Owner {
        if i + 4 < self.labels.len() {
            i as Owner
        } else {
            self.other()
        }
    }

    /// The next page in file order.
    pub fn page(&mut self, class: PageClass, owner: Owner) {
        let bin = self.next_index / self.map.pages_per_bin;
        if bin != self.bin {
            self.close_bin();
            self.bin = bin;
        }
        self.next_index += 1;
        match class {
            PageClass::Untouched => self.map.untouched += 1,
            PageClass::HeaderOnly => self.map.header_only += 1,
            PageClass::RowsRewritten => self.map.rows_rewritten += 1,
        }
        self.class = self.class.max(class);
        match self.owners.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, n)) => *n += 1,
            None => self.owners.push((owner, 1)),
        }
    }

    fn close_bin(&mut self) {
        if self.owners.is_empty() {
            return;
        }
        self.map.bins.push(self.class.letter());
        self.class = PageClass::Untouched;
        // The owner with the most pages; the first seen of equals.
        let mut best = self.owners[0];
        for &(o, n) in &self.owners[1..] {
            if n > best.1 {
                best = (o, n);
            }
        }
        self.owners.clear();
        let name = &self.labels[best.0 as usize];
        match self.map.tables.last_mut() {
            Some(run) if &run.table == name && run.first_bin + run.bins == self.bin => {
                run.bins += 1
            }
            _ => self.map.tables.push(TableRun {
                table: name.clone(),
                first_bin: self.bin,
                bins: 1,
            }),
        }
    }

    /// The map, once every page was given.
    pub fn finish(mut self) -> PageMap {
        self.close_bin();
        self.map
    }
}

/// The page classes of a database rebuilt from the audit log's entries for its file: the
/// counts and the bins of a [`PageMap`] of `pages` pages (its `tables` are left empty: the log
/// does not say who owns an untouched page). Entries of other files are skipped.
pub struct ClassesFromAudit {
    file: String,
    page_size: u64,
    pages: u64,
    /// The class of each changed page, by file page index.
    changed: std::collections::BTreeMap<u64, PageClass>,
}

impl ClassesFromAudit {
    pub fn new(file: &str, page_size: u32, pages: u64) -> ClassesFromAudit {
        ClassesFromAudit {
            file: file.to_string(),
            page_size: u64::from(page_size.max(1)),
            pages,
            changed: Default::default(),
        }
    }

    /// One entry of the log: counted when it is of this file.
    pub fn entry(&mut self, file: &str, offset: u64, why: &str) {
        if file != self.file {
            return;
        }
        let index = offset / self.page_size;
        let class = PageClass::of_changes(index, [why]);
        let c = self.changed.entry(index).or_insert(class);
        *c = (*c).max(class);
    }

    /// The classes as a map (tables empty); `Err` names a page past the file's end.
    pub fn finish(self) -> Result<PageMap, String> {
        if let Some((&last, _)) = self.changed.last_key_value() {
            if last >= self.pages {
                return Err(format!(
                    "{}: the audit log changes file page {last}, past the file's \
                     {} pages",
                    self.file, self.pages
                ));
            }
        }
        let per_bin = PageMap::pages_per_bin(self.pages);
        let bins = self.pages.div_ceil(per_bin);
        let mut letters = vec![PageClass::Untouched; bins as usize];
        let mut counts = [0u64; 3];
        for (&index, &class) in &self.changed {
            let b = &mut letters[(index / per_bin) as usize];
            *b = (*b).max(class);
            counts[class as usize] += 1;
        }
        Ok(PageMap {
            page_size: self.page_size as u32,
            pages: self.pages,
            pages_per_bin: per_bin,
            untouched: self.pages - counts[1] - counts[2],
            header_only: counts[1],
            rows_rewritten: counts[2],
            bins: letters.into_iter().map(PageClass::letter).collect(),
            tables: Vec::new(),
        })
    }
}

/// [`ClassesFromAudit`] over whole entries (tests).
pub fn classes_from_audit(
    file: &str,
    page_size: u32,
    pages: u64,
    entries: &[AuditEntry],
) -> Result<PageMap, String> {
    let mut c = ClassesFromAudit::new(file, page_size, pages);
    for e in entries {
        c.entry(&e.file, e.offset, &e.why);
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, offset: u64, why: &str) -> AuditEntry {
        AuditEntry {
            file: file.into(),
            offset,
            length: 1,
            old: "00".into(),
            new: "01".into(),
            why: why.into(),
        }
    }

    #[test]
    fn a_page_is_as_strong_as_its_strongest_change() {
        assert_eq!(
            PageClass::of_changes(0, ["header dbtime"]),
            PageClass::HeaderOnly
        );
        assert_eq!(
            PageClass::of_changes(5, ["page dbtime", "page checksum"]),
            PageClass::HeaderOnly
        );
        assert_eq!(
            PageClass::of_changes(5, ["Msg.SourceGuid row MsgId=3", "page dbtime"]),
            PageClass::RowsRewritten
        );
        assert_eq!(PageClass::of_changes(5, []), PageClass::Untouched);
    }

    /// The pass's map and the audit log's agree; bins aggregate when the file has more pages
    /// than bins, and runs of bins name the table most of their pages belong to.
    #[test]
    fn the_builder_and_the_audit_log_agree_and_bins_aggregate() {
        let pages = MAX_BINS * 2 + 3;
        let ps = 4096u32;
        let mut b = PageMapBuilder::new(pages * u64::from(ps), ps, vec!["Msg".into()]);
        let mut entries = vec![entry("db", 0, "header dbtime")];
        let (header, msg, unused) = (b.header(), b.table(0), b.unused());
        assert_eq!(b.table(7), b.other());
        for index in 0..pages {
            let class = match index {
                0 | 1 => PageClass::HeaderOnly,
                10 => PageClass::RowsRewritten,
                11 => PageClass::HeaderOnly,
                _ => PageClass::Untouched,
            };
            let owner = match index {
                0 | 1 => header,
                i if i < 4000 => msg,
                _ => unused,
            };
            b.page(class, owner);
        }
        entries.push(entry("db", 4096 + 7, "shadow header dbtime"));
        entries.push(entry("db", 10 * 4096 + 90, "Msg.SourceGuid row MsgId=1"));
        entries.push(entry("db", 10 * 4096 + 8, "page dbtime"));
        entries.push(entry("db", 11 * 4096 + 8, "page dbtime"));
        entries.push(entry("other", 12 * 4096, "Msg.SourceGuid row MsgId=2"));
        let map = b.finish();
        assert_eq!(map.pages_per_bin, 3);
        assert_eq!(map.bins.len() as u64, pages.div_ceil(3));
        assert_eq!(&map.bins[..5], "H..R.");
        assert_eq!(
            (map.untouched, map.header_only, map.rows_rewritten),
            (pages - 4, 3, 1)
        );
        assert_eq!(
            map.tables,
            vec![
                TableRun {
                    table: "header".into(),
                    first_bin: 0,
                    bins: 1
                },
                TableRun {
                    table: "Msg".into(),
                    first_bin: 1,
                    bins: 1332
                },
                TableRun {
                    table: "unused".into(),
                    first_bin: 1333,
                    bins: map.bins.len() as u64 - 1333
                },
            ]
        );
        let from_log = classes_from_audit("db", ps, pages, &entries).unwrap();
        assert_eq!(from_log.bins, map.bins);
        assert_eq!(
            (
                from_log.untouched,
                from_log.header_only,
                from_log.rows_rewritten
            ),
            (map.untouched, map.header_only, map.rows_rewritten)
        );
        let e = classes_from_audit("db", ps, 5, &entries).unwrap_err();
        assert!(e.contains("file page 11") && e.contains("5 pages"), "{e}");
    }

    #[test]
    fn a_small_file_has_a_bin_per_page() {
        let mut b = PageMapBuilder::new(5 * 8192, 8192, vec![]);
        let h = b.header();
        for _ in 0..5 {
            b.page(PageClass::Untouched, h);
        }
        let map = b.finish();
        assert_eq!(
            (map.pages, map.pages_per_bin, map.bins.as_str()),
            (5, 1, ".....")
        );
        assert_eq!(map.bin_pages(4), (4, 4));
    }
}
