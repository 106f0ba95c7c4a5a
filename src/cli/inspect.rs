//! `coldpatch inspect FILE.edb`: the header (what `eseutil /mh` shows) and every table with
//! its row count, columns and indexes.
//!
//! `--json`: `{"path", "header": {...}, "tables": [{"name", "rows", "columns": [{"name",
//! "type", "storage"}], "indexes": [{"name", "columns"}]}]}`.

use crate::cli::{Exit, Failure, GlobalArgs};
use crate::ese::btree::Database;
use crate::ese::catalog::{coltyp_name, count_rows, Catalog, Storage, Table};
use crate::ese::header::{DbHeader, HeaderCopies};
use crate::image::MappedFile;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
pub struct InspectReport {
    pub path: String,
    pub header: DbHeader,
    pub header_copies: HeaderCopiesSummary,
    pub tables: Vec<TableSummary>,
}

/// Whether the header and its shadow copy agree.
#[derive(Serialize)]
pub struct HeaderCopiesSummary {
    pub primary_checksum_ok: bool,
    pub shadow_checksum_ok: bool,
    /// Absolute offset (in the shadow copy) of the first byte that differs, if any.
    pub first_difference: Option<u64>,
    /// The header shown is the shadow copy (the primary is damaged).
    pub using_shadow: bool,
}

#[derive(Serialize)]
pub struct TableSummary {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<ColumnSummary>,
    pub indexes: Vec<IndexSummary>,
}

#[derive(Serialize)]
pub struct ColumnSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub coltyp: &'static str,
    pub storage: Storage,
    pub code_page: u32,
}

#[derive(Serialize)]
pub struct IndexSummary {
    pub name: String,
    /// Key columns in order; a leading `-` marks a descending segment.
    pub columns: Vec<String>,
    pub primary: bool,
    pub unique: bool,
}

/// Builds the report for a database already in memory.
pub fn inspect_bytes(path: &Path, bytes: &[u8]) -> Result<InspectReport, Failure> {
    let copies = HeaderCopies::read(bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let header_copies = HeaderCopiesSummary {
        primary_checksum_ok: copies.primary_checksum.is_good() && copies.primary_error.is_none(),
        shadow_checksum_ok: copies.shadow_checksum.is_some_and(|c| c.is_good()),
        first_difference: copies
            .first_difference
            .map(|d| u64::from(copies.header.page_size) + d as u64),
        using_shadow: copies.used_shadow,
    };
    let db =
        Database::open(bytes).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let catalog = Catalog::read(&db).map_err(|e| {
        Failure::refused(format!("{}: cannot read the catalog: {e}", path.display()))
    })?;
    let mut tables = Vec::new();
    for t in &catalog.tables {
        let rows = count_rows(&db, t).map_err(|e| {
            Failure::refused(format!(
                "{}: table {}: cannot walk its rows: {e}",
                path.display(),
                t.name
            ))
        })?;
        tables.push(summarise(t, rows));
    }
    Ok(InspectReport {
        path: path.display().to_string(),
        header: db.header.clone(),
        header_copies,
        tables,
    })
}

fn summarise(t: &Table, rows: u64) -> TableSummary {
    TableSummary {
        name: t.name.clone(),
        rows,
        columns: t
            .columns
            .iter()
            .map(|c| ColumnSummary {
                name: c.name.clone(),
                coltyp: coltyp_name(c.coltyp),
                storage: c.storage,
                code_page: c.code_page,
            })
            .collect(),
        indexes: t
            .indexes
            .iter()
            .map(|i| IndexSummary {
                name: i.name.clone(),
                columns: i
                    .segments
                    .iter()
                    .map(|s| {
                        let name = t
                            .column_by_fid(s.fid)
                            .map_or_else(|| format!("fid {}", s.fid), |c| c.name.clone());
                        if s.descending {
                            format!("-{name}")
                        } else {
                            name
                        }
                    })
                    .collect(),
                primary: i.is_primary(),
                unique: i.is_unique(),
            })
            .collect(),
    }
}

pub fn run(global: &GlobalArgs, target: &Path) -> Result<Exit, Failure> {
    let map = MappedFile::open(target).map_err(|e| Failure::usage(e.to_string()))?;
    let report = inspect_bytes(target, map.bytes())?;
    if global.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::usage(format!("cannot format the JSON report: {e}")))?;
        println!("{text}");
        return Ok(Exit::Ok);
    }
    println!("Database: {}", report.path);
    for (k, v) in report.header.describe() {
        println!("{k:>30}: {v}");
    }
    let hc = &report.header_copies;
    let copies = match (
        hc.first_difference,
        hc.primary_checksum_ok,
        hc.shadow_checksum_ok,
    ) {
        (None, true, true) => "identical, checksums good".to_string(),
        (diff, p, s) => format!(
            "DIFFER{} (primary checksum {}, shadow checksum {}){}",
            diff.map_or(String::new(), |d| format!(" from offset {d:#x}")),
            if p { "good" } else { "BAD" },
            if s { "good" } else { "BAD" },
            if hc.using_shadow {
                "; showing the shadow copy"
            } else {
                ""
            }
        ),
    };
    println!("{:>30}: {copies}", "Header copies");
    for t in &report.tables {
        println!();
        println!("Table {} ({} rows)", t.name, t.rows);
        if global.quiet {
            continue;
        }
        for c in &t.columns {
            let cp = if c.code_page != 0 && matches!(c.coltyp, "Text" | "LongText") {
                format!(" code page {}", c.code_page)
            } else {
                String::new()
            };
            println!(
                "  column {} {} {}{cp}",
                c.name,
                c.coltyp,
                match c.storage {
                    Storage::Fixed => "fixed",
                    Storage::Variable => "variable",
                    Storage::Tagged => "tagged",
                }
            );
        }
        for i in &t.indexes {
            println!(
                "  index {}{}{} ({})",
                i.name,
                if i.primary { " primary" } else { "" },
                if i.unique { " unique" } else { "" },
                i.columns.join(", ")
            );
        }
    }
    Ok(Exit::Ok)
}
