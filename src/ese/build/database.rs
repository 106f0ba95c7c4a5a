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
//! Only the current page of each tree level and the secondary-index entries of the table being
//! written are held in memory (see [`super::entries`]).

use super::catalog::{
    catalog_def, catalog_rows, CatalogIndex, CatalogRow, CatalogTable, CATALOG_EXTENT_LAST,
    CATALOG_FREE_FIRST, IDB_ALLOW_ALL_NULLS, IDB_ALLOW_FIRST_NULL, IDB_ALLOW_SOME_NULLS,
    IDB_NO_NULL_SEG, IDB_PRIMARY, IDB_UNIQUE, NAME_MSYSOBJECTS, NAME_MSYSOBJECTS_SHADOW,
    OBJID_CATALOG, OBJID_CATALOG_NAME_INDEX, OBJID_CATALOG_ROOT_OBJECTS, OBJID_CATALOG_SHADOW,
    OBJID_FIRST_USER, OBJID_SYSTEM_ROOT, PGNO_CATALOG, PGNO_CATALOG_NAME_INDEX,
    PGNO_CATALOG_ROOT_OBJECTS, PGNO_CATALOG_SHADOW, PGNO_SYSTEM_ROOT, PGNO_SYSTEM_ROOT_OE,
};
use super::entries::EntryBuffer;
use super::error::{hex, BuildError};
use super::file::{page_offset, CountingSink, PageFile, SystemArea};
use super::header::{header_page, HeaderFacts, COMPUTER_NAME_MAX};
use super::key::{indexable, push_segment, KeyError, KEY_MOST};
use super::page::{
    PAGE_FLAG_INDEX, PAGE_FLAG_NEW_RECORD_FORMAT, PAGE_FLAG_NON_UNIQUE_KEYS, PAGE_SIZE,
};
use super::record::{describe, encoded_text_len, RecordLayout};
use super::space::{extents_of, space_header, write_space_trees, Extent};
use super::tree::{write_root, PageSink, RootPage, TreeShape, TreeSpec, TreeWriter};
use super::{
    BuildOptions, BuildReport, ColumnType, Format, IndexDef, Storage, TableDef, TableInput,
    TreeReport, Value,
};
use std::path::Path;

/// Pages of a multiple-extent tree's root and its two space-tree roots.
const ROOT_AND_SPACE_PAGES: u32 = 3;

/// One key segment: column position in the row, direction, and how to normalise it.
#[derive(Clone, Debug)]
struct Segment {
    col: usize,
    ascending: bool,
    coltyp: ColumnType,
    storage: Storage,
    fid: u16,
}

#[derive(Clone, Debug)]
struct KeyPlan {
    segments: Vec<Segment>,
}

impl KeyPlan {
    fn new(table: &TableDef, layout: &RecordLayout, ix: &IndexDef) -> Result<KeyPlan, BuildError> {
        if ix.columns.is_empty() {
            return Err(BuildError::Schema(format!(
                "table {}: index {} has no columns",
                table.name, ix.name
            )));
        }
        let mut segments = Vec::new();
        for (name, ascending) in &ix.columns {
            let col = table
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    BuildError::Schema(format!(
                        "table {}: index {}: no column {name}",
                        table.name, ix.name
                    ))
                })?;
            let c = &table.columns[col];
            if !indexable(c.coltyp) {
                return Err(BuildError::Schema(format!(
                    "table {}: index {}: column {name} is {:?}; this builder does not normalise text or long-value keys",
                    table.name, ix.name, c.coltyp
                )));
            }
            segments.push(Segment {
                col,
                ascending: *ascending,
                coltyp: c.coltyp,
                storage: c.storage,
                fid: layout.places[col].fid,
            });
        }
        Ok(KeyPlan { segments })
    }

    /// The normalised key of `row`; on failure, the column of the segment and why.
    fn key(&self, row: &[Value], out: &mut Vec<u8>) -> Result<(), (usize, KeyError)> {
        out.clear();
        for s in &self.segments {
            push_segment(out, s.coltyp, s.storage, &row[s.col], s.ascending)
                .map_err(|e| (s.col, e))?;
        }
        Ok(())
    }
}

struct SecondaryPlan {
    def: IndexDef,
    key: KeyPlan,
    objid: u32,
    pgno_fdp: u32,
    shape: TreeShape,
}

struct TablePlan {
    def: TableDef,
    layout: RecordLayout,
    objid: u32,
    primary_name: String,
    primary: KeyPlan,
    secondaries: Vec<SecondaryPlan>,
    pgno_fdp: u32,
    pages: u32,
    rows: u64,
    shape: TreeShape,
}

impl TablePlan {
    fn new(def: &TableDef, next_objid: &mut u32) -> Result<TablePlan, BuildError> {
        check_name("table", &def.name)?;
        let layout = RecordLayout::new(def).map_err(BuildError::Schema)?;
        for c in &def.columns {
            check_name("column", &c.name)?;
        }
        let primaries: Vec<&IndexDef> = def.indexes.iter().filter(|i| i.primary).collect();
        let [primary] = primaries.as_slice() else {
            return Err(BuildError::Schema(format!(
                "table {}: needs exactly one primary index, has {}",
                def.name,
                primaries.len()
            )));
        };
        for (i, ix) in def.indexes.iter().enumerate() {
            check_name("index", &ix.name)?;
            if def.indexes[..i].iter().any(|o| o.name == ix.name) {
                return Err(BuildError::Schema(format!(
                    "table {}: duplicate index name {}",
                    def.name, ix.name
                )));
            }
        }
        let objid = *next_objid;
        *next_objid += 1;
        let primary_key = KeyPlan::new(def, &layout, primary)?;
        let mut secondaries = Vec::new();
        for ix in def.indexes.iter().filter(|i| !i.primary) {
            let key = KeyPlan::new(def, &layout, ix)?;
            secondaries.push(SecondaryPlan {
                def: ix.clone(),
                key,
                objid: *next_objid,
                pgno_fdp: 0,
                shape: TreeShape::default(),
            });
            *next_objid += 1;
        }
        Ok(TablePlan {
            def: def.clone(),
            layout,
            objid,
            primary_name: primary.name.clone(),
            primary: primary_key,
            secondaries,
            pgno_fdp: 0,
            pages: 0,
            rows: 0,
            shape: TreeShape::default(),
        })
    }

    fn catalog(&self) -> CatalogTable<'_> {
        let fids = |k: &KeyPlan| k.segments.iter().map(|s| (s.fid, s.ascending)).collect();
        let mut indexes = vec![CatalogIndex {
            name: self.primary_name.clone(),
            objid: self.objid,
            pgno_fdp: self.pgno_fdp,
            idb_flags: IDB_UNIQUE
                | IDB_ALLOW_ALL_NULLS
                | IDB_ALLOW_FIRST_NULL
                | IDB_ALLOW_SOME_NULLS
                | IDB_PRIMARY,
            segments: fids(&self.primary),
        }];
        for s in &self.secondaries {
            indexes.push(CatalogIndex {
                name: s.def.name.clone(),
                objid: s.objid,
                pgno_fdp: s.pgno_fdp,
                idb_flags: IDB_ALLOW_ALL_NULLS
                    | IDB_ALLOW_FIRST_NULL
                    | IDB_ALLOW_SOME_NULLS
                    | if s.def.unique { IDB_UNIQUE } else { 0 },
                segments: fids(&s.key),
            });
        }
        CatalogTable {
            def: &self.def,
            layout: &self.layout,
            objid: self.objid,
            pgno_fdp: self.pgno_fdp,
            pages: self.pages,
            system: false,
            indexes,
        }
    }
}

/// Names are stored as code-page-1252 text and keyed upper-cased: keep them plain ASCII.
fn check_name(what: &str, name: &str) -> Result<(), BuildError> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(BuildError::Schema(format!(
            "{what} name {name:?} must be 1..=64 printable ASCII characters"
        )));
    }
    Ok(())
}

/// The two system tables' catalog descriptions.
struct SystemTables {
    catalog: TableDef,
    catalog_layout: RecordLayout,
    shadow: TableDef,
    shadow_layout: RecordLayout,
}

impl SystemTables {
    fn new(format: Format) -> SystemTables {
        let catalog = catalog_def(format, NAME_MSYSOBJECTS);
        let shadow = catalog_def(format, NAME_MSYSOBJECTS_SHADOW);
        SystemTables {
            catalog_layout: RecordLayout::new(&catalog).expect("catalog schema"),
            shadow_layout: RecordLayout::new(&shadow).expect("catalog schema"),
            catalog,
            shadow,
        }
    }

    fn rows(&self, format: Format, shadow_pages: u32, user: &[TablePlan]) -> Vec<CatalogRow> {
        let fid = |l: &RecordLayout, d: &TableDef, n: &str| {
            l.places[d
                .columns
                .iter()
                .position(|c| c.name == n)
                .expect("catalog column")]
            .fid
        };
        let segs = |l: &RecordLayout, d: &TableDef, names: &[&str]| -> Vec<(u16, bool)> {
            names.iter().map(|n| (fid(l, d, n), true)).collect()
        };
        let (cl, cd) = (&self.catalog_layout, &self.catalog);
        let primary = IDB_UNIQUE | IDB_NO_NULL_SEG | IDB_PRIMARY;
        let mut tables = vec![
            CatalogTable {
                def: cd,
                layout: cl,
                objid: OBJID_CATALOG,
                pgno_fdp: PGNO_CATALOG,
                pages: CATALOG_EXTENT_LAST - PGNO_CATALOG + 1,
                system: true,
                indexes: vec![
                    CatalogIndex {
                        name: "Id".into(),
                        objid: OBJID_CATALOG,
                        pgno_fdp: PGNO_CATALOG,
                        idb_flags: primary,
                        segments: segs(cl, cd, &["ObjidTable", "Type", "Id"]),
                    },
                    CatalogIndex {
                        name: "Name".into(),
                        objid: OBJID_CATALOG_NAME_INDEX,
                        pgno_fdp: PGNO_CATALOG_NAME_INDEX,
                        idb_flags: IDB_UNIQUE | IDB_NO_NULL_SEG,
                        segments: segs(cl, cd, &["ObjidTable", "Type", "Name"]),
                    },
                    CatalogIndex {
                        name: "RootObjects".into(),
                        objid: OBJID_CATALOG_ROOT_OBJECTS,
                        pgno_fdp: PGNO_CATALOG_ROOT_OBJECTS,
                        idb_flags: IDB_UNIQUE | IDB_ALLOW_SOME_NULLS,
                        segments: segs(cl, cd, &["RootFlag", "Name"]),
                    },
                ],
            },
            CatalogTable {
                def: &self.shadow,
                layout: &self.shadow_layout,
                objid: OBJID_CATALOG_SHADOW,
                pgno_fdp: PGNO_CATALOG_SHADOW,
                pages: shadow_pages,
                system: true,
                indexes: vec![CatalogIndex {
                    name: "Id".into(),
                    objid: OBJID_CATALOG_SHADOW,
                    pgno_fdp: PGNO_CATALOG_SHADOW,
                    idb_flags: primary,
                    segments: segs(
                        &self.shadow_layout,
                        &self.shadow,
                        &["ObjidTable", "Type", "Id"],
                    ),
                }],
            },
        ];
        tables.extend(user.iter().map(TablePlan::catalog));
        catalog_rows(format, &tables)
    }
}

/// The catalog's trees: `MSysObjects` and its two indexes, or the shadow.
struct CatalogTrees {
    catalog: (RootPage, TreeShape),
    name: (RootPage, TreeShape),
    root_objects: (RootPage, TreeShape),
}

fn catalog_specs(base: u32) -> [TreeSpec; 3] {
    [
        TreeSpec {
            objid: OBJID_CATALOG,
            page_flags: base,
            non_unique: false,
        },
        TreeSpec {
            objid: OBJID_CATALOG_NAME_INDEX,
            page_flags: base | PAGE_FLAG_INDEX,
            non_unique: false,
        },
        TreeSpec {
            objid: OBJID_CATALOG_ROOT_OBJECTS,
            page_flags: base | PAGE_FLAG_INDEX,
            non_unique: false,
        },
    ]
}

/// Builds the catalog trees' non-root pages into `sink` (pages in allocation order: the
/// catalog's, then the `Name` index's, then `RootObjects`').
fn build_catalog_trees(
    sink: &mut dyn PageSink,
    base: u32,
    rows: &[CatalogRow],
) -> Result<CatalogTrees, BuildError> {
    let [cs, ns, rs] = catalog_specs(base);
    let mut t = TreeWriter::new(cs);
    for r in rows {
        t.push(sink, &r.key, &r.record)?;
    }
    let catalog = t.finish(sink)?;
    let mut by_name: Vec<(&[u8], &[u8])> =
        rows.iter().map(|r| (&r.name_key[..], &r.key[..])).collect();
    by_name.sort();
    let mut t = TreeWriter::new(ns);
    for (k, bm) in by_name {
        t.push(sink, k, bm)?;
    }
    let name = t.finish(sink)?;
    let mut roots: Vec<(&[u8], &[u8])> = rows
        .iter()
        .filter_map(|r| r.root_key.as_deref().map(|k| (k, &r.key[..])))
        .collect();
    roots.sort();
    let mut t = TreeWriter::new(rs);
    for (k, bm) in roots {
        t.push(sink, k, bm)?;
    }
    let root_objects = t.finish(sink)?;
    Ok(CatalogTrees {
        catalog,
        name,
        root_objects,
    })
}

fn shadow_spec(base: u32) -> TreeSpec {
    TreeSpec {
        objid: OBJID_CATALOG_SHADOW,
        page_flags: base,
        non_unique: false,
    }
}

fn build_shadow_tree(
    sink: &mut dyn PageSink,
    base: u32,
    rows: &[CatalogRow],
) -> Result<(RootPage, TreeShape), BuildError> {
    let mut t = TreeWriter::new(shadow_spec(base));
    for r in rows {
        t.push(sink, &r.key, &r.record)?;
    }
    t.finish(sink)
}

fn validate_options(opts: &BuildOptions) -> Result<(), BuildError> {
    let n = &opts.computer_name;
    if n.len() > COMPUTER_NAME_MAX || !n.is_ascii() {
        return Err(BuildError::Schema(format!(
            "computer name {n:?} must be at most {COMPUTER_NAME_MAX} ASCII characters"
        )));
    }
    Ok(())
}

/// Writes a complete database to `out` (see the module documentation for the layout).
pub fn build_database(
    out: &Path,
    opts: &BuildOptions,
    tables: Vec<TableInput<'_>>,
) -> Result<BuildReport, BuildError> {
    validate_options(opts)?;
    let format = opts.format;
    let base = match format {
        Format::Ese97 => 0,
        Format::Ese98 => PAGE_FLAG_NEW_RECORD_FORMAT,
    };
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

    let mut file = PageFile::create(out, shadow_last + 1)?;
    let mut report = BuildReport::default();
    for (input, plan) in tables.into_iter().zip(plans.iter_mut()) {
        write_table(&mut file, format, base, plan, input.rows)?;
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
    let rows = system.rows(format, shadow_pages, &plans);
    write_catalog(&mut file, format, base, &rows, catalog_pages)?;
    write_shadow(&mut file, format, base, &rows, shadow_last)?;

    // The database root owns everything; all of it is handed out to the trees.
    let db_root = RootPage {
        nodes: Default::default(),
        is_leaf: true,
        parent_of_leaf: false,
    };
    let spec = TreeSpec {
        objid: OBJID_SYSTEM_ROOT,
        page_flags: base,
        non_unique: false,
    };
    let header = space_header(last_pgno, 0, false, PGNO_SYSTEM_ROOT_OE);
    let mut area = SystemArea {
        file: &mut file,
        next: 0,
        last: 0,
        used: Vec::new(),
    };
    write_root(&mut area, spec, &db_root, PGNO_SYSTEM_ROOT, &header)?;
    write_space_trees(
        &mut area,
        OBJID_SYSTEM_ROOT,
        base,
        format == Format::Ese98,
        PGNO_SYSTEM_ROOT_OE,
        &[Extent {
            first: PGNO_SYSTEM_ROOT,
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
    Ok(report)
}

fn write_catalog(
    file: &mut PageFile,
    format: Format,
    base: u32,
    rows: &[CatalogRow],
    expect_pages: u32,
) -> Result<(), BuildError> {
    let split = format == Format::Ese98;
    let mut area = SystemArea {
        file,
        next: CATALOG_FREE_FIRST,
        last: CATALOG_EXTENT_LAST,
        used: Vec::new(),
    };
    let trees = build_catalog_trees(&mut area, base, rows)?;
    if area.used.len() as u32 != expect_pages {
        return Err(BuildError::Schema(format!(
            "internal: catalog took {} pages, sized for {expect_pages}",
            area.used.len()
        )));
    }
    // Which tree took which pages: allocation order is catalog, Name, RootObjects.
    let n_cat = trees.catalog.1.pages_per_level.iter().sum::<u64>() as usize - 1;
    let n_name = trees.name.1.pages_per_level.iter().sum::<u64>() as usize - 1;
    let used = area.used.clone();
    let (name_pages, ro_pages) = used[n_cat..].split_at(n_name);
    let [cs, ns, rs] = catalog_specs(base);
    let free: Vec<u32> = (CATALOG_FREE_FIRST..=CATALOG_EXTENT_LAST)
        .filter(|p| !used.contains(p))
        .collect();

    // MSysObjects: owns 4..=23; its free pages are available.
    let cpg = CATALOG_EXTENT_LAST - PGNO_CATALOG + 1;
    write_root(
        &mut area,
        cs,
        &trees.catalog.0,
        PGNO_CATALOG,
        &space_header(cpg, PGNO_SYSTEM_ROOT, false, PGNO_CATALOG + 1),
    )?;
    write_space_trees(
        &mut area,
        cs.objid,
        base,
        split,
        PGNO_CATALOG + 1,
        &[Extent {
            first: PGNO_CATALOG,
            last: CATALOG_EXTENT_LAST,
        }],
        &extents_of(&free),
    )?;
    for (spec, root, pgno, pages) in [
        (ns, &trees.name.0, PGNO_CATALOG_NAME_INDEX, name_pages),
        (
            rs,
            &trees.root_objects.0,
            PGNO_CATALOG_ROOT_OBJECTS,
            ro_pages,
        ),
    ] {
        let mut owned: Vec<u32> = (pgno..pgno + ROOT_AND_SPACE_PAGES).collect();
        owned.extend_from_slice(pages);
        owned.sort_unstable();
        write_root(
            &mut area,
            spec,
            root,
            pgno,
            &space_header(owned.len() as u32, PGNO_CATALOG, false, pgno + 1),
        )?;
        write_space_trees(
            &mut area,
            spec.objid,
            base,
            split,
            pgno + 1,
            &extents_of(&owned),
            &[],
        )?;
    }
    Ok(())
}

fn write_shadow(
    file: &mut PageFile,
    format: Format,
    base: u32,
    rows: &[CatalogRow],
    shadow_last: u32,
) -> Result<(), BuildError> {
    let first_page = PGNO_CATALOG_SHADOW + ROOT_AND_SPACE_PAGES;
    let mut area = SystemArea {
        file,
        next: first_page,
        last: shadow_last,
        used: Vec::new(),
    };
    let (root, _) = build_shadow_tree(&mut area, base, rows)?;
    let spec = shadow_spec(base);
    let cpg = shadow_last - PGNO_CATALOG_SHADOW + 1;
    write_root(
        &mut area,
        spec,
        &root,
        PGNO_CATALOG_SHADOW,
        &space_header(cpg, PGNO_SYSTEM_ROOT, false, PGNO_CATALOG_SHADOW + 1),
    )?;
    write_space_trees(
        &mut area,
        spec.objid,
        base,
        format == Format::Ese98,
        PGNO_CATALOG_SHADOW + 1,
        &[Extent {
            first: PGNO_CATALOG_SHADOW,
            last: shadow_last,
        }],
        &[],
    )
}

/// Streams one table's rows into its tree, then builds its secondary indexes, then writes its
/// root and space trees into the pages reserved at the start of its run.
fn write_table(
    file: &mut PageFile,
    format: Format,
    base: u32,
    plan: &mut TablePlan,
    rows: Box<dyn Iterator<Item = Vec<Value>> + '_>,
) -> Result<(), BuildError> {
    let fdp = file.reserve(ROOT_AND_SPACE_PAGES)?;
    plan.pgno_fdp = fdp;
    let spec = TreeSpec {
        objid: plan.objid,
        page_flags: base,
        non_unique: false,
    };
    let mut tree = TreeWriter::new(spec);
    let mut buffers: Vec<EntryBuffer> = plan
        .secondaries
        .iter()
        .map(|_| EntryBuffer::default())
        .collect();
    let (mut key, mut prev, mut record, mut skey) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ncols = plan.def.columns.len();
    let table = &plan.def.name;
    for (n, row) in rows.enumerate() {
        let n = n as u64;
        if row.len() != ncols {
            return Err(BuildError::WrongArity {
                table: table.clone(),
                row: n,
                expected: ncols,
                found: row.len(),
            });
        }
        for (i, v) in row.iter().enumerate() {
            if let Err((expected, found)) = plan.layout.check(i, v) {
                let c = &plan.def.columns[i];
                return Err(BuildError::WrongValue {
                    table: table.clone(),
                    row: n,
                    column: c.name.clone(),
                    coltyp: c.coltyp,
                    storage: c.storage,
                    expected,
                    found,
                });
            }
        }
        plan.primary
            .key(&row, &mut key)
            .map_err(|e| key_error(plan, n, &row, e))?;
        if key.len() > KEY_MOST {
            return Err(too_large(table, n, "primary key", key.len(), KEY_MOST));
        }
        if n > 0 && key <= prev {
            return Err(BuildError::OutOfOrder {
                table: table.clone(),
                row: n,
                key: hex(&key),
                previous: hex(&prev),
            });
        }
        plan.layout.encode(format, &row, &mut record);
        if !tree.fits_empty_page(key.len(), record.len()) || tagged_too_long(&row, &plan.layout) {
            return Err(too_large(
                table,
                n,
                "record",
                record.len(),
                max_record(key.len()),
            ));
        }
        tree.push(file, &key, &record)?;
        for (s, buf) in plan.secondaries.iter().zip(buffers.iter_mut()) {
            s.key
                .key(&row, &mut skey)
                .map_err(|e| key_error(plan, n, &row, e))?;
            if skey.len() > KEY_MOST {
                return Err(too_large(table, n, "secondary key", skey.len(), KEY_MOST));
            }
            buf.push(&skey, &key);
        }
        std::mem::swap(&mut prev, &mut key);
        plan.rows += 1;
    }
    let (root, shape) = tree.finish(file)?;
    plan.shape = shape;

    for (s, mut buf) in plan.secondaries.iter_mut().zip(buffers) {
        buf.sort();
        let first = file.peek_alloc();
        let spec = TreeSpec {
            objid: s.objid,
            page_flags: base
                | PAGE_FLAG_INDEX
                | if s.def.unique {
                    0
                } else {
                    PAGE_FLAG_NON_UNIQUE_KEYS
                },
            non_unique: !s.def.unique,
        };
        let mut t = TreeWriter::new(spec);
        let mut last: Option<&[u8]> = None;
        for (k, bm) in buf.iter() {
            if s.def.unique && last == Some(k) {
                return Err(BuildError::DuplicateKey {
                    table: table.clone(),
                    index: s.def.name.clone(),
                    key: hex(k),
                });
            }
            if !t.fits_empty_page(k.len(), bm.len()) {
                return Err(too_large(
                    table,
                    0,
                    "secondary entry",
                    k.len() + bm.len(),
                    max_record(0),
                ));
            }
            t.push(file, k, bm)?;
            last = Some(k);
        }
        let (iroot, ishape) = t.finish(file)?;
        let pgno = file.alloc()?;
        file.alloc()?;
        file.alloc()?;
        let extent = Extent {
            first,
            last: pgno + 2,
        };
        write_root(
            file,
            spec,
            &iroot,
            pgno,
            &space_header(extent.pages(), fdp, !s.def.unique, pgno + 1),
        )?;
        write_space_trees(
            file,
            s.objid,
            base,
            format == Format::Ese98,
            pgno + 1,
            &[extent],
            &[],
        )?;
        s.pgno_fdp = pgno;
        s.shape = ishape;
    }

    // The table's root and space trees go into the reserved pages, written in place.
    let extent = Extent {
        first: fdp,
        last: file.last_allocated(),
    };
    plan.pages = extent.pages();
    let mut reserved = ReservedSink { file };
    write_root(
        &mut reserved,
        spec,
        &root,
        fdp,
        &space_header(extent.pages(), PGNO_SYSTEM_ROOT, false, fdp + 1),
    )?;
    write_space_trees(
        &mut reserved,
        plan.objid,
        base,
        format == Format::Ese98,
        fdp + 1,
        &[extent],
        &[],
    )
}

/// Writes pages reserved earlier in the stream, in place.
struct ReservedSink<'a> {
    file: &'a mut PageFile,
}

impl PageSink for ReservedSink<'_> {
    fn alloc(&mut self) -> Result<u32, BuildError> {
        Err(BuildError::Schema(
            "internal: allocation while writing reserved pages".into(),
        ))
    }
    fn dbtime(&mut self) -> u64 {
        self.file.dbtime()
    }
    fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError> {
        self.file.write_at(page_offset(pgno), page)
    }
}

/// ESE97's `TAGFLD_OLD` length field limits a tagged value (both forms keep to it, so that the
/// two forms of one input have the same pages).
fn tagged_too_long(row: &[Value], layout: &RecordLayout) -> bool {
    row.iter().zip(&layout.columns).any(|(v, c)| {
        c.storage == Storage::Tagged
            && match v {
                Value::Binary(b) | Value::LongBinary(b) => b.len() > RecordLayout::tagged_most(),
                Value::Text(s) | Value::LongText(s) => {
                    encoded_text_len(s, c.code_page).unwrap_or(usize::MAX)
                        > RecordLayout::tagged_most()
                }
                _ => false,
            }
    })
}

fn max_record(key_len: usize) -> usize {
    // node_cost = 2 + key + data + tag; a separator must also fit twice a branch page.
    super::page::NODE_SPACE - 2 - super::page::TAG_SIZE - key_len
}

fn too_large(table: &str, row: u64, what: &'static str, need: usize, max: usize) -> BuildError {
    BuildError::RowTooLarge {
        table: table.to_string(),
        row,
        what,
        need,
        max,
    }
}

fn key_error(
    plan: &TablePlan,
    row: u64,
    values: &[Value],
    (col, e): (usize, KeyError),
) -> BuildError {
    let c = &plan.def.columns[col];
    BuildError::WrongValue {
        table: plan.def.name.clone(),
        row,
        column: c.name.clone(),
        coltyp: c.coltyp,
        storage: c.storage,
        expected: format!("a value usable as a key segment ({e:?})"),
        found: describe(&values[col]),
    }
}
