//! Whole-file verification: both header copies and every page checksum.
//!
//! Works on the bytes of a whole file (normally a memory map). The page loop is split over
//! threads by page range; each thread only reads, and findings are merged in page order.
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
use crate::ese::record::Record;
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
    verify_file_observed(file, threads, progress, &|_| {})
}

/// [`verify_file`], telling `on_pages` of every page read — by the checksum threads (with
/// `progress`) and by the structure walk (one at a time) — so that a memory map can release
/// what was read as the check goes.
pub fn verify_file_observed(
    file: &[u8],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
    on_pages: &(dyn Fn(u64) + Sync),
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
    let threads = threads.clamp(1, 64) as u64;
    let per = pages.div_ceil(threads).max(1);
    let mut uninitialised = 0;
    // The structure walk reads only the pages its trees link (headers and branch nodes), so
    // it runs beside the checksum threads rather than after them.
    let (results, structure): (Vec<PagesChecked>, Vec<Finding>) = std::thread::scope(|s| {
        let walk = s.spawn(|| structure_findings(file, threads as usize, on_pages));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let first = 1 + t * per;
                let last = ((t + 1) * per).min(pages);
                let header = &header;
                let both = move |n: u64| {
                    on_pages(n);
                    progress(n)
                };
                s.spawn(move || check_pages(file, header, first, last, &both))
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| PagesChecked {
                    findings: vec![internal_error("page checks")],
                    ..PagesChecked::default()
                })
            })
            .collect();
        let walk = walk
            .join()
            .unwrap_or_else(|_| vec![internal_error("structure walk")]);
        (results, walk)
    });
    let mut notes = Vec::new();
    let mut max_page_dbtime = 0;
    for mut r in results {
        uninitialised += r.zero;
        findings.append(&mut r.findings);
        notes.append(&mut r.notes);
        max_page_dbtime = max_page_dbtime.max(r.max_dbtime);
    }
    findings.extend(structure);
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

/// The structure part of [`verify_file`] alone (no page checksums): what `apply --out` checks
/// before it writes, its own pass checking the checksums of the pages it reads.
pub fn structure_check(
    file: &[u8],
    threads: usize,
    on_pages: &(dyn Fn(u64) + Sync),
) -> Vec<Finding> {
    structure_findings(file, threads, on_pages)
}

/// Walks the catalog and every tree it names (tables, indexes, long-value trees): every linked
/// page must be initialised, belong to its tree, and be reached once; then each table is read
/// as the readers read it ([`read_table`], on `threads` threads). Each tree or table that
/// cannot be read is one finding.
fn structure_findings(
    file: &[u8],
    threads: usize,
    on_pages: &(dyn Fn(u64) + Sync),
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |context: String, e: EseError| {
        let (offset, page) = e.location();
        out.push(Finding {
            offset,
            page,
            problem: Problem::Structure(format!("{context}: {}", e.detail())),
        });
    };
    let Ok(db) = Database::open(file).map(|db| db.observed(on_pages)) else {
        return out;
    };
    match crate::ese::space::database_last_owned_page(&db) {
        Ok(owned) if owned > db.last_pgno => {
            let end = db.page_offset(db.last_pgno.saturating_add(1));
            push(
                "database space tree".to_string(),
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
        Err(e) => push("database space tree".to_string(), e),
    }
    let catalog = match Catalog::read(&db) {
        Ok(c) => c,
        Err(e) => {
            push("catalog (MSysObjects)".to_string(), e);
            return out;
        }
    };
    for t in &catalog.tables {
        let mut trees = vec![(format!("table {}", t.name), t.pgno_fdp, t.objid)];
        for i in &t.indexes {
            if i.pgno_fdp != t.pgno_fdp {
                trees.push((
                    format!("table {} index {}", t.name, i.name),
                    i.pgno_fdp,
                    i.objid,
                ));
            }
        }
        if let Some((pgno, objid)) = t.long_values {
            trees.push((format!("table {} long values", t.name), pgno, objid));
        }
        let mut pages = Vec::new();
        for (context, root, objid) in trees {
            match db.tree_pages(root, objid) {
                Ok(p) => pages.push((context, objid, p)),
                Err(e) => push(context, e),
            }
        }
        // What the readers read (inspect's row counts, the census, the patch pass): every
        // node of every leaf, every row's columns, every separated long value. Whatever they
        // would reject is a finding here (a page whose checksum was made to fit still holds
        // a node or record that cannot be read).
        if pages.len() == trees_of(t) {
            if let Err((context, e)) = read_table(&db, t, &pages, threads) {
                push(context, e);
            }
        }
    }
    out
}

/// The trees of `table` [`structure_findings`] walks: its data tree, each index with a tree
/// of its own, its long values.
fn trees_of(table: &Table) -> usize {
    1 + table
        .indexes
        .iter()
        .filter(|i| i.pgno_fdp != table.pgno_fdp)
        .count()
        + usize::from(table.long_values.is_some())
}

/// Reads `table` as the readers do, given its trees' pages (`trees`: the data tree first, as
/// [`Database::tree_pages`] lists them): every row decoded column by column (separated long
/// values followed into the long-value tree), every node of its index and long-value trees.
/// The leaves are shared out among `threads` threads; the error reported is the first in
/// page order, as one walk would meet it.
fn read_table(
    db: &Database,
    table: &Table,
    trees: &[(String, u32, Vec<u32>)],
    threads: usize,
) -> Result<(), (String, EseError)> {
    let row = |page: &Page, node: Node| -> Result<(), EseError> {
        let record = Record::parse(node.data, db.record_form(page))?;
        for c in &table.columns {
            match c.storage {
                Storage::Fixed => {
                    if let (Some(offset), Some(size)) = (c.fixed_offset, c.fixed_size) {
                        record.fixed(c.fid, offset, size)?;
                    }
                }
                Storage::Variable => {
                    record.variable(c.fid)?;
                }
                Storage::Tagged => {
                    let column = record.tagged_column(c.fid)?;
                    for inst in column.iter().flat_map(|col| col.instances.iter()) {
                        if inst.separated {
                            read_long_value(db, table, inst.data)?;
                        }
                    }
                }
            }
        }
        Ok(())
    };
    let node_only = |_: &Page, _: Node| Ok(());
    for (i, (context, objid, pages)) in trees.iter().enumerate() {
        let context = if i == 0 {
            format!("table {} rows", table.name)
        } else {
            context.clone()
        };
        let visit: &(dyn Fn(&Page, Node) -> Result<(), EseError> + Sync) =
            if i == 0 { &row } else { &node_only };
        read_leaves(db, *objid, pages, threads, visit).map_err(|e| (context, e))?;
    }
    Ok(())
}

/// Every node of the leaves among `pages` (a tree's pages, owned by `objid`), deleted ones
/// skipped as a walk skips them, handed to `visit`, on `threads` threads: each takes a run
/// of the pages in order, and the first error in page order is the one returned.
fn read_leaves(
    db: &Database,
    objid: u32,
    pages: &[u32],
    threads: usize,
    visit: &(dyn Fn(&Page, Node) -> Result<(), EseError> + Sync),
) -> Result<(), EseError> {
    let read = |run: &[u32]| -> Result<(), EseError> {
        for &pgno in run {
            let page = db.page(pgno, 0, "leaf page")?;
            if !page.header.has(crate::ese::page::flags::LEAF) || page.header.objid_fdp != objid {
                continue;
            }
            for itag in page.line_tags() {
                let node = Node::parse(&page, itag)?;
                if !node.is_deleted() {
                    visit(&page, node)?;
                }
            }
        }
        Ok(())
    };
    let per = pages.len().div_ceil(threads.max(1)).max(1);
    if pages.len() <= per {
        return read(pages);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = pages
            .chunks(per)
            .map(|run| s.spawn(move || read(run)))
            .collect();
        // Joined in order: the first run's error is the first in page order.
        let mut first = Ok(());
        for h in handles {
            // A panic here is a bug: it goes on to the structure walk's own thread, which
            // reports it as an internal error.
            let r = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if first.is_ok() {
                first = r;
            }
        }
        first
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
}

/// Checks pages `first..=last`.
fn check_pages(
    file: &[u8],
    header: &DbHeader,
    first: u64,
    last: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> PagesChecked {
    let cb = u64::from(header.page_size);
    let mut out = PagesChecked::default();
    let mut since = 0;
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
    use std::io::Read;

    fn basic() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/samples/ese/basic.edb.gz"
        );
        let gz = std::fs::read(path).expect("ESE sample beside the checkout");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
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
