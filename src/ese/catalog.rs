//! The catalog (`MSysObjects`): tables, columns, indexes and long-value trees.
//!
//! Source: reference/ese.md §6 ([MS] `cat.hxx`, `_cat.cxx` `rgcdescMSO`): catalog root at
//! page 4 (objid 2); fixed catalog columns at stable record offsets; `KeyFldIDs` in the ESE97
//! i16 form or the 4-byte IDXSEG form (index flag `fIDXExtendedColumns`).

use crate::bytes::Bytes;
use crate::ese::btree::Database;
use crate::ese::error::EseError;
use crate::ese::record::{Record, FID_TAGGED_FIRST, FID_VAR_FIRST};
use serde::Serialize;
use std::ops::ControlFlow;

/// Object ids and root pages of the system trees, fixed by the engine ([MS] `cat.hxx`;
/// reference/ese.md §6 "Catalog location"). The database root (objid 1, page 1) is
/// [`crate::ese::space::DB_ROOT_PGNO`].
pub const OBJID_CATALOG: u32 = 2;
pub const PGNO_CATALOG: u32 = 4;
pub const OBJID_CATALOG_SHADOW: u32 = 3;
pub const PGNO_CATALOG_SHADOW: u32 = 24;
pub const OBJID_CATALOG_NAME_INDEX: u32 = 4;
pub const PGNO_CATALOG_NAME_INDEX: u32 = 7;
pub const OBJID_CATALOG_ROOT_OBJECTS: u32 = 5;
pub const PGNO_CATALOG_ROOT_OBJECTS: u32 = 10;
/// The first object id left to user objects.
pub const OBJID_FIRST_USER: u32 = 6;
/// Names of the catalog and its shadow copy.
pub const NAME_MSYSOBJECTS: &str = "MSysObjects";
pub const NAME_MSYSOBJECTS_SHADOW: &str = "MSysObjectsShadow";

/// Catalog columns ([MS] `_cat.cxx` `rgcdescMSO`): (fid, record offset) of the fixed ones;
/// fids of the variable ones.
pub mod col {
    pub const OBJID_TABLE: (u16, usize) = (1, 4);
    pub const TYPE: (u16, usize) = (2, 8);
    pub const ID: (u16, usize) = (3, 10);
    pub const COLTYP_OR_PGNO_FDP: (u16, usize) = (4, 14);
    pub const SPACE_USAGE: (u16, usize) = (5, 18);
    pub const FLAGS: (u16, usize) = (6, 22);
    pub const PAGES_OR_LOCALE: (u16, usize) = (7, 26);
    pub const RECORD_OFFSET: (u16, usize) = (9, 31);
    pub const NAME: u16 = 128;
    pub const TEMPLATE_TABLE: u16 = 130;
    pub const DEFAULT_VALUE: u16 = 131;
    pub const KEY_FLD_IDS: u16 = 132;
}

/// `SYSOBJ` types (catalog column `Type`).
pub mod sysobj {
    pub const TABLE: u16 = 1;
    pub const COLUMN: u16 = 2;
    pub const INDEX: u16 = 3;
    pub const LONG_VALUE: u16 = 4;
}

/// A catalog column row's `Flags`: `JET_bitColumnFixed`, `JET_bitColumnTagged` (reference/ese.md
/// §6 column flags; the reader places columns by their fid range instead).
pub const COLUMN_FLAG_FIXED: u32 = 0x1;
pub const COLUMN_FLAG_TAGGED: u32 = 0x2;

/// A catalog index row's `Flags`: `IDBFLAG` bits in the low u16, `IDXFLAG` bits in the high
/// u16 ([MS] `idb.hxx`; reference/ese.md §6).
pub const IDXFLAG_SHIFT: u32 = 16;
/// IDBFLAG bits.
pub const IDB_UNIQUE: u32 = 0x0001;
pub const IDB_ALLOW_ALL_NULLS: u32 = 0x0002;
pub const IDB_ALLOW_FIRST_NULL: u32 = 0x0004;
pub const IDB_ALLOW_SOME_NULLS: u32 = 0x0008;
pub const IDB_NO_NULL_SEG: u32 = 0x0010;
pub const IDB_PRIMARY: u32 = 0x0020;
/// IDXFLAG `fIDXExtendedColumns`: `KeyFldIDs` holds 4-byte `IDXSEG`s (from 0x620,7).
pub const IDX_EXTENDED_COLUMNS: u32 = 0x0001;
/// `IDXSEG` (with `fIDXExtendedColumns`): `u8 bFlags`, a reserved byte, `u16 fid`.
const IDXSEG_LEN: usize = 4;
const IDXSEG_FID: usize = 2;
/// 4-byte `IDXSEG.bFlags`: descending segment.
pub const IDXSEG_DESCENDING: u8 = 0x40;
/// ESE97 `IDXSEG_OLD`: an `i16` fid, negative = descending.
const IDXSEG_OLD_LEN: usize = 2;

/// `JET_coltyp` numbers ([MS] `jethdr.w`; ESE97 has 0..=12, later engines 13..=17).
pub mod coltyp {
    pub const NIL: u32 = 0;
    pub const BIT: u32 = 1;
    pub const UNSIGNED_BYTE: u32 = 2;
    pub const SHORT: u32 = 3;
    pub const LONG: u32 = 4;
    pub const CURRENCY: u32 = 5;
    pub const IEEE_SINGLE: u32 = 6;
    pub const IEEE_DOUBLE: u32 = 7;
    pub const DATE_TIME: u32 = 8;
    pub const BINARY: u32 = 9;
    pub const TEXT: u32 = 10;
    pub const LONG_BINARY: u32 = 11;
    pub const LONG_TEXT: u32 = 12;
    pub const SLV: u32 = 13;
    pub const UNSIGNED_LONG: u32 = 14;
    pub const LONG_LONG: u32 = 15;
    pub const GUID: u32 = 16;
    pub const UNSIGNED_SHORT: u32 = 17;
}

/// `JET_coltyp` names ([MS] `jethdr.w`).
pub fn coltyp_name(t: u32) -> &'static str {
    use coltyp::*;
    match t {
        NIL => "Nil",
        BIT => "Bit",
        UNSIGNED_BYTE => "UnsignedByte",
        SHORT => "Short",
        LONG => "Long",
        CURRENCY => "Currency",
        IEEE_SINGLE => "IEEESingle",
        IEEE_DOUBLE => "IEEEDouble",
        DATE_TIME => "DateTime",
        BINARY => "Binary",
        TEXT => "Text",
        LONG_BINARY => "LongBinary",
        LONG_TEXT => "LongText",
        SLV => "SLV",
        UNSIGNED_LONG => "UnsignedLong",
        LONG_LONG => "LongLong",
        GUID => "GUID",
        UNSIGNED_SHORT => "UnsignedShort",
        _ => "unknown",
    }
}

/// The natural size of a fixed column type; `None` for Binary/Text (size = `SpaceUsage`).
pub fn coltyp_fixed_size(t: u32) -> Option<usize> {
    use coltyp::*;
    Some(match t {
        BIT | UNSIGNED_BYTE => 1,
        SHORT | UNSIGNED_SHORT => 2,
        LONG | IEEE_SINGLE | UNSIGNED_LONG => 4,
        CURRENCY | IEEE_DOUBLE | DATE_TIME | LONG_LONG => 8,
        GUID => 16,
        _ => return None,
    })
}

/// Where a column lives in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    Fixed,
    Variable,
    Tagged,
}

#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub fid: u16,
    pub name: String,
    pub coltyp: u32,
    pub storage: Storage,
    /// `SpaceUsage`: maximum length.
    pub cb_max: u32,
    pub flags: u32,
    pub code_page: u32,
    /// Fixed columns: the offset in the record (computed from the sizes of lower fids).
    pub fixed_offset: Option<usize>,
    /// Fixed columns: the size in bytes.
    pub fixed_size: Option<usize>,
    /// The catalog `DefaultValue`: what a record that lacks the column reads as.
    pub default_value: Option<Vec<u8>>,
    /// The column is defined by the table's template table (a derived table).
    pub from_template: bool,
    /// The catalog's `RecordOffset` (fixed columns): where the engine that wrote the file put
    /// the column. [`Column::fixed_offset`] is derived from type sizes instead; a caller that
    /// writes into a fixed column checks the two agree.
    pub record_offset: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IndexSegment {
    pub fid: u16,
    pub descending: bool,
}

impl IndexSegment {
    /// Appends this segment to a `KeyFldIDs` value: a 4-byte `IDXSEG` when `extended`
    /// (`fIDXExtendedColumns`), else the ESE97 `i16` form. The reader is
    /// `CatalogRow::into_index`.
    pub fn write(&self, extended: bool, out: &mut Vec<u8>) {
        if extended {
            let mut seg = [0u8; IDXSEG_LEN];
            seg[0] = if self.descending {
                IDXSEG_DESCENDING
            } else {
                0
            };
            seg[IDXSEG_FID..IDXSEG_FID + 2].copy_from_slice(&self.fid.to_le_bytes());
            out.extend_from_slice(&seg);
        } else {
            let v = self.fid as i16;
            let v = if self.descending { -v } else { v };
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Index {
    pub name: String,
    pub objid: u32,
    pub pgno_fdp: u32,
    pub flags: u32,
    pub lcid: u32,
    pub segments: Vec<IndexSegment>,
}

impl Index {
    pub fn is_primary(&self) -> bool {
        self.flags & IDB_PRIMARY != 0
    }

    pub fn is_unique(&self) -> bool {
        self.flags & IDB_UNIQUE != 0
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Table {
    pub name: String,
    pub objid: u32,
    pub pgno_fdp: u32,
    pub flags: u32,
    pub template: Option<String>,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    /// Root page and objid of the long-value tree, if the table has one.
    pub long_values: Option<(u32, u32)>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_by_fid(&self, fid: u16) -> Option<&Column> {
        self.columns.iter().find(|c| c.fid == fid)
    }

    /// Whether `fid` is a key segment of any index.
    pub fn is_indexed(&self, fid: u16) -> bool {
        self.indexes
            .iter()
            .any(|i| i.segments.iter().any(|s| s.fid == fid))
    }

    /// Fills in fixed offsets and sizes (fids in order, first column at offset 4).
    /// Template columns sort before the table's own at equal fids (ESE98 tagged fids).
    fn lay_out_fixed(&mut self) {
        self.columns.sort_by_key(|c| (c.fid, !c.from_template));
        let mut offset = crate::ese::record::FIXED_DATA_START;
        for c in self.columns.iter_mut() {
            if c.storage != Storage::Fixed {
                continue;
            }
            let size = coltyp_fixed_size(c.coltyp).unwrap_or(c.cb_max as usize);
            c.fixed_offset = Some(offset);
            c.fixed_size = Some(size);
            offset = offset.saturating_add(size);
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Catalog {
    pub tables: Vec<Table>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Reads the catalog of `db`.
    pub fn read(db: &Database) -> Result<Catalog, EseError> {
        let mut tables: Vec<Table> = Vec::new();
        let mut pending_rows = Vec::new();
        db.walk(
            PGNO_CATALOG,
            OBJID_CATALOG,
            |_| {},
            |entry| {
                let form = db.record_form(entry.page);
                let rec = Record::parse(entry.node.data, form)?;
                pending_rows.push(CatalogRow::read(&rec)?);
                Ok(ControlFlow::Continue(()))
            },
        )?;
        for row in pending_rows {
            match row.kind {
                sysobj::TABLE => tables.push(Table {
                    name: row.name,
                    objid: row.id,
                    pgno_fdp: row.coltyp_or_pgno,
                    flags: row.flags,
                    template: row.template,
                    columns: Vec::new(),
                    indexes: Vec::new(),
                    long_values: None,
                }),
                sysobj::COLUMN | sysobj::INDEX | sysobj::LONG_VALUE => {
                    let Some(table) = tables.iter_mut().find(|t| t.objid == row.objid_table) else {
                        return Err(EseError::Catalog(format!(
                            "row {} (type {}) names table objid {}, which has no table row \
                             before it",
                            crate::text::quoted(&row.name),
                            row.kind,
                            row.objid_table
                        )));
                    };
                    match row.kind {
                        sysobj::COLUMN => table.columns.push(row.into_column()?),
                        sysobj::INDEX => table.indexes.push(row.into_index()?),
                        _ => table.long_values = Some((row.coltyp_or_pgno, row.id)),
                    }
                }
                _ => {}
            }
        }
        // A derived table also has its template's columns (its own fixed and variable fids
        // continue after the template's; reference/ese.md §6 "Template / derived tables").
        let templates: Vec<(String, Vec<Column>)> = tables
            .iter()
            .map(|t| (t.name.clone(), t.columns.clone()))
            .collect();
        for t in tables.iter_mut() {
            let Some(template) = t.template.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let Some((_, columns)) = templates.iter().find(|(n, _)| n == template) else {
                return Err(EseError::Catalog(format!(
                    "table {} names template table {template}, which the catalog lacks",
                    t.name
                )));
            };
            for c in columns {
                t.columns.push(Column {
                    from_template: true,
                    ..c.clone()
                });
            }
        }
        for t in tables.iter_mut() {
            t.lay_out_fixed();
        }
        Ok(Catalog { tables })
    }
}

/// One catalog record, decoded.
struct CatalogRow {
    objid_table: u32,
    kind: u16,
    id: u32,
    coltyp_or_pgno: u32,
    space_usage: u32,
    flags: u32,
    pages_or_locale: u32,
    name: String,
    template: Option<String>,
    key_fld_ids: Vec<u8>,
    default_value: Option<Vec<u8>>,
    record_offset: Option<u16>,
    at: u64,
}

impl CatalogRow {
    fn read(rec: &Record) -> Result<CatalogRow, EseError> {
        let u32_at = |(fid, off): (u16, usize)| -> Result<u32, EseError> {
            Ok(match rec.fixed(fid, off, 4)? {
                Some(b) => b.u32("catalog column", 0)?,
                None => 0,
            })
        };
        let kind = match rec.fixed(col::TYPE.0, col::TYPE.1, 2)? {
            Some(b) => b.u16("catalog Type", 0)?,
            None => 0,
        };
        let record_offset = match rec.fixed(col::RECORD_OFFSET.0, col::RECORD_OFFSET.1, 2)? {
            Some(b) => Some(b.u16("catalog RecordOffset", 0)?),
            None => None,
        };
        let text = |fid| -> Result<Option<String>, EseError> {
            Ok(rec
                .variable(fid)?
                .map(|b| String::from_utf8_lossy(b.as_slice()).into_owned()))
        };
        Ok(CatalogRow {
            objid_table: u32_at(col::OBJID_TABLE)?,
            kind,
            id: u32_at(col::ID)?,
            coltyp_or_pgno: u32_at(col::COLTYP_OR_PGNO_FDP)?,
            space_usage: u32_at(col::SPACE_USAGE)?,
            flags: u32_at(col::FLAGS)?,
            pages_or_locale: u32_at(col::PAGES_OR_LOCALE)?,
            name: text(col::NAME)?.unwrap_or_default(),
            template: text(col::TEMPLATE_TABLE)?,
            key_fld_ids: rec
                .variable(col::KEY_FLD_IDS)?
                .map(|b| b.as_slice().to_vec())
                .unwrap_or_default(),
            default_value: rec
                .variable(col::DEFAULT_VALUE)?
                .map(|b| b.as_slice().to_vec()),
            record_offset,
            at: rec.bytes.base(),
        })
    }

    fn into_column(self) -> Result<Column, EseError> {
        let fid = u16::try_from(self.id).map_err(|_| {
            EseError::corrupt(
                self.at,
                None,
                "catalog column id",
                "a fid up to 65535",
                self.id.to_string(),
            )
        })?;
        let storage = if fid == 0 {
            return Err(EseError::corrupt(
                self.at,
                None,
                "catalog column id",
                "a fid above 0",
                "0",
            ));
        } else if fid < FID_VAR_FIRST {
            Storage::Fixed
        } else if fid < FID_TAGGED_FIRST {
            Storage::Variable
        } else {
            Storage::Tagged
        };
        Ok(Column {
            fid,
            name: self.name,
            coltyp: self.coltyp_or_pgno,
            storage,
            cb_max: self.space_usage,
            flags: self.flags,
            code_page: self.pages_or_locale,
            fixed_offset: None,
            fixed_size: None,
            default_value: self.default_value,
            from_template: false,
            record_offset: self.record_offset,
        })
    }

    fn into_index(self) -> Result<Index, EseError> {
        let ids = Bytes::new(&self.key_fld_ids, self.at);
        let mut segments = Vec::new();
        if (self.flags >> IDXFLAG_SHIFT) & IDX_EXTENDED_COLUMNS != 0 {
            for i in 0..ids.len() / IDXSEG_LEN {
                let at = IDXSEG_LEN * i;
                let bflags = ids.u8("IDXSEG.bFlags", at)?;
                segments.push(IndexSegment {
                    fid: ids.u16("IDXSEG.fid", at + IDXSEG_FID)?,
                    descending: bflags & IDXSEG_DESCENDING != 0,
                });
            }
        } else {
            // ESE97 form: signed i16 fids, negative = descending.
            for i in 0..ids.len() / IDXSEG_OLD_LEN {
                let v = ids.u16("IDXSEG_OLD", IDXSEG_OLD_LEN * i)? as i16;
                segments.push(IndexSegment {
                    fid: v.unsigned_abs(),
                    descending: v < 0,
                });
            }
        }
        Ok(Index {
            name: self.name,
            objid: self.id,
            pgno_fdp: self.coltyp_or_pgno,
            flags: self.flags,
            lcid: self.pages_or_locale,
            segments,
        })
    }
}

/// One row of a table met by [`walk_rows`].
pub struct Row<'a, 'p> {
    pub page: &'p crate::ese::page::Page<'a>,
    pub node: crate::ese::node::Node<'a>,
    pub record: Record<'a>,
}

/// Calls `visit` for every row of `table` in primary-key order.
pub fn walk_rows<'a, F>(db: &Database<'a>, table: &Table, mut visit: F) -> Result<(), EseError>
where
    F: FnMut(Row<'a, '_>) -> Result<ControlFlow<()>, EseError>,
{
    db.walk(
        table.pgno_fdp,
        table.objid,
        |_| {},
        |entry| {
            let record = Record::parse(entry.node.data, db.record_form(entry.page))?;
            visit(Row {
                page: entry.page,
                node: entry.node,
                record,
            })
        },
    )
}

/// Number of rows of `table`.
pub fn count_rows(db: &Database, table: &Table) -> Result<u64, EseError> {
    let mut n = 0u64;
    db.walk(
        table.pgno_fdp,
        table.objid,
        |_| {},
        |_| {
            n += 1;
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(n)
}

/// Every page the table owns by reachability: its own tree, its index trees and its
/// long-value tree (space-tree pages are not included).
pub fn table_pages(db: &Database, table: &Table) -> Result<Vec<u32>, EseError> {
    let mut pages = db.tree_pages(table.pgno_fdp, table.objid)?;
    for index in &table.indexes {
        if index.pgno_fdp != table.pgno_fdp {
            pages.extend(db.tree_pages(index.pgno_fdp, index.objid)?);
        }
    }
    if let Some((pgno, objid)) = table.long_values {
        pages.extend(db.tree_pages(pgno, objid)?);
    }
    pages.sort_unstable();
    pages.dedup();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_row(flags: u32, key_fld_ids: Vec<u8>) -> CatalogRow {
        CatalogRow {
            objid_table: 10,
            kind: sysobj::INDEX,
            id: 11,
            coltyp_or_pgno: 30,
            space_usage: 0,
            flags,
            pages_or_locale: 1033,
            name: "ix".to_string(),
            template: None,
            key_fld_ids,
            default_value: None,
            record_offset: None,
            at: 0x5000,
        }
    }

    #[test]
    fn written_key_fld_ids_read_back_in_both_forms() {
        let segs = [
            IndexSegment {
                fid: 1,
                descending: false,
            },
            IndexSegment {
                fid: 129,
                descending: true,
            },
            IndexSegment {
                fid: 256,
                descending: false,
            },
        ];
        for (extended, flags) in [(false, 0), (true, IDX_EXTENDED_COLUMNS << IDXFLAG_SHIFT)] {
            let mut ids = Vec::new();
            for s in &segs {
                s.write(extended, &mut ids);
            }
            let ix = index_row(flags, ids).into_index().unwrap();
            assert_eq!(ix.segments, segs, "extended: {extended}");
        }
    }

    /// ESE97 indexes list their key columns as signed i16 fids, negative = descending.
    #[test]
    fn ese97_key_fld_ids_are_signed_i16_fids() {
        let mut ids = Vec::new();
        for fid in [1i16, -129, 256] {
            ids.extend_from_slice(&fid.to_le_bytes());
        }
        let ix = index_row(IDB_PRIMARY | IDB_UNIQUE, ids)
            .into_index()
            .unwrap();
        let segs: Vec<(u16, bool)> = ix.segments.iter().map(|s| (s.fid, s.descending)).collect();
        assert_eq!(segs, [(1, false), (129, true), (256, false)]);
        assert!(ix.is_primary() && ix.is_unique());
        assert_eq!((ix.pgno_fdp, ix.lcid), (30, 1033));
    }

    /// Later formats (fIDXExtendedColumns) use 4-byte IDXSEGs: flags byte, reserved, u16 fid.
    #[test]
    fn extended_key_fld_ids_are_four_byte_idxsegs() {
        let ids = vec![0x00, 0, 0x01, 0x00, IDXSEG_DESCENDING, 0, 0x80, 0x00];
        let ix = index_row(IDX_EXTENDED_COLUMNS << IDXFLAG_SHIFT, ids)
            .into_index()
            .unwrap();
        let segs: Vec<(u16, bool)> = ix.segments.iter().map(|s| (s.fid, s.descending)).collect();
        assert_eq!(segs, [(1, false), (128, true)]);
        assert!(!ix.is_primary());
    }

    #[test]
    fn fixed_columns_are_laid_out_by_fid_and_type_size() {
        let column = |fid, coltyp, cb_max| Column {
            fid,
            name: format!("c{fid}"),
            coltyp,
            storage: if fid < 128 {
                Storage::Fixed
            } else {
                Storage::Variable
            },
            cb_max,
            flags: 0,
            code_page: 0,
            fixed_offset: None,
            fixed_size: None,
            default_value: None,
            from_template: false,
            record_offset: None,
        };
        let mut t = Table {
            name: "t".into(),
            objid: 1,
            pgno_fdp: 1,
            flags: 0,
            template: None,
            // Out of order on purpose: layout follows fids.
            columns: vec![
                column(3, 9, 16),
                column(128, 10, 255),
                column(1, 4, 4),
                column(2, 1, 1),
            ],
            indexes: Vec::new(),
            long_values: None,
        };
        t.lay_out_fixed();
        let c = |fid| t.column_by_fid(fid).unwrap();
        assert_eq!((c(1).fixed_offset, c(1).fixed_size), (Some(4), Some(4)));
        assert_eq!((c(2).fixed_offset, c(2).fixed_size), (Some(8), Some(1)));
        assert_eq!((c(3).fixed_offset, c(3).fixed_size), (Some(9), Some(16)));
        assert_eq!(c(128).fixed_offset, None);
    }
}
