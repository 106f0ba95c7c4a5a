//! The real ESE samples read and verified, cross-checked against dissect.esedb.
//!
//! * `verify` reports every page of every sample good (exit 0, JSON fields as documented);
//! * `inspect`'s tables, row counts, columns and indexes equal dissect.esedb's;
//! * every column value we decode (fixed, variable, tagged, multi-valued, intrinsic and
//!   separated long values) equals dissect.esedb's, except compressed values (not decoded);
//! * the single old-format page `page.1` verifies with the old XOR checksum.

mod ese_support;

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{walk_rows, Catalog, Column, Storage};
use coldpatch::ese::checksum::{check_page, PageCheck, PageChecksumFormat};
use coldpatch::ese::longvalue::read_long_value;
use coldpatch::ese::record::Record;
use ese_support::*;
use serde_json::Value;
use std::ops::ControlFlow;
use std::process::Command;

fn coldpatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args(args)
        .output()
        .expect("run coldpatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_reports_every_page_of_every_sample_good() {
    let dir = tempfile::tempdir().unwrap();
    let paths = decompress_all(dir.path());
    let mut args = vec!["verify", "--json"];
    let strs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(strs.iter().map(String::as_str));
    let (code, stdout, stderr) = coldpatch(&args);
    assert_eq!(code, 0, "verify failed: {stdout}{stderr}");
    let reports: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reports.len(), paths.len());
    for (r, path) in reports.iter().zip(&paths) {
        let len = std::fs::metadata(path).unwrap().len();
        let db_bytes = std::fs::read(path).unwrap();
        let cb = Database::open(&db_bytes).unwrap().page_size as u64;
        assert_eq!(r["path"], path.display().to_string());
        assert_eq!(r["kind"], "ese");
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["pages"], len / cb - 2, "{r}");
        assert_eq!(r["state"], "clean_shutdown");
        assert_eq!(r["errors"], Value::Array(vec![]));
    }
}

#[test]
fn inspect_tables_rows_columns_and_indexes_equal_dissect() {
    let dir = tempfile::tempdir().unwrap();
    for path in decompress_all(dir.path()) {
        let (code, stdout, stderr) = coldpatch(&["inspect", "--json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        let ours: Value = serde_json::from_str(&stdout).unwrap();
        let theirs = dissect_dump(&path);
        let their_tables = theirs.as_object().unwrap();
        let our_tables = ours["tables"].as_array().unwrap();
        let our_names: Vec<&str> = our_tables
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let their_names: Vec<&str> = their_tables.keys().map(String::as_str).collect();
        let mut sorted = our_names.clone();
        sorted.sort_unstable();
        let mut their_sorted = their_names.clone();
        their_sorted.sort_unstable();
        assert_eq!(sorted, their_sorted, "{}", path.display());
        assert_eq!(ours["header"]["state"], "clean_shutdown");
        assert_eq!(ours["header"]["version"], 0x620);
        assert_eq!(ours["header_copies"]["first_difference"], Value::Null);
        assert_eq!(ours["header_copies"]["primary_checksum_ok"], true);
        for t in our_tables {
            let name = t["name"].as_str().unwrap();
            let d = &theirs[name];
            assert_eq!(t["rows"], d["rows"], "{} table {name}", path.display());
            let cols: Vec<&Value> = t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| &c["name"])
                .collect();
            let dcols: Vec<&Value> = d["columns"].as_array().unwrap().iter().collect();
            assert_eq!(cols, dcols, "{} table {name} columns", path.display());
            for c in t["columns"].as_array().unwrap() {
                assert!(["fixed", "variable", "tagged"].contains(&c["storage"].as_str().unwrap()));
                assert!(c["type"].as_str().unwrap() != "unknown");
            }
            let idx = t["indexes"].as_array().unwrap();
            assert_eq!(idx.len(), d["indexes"].as_object().unwrap().len(), "{name}");
            for i in idx {
                let iname = i["name"].as_str().unwrap();
                let ours: Vec<String> = i["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().trim_start_matches('-').to_string())
                    .collect();
                let theirs: Vec<String> = d["indexes"][iname]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: index {iname} unknown to dissect"))
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(ours, theirs, "{} {name} index {iname}", path.display());
            }
        }
    }
}

/// Our decoding of one column of one record: `None` = NULL, `Some(Err)` = not comparable
/// (compressed), else the instances (one for a single value).
fn decode(
    db: &Database,
    table: &coldpatch::ese::catalog::Table,
    rec: &Record,
    c: &Column,
) -> Option<Result<Vec<String>, ()>> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let default = || c.default_value.as_ref().map(|d| Ok(vec![hex(d)]));
    match c.storage {
        Storage::Fixed if c.fid > u16::from(rec.fid_fixed_last) => default(),
        Storage::Variable if c.fid > u16::from(rec.fid_var_last) => default(),
        Storage::Fixed => rec
            .fixed(c.fid, c.fixed_offset.unwrap(), c.fixed_size.unwrap())
            .unwrap()
            .map(|b| Ok(vec![hex(b.as_slice())])),
        Storage::Variable => rec
            .variable(c.fid)
            .unwrap()
            .map(|b| Ok(vec![hex(b.as_slice())])),
        Storage::Tagged => {
            let Some(col) = rec.tagged_column(c.fid).unwrap() else {
                return default();
            };
            if col.null || col.instances.is_empty() {
                return None;
            }
            let mut out = Vec::new();
            for inst in &col.instances {
                if inst.compressed {
                    return Some(Err(()));
                }
                if inst.separated {
                    let v = read_long_value(db, table, inst.data).unwrap();
                    if !v.is_plain() {
                        // Compressed chunks: dissect decompresses, we do not.
                        return Some(Err(()));
                    }
                    out.push(hex(&v.data));
                } else {
                    out.push(hex(inst.data.as_slice()));
                }
            }
            Some(Ok(out))
        }
    }
}

/// dissect.esedb decodes text and drops trailing NUL characters; do the same to ours.
fn strip_text_nuls(c: &Column, mut hex: String) -> String {
    const TEXT: u32 = 10;
    const LONG_TEXT: u32 = 12;
    const UNICODE: u32 = 1200;
    if c.coltyp != TEXT && c.coltyp != LONG_TEXT {
        return hex;
    }
    let unit = if c.code_page == UNICODE { "0000" } else { "00" };
    // An odd trailing byte of UTF-16 text is dropped by the decoder.
    hex.truncate(hex.len() - hex.len() % unit.len());
    while hex.len() % unit.len() == 0 && hex.ends_with(unit) {
        hex.truncate(hex.len() - unit.len());
    }
    hex
}

#[test]
fn every_column_value_equals_dissect() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let mut long_values = 0;
    for path in decompress_all(dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        let db = Database::open(&bytes).unwrap();
        let catalog = Catalog::read(&db).unwrap();
        let theirs = dissect_dump(&path);
        for table in &catalog.tables {
            let dvalues = theirs[&table.name]["values"].as_array().unwrap();
            let dcols = theirs[&table.name]["columns"].as_array().unwrap();
            let mut i = 0;
            walk_rows(&db, table, |row| {
                let drow = dvalues[i].as_array().unwrap();
                for c in &table.columns {
                    let j = dcols.iter().position(|n| n == c.name.as_str()).unwrap();
                    let d = &drow[j];
                    // dissect decodes multi-values and long values (strip as it does).
                    let decoded = matches!(d, Value::Array(_)) || c.coltyp == 11 || c.coltyp == 12;
                    let ours = decode(&db, table, &row.record, c).map(|r| {
                        r.map(|v| {
                            v.into_iter()
                                .map(|h| if decoded { strip_text_nuls(c, h) } else { h })
                                .collect::<Vec<_>>()
                        })
                    });
                    let what = format!(
                        "{} {} row {i} column {}",
                        path.display(),
                        table.name,
                        c.name
                    );
                    match (ours, d) {
                        (None, Value::Null) => {}
                        (None, Value::Array(a)) if a.is_empty() => {}
                        (Some(Err(())), _) => {}
                        (_, Value::String(s)) if s == "?" => {}
                        (Some(Ok(v)), Value::String(s)) => {
                            // Compressed separated values: dissect decompresses, we do not.
                            if c.name.contains("Compressed") {
                                continue;
                            }
                            assert_eq!(v.len(), 1, "{what}");
                            assert_eq!(&v[0], s, "{what}");
                            compared += 1;
                            if c.coltyp >= 11 && c.coltyp <= 12 && v[0].len() > 500 {
                                long_values += 1;
                            }
                        }
                        (Some(Ok(v)), Value::Array(a)) => {
                            if c.name.contains("Compressed") || a.iter().any(|x| x == "?") {
                                continue;
                            }
                            let a: Vec<&str> = a.iter().map(|x| x.as_str().unwrap_or("")).collect();
                            assert_eq!(v, a, "{what}");
                            compared += 1;
                        }
                        (ours, d) => panic!("{what}: ours {ours:?}, dissect {d}"),
                    }
                }
                i += 1;
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
            assert_eq!(i, dvalues.len(), "{} rows", table.name);
        }
    }
    assert!(compared > 1000, "only {compared} values compared");
    assert!(
        long_values >= 3,
        "only {long_values} separated long values compared"
    );
}

#[test]
fn libesedb_old_format_page_verifies() {
    let page = std::fs::read(format!("{SAMPLES}/page.1")).unwrap();
    assert_eq!(
        check_page(&page, 1),
        PageCheck::Good(PageChecksumFormat::OldXor)
    );
    assert!(matches!(
        check_page(&page, 2),
        PageCheck::Bad(PageChecksumFormat::OldXor, _)
    ));
}

/// Rows come out in key order (keys rebuilt from page prefixes must sort), and every page a
/// tree reaches lies inside the extents its space tree says it owns, which lie inside the
/// database's.
#[test]
fn walks_are_in_key_order_and_reach_only_owned_pages() {
    use coldpatch::ese::catalog::table_pages;
    use coldpatch::ese::space::{database_last_owned_page, owned_extents};
    let mut trees = 0;
    for name in sample_names() {
        let bytes = sample_bytes(&name);
        let db = Database::open(&bytes).unwrap();
        let catalog = Catalog::read(&db).unwrap();
        let db_last = database_last_owned_page(&db).unwrap();
        assert!(db_last <= db.last_pgno && db_last > 4, "{name}: {db_last}");
        for table in &catalog.tables {
            let mut keys: Vec<Vec<u8>> = Vec::new();
            walk_rows(&db, table, |row| {
                keys.push(row.node.key());
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "{name} {}: primary keys out of order",
                table.name
            );
            let mut roots = vec![(table.pgno_fdp, table.objid)];
            roots.extend(table.indexes.iter().map(|i| (i.pgno_fdp, i.objid)));
            roots.extend(table.long_values);
            for (root, objid) in roots {
                let owned = owned_extents(&db, root, objid).unwrap();
                for pgno in db.tree_pages(root, objid).unwrap() {
                    assert!(
                        owned.iter().any(|r| r.contains(&pgno)),
                        "{name} {}: page {pgno} of tree {root} outside its extents {owned:?}",
                        table.name
                    );
                    assert!(pgno <= db_last);
                }
                trees += 1;
            }
            let all = table_pages(&db, table).unwrap();
            assert!(all.contains(&table.pgno_fdp));
            assert!(all.windows(2).all(|w| w[0] < w[1]));
        }
    }
    assert!(trees > 50, "only {trees} trees checked");
}

/// `walk_from` (the long-value seek) reaches every key of every multi-leaf tree of the
/// samples (tables and long-value trees) after visiting at most the leaf before the key's own
/// leaf, never the whole tree from its first leaf.
#[test]
fn walk_from_seeks_by_key_instead_of_walking_from_the_first_leaf() {
    let mut seeks = 0;
    for name in sample_names() {
        let bytes = sample_bytes(&name);
        let db = Database::open(&bytes).unwrap();
        let catalog = Catalog::read(&db).unwrap();
        let trees = catalog
            .tables
            .iter()
            .flat_map(|t| std::iter::once((t.pgno_fdp, t.objid)).chain(t.long_values));
        for (root, objid) in trees {
            let mut leaves: Vec<(u32, Vec<u8>)> = Vec::new();
            db.walk(
                root,
                objid,
                |_| {},
                |e| {
                    if leaves.last().map(|l| l.0) != Some(e.page.pgno) {
                        leaves.push((e.page.pgno, e.node.key()));
                    }
                    Ok(ControlFlow::Continue(()))
                },
            )
            .unwrap();
            if leaves.len() < 3 {
                continue;
            }
            for (i, (pgno, key)) in leaves.iter().enumerate().skip(1) {
                let mut pages = Vec::new();
                let mut found = None;
                db.walk_from(root, objid, key, |e| {
                    if pages.last() != Some(&e.page.pgno) {
                        pages.push(e.page.pgno);
                    }
                    let k = e.node.key();
                    if k >= *key {
                        found = Some((e.page.pgno, k));
                        return Ok(ControlFlow::Break(()));
                    }
                    Ok(ControlFlow::Continue(()))
                })
                .unwrap();
                assert_eq!(found, Some((*pgno, key.clone())), "{name}: leaf {i}");
                assert!(pages.len() <= 2, "{name}: leaf {i}: visited {pages:?}");
                seeks += 1;
            }
        }
    }
    assert!(
        seeks >= 3,
        "the samples have only {seeks} leaves to seek to"
    );
}
