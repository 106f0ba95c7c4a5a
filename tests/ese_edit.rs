//! The edit primitives on copies of the real samples (revision 0x14, XOR+ECC checksums; 4 and
//! 8 KiB pages). After each edit: the file verifies; dissect.esedb and libesedb's
//! `esedbexport` see the new value and nothing else changed; the byte difference is confined
//! to the edited record, the page header's dbtime and checksum (plus, for a length change,
//! the page's tags, free-space counters and moved lines), and the file header's dbtime and
//! checksum in both copies.

mod ese_support;

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{walk_rows, Catalog, Column, Storage, Table};
use coldpatch::ese::edit::{apply, record_with_variable, ByteChange, EditError, EditSession};
use coldpatch::ese::header::HeaderCopies;
use coldpatch::ese::node::Node;
use coldpatch::ese::record::{Record, RecordForm};
use coldpatch::ese::verify::verify_file;
use ese_support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::process::Command;

/// The first row of `table`: (page, itag, absolute offset of its record).
fn first_row(db: &Database, table: &Table) -> (u32, usize, u64) {
    let mut found = None;
    walk_rows(db, table, |row| {
        found = Some((row.page.pgno, row.node.itag, row.node.data.base()));
        Ok(ControlFlow::Break(()))
    })
    .unwrap();
    found.expect("table has a row")
}

/// libesedb's export: table file name → lines of tab-separated cells.
fn esedbexport(path: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let out = Command::new("esedbexport")
        .arg("-t")
        .arg(&target)
        .arg(path)
        .output()
        .expect("esedbexport (libesedb-utils) installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tables = BTreeMap::new();
    for e in std::fs::read_dir(dir.path().join("out.export")).unwrap() {
        let e = e.unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
        let rows = text
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        tables.insert(e.file_name().to_string_lossy().into_owned(), rows);
    }
    tables
}

/// Cells that differ between two exports: (table file, row, column).
fn export_differences(
    a: &BTreeMap<String, Vec<Vec<String>>>,
    b: &BTreeMap<String, Vec<Vec<String>>>,
) -> Vec<(String, usize, usize)> {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut out = Vec::new();
    for (name, rows) in a {
        let other = &b[name];
        assert_eq!(rows.len(), other.len(), "{name}: row count changed");
        for (i, (r1, r2)) in rows.iter().zip(other).enumerate() {
            for j in 0..r1.len().max(r2.len()) {
                if r1.get(j) != r2.get(j) {
                    out.push((name.clone(), i, j));
                }
            }
        }
    }
    out
}

/// Cells that differ between two dissect dumps: (table, row, column name, new value).
fn dissect_differences(a: &Value, b: &Value) -> Vec<(String, usize, String, Value)> {
    let mut out = Vec::new();
    for (table, t) in a.as_object().unwrap() {
        let u = &b[table];
        assert_eq!(t["rows"], u["rows"], "{table}: row count changed");
        let cols = t["columns"].as_array().unwrap();
        for (i, (r1, r2)) in t["values"]
            .as_array()
            .unwrap()
            .iter()
            .zip(u["values"].as_array().unwrap())
            .enumerate()
        {
            for (j, c) in cols.iter().enumerate() {
                if r1[j] != r2[j] {
                    out.push((
                        table.clone(),
                        i,
                        c.as_str().unwrap().to_string(),
                        r2[j].clone(),
                    ));
                }
            }
        }
    }
    out
}

/// Every byte offset where `a` and `b` differ.
fn changed_offsets(a: &[u8], b: &[u8]) -> Vec<usize> {
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i)
        .collect()
}

/// The places a page edit may touch besides the record: the file header's checksum and
/// dbtime in both copies, and the page's checksum and dbtime.
fn bookkeeping(cb: usize, page_off: usize) -> Vec<Range<usize>> {
    vec![
        0..4,
        16..24,
        cb..cb + 4,
        cb + 16..cb + 24,
        page_off..page_off + 16,
    ]
}

fn write_and_check(
    dir: &Path,
    name: &str,
    edited: &[u8],
) -> (Value, BTreeMap<String, Vec<Vec<String>>>) {
    let report = verify_file(edited, 2, &|_| {}).unwrap();
    assert!(
        report.ok(),
        "{name}: edited file does not verify: {:?}",
        report.findings
    );
    let path = dir.join(name);
    std::fs::write(&path, edited).unwrap();
    // The CLI agrees.
    let status = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(0), "{name}: coldpatch verify");
    let copies = HeaderCopies::read(edited).unwrap();
    assert!(copies.primary_checksum.is_good());
    assert_eq!(
        copies.first_difference, None,
        "{name}: header copies differ"
    );
    (dissect_dump(&path), esedbexport(&path))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fixed, non-indexed column stored in `rec`.
fn editable_fixed_column<'t>(table: &'t Table, rec: &Record) -> Option<&'t Column> {
    table.columns.iter().find(|c| {
        c.storage == Storage::Fixed
            && !table.is_indexed(c.fid)
            && c.fixed_size.unwrap_or(0) >= 2
            && rec
                .fixed_range(c.fid, c.fixed_offset.unwrap(), c.fixed_size.unwrap())
                .ok()
                .flatten()
                .is_some()
    })
}

#[test]
fn overwriting_a_fixed_column_changes_that_value_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut edited_tables = 0;
    for name in sample_names() {
        let original = sample_bytes(&name);
        let db = Database::open(&original).unwrap();
        let cb = db.page_size as usize;
        let catalog = Catalog::read(&db).unwrap();
        let orig_path = dir.path().join(name.trim_end_matches(".gz"));
        std::fs::write(&orig_path, &original).unwrap();
        let before_dissect = dissect_dump(&orig_path);
        let before_export = esedbexport(&orig_path);
        for table in catalog
            .tables
            .iter()
            .filter(|t| !t.name.starts_with("MSys"))
        {
            let (pgno, itag, _) = first_row(&db, table);
            let page = db.page(pgno, 0, "row page").unwrap();
            let node = Node::parse(&page, itag).unwrap();
            let rec = Record::parse(node.data, db.record_form(&page)).unwrap();
            let Some(col) = editable_fixed_column(table, &rec) else {
                continue;
            };
            let (off, size) = (col.fixed_offset.unwrap(), col.fixed_size.unwrap());
            let old = rec.fixed(col.fid, off, size).unwrap().unwrap();
            let value: Vec<u8> = old.as_slice().iter().map(|b| !b).collect();
            let col_abs = old.base() as usize..old.base() as usize + size;

            let mut session = EditSession::new(&db);
            let mut changes = Vec::new();
            session
                .page(pgno)
                .unwrap()
                .set_fixed_column(itag, col, &value, &mut changes)
                .unwrap();
            // The primitive reports exactly the column's bytes.
            assert_eq!(
                changes,
                vec![ByteChange {
                    offset: col_abs.start as u64,
                    old: old.as_slice().to_vec(),
                    new: value.clone()
                }]
            );
            let all = session.finish().unwrap();
            let mut edited = original.clone();
            apply(&mut edited, &all).unwrap();

            let page_off = (pgno as usize + 1) * cb;
            let mut allowed = bookkeeping(cb, page_off);
            allowed.push(col_abs.clone());
            for at in changed_offsets(&original, &edited) {
                assert!(
                    allowed.iter().any(|r| r.contains(&at)),
                    "{name} {}: byte {at:#x} changed outside the record, dbtimes and checksums",
                    table.name
                );
            }
            let new_db = Database::open(&edited).unwrap();
            assert_eq!(new_db.header.dbtime, db.header.dbtime + 1);
            let new_page = new_db.page(pgno, 0, "page").unwrap();
            assert_eq!(new_page.header.dbtime_dirtied, db.header.dbtime + 1);

            let (after_dissect, after_export) = write_and_check(
                dir.path(),
                &format!("fixed-{}", name.trim_end_matches(".gz")),
                &edited,
            );
            let d = dissect_differences(&before_dissect, &after_dissect);
            assert_eq!(d.len(), 1, "{name}: dissect sees {d:?}");
            assert_eq!(d[0].0, table.name);
            assert_eq!(d[0].2, col.name);
            if d[0].3 != "?" {
                assert_eq!(d[0].3, hex(&value));
            }
            let e = export_differences(&before_export, &after_export);
            assert_eq!(e.len(), 1, "{name}: esedbexport sees {e:?}");
            assert!(e[0].0.starts_with(&table.name));
            edited_tables += 1;
        }
    }
    assert!(
        edited_tables >= 4,
        "only {edited_tables} tables had an editable fixed column"
    );
}

/// Sets variable column `fid` of the first row of `table` to `value` in `file`; returns the
/// new file, or the refusal.
fn set_variable(file: &[u8], table: &str, fid: u16, value: &[u8]) -> Result<Vec<u8>, EditError> {
    let db = Database::open(file).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let table = catalog.table(table).unwrap();
    let (pgno, itag, _) = first_row(&db, table);
    let page = db.page(pgno, 0, "row page").unwrap();
    let node = Node::parse(&page, itag).unwrap();
    let form = db.record_form(&page);
    assert!(matches!(form, RecordForm::Ese98 { .. }));
    let rec = Record::parse(node.data, form).unwrap();
    let new_record = record_with_variable(&rec, fid, Some(value))?;
    let mut session = EditSession::new(&db);
    session
        .page(pgno)?
        .replace_record(itag, &new_record, &mut Vec::new())?;
    let changes = session.finish()?;
    let mut out = file.to_vec();
    apply(&mut out, &changes)?;
    Ok(out)
}

#[test]
fn rewriting_a_row_whose_length_changes_stays_inside_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut reorganised = 0;
    for (sample, table_name, column) in [
        ("text.edb.gz", "text", "ASCII"),
        ("binary.edb.gz", "binary", "Binary"),
    ] {
        let original = sample_bytes(sample);
        let db = Database::open(&original).unwrap();
        let cb = db.page_size as usize;
        let catalog = Catalog::read(&db).unwrap();
        let table = catalog.table(table_name).unwrap();
        let col = table.column(column).unwrap();
        assert_eq!(col.storage, Storage::Variable);
        assert!(!table.is_indexed(col.fid));
        let (pgno, itag, _) = first_row(&db, table);
        let page_range = (pgno as usize + 1) * cb..(pgno as usize + 2) * cb;
        let orig_path = dir.path().join(sample.trim_end_matches(".gz"));
        std::fs::write(&orig_path, &original).unwrap();
        let before_dissect = dissect_dump(&orig_path);
        let before_export = esedbexport(&orig_path);

        let check = |edited: &[u8], label: &str, value: &[u8]| {
            for at in changed_offsets(&original, edited) {
                assert!(
                    page_range.contains(&at)
                        || bookkeeping(cb, page_range.start)
                            .iter()
                            .any(|r| r.contains(&at)),
                    "{label}: byte {at:#x} changed outside the row's page and the header"
                );
            }
            let (after_dissect, after_export) = write_and_check(dir.path(), label, edited);
            let d = dissect_differences(&before_dissect, &after_dissect);
            assert_eq!(d.len(), 1, "{label}: dissect sees {d:?}");
            assert_eq!((d[0].0.as_str(), d[0].2.as_str()), (table_name, column));
            assert_eq!(d[0].3, hex(value), "{label}");
            let e = export_differences(&before_export, &after_export);
            assert_eq!(e.len(), 1, "{label}: esedbexport sees {e:?}");
        };

        // Shorter: rewritten where it is.
        let short = b"x".to_vec();
        let shrunk = set_variable(&original, table_name, col.fid, &short).unwrap();
        check(&shrunk, &format!("{table_name}-shrunk"), &short);

        // Longer, into the contiguous free area.
        let longer: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        let grown = set_variable(&original, table_name, col.fid, &longer).unwrap();
        check(&grown, &format!("{table_name}-grown"), &longer);

        // From the shrunk file (a hole in the page), longer than the contiguous free area
        // but within cbFree: the page is reorganised.
        let db2 = Database::open(&shrunk).unwrap();
        let page = db2.page(pgno, 0, "row page").unwrap();
        let node = Node::parse(&page, itag).unwrap();
        let tags_start = cb - 4 * page.tag_count();
        let contiguous = tags_start - (page.header_len() + usize::from(page.header.ib_mic_free));
        let free = usize::from(page.header.cb_free);
        assert!(free > contiguous, "shrinking left no hole");
        let grow_by = (contiguous + 8).saturating_sub(node.line_len).max(8);
        if grow_by <= free {
            let value: Vec<u8> = (0..short.len() + grow_by)
                .map(|i| b'A' + (i % 26) as u8)
                .collect();
            let big = set_variable(&shrunk, table_name, col.fid, &value).unwrap();
            check(&big, &format!("{table_name}-reorganised"), &value);
            let p = Database::open(&big).unwrap();
            let p = p.page(pgno, 0, "page").unwrap();
            assert_eq!(usize::from(p.header.cb_free), free - grow_by);
            reorganised += 1;
        }

        // More than the page can hold: refused, nothing written.
        let huge = vec![b'z'; cb];
        match set_variable(&original, table_name, col.fid, &huge) {
            Err(EditError::NoRoom { pgno: p, .. }) => assert_eq!(p, pgno),
            other => panic!("expected NoRoom, got {:?}", other.map(|_| ())),
        }
    }
    assert!(reorganised >= 1, "no sample exercised the reorganisation");
}

#[test]
fn same_length_variable_and_tagged_overwrites_change_only_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let original = sample_bytes("binary.edb.gz");
    let db = Database::open(&original).unwrap();
    let cb = db.page_size as usize;
    let catalog = Catalog::read(&db).unwrap();
    let table = catalog.table("binary").unwrap();
    let (pgno, itag, rec_at) = first_row(&db, table);
    let page = db.page(pgno, 0, "row page").unwrap();
    let node = Node::parse(&page, itag).unwrap();
    let rec = Record::parse(node.data, db.record_form(&page)).unwrap();
    let var = table.column("Binary").unwrap();
    let var_range = rec.variable_range(var.fid).unwrap().unwrap();
    let tagged = table.column("TaggedBinary").unwrap();
    let tcol = rec.tagged_column(tagged.fid).unwrap().unwrap();
    let inst = tcol.instances[0].data;
    let tagged_at = (inst.base() - rec_at) as usize;

    let orig_path = dir.path().join("binary.edb");
    std::fs::write(&orig_path, &original).unwrap();
    let before = dissect_dump(&orig_path);
    let before_export = esedbexport(&orig_path);

    let new_var = vec![0xA5u8; var_range.len()];
    let new_tagged: Vec<u8> = inst.as_slice().iter().map(|b| b ^ 0x5A).collect();
    let mut session = EditSession::new(&db);
    let page_buf = session.page(pgno).unwrap();
    let (mut c1, mut c2) = (Vec::new(), Vec::new());
    page_buf
        .overwrite_in_record(itag, var_range.start, &new_var, &mut c1)
        .unwrap();
    page_buf
        .overwrite_in_record(itag, tagged_at, &new_tagged, &mut c2)
        .unwrap();
    assert_eq!(c1.len(), 1);
    assert_eq!(c1[0].offset, rec_at + var_range.start as u64);
    assert_eq!(c2[0].offset, inst.base());
    // Past the record's end: refused.
    assert!(page_buf
        .overwrite_in_record(itag, rec.bytes.len() - 1, &[0, 0], &mut Vec::new())
        .is_err());
    let mut edited = original.clone();
    apply(&mut edited, &session.finish().unwrap()).unwrap();

    let mut allowed = bookkeeping(cb, (pgno as usize + 1) * cb);
    allowed.push(rec_at as usize + var_range.start..rec_at as usize + var_range.end);
    allowed.push(inst.base() as usize..inst.base() as usize + inst.len());
    for at in changed_offsets(&original, &edited) {
        assert!(
            allowed.iter().any(|r| r.contains(&at)),
            "byte {at:#x} changed"
        );
    }
    let (after, after_export) = write_and_check(dir.path(), "binary-overwrite.edb", &edited);
    let mut d = dissect_differences(&before, &after);
    d.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].2, "Binary");
    assert_eq!(d[0].3, hex(&new_var));
    assert_eq!(d[1].2, "TaggedBinary");
    assert_eq!(d[1].3, hex(&new_tagged));
    assert_eq!(export_differences(&before_export, &after_export).len(), 2);
}

/// Runs `set_variable` on the file at `path` (column ASCII of the first row of table `text`)
/// and writes the result back only when the edit is accepted, as a patch run would.
fn edit_text_file(path: &Path) -> Result<(), EditError> {
    let file = std::fs::read(path).unwrap();
    let db = Database::open(&file).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let fid = catalog.table("text").unwrap().column("ASCII").unwrap().fid;
    let out = set_variable(&file, "text", fid, b"checksum test")?;
    std::fs::write(path, out).unwrap();
    Ok(())
}

/// The row's page and a byte inside its record that no reader checks but the checksum.
fn text_row_page(file: &[u8]) -> (u32, u64) {
    let db = Database::open(file).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let (pgno, _, rec_at) = first_row(&db, catalog.table("text").unwrap());
    (pgno, rec_at)
}

#[test]
fn edit_refuses_a_page_with_a_bad_checksum_and_leaves_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.edb");
    let mut file = sample_bytes("text.edb.gz");
    let (pgno, rec_at) = text_row_page(&file);
    // The last byte of the page (inside its tag array): damage only the checksum sees.
    let cb = Database::open(&file).unwrap().page_size as usize;
    let page_end = (pgno as usize + 2) * cb;
    assert!((rec_at as usize) < page_end);
    file[page_end - 1] ^= 0x10;
    std::fs::write(&path, &file).unwrap();
    let err = edit_text_file(&path).expect_err("edit of a damaged page accepted");
    let msg = err.to_string();
    assert!(msg.contains(&format!("page {pgno}")), "{msg}");
    assert!(msg.contains("page checksum"), "{msg}");
    let page_off = (pgno as u64 + 1) * cb as u64;
    assert!(msg.contains(&format!("{page_off:#x}")), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), file, "file changed");
    // The undamaged file is accepted, so the refusal is the checksum's.
    file[page_end - 1] ^= 0x10;
    std::fs::write(&path, &file).unwrap();
    edit_text_file(&path).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), file);
}

#[test]
fn edit_refuses_a_dirty_database_or_a_damaged_or_disagreeing_header() {
    use coldpatch::ese::checksum::stamp_header;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.edb");
    let original = sample_bytes("text.edb.gz");
    let cb = Database::open(&original).unwrap().page_size as usize;
    let restamp = |f: &mut Vec<u8>| {
        stamp_header(&mut f[..cb]);
        stamp_header(&mut f[cb..2 * cb]);
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Dirty shutdown (state 2) in both copies, checksums valid.
    let mut dirty = original.clone();
    for base in [0, cb] {
        dirty[base + 52..base + 56].copy_from_slice(&2u32.to_le_bytes());
    }
    restamp(&mut dirty);
    cases.push(("NotCleanShutdown", dirty));
    // A byte of the shadow copy changed, checksum left stale.
    let mut bad_shadow = original.clone();
    bad_shadow[cb + 600] ^= 1;
    cases.push(("HeaderChecksum", bad_shadow));
    // Both copies valid but different.
    let mut differ = original.clone();
    differ[cb + 600] ^= 1;
    restamp(&mut differ);
    cases.push(("HeaderCopiesDiffer", differ));
    for (want, file) in cases {
        std::fs::write(&path, &file).unwrap();
        let err = edit_text_file(&path).expect_err(want);
        assert!(format!("{err:?}").starts_with(want), "{want}: {err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), file, "{want}: file changed");
    }
}
