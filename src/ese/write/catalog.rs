//! The catalog (`MSysObjects`), its shadow copy and its two secondary indexes: one row per
//! table, column, and index of every table, the system tables included.
//!
//! Source: reference/ese.md §6 (\[MS\] `cat.hxx`, `_cat.cxx` `rgcdescMSO`/`rgidescMSO`): fixed
//! object ids and root pages, the catalog columns and their ids, the row types, index
//! `KeyFldIDs` in the ESE97 (`i16` fid, negative = descending) and ESE98 (4-byte `IDXSEG`)
//! forms, and the flag values; the values that the engine fills in (densities, `LCMapFlags`,
//! system flags) are those of the catalog of \[V\] basic.edb.

use super::key::{push_catalog_name, push_segment};
use super::record::{coltyp_code, RecordLayout, CODE_PAGE_WESTERN};
use super::{ColumnDef, ColumnType, Format, Storage, TableDef, Value};
use crate::ese::catalog::{
    sysobj, IndexSegment, COLUMN_FLAG_FIXED, COLUMN_FLAG_TAGGED, IDXFLAG_SHIFT,
    IDX_EXTENDED_COLUMNS, NAME_MSYSOBJECTS,
};

/// `MSysObjects` owns pages 4..=23 (its primary extent, \[V\] basic.edb: `cpgPrimary` 20);
/// the pages after the three roots and their space trees hold the catalog's other pages.
pub const CATALOG_EXTENT_LAST: u32 = 23;
pub const CATALOG_FREE_FIRST: u32 = 13;

/// `JET_bitObjectSystem | JET_bitObjectTableFixedDDL` on the system tables (\[V\] basic.edb).
pub const TABLE_FLAGS_SYSTEM: i32 = 0xC000_0000_u32 as i32;
/// Table/index density and index `LCMapFlags` as the engine writes them (\[V\] basic.edb).
pub const DENSITY: i32 = 80;
pub const LCMAP_FLAGS: i32 = 0x0003_0401;
/// LCID en-US for index `PagesOrLocale`.
pub const LCID_EN_US: i32 = 0x409;

/// The columns of `MSysObjects` (and of its shadow, `name`) in one form: ESE97 has the fixed columns up to `LCMapFlags` and
/// the variable ones up to `ConditionalColumns` (revision 1); revision 3 added the two tagged
/// callback columns (reference §1 revision history, §6 column table).
pub fn catalog_def(format: Format, name: &str) -> TableDef {
    let c = |name: &str, coltyp: ColumnType, storage: Storage, max_len: u32| ColumnDef {
        name: name.into(),
        coltyp,
        storage,
        max_len,
        code_page: if coltyp == ColumnType::Text {
            CODE_PAGE_WESTERN
        } else {
            0
        },
    };
    use ColumnType::*;
    use Storage::*;
    let mut columns = vec![
        c("ObjidTable", Long, Fixed, 4),
        c("Type", Short, Fixed, 2),
        c("Id", Long, Fixed, 4),
        c("ColtypOrPgnoFDP", Long, Fixed, 4),
        c("SpaceUsage", Long, Fixed, 4),
        c("Flags", Long, Fixed, 4),
        c("PagesOrLocale", Long, Fixed, 4),
        c("RootFlag", Bit, Fixed, 1),
        c("RecordOffset", Short, Fixed, 2),
        c("LCMapFlags", Long, Fixed, 4),
        c("Name", Text, Variable, 255),
        c("Stats", Binary, Variable, 255),
        c("TemplateTable", Text, Variable, 255),
        c("DefaultValue", Binary, Variable, 255),
        c("KeyFldIDs", Binary, Variable, 255),
        c("VarSegMac", Binary, Variable, 255),
        c("ConditionalColumns", Binary, Variable, 255),
    ];
    if format == Format::Ese98 {
        columns.push(c("CallbackData", LongBinary, Tagged, 0));
        columns.push(c("CallbackDependencies", LongBinary, Tagged, 0));
    }
    // The catalog's indexes are described to the catalog by `system.rs`, with their fixed
    // object ids and root pages, not through `IndexDef`.
    TableDef {
        long_values: false,
        name: name.into(),
        columns,
        indexes: Vec::new(),
    }
}

/// One index as the catalog describes it.
#[derive(Clone, Debug)]
pub struct CatalogIndex {
    pub name: String,
    pub objid: u32,
    pub pgno_fdp: u32,
    /// IDBFLAG bits.
    pub idb_flags: u32,
    /// (column id, ascending) per segment.
    pub segments: Vec<(u16, bool)>,
}

/// The catalog name of a table's long-value tree (reference §6, "Type 4 row (name "LV")").
pub const LONG_VALUE_TREE_NAME: &str = "LV";

/// One table as the catalog describes it.
pub struct CatalogTable<'a> {
    pub def: &'a TableDef,
    pub layout: &'a RecordLayout,
    pub objid: u32,
    pub pgno_fdp: u32,
    /// Pages the table owns (its `PagesOrLocale`, "initial pages").
    pub pages: u32,
    pub system: bool,
    pub indexes: Vec<CatalogIndex>,
    /// The long-value tree: (object id, root page, pages), when the table has one.
    pub long_values: Option<(u32, u32, u32)>,
}

/// One catalog row: its primary key, its record, and its keys in the two catalog indexes.
pub struct CatalogRow {
    pub key: Vec<u8>,
    pub record: Vec<u8>,
    pub name_key: Vec<u8>,
    /// Only table rows are in `RootObjects` (its IDB flags leave out rows whose first
    /// segment, `RootFlag`, is NULL).
    pub root_key: Option<Vec<u8>>,
}

/// `KeyFldIDs` of an index in the given form.
pub fn key_fld_ids(format: Format, segments: &[(u16, bool)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.len() * 4);
    for &(fid, asc) in segments {
        IndexSegment {
            fid,
            descending: !asc,
        }
        .write(format == Format::Ese98, &mut out);
    }
    out
}

/// Catalog field values of one row, in `catalog_def` column order.
struct Row {
    objid_table: u32,
    typ: u16,
    id: u32,
    coltyp_or_pgno: u32,
    space_usage: i32,
    flags: i32,
    pages_or_locale: i32,
    root_flag: bool,
    record_offset: Option<i16>,
    lcmap_flags: Option<i32>,
    name: String,
    key_fld_ids: Option<Vec<u8>>,
}

/// Every catalog row of `tables`, sorted by the catalog's primary key.
pub fn catalog_rows(format: Format, tables: &[CatalogTable<'_>]) -> Vec<CatalogRow> {
    let def = catalog_def(format, NAME_MSYSOBJECTS);
    let layout = RecordLayout::new(&def).expect("the catalog schema is valid");
    let mut rows = Vec::new();
    for t in tables {
        rows.push(Row {
            objid_table: t.objid,
            typ: sysobj::TABLE,
            id: t.objid,
            coltyp_or_pgno: t.pgno_fdp,
            space_usage: DENSITY,
            flags: if t.system { TABLE_FLAGS_SYSTEM } else { 0 },
            pages_or_locale: t.pages as i32,
            root_flag: true,
            record_offset: None,
            lcmap_flags: None,
            name: t.def.name.clone(),
            key_fld_ids: None,
        });
        for (c, p) in t.def.columns.iter().zip(&t.layout.places) {
            let (space_usage, flags) = match c.storage {
                Storage::Fixed => (i32::from(p.size), COLUMN_FLAG_FIXED as i32),
                Storage::Variable => (c.max_len as i32, 0),
                Storage::Tagged => (c.max_len as i32, COLUMN_FLAG_TAGGED as i32),
            };
            rows.push(Row {
                objid_table: t.objid,
                typ: sysobj::COLUMN,
                id: u32::from(p.fid),
                coltyp_or_pgno: coltyp_code(c.coltyp),
                space_usage,
                flags,
                pages_or_locale: i32::from(c.code_page),
                root_flag: false,
                record_offset: (c.storage == Storage::Fixed).then_some(p.offset as i16),
                lcmap_flags: None,
                name: c.name.clone(),
                key_fld_ids: None,
            });
        }
        if let Some((objid, pgno, pages)) = t.long_values {
            rows.push(Row {
                objid_table: t.objid,
                typ: sysobj::LONG_VALUE,
                id: objid,
                coltyp_or_pgno: pgno,
                space_usage: DENSITY,
                flags: 0,
                pages_or_locale: pages as i32,
                root_flag: false,
                record_offset: None,
                lcmap_flags: None,
                name: LONG_VALUE_TREE_NAME.into(),
                key_fld_ids: None,
            });
        }
        for ix in &t.indexes {
            let idx_flags = match format {
                Format::Ese97 => 0,
                Format::Ese98 => IDX_EXTENDED_COLUMNS,
            };
            rows.push(Row {
                objid_table: t.objid,
                typ: sysobj::INDEX,
                id: ix.objid,
                coltyp_or_pgno: ix.pgno_fdp,
                space_usage: DENSITY,
                flags: (ix.idb_flags | (idx_flags << IDXFLAG_SHIFT)) as i32,
                pages_or_locale: LCID_EN_US,
                root_flag: false,
                record_offset: None,
                lcmap_flags: Some(LCMAP_FLAGS),
                name: ix.name.clone(),
                key_fld_ids: Some(key_fld_ids(format, &ix.segments)),
            });
        }
    }
    let mut out: Vec<CatalogRow> = rows
        .into_iter()
        .map(|r| {
            let mut key = Vec::new();
            push_long(&mut key, r.objid_table);
            push_short(&mut key, r.typ as i16);
            push_long(&mut key, r.id);
            let mut name_key = Vec::new();
            push_long(&mut name_key, r.objid_table);
            push_short(&mut name_key, r.typ as i16);
            push_catalog_name(&mut name_key, &r.name);
            let root_key = (r.typ == sysobj::TABLE).then(|| {
                let mut k = Vec::new();
                push_segment(
                    &mut k,
                    ColumnType::Bit,
                    Storage::Fixed,
                    &Value::Bit(true),
                    true,
                )
                .expect("bit segment");
                push_catalog_name(&mut k, &r.name);
                k
            });
            let nulls = layout.columns.len() - 11;
            let mut values = vec![
                Value::Long(r.objid_table as i32),
                Value::Short(r.typ as i16),
                Value::Long(r.id as i32),
                Value::Long(r.coltyp_or_pgno as i32),
                Value::Long(r.space_usage),
                Value::Long(r.flags),
                Value::Long(r.pages_or_locale),
                if r.root_flag {
                    Value::Bit(true)
                } else {
                    Value::Null
                },
                r.record_offset.map_or(Value::Null, Value::Short),
                r.lcmap_flags.map_or(Value::Null, Value::Long),
                Value::Text(r.name),
            ];
            values.extend(std::iter::repeat(Value::Null).take(nulls));
            if let Some(k) = r.key_fld_ids {
                values[14] = Value::Binary(k);
            }
            let mut record = Vec::new();
            layout.encode(format, &values, &mut record);
            CatalogRow {
                key,
                record,
                name_key,
                root_key,
            }
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn push_long(out: &mut Vec<u8>, v: u32) {
    push_segment(
        out,
        ColumnType::Long,
        Storage::Fixed,
        &Value::Long(v as i32),
        true,
    )
    .expect("long segment");
}

fn push_short(out: &mut Vec<u8>, v: i16) {
    push_segment(
        out,
        ColumnType::Short,
        Storage::Fixed,
        &Value::Short(v),
        true,
    )
    .expect("short segment");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_fld_ids_in_both_forms() {
        assert_eq!(
            key_fld_ids(Format::Ese97, &[(1, true), (2, false)]),
            [1, 0, 0xFE, 0xFF]
        );
        assert_eq!(
            key_fld_ids(Format::Ese98, &[(1, true), (128, false)]),
            [0, 0, 1, 0, 0x40, 0, 128, 0]
        );
    }

    #[test]
    fn catalog_keys_match_the_engine_layout() {
        let def = catalog_def(Format::Ese98, NAME_MSYSOBJECTS);
        let layout = RecordLayout::new(&def).unwrap();
        let t = CatalogTable {
            def: &def,
            layout: &layout,
            objid: 2,
            pgno_fdp: 4,
            pages: 20,
            system: true,
            indexes: vec![],
            long_values: None,
        };
        let rows = catalog_rows(Format::Ese98, &[t]);
        // [V] basic.edb: the MSysObjects table row key and a column row's Name-index key.
        assert_eq!(
            rows[0].key,
            b"\x7f\x80\x00\x00\x02\x7f\x80\x01\x7f\x80\x00\x00\x02"
        );
        assert_eq!(
            rows[0].root_key.as_deref(),
            Some(&b"\x7f\xff\x7fMSYSOBJECTS\x00"[..])
        );
        assert_eq!(
            rows[1].key,
            b"\x7f\x80\x00\x00\x02\x7f\x80\x02\x7f\x80\x00\x00\x01"
        );
        assert!(rows[1].root_key.is_none());
        // Column row record: fidFixedLastInRec 10, Name present.
        assert_eq!(rows[1].record[0], 10);
        assert_eq!(rows[1].record[1], 128);
    }

    /// The catalog the builder writes has its columns where the reader looks for them.
    #[test]
    fn catalog_columns_sit_where_the_reader_reads_them() {
        use crate::ese::catalog::col;
        for format in [Format::Ese97, Format::Ese98] {
            let def = catalog_def(format, NAME_MSYSOBJECTS);
            let layout = RecordLayout::new(&def).unwrap();
            let place = |name: &str| {
                let i = def.columns.iter().position(|c| c.name == name).unwrap();
                layout.places[i]
            };
            for (name, (fid, offset)) in [
                ("ObjidTable", col::OBJID_TABLE),
                ("Type", col::TYPE),
                ("Id", col::ID),
                ("ColtypOrPgnoFDP", col::COLTYP_OR_PGNO_FDP),
                ("SpaceUsage", col::SPACE_USAGE),
                ("Flags", col::FLAGS),
                ("PagesOrLocale", col::PAGES_OR_LOCALE),
                ("RecordOffset", col::RECORD_OFFSET),
            ] {
                let p = place(name);
                assert_eq!((p.fid, usize::from(p.offset)), (fid, offset), "{name}");
            }
            for (name, fid) in [
                ("Name", col::NAME),
                ("TemplateTable", col::TEMPLATE_TABLE),
                ("DefaultValue", col::DEFAULT_VALUE),
                ("KeyFldIDs", col::KEY_FLD_IDS),
            ] {
                assert_eq!(place(name).fid, fid, "{name}");
            }
        }
    }
}
