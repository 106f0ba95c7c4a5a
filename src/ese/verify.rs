//! Whole-file verification: both header copies, every page checksum, and the structure as the
//! readers read it (catalog, trees, every leaf's nodes and rows).
//!
//! Works on the bytes of a whole file (normally a memory map). The trees are walked first,
//! down to the parents of their leaves ([`Layout`]); then one loop over the pages, split over
//! threads by page range, checks each page and reads each leaf where it lies, right after its
//! checksum. Each thread only reads, and findings are merged in page order.
//! Source for what is checked: reference/ese.md §1 (header copies), §2 (checksums), §3
//! (`dbtimeDirtied` must not exceed the header dbtime).

use crate::ese::btree::Database;
use crate::ese::catalog::{Catalog, Storage, Table};
use crate::ese::checksum::{check_page, ChecksumMismatch, PageCheck, PageChecksumFormat};
use crate::ese::error::EseError;
use crate::ese::header::{DbHeader, DbState, HeaderCopies, HeaderError};
use crate::ese::longvalue::read_long_value;
use crate::ese::node::Node;
use crate::ese::page::Page;
use crate::ese::record::{Record, TaggedColumn};
use byteorder::{ByteOrder, LittleEndian};
use std::fmt;

use crate::ese::header::HEADER_PAGES as RESERVED_PAGES;
use crate::ese::page::offsets::DBTIME as PAGE_DBTIME_OFFSET;

/// One thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A header copy's checksum does not match its bytes.
    HeaderChecksum {
        copy: HeaderCopy,
        expected: u32,
        found: u32,
    },
    /// The primary header cannot be read as a header; the shadow copy stood in.
    PrimaryUnreadable(String),
    /// The shadow header cannot be read as a header at all.
    ShadowUnreadable(String),
    /// The two header copies differ (first differing byte is the finding's offset).
    HeaderCopiesDiffer { primary: u8, shadow: u8 },
    /// A page's stored checksum value disagrees with its bytes.
    PageChecksum {
        format: PageChecksumFormat,
        mismatch: ChecksumMismatch,
    },
    /// A page was modified at a dbtime later than the database's.
    PageDbtimeAhead { page: u64, header: u64 },
    /// A page carries a flag of a later format than the file's revision (a later engine
    /// touched it): ESE98 records or the XOR+ECC checksum in an ESE97 file.
    NewerPageFormat { flags: u32, revision: u32 },
    /// The file ends inside a page.
    PartialPage { page_size: u32, extra: u64 },
    /// The catalog or a table's B-tree cannot be walked.
    Structure(String),
}

/// Which copy of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderCopy {
    Primary,
    Shadow,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::HeaderChecksum {
                copy,
                expected,
                found,
            } => write!(
                f,
                "{} header checksum: expected {expected:#010x}, found {found:#010x}",
                match copy {
                    HeaderCopy::Primary => "primary",
                    HeaderCopy::Shadow => "shadow",
                }
            ),
            Problem::PrimaryUnreadable(why) => {
                write!(
                    f,
                    "primary header unreadable ({why}); using the shadow copy"
                )
            }
            Problem::ShadowUnreadable(why) => write!(f, "shadow header unreadable: {why}"),
            Problem::HeaderCopiesDiffer { primary, shadow } => write!(
                f,
                "header copies differ: primary has {primary:#04x}, shadow has {shadow:#04x} \
                 (first difference)"
            ),
            Problem::PageChecksum { format, mismatch } => write!(
                f,
                "page checksum ({}, {}): expected {:#x}, found {:#x}",
                format.name(),
                mismatch.what,
                mismatch.expected,
                mismatch.found
            ),
            Problem::PageDbtimeAhead { page, header } => write!(
                f,
                "page dbtime {page:#x} is later than the database dbtime {header:#x}"
            ),
            Problem::Structure(what) => write!(f, "{what}"),
            Problem::NewerPageFormat { flags, revision } => write!(
                f,
                "page flags {flags:#x}: a page in a newer format than the file's revision {revision} \
                 claims (a later engine touched it)"
            ),
            Problem::PartialPage { page_size, extra } => write!(
                f,
                "file ends {extra} bytes into a page (page size {page_size})"
            ),
        }
    }
}

/// A problem at a place in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Absolute file offset of the bad value.
    pub offset: u64,
    /// Database page number, when the problem is inside a database page.
    pub page: Option<u32>,
    pub problem: Problem,
}

/// The outcome of verifying a whole file.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub header: DbHeader,
    /// Database pages checked (excluding the two header pages).
    pub pages: u64,
    /// Of those, all-zero (never initialised) pages.
    pub uninitialised: u64,
    pub findings: Vec<Finding>,
    /// Facts that are not damage: a page of a clean database whose dbtime is above the
    /// header's (real files written by Windows 8.1 have them, up to 0x61 above).
    pub notes: Vec<Finding>,
    /// The highest page dbtime seen (0 when no page is initialised).
    pub max_page_dbtime: u64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies `file` (the whole database). `threads` ≥ 1 splits the page loop; `progress` is
/// called with the number of pages just checked (from any thread).
pub fn verify_file(
    file: &[u8],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, HeaderError> {
    verify_file_observed(file, threads, progress, &|_| {}, &|_| {})
}

/// [`verify_file`], telling `on_pages` of the pages the page loop passes (with `progress`,
/// counts) and `on_read` of the file offset of each page read out of order (the catalog and
/// branch pages, the long values of rows), so that a memory map can release what was read as
/// the check goes.
pub fn verify_file_observed(
    file: &[u8],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
    on_pages: &(dyn Fn(u64) + Sync),
    on_read: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, HeaderError> {
    let copies = HeaderCopies::read(file)?;
    let header = copies.header.clone();
    let cb = u64::from(header.page_size);
    let mut findings = header_findings(file, &copies);

    let len = file.len() as u64;
    let extra = len % cb;
    if extra != 0 {
        findings.push(Finding {
            offset: len - extra,
            page: None,
            problem: Problem::PartialPage {
                page_size: header.page_size,
                extra,
            },
        });
    }
    let pages = (len / cb).saturating_sub(RESERVED_PAGES);
    let mut uninitialised = 0;
    // The trees first (catalog and branch pages only); then one pass over the pages, on
    // `threads` threads, checks each page's checksum and reads each leaf where it lies.
    let layout = Layout::walk(file, on_read);
    let results = pass(file, &header, &layout, threads, &|n| {
        on_pages(n);
        progress(n)
    });
    let mut notes = Vec::new();
    let mut max_page_dbtime = 0;
    let mut trees = Vec::new();
    for mut r in results {
        uninitialised += r.zero;
        findings.append(&mut r.findings);
        notes.append(&mut r.notes);
        max_page_dbtime = max_page_dbtime.max(r.max_dbtime);
        trees.push(r.trees);
    }
    findings.extend(layout.findings(trees));
    notes.sort_by_key(|n| n.offset);
    Ok(VerifyReport {
        header,
        pages,
        uninitialised,
        findings,
        notes,
        max_page_dbtime,
    })
}

/// A finding for a verification thread that stopped without a result (a bug, not the file's
/// fault): the file is not reported intact.
fn internal_error(part: &str) -> Finding {
    Finding {
        offset: 0,
        page: None,
        problem: Problem::Structure(format!(
            "internal error: the {part} stopped without a result; the file was not fully checked"
        )),
    }
}

fn header_findings(file: &[u8], copies: &HeaderCopies) -> Vec<Finding> {
    let mut out = Vec::new();
    let cb = copies.header.page_size as usize;
    if let Some(e) = &copies.primary_error {
        out.push(Finding {
            offset: 0,
            page: None,
            problem: Problem::PrimaryUnreadable(e.to_string()),
        });
    }
    if !copies.primary_checksum.is_good() {
        out.push(Finding {
            offset: 0,
            page: None,
            problem: Problem::HeaderChecksum {
                copy: HeaderCopy::Primary,
                expected: copies.primary_checksum.expected,
                found: copies.primary_checksum.found,
            },
        });
    }
    match copies.shadow_checksum {
        Some(ck) if !ck.is_good() => out.push(Finding {
            offset: cb as u64,
            page: None,
            problem: Problem::HeaderChecksum {
                copy: HeaderCopy::Shadow,
                expected: ck.expected,
                found: ck.found,
            },
        }),
        Some(_) => {}
        None => {
            let why = crate::bytes::Bytes::new(file.get(cb..2 * cb).unwrap_or(&[]), cb as u64);
            let why = DbHeader::parse(&why)
                .err()
                .map_or_else(|| "unknown".to_string(), |e| e.to_string());
            out.push(Finding {
                offset: cb as u64,
                page: None,
                problem: Problem::ShadowUnreadable(why),
            });
        }
    }
    if let Some(at) = copies.first_difference {
        let byte = |o: usize| file.get(o).copied().unwrap_or(0);
        out.push(Finding {
            offset: (cb + at) as u64,
            page: None,
            problem: Problem::HeaderCopiesDiffer {
                primary: byte(at),
                shadow: byte(cb + at),
            },
        });
    }
    out
}

/// The structure part of [`verify_file`], for a pass of its own that reads the file's pages in
/// order (`apply --out`'s, which reads with direct I/O and checks each page's checksum
/// itself): [`LeafCheck::new`] walks the trees (the catalog and branch pages, from `file`),
/// [`LeafCheck::page`] is handed every page in file order, and [`LeafCheck::findings`] are
/// what [`verify_file`] would find in the structure.
pub struct LeafCheck<'a> {
    layout: Layout<'a>,
    errors: TreeErrors,
    hint: OwnerHint,
}

impl<'a> LeafCheck<'a> {
    /// Walks the trees of `file` (the whole database, normally a memory map, of which only the
    /// catalog, branch pages and separated long values are read here); `on_read` is told of
    /// the file offset of each page read from `file`, by the walk and by the long-value
    /// lookups of the rows handed over.
    pub fn new(file: &'a [u8], on_read: &'a (dyn Fn(u64) + Sync)) -> LeafCheck<'a> {
        let layout = Layout::walk(file, on_read);
        let errors = TreeErrors::new(layout.trees.len());
        LeafCheck {
            layout,
            errors,
            hint: OwnerHint::default(),
        }
    }

    /// Page `pgno` (`bytes`, at file offset `offset`): read as [`verify_file`] reads it when
    /// it is a leaf of a tree.
    pub fn page(&mut self, pgno: u32, bytes: &[u8], offset: u64) {
        let Some(db) = &self.layout.db else {
            return;
        };
        if let Some(tree) = self.layout.leaf_of.tree_near(pgno, &mut self.hint) {
            let page = Page::parse(crate::bytes::Bytes::new(bytes, offset), pgno);
            self.layout.read_leaf(db, tree, page, &mut self.errors);
        }
    }

    /// The structure findings (none: the structure is sound), once every page was handed over.
    pub fn findings(self) -> Vec<Finding> {
        self.layout.findings(vec![self.errors])
    }
}

/// One tree of a table, as the structure check reads it.
struct Tree {
    /// Index of its table in the catalog.
    table: usize,
    /// The table's data tree (its leaves hold rows), else an index or long-value tree.
    rows: bool,
    objid: u32,
    /// Its name in findings ("table Msg index MsgFolderIndex").
    context: String,
}

/// The trees of a database, walked down to their leaves' parents: what the pass over the pages
/// needs to read each leaf where it lies (catalog, space and branch problems found on the way
/// are kept for the findings).
struct Layout<'a> {
    /// `None` when the database cannot be opened (the header findings say why).
    db: Option<Database<'a>>,
    tables: Vec<Table>,
    /// Per table, its fixed columns' bounds.
    fixed: Vec<FixedBounds>,
    trees: Vec<Tree>,
    /// Per tree, what stopped its walk.
    walk_errors: Vec<Option<EseError>>,
    /// Which tree links each leaf page.
    leaf_of: LeafOwners,
    /// Findings of the database space tree and the catalog.
    early: Vec<Finding>,
}

/// The fixed columns of a table as records hold them: for each `fidFixedLastInRec` (0 to
/// 127), the lowest offset and the highest end of the table's fixed columns up to that fid
/// (`None`: no such column), so that one comparison per record tells whether
/// [`Record::fixed`] can fail for any of them.
struct FixedBounds(Vec<Option<(usize, usize)>>);

impl FixedBounds {
    fn of(table: &Table) -> FixedBounds {
        use crate::ese::record::FID_FIXED_LAST;
        let last = usize::from(FID_FIXED_LAST);
        let mut at_fid: Vec<Option<(usize, usize)>> = vec![None; last + 1];
        for c in &table.columns {
            if let (Storage::Fixed, Some(offset), Some(size)) =
                (&c.storage, c.fixed_offset, c.fixed_size)
            {
                if let Some(slot) = at_fid.get_mut(usize::from(c.fid)).filter(|_| c.fid != 0) {
                    *slot = Some(merge(*slot, (offset, offset.saturating_add(size))));
                }
            }
        }
        let mut upto = None;
        let bounds = at_fid
            .into_iter()
            .map(|b| {
                if let Some(b) = b {
                    upto = Some(merge(upto, b));
                }
                upto
            })
            .collect();
        FixedBounds(bounds)
    }

    /// Whether every fixed column `record` holds (fids up to its `fidFixedLastInRec`) lies
    /// inside its fixed area, before the NULL bitmap.
    fn fit(&self, record: &Record) -> bool {
        use crate::ese::record::FIXED_DATA_START;
        let last = usize::from(record.fid_fixed_last);
        let Some(bounds) = self.0.get(last) else {
            return false;
        };
        let Some((lowest, highest)) = *bounds else {
            return true;
        };
        record
            .ib_end_fixed
            .checked_sub(last.div_ceil(8))
            .is_some_and(|end| lowest >= FIXED_DATA_START && highest <= end)
    }
}

/// The lowest start and the highest end of two byte ranges.
fn merge(a: Option<(usize, usize)>, b: (usize, usize)) -> (usize, usize) {
    a.map_or(b, |a| (a.0.min(b.0), a.1.max(b.1)))
}

/// Leaf page number → the index of the tree that links it. Kept as runs of consecutive pages
/// linked by one tree: a tree's leaves mostly follow each other, so a store has a few runs per
/// tree whatever its size, and the map stays the same few KiB from 1 to 16 GiB. Once the runs
/// would take more memory than one entry per page (a store whose trees interleave page by
/// page), it becomes one byte per page (four past 254 trees): 1 + the tree's index (0: no
/// tree links the page).
enum LeafOwners {
    Runs(Runs),
    Narrow(Vec<u8>),
    Wide(Vec<u32>),
}

/// Pages `start..end` linked by tree `tree`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u32,
    end: u32,
    tree: u32,
}

struct Runs {
    /// Pages `0..pages` may be linked.
    pages: u32,
    trees: usize,
    /// Finished runs by their first page: `start → (end, tree)`, none overlapping.
    done: std::collections::BTreeMap<u32, (u32, u32)>,
    /// The run the walk is extending (not in `done`), and the first page of the next run in
    /// `done` after it, which it must stop before.
    cur: Option<Run>,
    limit: u32,
}

/// Pages `lo..hi` share one owner (`None`: no tree): what the last lookup of one reader found,
/// so that pages looked up in order cost one comparison each.
#[derive(Clone, Copy, Debug, Default)]
struct OwnerHint {
    lo: u32,
    hi: u32,
    tree: Option<u32>,
}

/// Runs become a page map when there are more than one per this many pages (a run in the
/// tree map takes about 20 bytes).
const PAGES_PER_RUN_MOST: u32 = 32;

impl Runs {
    /// The run holding `pgno`, or the pages around it that no run holds.
    fn around(&self, pgno: u32) -> OwnerHint {
        if let Some(c) = self.cur.filter(|c| c.start <= pgno && pgno < c.end) {
            return OwnerHint {
                lo: c.start,
                hi: c.end,
                tree: Some(c.tree),
            };
        }
        let cur = self.cur.map(|c| (c.start, (c.end, c.tree)));
        let before = self
            .done
            .range(..=pgno)
            .next_back()
            .map(|(&s, &v)| (s, v))
            .into_iter()
            .chain(cur.filter(|c| c.0 <= pgno))
            .max_by_key(|r| r.0);
        if let Some((start, (end, tree))) = before.filter(|r| pgno < r.1 .0) {
            return OwnerHint {
                lo: start,
                hi: end,
                tree: Some(tree),
            };
        }
        let after = self
            .done
            .range(pgno..)
            .next()
            .map(|(&s, _)| s)
            .into_iter()
            .chain(cur.filter(|c| c.0 > pgno).map(|c| c.0))
            .min();
        OwnerHint {
            lo: before.map_or(0, |r| r.1 .0),
            hi: after.unwrap_or(u32::MAX),
            tree: None,
        }
    }

    fn link(&mut self, pgno: u32, tag: u32) -> bool {
        if let Some(c) = &mut self.cur {
            if c.start <= pgno && pgno < c.end {
                return c.tree == tag;
            }
            if pgno == c.end && c.tree == tag && pgno < self.limit {
                c.end += 1;
                return true;
            }
        }
        let found = self.around(pgno);
        if let Some(owner) = found.tree {
            return owner == tag;
        }
        if let Some(c) = self.cur.take() {
            self.done.insert(c.start, (c.end, c.tree));
        }
        self.cur = Some(Run {
            start: pgno,
            end: pgno + 1,
            tree: tag,
        });
        self.limit = self.done.range(pgno..).next().map_or(u32::MAX, |(&s, _)| s);
        true
    }

    /// Every run, as one entry per page: `1 + tree` (0: none).
    fn fill<T: Copy + Default + TryFrom<u32>>(&self) -> Vec<T> {
        let mut v = vec![T::default(); self.pages as usize];
        let runs = self.done.iter().map(|(&s, &(e, t))| (s, e, t));
        for (s, e, t) in runs.chain(self.cur.map(|c| (c.start, c.end, c.tree))) {
            let tag = T::try_from(t + 1).unwrap_or_default();
            v[s as usize..e as usize].fill(tag);
        }
        v
    }
}

impl LeafOwners {
    /// No page linked yet, for pages 0..=`last_pgno` and `trees` trees.
    fn new(last_pgno: u32, trees: usize) -> LeafOwners {
        LeafOwners::Runs(Runs {
            pages: if trees == 0 {
                0
            } else {
                last_pgno.saturating_add(1)
            },
            trees,
            done: std::collections::BTreeMap::new(),
            cur: None,
            limit: u32::MAX,
        })
    }

    /// The tree that links leaf `pgno`, if one does.
    #[cfg(test)]
    fn tree(&self, pgno: u32) -> Option<usize> {
        self.tree_near(pgno, &mut OwnerHint::default())
    }

    /// [`LeafOwners::tree`], through the hint of a reader that looks pages up in order.
    fn tree_near(&self, pgno: u32, hint: &mut OwnerHint) -> Option<usize> {
        let tag = match self {
            LeafOwners::Runs(r) => {
                if !(hint.lo <= pgno && pgno < hint.hi) {
                    *hint = r.around(pgno);
                }
                return hint.tree.map(|t| t as usize);
            }
            LeafOwners::Narrow(v) => v.get(pgno as usize).map(|&t| u32::from(t)),
            LeafOwners::Wide(v) => v.get(pgno as usize).copied(),
        };
        tag.filter(|&t| t != 0).map(|t| t as usize - 1)
    }

    /// Records that tree `tree` links leaf `pgno`: `false` when another tree links it (or the
    /// page is past the end).
    fn link(&mut self, pgno: u32, tree: usize) -> bool {
        let tag = tree as u32;
        match self {
            LeafOwners::Runs(r) => {
                if pgno >= r.pages {
                    return false;
                }
                let linked = r.link(pgno, tag);
                if r.done.len() as u32 > r.pages / PAGES_PER_RUN_MOST {
                    *self = if r.trees < usize::from(u8::MAX) {
                        LeafOwners::Narrow(r.fill())
                    } else {
                        LeafOwners::Wide(r.fill())
                    };
                }
                linked
            }
            // The width was chosen by the number of trees, so the tag fits.
            LeafOwners::Narrow(v) => match v.get_mut(pgno as usize) {
                Some(owner) if u32::from(*owner) == tag + 1 || *owner == 0 => {
                    *owner = (tag + 1) as u8;
                    true
                }
                _ => false,
            },
            LeafOwners::Wide(v) => match v.get_mut(pgno as usize) {
                Some(owner) if *owner == tag + 1 || *owner == 0 => {
                    *owner = tag + 1;
                    true
                }
                _ => false,
            },
        }
    }
}

/// What one part of the pass found in the trees' leaves: per tree, the first problem with a
/// leaf as a page of its tree, and the first node or row the readers could not read (each the
/// first in page order within the part).
#[derive(Default)]
struct TreeErrors {
    leaf: Vec<Option<EseError>>,
    read: Vec<Option<EseError>>,
}

impl TreeErrors {
    fn new(trees: usize) -> TreeErrors {
        TreeErrors {
            leaf: vec![None; trees],
            read: vec![None; trees],
        }
    }
}

fn finding(context: &str, e: &EseError) -> Finding {
    let (offset, page) = e.location();
    Finding {
        offset,
        page,
        problem: Problem::Structure(format!("{context}: {}", e.detail())),
    }
}

impl<'a> Layout<'a> {
    /// Reads the catalog and walks every tree it names (tables, indexes, long-value trees)
    /// down to the parents of its leaves: every branch page must be initialised, belong to its
    /// tree, and be reached once. The offset of each page read, here and by the long-value
    /// lookups of [`Layout::read_leaf`], is told to `on_read`.
    fn walk(file: &'a [u8], on_read: &'a (dyn Fn(u64) + Sync)) -> Layout<'a> {
        let mut layout = Layout {
            db: None,
            tables: Vec::new(),
            fixed: Vec::new(),
            trees: Vec::new(),
            walk_errors: Vec::new(),
            leaf_of: LeafOwners::new(0, 0),
            early: Vec::new(),
        };
        let Ok(db) = Database::open(file) else {
            return layout;
        };
        let db = db.observed(on_read);
        let mut push = |context: &str, e: EseError| layout.early.push(finding(context, &e));
        match crate::ese::space::database_last_owned_page(&db) {
            Ok(owned) if owned > db.last_pgno => {
                let end = db.page_offset(db.last_pgno.saturating_add(1));
                push(
                    "database space tree",
                    EseError::corrupt(
                        end,
                        None,
                        "file length",
                        format!("pages up to {owned} (the database owns them)"),
                        format!("the file ends after page {}", db.last_pgno),
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => push("database space tree", e),
        }
        let catalog = match Catalog::read(&db) {
            Ok(c) => c,
            Err(e) => {
                push("catalog (MSysObjects)", e);
                layout.db = Some(db);
                return layout;
            }
        };
        // Each table's trees: its rows first, then its indexes with trees of their own, then
        // its long values.
        let mut trees = Vec::new();
        for (ti, t) in catalog.tables.iter().enumerate() {
            trees.push((ti, true, format!("table {}", t.name), t.pgno_fdp, t.objid));
            for i in t.indexes.iter().filter(|i| i.pgno_fdp != t.pgno_fdp) {
                let context = format!("table {} index {}", t.name, i.name);
                trees.push((ti, false, context, i.pgno_fdp, i.objid));
            }
            if let Some((pgno, objid)) = t.long_values {
                trees.push((
                    ti,
                    false,
                    format!("table {} long values", t.name),
                    pgno,
                    objid,
                ));
            }
        }
        layout.leaf_of = LeafOwners::new(db.last_pgno, trees.len());
        for (index, (table, rows, context, root, objid)) in trees.into_iter().enumerate() {
            let leaf_of = &mut layout.leaf_of;
            let walked = db.tree_leaves(root, objid, &mut |pgno| {
                if leaf_of.link(pgno, index) {
                    Ok(())
                } else {
                    Err(EseError::Tree {
                        offset: db.page_offset(pgno),
                        pgno,
                        objid,
                        what: "leaf page linked into another tree too",
                    })
                }
            });
            layout.walk_errors.push(walked.err());
            layout.trees.push(Tree {
                table,
                rows,
                objid,
                context,
            });
        }
        layout.fixed = catalog.tables.iter().map(FixedBounds::of).collect();
        layout.tables = catalog.tables;
        layout.db = Some(db);
        layout
    }

    /// Checks `page`, a leaf of tree `t`, as a page of its tree, then reads its nodes as the
    /// readers do ([`read_row`] for a table's rows); the first problem of each kind per tree
    /// is kept in `errors`.
    fn read_leaf(
        &self,
        db: &Database,
        t: usize,
        page: Result<Page, EseError>,
        errors: &mut TreeErrors,
    ) {
        if errors.leaf[t].is_some() || self.walk_errors[t].is_some() {
            return;
        }
        let tree = &self.trees[t];
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                errors.leaf[t] = Some(e);
                return;
            }
        };
        if let Some(e) = leaf_problem(&page, tree, db.header.revision) {
            errors.leaf[t] = Some(e);
            return;
        }
        if errors.read[t].is_some() {
            return;
        }
        let table = &self.tables[tree.table];
        // The rows' tagged columns, decoded into one vector page by page.
        let mut tagged = Vec::new();
        for itag in page.line_tags() {
            let read = Node::parse(&page, itag).and_then(|node| {
                if tree.rows && !node.is_deleted() {
                    read_row(db, table, &self.fixed[tree.table], &page, node, &mut tagged)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = read {
                errors.read[t] = Some(e);
                return;
            }
        }
    }

    /// The structure findings, given what each part of the pass found (in page order): each
    /// tree that could not be walked, or one of whose leaves is not a page of it, is one
    /// finding; a table whose trees all hold, one finding for the first node or row the
    /// readers could not read (its rows first, then its indexes and long values).
    fn findings(self, parts: Vec<TreeErrors>) -> Vec<Finding> {
        // Per tree, what broke it as a tree (its walk, else its first bad leaf), and the first
        // node or row that could not be read; the parts are in page order.
        let mut broken = self.walk_errors;
        let mut read: Vec<Option<EseError>> = vec![None; self.trees.len()];
        for part in parts {
            let each = broken
                .iter_mut()
                .zip(part.leaf)
                .chain(read.iter_mut().zip(part.read));
            for (kept, found) in each {
                if kept.is_none() {
                    *kept = found;
                }
            }
        }
        let mut out = self.early;
        let mut first = 0;
        for (t, tree) in self.trees.iter().enumerate() {
            if let Some(e) = &broken[t] {
                out.push(finding(&tree.context, e));
            }
            // The table's last tree: one finding for its first unreadable node or row, when
            // all its trees hold.
            if self
                .trees
                .get(t + 1)
                .is_some_and(|next| next.table == tree.table)
            {
                continue;
            }
            let trees = first..t + 1;
            first = t + 1;
            if broken[trees.clone()].iter().any(Option::is_some) {
                continue;
            }
            if let Some((u, e)) = trees
                .clone()
                .zip(&read[trees])
                .find_map(|(u, e)| Some((u, e.as_ref()?)))
            {
                let context = if self.trees[u].rows {
                    format!("table {} rows", self.tables[tree.table].name)
                } else {
                    self.trees[u].context.clone()
                };
                out.push(finding(&context, e));
            }
        }
        out
    }
}

/// What is wrong with a page linked into `tree` as a leaf, as a page of that tree: all zero,
/// another object's, not a leaf (its parent says its children are leaves), a leaf of rows
/// flagged as an index, long-value or space-tree page (which the patch would pass over), or,
/// in an ESE97 file, tags reserved as only later engines reserve them (which would hide lines
/// from the readers).
fn leaf_problem(page: &Page, tree: &Tree, revision: u32) -> Option<EseError> {
    use crate::ese::page::{flags, offsets};
    let h = &page.header;
    let wrong = |what| {
        Some(EseError::Tree {
            offset: page.offset(),
            pgno: page.pgno,
            objid: tree.objid,
            what,
        })
    };
    if h.flags == 0 && h.checksum == 0 {
        return wrong("page is uninitialised (all zero) but linked into the tree");
    }
    if h.objid_fdp != tree.objid {
        return Some(EseError::corrupt(
            page.offset() + offsets::OBJID_FDP as u64,
            Some(page.pgno),
            "page objidFDP",
            tree.objid.to_string(),
            h.objid_fdp.to_string(),
        ));
    }
    if !h.has(flags::LEAF) {
        return wrong("page is linked as a leaf (its parent is flagged parent-of-leaf) but is not flagged a leaf");
    }
    if tree.rows && h.flags & (flags::INDEX | flags::LONG_VALUE | flags::SPACE_TREE) != 0 {
        return wrong(
            "leaf of the table's rows flagged as an index, long-value or space-tree page",
        );
    }
    if revision <= crate::ese::patch::ESE97_LAST_REVISION && h.reserved_tags() > 1 {
        return wrong("page reserves tags (itagState bits 12 to 14), which ESE97 pages never do");
    }
    None
}

/// Reads one row as the readers do: every column of `table` decoded, every separated long
/// value followed into the long-value tree. `tagged` is scratch for the row's tagged columns.
fn read_row<'a>(
    db: &Database,
    table: &Table,
    fixed: &FixedBounds,
    page: &Page<'a>,
    node: Node<'a>,
    tagged: &mut Vec<TaggedColumn<'a>>,
) -> Result<(), EseError> {
    let record = Record::parse(node.data, db.record_form(page))?;
    // When every fixed column the record can hold lies inside its fixed area, no fixed column
    // can fail to read; else each is read, for the error of the first that fails.
    let fixed_fit = fixed.fit(&record);
    // The tagged area decoded once, at the first tagged column (where a reader asking for that
    // column by fid would decode it, and fail).
    let mut decoded = false;
    for c in &table.columns {
        match c.storage {
            Storage::Fixed if fixed_fit => {}
            Storage::Fixed => {
                if let (Some(offset), Some(size)) = (c.fixed_offset, c.fixed_size) {
                    record.fixed(c.fid, offset, size)?;
                }
            }
            Storage::Variable => {
                record.variable(c.fid)?;
            }
            Storage::Tagged => {
                if !decoded {
                    record.tagged_into(tagged)?;
                    decoded = true;
                }
                let column = tagged.iter().find(|t| t.fid == c.fid);
                for inst in column.iter().flat_map(|col| col.instances.iter()) {
                    if inst.separated {
                        read_long_value(db, table, inst.data)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The pass over the pages: split into `threads` runs of pages in order, each checking every
/// page's checksum and reading the leaves of `layout`'s trees where they lie
/// ([`Layout::read_leaf`]). `progress` is told of the pages each run passes.
fn pass(
    file: &[u8],
    header: &DbHeader,
    layout: &Layout,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<PagesChecked> {
    let cb = u64::from(header.page_size);
    let pages = (file.len() as u64 / cb).saturating_sub(RESERVED_PAGES);
    let threads = threads.clamp(1, 64) as u64;
    let per = pages.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let first = 1 + t * per;
                let last = ((t + 1) * per).min(pages);
                s.spawn(move || check_pages(file, header, layout, first, last, progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| PagesChecked {
                    findings: vec![internal_error("page checks")],
                    ..PagesChecked::default()
                })
            })
            .collect()
    })
}

/// How many pages to check between progress reports.
const PROGRESS_STEP: u64 = 1024;

/// What one page-checking thread found.
#[derive(Default)]
struct PagesChecked {
    zero: u64,
    findings: Vec<Finding>,
    notes: Vec<Finding>,
    max_dbtime: u64,
    trees: TreeErrors,
}

/// Checks pages `first..=last`: each page's checksum, format and dbtime, and each leaf of
/// `layout`'s trees among them as a page of its tree and node by node.
fn check_pages(
    file: &[u8],
    header: &DbHeader,
    layout: &Layout,
    first: u64,
    last: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> PagesChecked {
    let cb = u64::from(header.page_size);
    let mut out = PagesChecked {
        trees: TreeErrors::new(layout.trees.len()),
        ..PagesChecked::default()
    };
    let mut since = 0;
    let mut hint = OwnerHint::default();
    let mut pgno = first;
    while pgno <= last {
        let start = (pgno + RESERVED_PAGES - 1) * cb;
        let Some(page) = file.get(start as usize..(start + cb) as usize) else {
            break;
        };
        // Page numbers fit u32 for every file whose header parsed (pages ≤ 2^32 by format).
        let pg = pgno as u32;
        match check_page(page, pg) {
            PageCheck::Uninitialised => out.zero += 1,
            PageCheck::Good(_) => {
                if let Some(flags) = crate::ese::patch::newer_page_flags(page, header.revision) {
                    out.findings.push(Finding {
                        offset: start + crate::ese::page::offsets::FLAGS as u64,
                        page: Some(pg),
                        problem: Problem::NewerPageFormat {
                            flags,
                            revision: header.revision,
                        },
                    });
                }
                let dbtime = page_dbtime_note(page, pg, start, header, &mut out.notes);
                out.max_dbtime = out.max_dbtime.max(dbtime);
            }
            PageCheck::Bad(format, mismatches) => {
                for mismatch in mismatches {
                    out.findings.push(Finding {
                        offset: start + mismatch.at as u64,
                        page: Some(pg),
                        problem: Problem::PageChecksum { format, mismatch },
                    });
                }
            }
        }
        // After the checksum, which reads the page front to back: the leaf is in the cache.
        if let (Some(db), Some(tree)) = (&layout.db, layout.leaf_of.tree_near(pg, &mut hint)) {
            let page = Page::parse(crate::bytes::Bytes::new(page, start), pg);
            layout.read_leaf(db, tree, page, &mut out.trees);
        }
        since += 1;
        if since == PROGRESS_STEP {
            progress(since);
            since = 0;
        }
        pgno += 1;
    }
    progress(since);
    out
}

/// The dbtime of a page whose checksum is good; a note when it is above a clean database's
/// header dbtime (not damage: Windows leaves such pages in cleanly shut-down files).
fn page_dbtime_note(
    page: &[u8],
    pgno: u32,
    start: u64,
    header: &DbHeader,
    out: &mut Vec<Finding>,
) -> u64 {
    let dbtime = page
        .get(PAGE_DBTIME_OFFSET..PAGE_DBTIME_OFFSET + 8)
        .map_or(0, LittleEndian::read_u64);
    // A dirty database's header dbtime may lag behind its pages; only a clean one is held to it.
    if header.state == DbState::CLEAN_SHUTDOWN && dbtime > header.dbtime {
        out.push(Finding {
            offset: start + PAGE_DBTIME_OFFSET as u64,
            page: Some(pgno),
            problem: Problem::PageDbtimeAhead {
                page: dbtime,
                header: header.dbtime,
            },
        });
    }
    dbtime
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::checksum::{stamp_header, stamp_page};

    #[test]
    fn each_leaf_page_is_linked_by_one_tree_whatever_the_number_of_trees() {
        for trees in [1, 254, 255, 70_000] {
            let mut leaves = LeafOwners::new(9, trees);
            let last = trees - 1;
            assert!(leaves.link(3, last));
            assert!(leaves.link(3, last), "the same tree again");
            if trees > 1 {
                assert!(!leaves.link(3, 0), "{trees} trees: another tree");
            }
            assert!(!leaves.link(10, 0), "past the last page");
            assert_eq!(leaves.tree(3), Some(last));
            assert_eq!(leaves.tree(4), None);
            assert_eq!(leaves.tree(10), None);
        }
    }

    /// The runs answer as one entry per page would, link by link and page by page (looked up
    /// alone and in order through a hint), for trees whose leaves follow each other (a few
    /// runs) and for trees interleaved page by page (the runs become a page map, one byte or
    /// four per page by the number of trees).
    #[test]
    fn the_leaf_runs_answer_as_a_map_of_every_page() {
        let pages = 4096u32;
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        for (trees, interleaved) in [(5usize, false), (5, true), (300, true), (300, false)] {
            let mut leaves = LeafOwners::new(pages - 1, trees);
            let mut model: Vec<Option<usize>> = vec![None; pages as usize];
            for round in 0..6000u32 {
                let tree = next(trees as u32) as usize;
                let (first, len) = if interleaved {
                    (next(pages + 8), 1)
                } else {
                    (next(pages + 8), 1 + next(200))
                };
                for pgno in first..first + len {
                    let want = match model.get(pgno as usize) {
                        None => false,
                        Some(None) => true,
                        Some(Some(t)) => *t == tree,
                    };
                    assert_eq!(leaves.link(pgno, tree), want, "round {round}, page {pgno}");
                    if want {
                        model[pgno as usize] = Some(tree);
                    }
                }
            }
            let dense = !matches!(leaves, LeafOwners::Runs(_));
            assert_eq!(
                dense, interleaved,
                "{trees} trees, interleaved {interleaved}"
            );
            if dense {
                assert_eq!(matches!(leaves, LeafOwners::Narrow(_)), trees < 255);
            }
            let mut hint = OwnerHint::default();
            for pgno in 0..pages + 8 {
                let want = model.get(pgno as usize).copied().flatten();
                assert_eq!(leaves.tree(pgno), want, "page {pgno}");
                assert_eq!(
                    leaves.tree_near(pgno, &mut hint),
                    want,
                    "page {pgno}, in order"
                );
            }
        }
    }

    fn basic() -> Vec<u8> {
        crate::ese::samples::gunzipped("basic.edb.gz")
    }

    /// A page dirtied after the database's dbtime is a note for a clean database (with its
    /// checksum restamped, nothing else is wrong; Windows leaves such pages), not an error,
    /// and tolerated silently for a dirty one. The maximum page dbtime is reported.
    #[test]
    fn page_dbtime_ahead_of_the_header_is_a_note_when_clean() {
        let mut file = basic();
        let cb = 4096;
        let header_dbtime = DbHeader::parse(&crate::bytes::Bytes::new(&file, 0))
            .unwrap()
            .dbtime;
        let off = 6 * cb; // page 5
        file[off + PAGE_DBTIME_OFFSET..off + PAGE_DBTIME_OFFSET + 8]
            .copy_from_slice(&(header_dbtime + 5).to_le_bytes());
        stamp_page(&mut file[off..off + cb], 5);
        let report = verify_file(&file, 2, &|_| {}).unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert_eq!(report.notes[0].page, Some(5));
        assert_eq!(report.notes[0].offset, (off + PAGE_DBTIME_OFFSET) as u64);
        assert_eq!(report.max_page_dbtime, header_dbtime + 5);

        for copy in [0, cb] {
            file[copy + 52] = 2; // dirty shutdown
            stamp_header(&mut file[copy..copy + cb]);
        }
        let report = verify_file(&file, 1, &|_| {}).unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert!(report.notes.is_empty());
        assert_eq!(report.header.state, DbState::DIRTY_SHUTDOWN);
    }
}
