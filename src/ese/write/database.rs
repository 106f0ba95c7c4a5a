//! `build_database`: plans the schema, streams every table's rows into its tree, builds the
//! secondary indexes, then writes the catalog, the space trees of the database root and the
//! header.
//!
//! File layout (page numbers):
//!
//! * 1, 2, 3: database root and its owned/available space trees (reference §6).
//! * 4..=23: `MSysObjects` (root 4, space trees 5–6), its `Name` index (7–9) and `RootObjects`
//!   index (10–12), their other pages from 13 up; unused pages there stay zero
//!   (uninitialised, listed in the catalog's available extent).
//! * 24..: `MSysObjectsShadow` (root 24, space trees 25–26, then its pages).
//! * then one contiguous run per user table: its root and space trees (reserved first, written
//!   last), its leaf and branch pages, then per secondary index the index's pages, root and
//!   space trees. A table owns its whole run; an index owns its part (`pgnoParent` = the table).
//!
//! The parts live in [`super::table`] (one user table) and [`super::system`] (the catalog area).
//! Only the current page of each tree level and at most a budget of the secondary-index entries
//! of the table being written are held in memory; more spill to temporary files in the output
//! file's directory (see [`super::entries`]).

use super::catalog::{CATALOG_EXTENT_LAST, CATALOG_FREE_FIRST};
use super::entries::{SortSettings, SortStats, SORT_BUDGET};
use super::error::BuildError;
use super::file::{CountingSink, PageFile, SystemArea};
use super::header::{header_page, HeaderFacts};
use super::page::PAGE_SIZE;
use super::space::{space_header, write_space_trees, Extent};
use super::system::{
    build_catalog_trees, build_shadow_tree, write_catalog, write_shadow, SystemTables,
};
use super::table::{write_table, TablePlan, ROOT_AND_SPACE_PAGES};
use super::tree::{write_root, RootPage, TreeSpec};
use super::{BuildOptions, BuildReport, Format, TableInput, TreeReport};
use crate::ese::catalog::{
    NAME_MSYSOBJECTS, NAME_MSYSOBJECTS_SHADOW, OBJID_FIRST_USER, PGNO_CATALOG_SHADOW,
};
use crate::ese::header::COMPUTER_NAME_MAX;
use crate::ese::page::flags as page_flags;
use crate::ese::space::{DB_ROOT_OBJID, DB_ROOT_OE_PGNO, DB_ROOT_PGNO};
use std::path::{Path, PathBuf};

fn validate_options(opts: &BuildOptions) -> Result<(), BuildError> {
    let n = &opts.computer_name;
    if n.len() > COMPUTER_NAME_MAX || !n.is_ascii() {
        return Err(BuildError::Schema(format!(
            "computer name {n:?} must be at most {COMPUTER_NAME_MAX} ASCII characters"
        )));
    }
    Ok(())
}

/// Flags on every page of a form: ESE98 pages carry `fPageNewRecordFormat`, ESE97 pages none.
fn base_flags(format: Format) -> u32 {
    match format {
        Format::Ese97 => 0,
        Format::Ese98 => page_flags::NEW_RECORD_FORMAT,
    }
}

/// Writes a complete database to `out` (see the module documentation for the layout).
pub fn build_database(
    out: &Path,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
) -> Result<BuildReport, BuildError> {
    build_database_with_sort_budget(out, opts, tables, SORT_BUDGET).map(|(report, _)| report)
}

/// [`build_database`] with the memory for each table's secondary-index entries limited to
/// `sort_budget` bytes instead of [`SORT_BUDGET`]; also says what was spilled to disk. For tests
/// of the spill path (a tiny budget) and measurements; the output is the same bytes whatever the
/// budget.
#[doc(hidden)]
pub fn build_database_with_sort_budget(
    out: &Path,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
    sort_budget: usize,
) -> Result<(BuildReport, SortStats), BuildError> {
    validate_options(opts)?;
    let format = opts.format;
    let base = base_flags(format);
    let mut next_objid = OBJID_FIRST_USER;
    let mut plans = Vec::with_capacity(tables.len());
    for t in &tables {
        if plans.iter().any(|p: &TablePlan| p.def.name == t.def.name)
            || t.def.name == NAME_MSYSOBJECTS
            || t.def.name == NAME_MSYSOBJECTS_SHADOW
        {
            return Err(BuildError::Schema(format!(
                "duplicate table name {}",
                t.def.name
            )));
        }
        plans.push(TablePlan::new(&t.def, &mut next_objid)?);
    }
    let objid_last = next_objid - 1;
    let system = SystemTables::new(format);

    // Size the catalog with the final row sizes (page numbers are fixed-width fields).
    let sizing_rows = system.rows(format, 0, &plans);
    let mut count = CountingSink::default();
    build_catalog_trees(&mut count, base, &sizing_rows)?;
    let catalog_pages = count.allocated;
    if catalog_pages > CATALOG_EXTENT_LAST - CATALOG_FREE_FIRST + 1 {
        return Err(BuildError::Schema(format!(
            "the catalog needs {catalog_pages} pages besides its roots, more than the {} of its fixed area: too many tables, columns or indexes",
            CATALOG_EXTENT_LAST - CATALOG_FREE_FIRST + 1
        )));
    }
    let mut count = CountingSink::default();
    build_shadow_tree(&mut count, base, &sizing_rows)?;
    let shadow_last = PGNO_CATALOG_SHADOW + ROOT_AND_SPACE_PAGES - 1 + count.allocated;
    drop(sizing_rows);

    let file = PageFile::create(out, shadow_last + 1)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut layout = Layout {
        plans,
        system,
        catalog_pages,
        shadow_last,
        objid_last,
        sort: SortSettings {
            budget: sort_budget,
            dir,
        },
    };
    let result = write_everything(file, opts, tables, &mut layout);
    if result.is_err() {
        // Leave no half-written database behind.
        let _ = std::fs::remove_file(out);
    }
    result
}

/// What is decided before the first page is written.
struct Layout {
    plans: Vec<TablePlan>,
    system: SystemTables,
    /// Pages the catalog trees take besides their roots (in 13..=23).
    catalog_pages: u32,
    /// The shadow catalog's last page; user data starts after it.
    shadow_last: u32,
    objid_last: u32,
    sort: SortSettings,
}

/// Everything after the file is created: tables, catalog, database root, header.
fn write_everything(
    mut file: PageFile,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
    layout: &mut Layout,
) -> Result<(BuildReport, SortStats), BuildError> {
    let Layout {
        plans,
        system,
        catalog_pages,
        shadow_last,
        objid_last,
        sort,
    } = layout;
    let (catalog_pages, shadow_last, objid_last) = (*catalog_pages, *shadow_last, *objid_last);
    let format = opts.format;
    let base = base_flags(format);
    let mut report = BuildReport::default();
    let mut stats = SortStats::default();
    for (input, plan) in tables.into_iter().zip(plans.iter_mut()) {
        stats.add(write_table(
            &mut file, format, base, plan, input.rows, sort,
        )?);
        report.rows.push((plan.def.name.clone(), plan.rows));
        report.trees.push(TreeReport {
            table: plan.def.name.clone(),
            index: None,
            objid: plan.objid,
            root: plan.pgno_fdp,
            shape: plan.shape.clone(),
        });
        for s in &plan.secondaries {
            report.trees.push(TreeReport {
                table: plan.def.name.clone(),
                index: Some(s.def.name.clone()),
                objid: s.objid,
                root: s.pgno_fdp,
                shape: s.shape.clone(),
            });
        }
    }
    let last_pgno = file.last_allocated();

    // The catalog, now that every root page is known.
    let shadow_pages = shadow_last - PGNO_CATALOG_SHADOW + 1;
    let rows = system.rows(format, shadow_pages, plans);
    write_catalog(&mut file, format, base, &rows, catalog_pages)?;
    write_shadow(&mut file, format, base, &rows, shadow_last)?;

    // The database root owns everything; all of it is handed out to the trees.
    let db_root = RootPage {
        nodes: Default::default(),
        is_leaf: true,
        parent_of_leaf: false,
    };
    let spec = TreeSpec {
        objid: DB_ROOT_OBJID,
        page_flags: base,
        non_unique: false,
    };
    let header = space_header(last_pgno, 0, false, DB_ROOT_OE_PGNO);
    let mut area = SystemArea {
        file: &mut file,
        next: 0,
        last: 0,
        used: Vec::new(),
    };
    write_root(&mut area, spec, &db_root, DB_ROOT_PGNO, &header)?;
    write_space_trees(
        &mut area,
        DB_ROOT_OBJID,
        base,
        format == Format::Ese98,
        DB_ROOT_OE_PGNO,
        &[Extent {
            first: DB_ROOT_PGNO,
            last: last_pgno,
        }],
        &[],
    )?;

    let facts = HeaderFacts {
        dbtime: file.dbtime_now() + 1,
        objid_last,
    };
    let header = header_page(opts, facts);
    file.write_at(0, &header)?;
    file.write_at(PAGE_SIZE as u64, &header)?;
    let pages = file.finish()?;
    debug_assert_eq!(pages, last_pgno);
    report.pages = u64::from(pages) + 2;
    report.bytes = report.pages * PAGE_SIZE as u64;
    Ok((report, stats))
}
