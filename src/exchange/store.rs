//! The store model resolved against one database's catalog: where each column the patch reads
//! or rewrites lives (table object id, column id, record offset, size), checked against the
//! profile (store-model.md, "Preconditions"), and the `Globals` row as found.
//!
//! The resolution refuses, naming table and column: a missing table or column, a type or
//! storage other than the profile's, a fixed column whose catalog `RecordOffset` disagrees with
//! the offset derived from the column sizes (a wrong offset would write a GUID into the wrong
//! bytes), and a rewritten column that is part of any index.

use crate::ese::btree::Database;
use crate::ese::catalog::{coltyp_name, walk_rows, Catalog, Column, Storage, Table};
use crate::ese::error::EseError;
use crate::ese::write::record::coltyp_code;
use crate::ese::write::{ColumnDef, Storage as DefStorage, TableDef};
use crate::exchange::profile::{Profile, StoreKind};
use crate::exchange::Guid;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// A fixed column of one table, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct FixedCol {
    pub table: String,
    pub column: String,
    pub fid: u16,
    /// Offset of the column in the record's fixed data.
    pub offset: usize,
    pub size: usize,
}

/// A variable column, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct VarCol {
    pub table: String,
    pub column: String,
    pub fid: u16,
    pub cb_max: u32,
}

/// `Globals`: the columns the patch reads and sets.
#[derive(Clone, Debug, Serialize)]
pub struct GlobalsLayout {
    pub table: String,
    pub objid: u32,
    pub key: FixedCol,
    pub base_guid: FixedCol,
    pub patch_state: FixedCol,
    pub patch_count: FixedCol,
    pub patch_time: FixedCol,
    pub server_name: VarCol,
}

/// A table whose rows carry a store's GUID: rows with the old base GUID get the new one, and
/// the `reset` columns are zeroed in the same rows (`ReplState.CnSeen`).
#[derive(Clone, Debug, Serialize)]
pub struct GuidTable {
    pub table: String,
    pub objid: u32,
    /// The first column of the primary index, shown in the audit log.
    pub key: FixedCol,
    pub guid: FixedCol,
    pub reset: Vec<FixedCol>,
}

/// Every place the patch writes in one database.
#[derive(Clone, Debug, Serialize)]
pub struct StoreLayout {
    pub globals: GlobalsLayout,
    pub guid_tables: Vec<GuidTable>,
}

/// The `Globals` row as found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GlobalsRow {
    pub base_guid: Guid,
    pub server_name: Option<String>,
    pub patch_state: Option<i32>,
    pub patch_count: Option<i32>,
    /// OLE date (days since 1899-12-30).
    pub patch_time: Option<f64>,
}

fn storage_name(s: Storage) -> &'static str {
    match s {
        Storage::Fixed => "fixed",
        Storage::Variable => "variable",
        Storage::Tagged => "tagged",
    }
}

fn def_storage(s: DefStorage) -> Storage {
    match s {
        DefStorage::Fixed => Storage::Fixed,
        DefStorage::Variable => Storage::Variable,
        DefStorage::Tagged => Storage::Tagged,
    }
}

/// Resolves columns of one table; collects every problem rather than stopping at the first.
struct TableResolver<'c> {
    def: &'c TableDef,
    table: &'c Table,
    problems: &'c mut Vec<String>,
}

impl TableResolver<'_> {
    fn column(&mut self, name: &str) -> Option<(&Column, &ColumnDef)> {
        let Some(def) = self.def.columns.iter().find(|c| c.name == name) else {
            self.problems.push(format!(
                "the profile names column {}.{name} but does not define it",
                self.def.name
            ));
            return None;
        };
        let Some(col) = self.table.column(name) else {
            self.problems.push(format!(
                "table {}: column {name} is missing (the store model expects it)",
                self.table.name
            ));
            return None;
        };
        let want_type = coltyp_code(def.coltyp);
        let want_storage = def_storage(def.storage);
        if col.coltyp != want_type || col.storage != want_storage {
            self.problems.push(format!(
                "table {}: column {name} is {} {} (column id {}); the store model expects {} {}",
                self.table.name,
                coltyp_name(col.coltyp),
                storage_name(col.storage),
                col.fid,
                coltyp_name(want_type),
                storage_name(want_storage)
            ));
            return None;
        }
        Some((col, def))
    }

    fn fixed(&mut self, name: &str, rewritten: bool) -> Option<FixedCol> {
        let table = self.table.name.clone();
        let (col, def) = self.column(name)?;
        let (Some(offset), Some(size)) = (col.fixed_offset, col.fixed_size) else {
            return None;
        };
        let fid = col.fid;
        let record_offset = col.record_offset;
        let want_size = def.max_len as usize;
        if size != want_size {
            self.problems.push(format!(
                "table {table}: column {name} holds {size} bytes; the store model expects {want_size}"
            ));
            return None;
        }
        if let Some(ro) = record_offset {
            if usize::from(ro) != offset {
                self.problems.push(format!(
                    "table {table}: column {name} (column id {fid}): the catalog's RecordOffset \
                     is {ro}, the column sizes put it at {offset}; refusing to write into it"
                ));
                return None;
            }
        }
        if rewritten {
            self.check_not_indexed(name, fid);
        }
        Some(FixedCol {
            table,
            column: name.to_string(),
            fid,
            offset,
            size,
        })
    }

    fn variable(&mut self, name: &str) -> Option<VarCol> {
        let table = self.table.name.clone();
        let (col, _) = self.column(name)?;
        let (fid, cb_max) = (col.fid, col.cb_max);
        self.check_not_indexed(name, fid);
        Some(VarCol {
            table,
            column: name.to_string(),
            fid,
            cb_max,
        })
    }

    fn check_not_indexed(&mut self, name: &str, fid: u16) {
        for index in &self.table.indexes {
            if index.segments.iter().any(|s| s.fid == fid) {
                self.problems.push(format!(
                    "table {}: column {name}, which the patch rewrites, is part of index {}; \
                     rewriting it would break the index (isinteg would have to rebuild it)",
                    self.table.name, index.name
                ));
            }
        }
    }

    /// The first column of the profile's primary index.
    fn key(&mut self) -> Option<FixedCol> {
        let Some(pk) = self.def.indexes.iter().find(|i| i.primary) else {
            self.problems.push(format!(
                "the profile gives table {} no primary index",
                self.def.name
            ));
            return None;
        };
        let first = pk.columns.first()?.0.clone();
        self.fixed(&first, false)
    }
}

impl StoreLayout {
    /// Resolves the profile's store model against `catalog` for `store`. `Err` lists every
    /// problem found (each names table and column).
    pub fn resolve(
        catalog: &Catalog,
        store: StoreKind,
        profile: &Profile,
    ) -> Result<StoreLayout, Vec<String>> {
        let roles = &profile.store.roles;
        let mut problems = Vec::new();
        let find = |name: &str, problems: &mut Vec<String>| -> Option<(Table, TableDef)> {
            let def = profile.tables_for(store).find(|t| t.name == name)?.clone();
            match catalog.table(name) {
                Some(t) => Some((t.clone(), def)),
                None => {
                    problems.push(format!(
                        "table {name} is missing (the store model expects it in {})",
                        store.file_name()
                    ));
                    None
                }
            }
        };
        let globals = find(&roles.globals, &mut problems).and_then(|(table, def)| {
            let mut r = TableResolver {
                def: &def,
                table: &table,
                problems: &mut problems,
            };
            let key = r.key();
            let base_guid = r.fixed(&roles.base_guid, true);
            let patch_state = r.fixed(&roles.patch_state, true);
            let patch_count = r.fixed(&roles.patch_count, true);
            let patch_time = r.fixed(&roles.patch_time, true);
            let server_name = r.variable(&roles.server_name);
            Some(GlobalsLayout {
                table: table.name.clone(),
                objid: table.objid,
                key: key?,
                base_guid: base_guid?,
                patch_state: patch_state?,
                patch_count: patch_count?,
                patch_time: patch_time?,
                server_name: server_name?,
            })
        });
        let mut wanted: Vec<(String, String, Vec<String>)> = roles
            .source_guid_tables
            .iter()
            .map(|(t, c)| (t.clone(), c.clone(), Vec::new()))
            .collect();
        if profile
            .tables_for(store)
            .any(|t| t.name == roles.repl_state)
        {
            wanted.push((
                roles.repl_state.clone(),
                roles.repl_server_guid.clone(),
                vec![roles.repl_cn_seen.clone()],
            ));
        }
        let mut guid_tables = Vec::new();
        for (name, guid_col, reset_cols) in wanted {
            let Some((table, def)) = find(&name, &mut problems) else {
                continue;
            };
            let mut r = TableResolver {
                def: &def,
                table: &table,
                problems: &mut problems,
            };
            let key = r.key();
            let guid = r.fixed(&guid_col, true);
            let reset: Vec<Option<FixedCol>> =
                reset_cols.iter().map(|c| r.fixed(c, true)).collect();
            if let (Some(key), Some(guid)) = (key, guid) {
                if reset.iter().all(Option::is_some) {
                    guid_tables.push(GuidTable {
                        table: table.name.clone(),
                        objid: table.objid,
                        key,
                        guid,
                        reset: reset.into_iter().flatten().collect(),
                    });
                }
            }
        }
        match globals {
            Some(globals) if problems.is_empty() => Ok(StoreLayout {
                globals,
                guid_tables,
            }),
            _ => Err(problems),
        }
    }
}

/// Reads the one `Globals` row. More or fewer rows than one is a problem (text says how many).
pub fn read_globals(
    db: &Database,
    catalog: &Catalog,
    layout: &GlobalsLayout,
) -> Result<Result<GlobalsRow, String>, EseError> {
    let Some(table) = catalog.table(&layout.table) else {
        return Ok(Err(format!("table {} is missing", layout.table)));
    };
    let mut rows = Vec::new();
    let mut count = 0u64;
    walk_rows(db, table, |row| {
        count += 1;
        if count > 1 {
            return Ok(ControlFlow::Break(()));
        }
        let rec = &row.record;
        let fixed = |c: &FixedCol| -> Result<Option<Vec<u8>>, EseError> {
            Ok(rec
                .fixed(c.fid, c.offset, c.size)?
                .map(|b| b.as_slice().to_vec()))
        };
        let guid = fixed(&layout.base_guid)?;
        let i32_of = |b: Option<Vec<u8>>| {
            b.and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
                .map(i32::from_le_bytes)
        };
        let f64_of = |b: Option<Vec<u8>>| {
            b.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map(f64::from_le_bytes)
        };
        let server_name = rec
            .variable(layout.server_name.fid)?
            .map(|b| cp1252_text(b.as_slice()));
        rows.push((
            guid,
            server_name,
            i32_of(fixed(&layout.patch_state)?),
            i32_of(fixed(&layout.patch_count)?),
            f64_of(fixed(&layout.patch_time)?),
        ));
        Ok(ControlFlow::Continue(()))
    })?;
    if count != 1 {
        let n = if count > 1 {
            "more than one".to_string()
        } else {
            "no".to_string()
        };
        return Ok(Err(format!(
            "table {} has {n} rows; the store model expects exactly one",
            layout.table
        )));
    }
    let (guid, server_name, patch_state, patch_count, patch_time) = rows.remove(0);
    let Some(guid) = guid.and_then(|g| <[u8; 16]>::try_from(g.as_slice()).ok()) else {
        return Ok(Err(format!(
            "table {}: column {} is NULL in the one row",
            layout.table, layout.base_guid.column
        )));
    };
    Ok(Ok(GlobalsRow {
        base_guid: Guid::from_windows_bytes(guid),
        server_name,
        patch_state,
        patch_count,
        patch_time,
    }))
}

/// Rows of a GUID table: how many in all, and how many per GUID value.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GuidCounts {
    pub rows: u64,
    pub by_guid: BTreeMap<Guid, u64>,
}

/// Counts the rows of `t` per value of its GUID column (a walk of the table's tree).
pub fn count_by_guid(
    db: &Database,
    catalog: &Catalog,
    t: &GuidTable,
) -> Result<GuidCounts, EseError> {
    let mut out = GuidCounts::default();
    let Some(table) = catalog.table(&t.table) else {
        return Ok(out);
    };
    walk_rows(db, table, |row| {
        out.rows += 1;
        if let Some(b) = row.record.fixed(t.guid.fid, t.guid.offset, t.guid.size)? {
            if let Ok(g) = <[u8; 16]>::try_from(b.as_slice()) {
                *out.by_guid.entry(Guid::from_windows_bytes(g)).or_default() += 1;
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// Code page 1252 text to a string (the store's text columns; ASCII for server names).
pub fn cp1252_text(b: &[u8]) -> String {
    b.iter()
        .map(|&c| crate::regf::regfile::cp1252_char(c))
        .collect()
}
