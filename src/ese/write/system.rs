//! The fixed system area: `MSysObjects` (root page 4) with its `Name` (7) and `RootObjects`
//! (10) indexes, their other pages in 13..=23, and `MSysObjectsShadow` (root 24, then its
//! pages). Written last, once every table's root page is known; sized before the data by a dry
//! run over the same rows (page numbers are fixed-width fields, so sizes do not change).

use super::catalog::{
    catalog_def, catalog_rows, CatalogIndex, CatalogRow, CatalogTable, CATALOG_EXTENT_LAST,
    CATALOG_FREE_FIRST,
};
use super::error::BuildError;
use super::file::{PageFile, SystemArea};
use super::record::RecordLayout;
use super::space::{extents_of, space_header, write_space_trees, Extent};
use super::table::{TablePlan, ROOT_AND_SPACE_PAGES};
use super::tree::{write_root, PageSink, RootPage, TreeShape, TreeSpec, TreeWriter};
use super::{Format, TableDef};
use crate::ese::catalog::{
    IDB_ALLOW_SOME_NULLS, IDB_NO_NULL_SEG, IDB_PRIMARY, IDB_UNIQUE, NAME_MSYSOBJECTS,
    NAME_MSYSOBJECTS_SHADOW, OBJID_CATALOG, OBJID_CATALOG_NAME_INDEX, OBJID_CATALOG_ROOT_OBJECTS,
    OBJID_CATALOG_SHADOW, PGNO_CATALOG, PGNO_CATALOG_NAME_INDEX, PGNO_CATALOG_ROOT_OBJECTS,
    PGNO_CATALOG_SHADOW,
};
use crate::ese::page::flags as page_flags;
use crate::ese::space::DB_ROOT_PGNO;

/// The two system tables' catalog descriptions.
pub(super) struct SystemTables {
    pub(super) catalog: TableDef,
    pub(super) catalog_layout: RecordLayout,
    pub(super) shadow: TableDef,
    pub(super) shadow_layout: RecordLayout,
}

impl SystemTables {
    pub(super) fn new(format: Format) -> SystemTables {
        let catalog = catalog_def(format, NAME_MSYSOBJECTS);
        let shadow = catalog_def(format, NAME_MSYSOBJECTS_SHADOW);
        SystemTables {
            catalog_layout: RecordLayout::new(&catalog).expect("catalog schema"),
            shadow_layout: RecordLayout::new(&shadow).expect("catalog schema"),
            catalog,
            shadow,
        }
    }

    pub(super) fn rows(
        &self,
        format: Format,
        shadow_pages: u32,
        user: &[TablePlan],
    ) -> Vec<CatalogRow> {
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
                long_values: None,
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
                long_values: None,
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
pub(super) struct CatalogTrees {
    pub(super) catalog: (RootPage, TreeShape),
    pub(super) name: (RootPage, TreeShape),
    pub(super) root_objects: (RootPage, TreeShape),
}

pub(super) fn catalog_specs(base: u32) -> [TreeSpec; 3] {
    [
        TreeSpec {
            objid: OBJID_CATALOG,
            page_flags: base,
            non_unique: false,
        },
        TreeSpec {
            objid: OBJID_CATALOG_NAME_INDEX,
            page_flags: base | page_flags::INDEX,
            non_unique: false,
        },
        TreeSpec {
            objid: OBJID_CATALOG_ROOT_OBJECTS,
            page_flags: base | page_flags::INDEX,
            non_unique: false,
        },
    ]
}

/// Builds the catalog trees' non-root pages into `sink` (pages in allocation order: the
/// catalog's, then the `Name` index's, then `RootObjects`').
pub(super) fn build_catalog_trees(
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

pub(super) fn shadow_spec(base: u32) -> TreeSpec {
    TreeSpec {
        objid: OBJID_CATALOG_SHADOW,
        page_flags: base,
        non_unique: false,
    }
}

pub(super) fn build_shadow_tree(
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

pub(super) fn write_catalog(
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
        &space_header(cpg, DB_ROOT_PGNO, false, PGNO_CATALOG + 1),
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

pub(super) fn write_shadow(
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
        &space_header(cpg, DB_ROOT_PGNO, false, PGNO_CATALOG_SHADOW + 1),
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
