//! The census on purpose-built databases: each kind of occurrence (fixed, variable, tagged,
//! intrinsic long value, text forms in a code page and in UTF-16, an index key, free space)
//! found where it was put, counted per record, and nothing found where nothing was put.

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::Catalog;
use coldpatch::ese::census::{census, CensusReport, Form, Matcher, Needle, Place};
use coldpatch::ese::write::{
    build_database, BuildOptions, ColumnDef, ColumnType, Format, IndexDef, Storage, TableDef,
    TableInput, Value,
};
use std::path::Path;

mod ese_support;

const OLD: [u8; 16] = [
    0x1c, 0x6b, 0x3a, 0x0f, 0x4e, 0x2d, 0x8a, 0x41, 0x9b, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
];
const OTHER: [u8; 16] = [0x77; 16];
const OLD_TEXT: &str = "0f3a6b1c-2d4e-418a-9b01-23456789abcd";

fn col(name: &str, coltyp: ColumnType, storage: Storage, max_len: u32, cp: u16) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        coltyp,
        storage,
        max_len,
        code_page: cp,
    }
}

fn schema() -> Vec<TableDef> {
    use ColumnType::*;
    use Storage::*;
    vec![
        TableDef {
            long_values: false,
            name: "Attach".into(),
            columns: vec![
                col("Id", Long, Fixed, 4, 0),
                col("SourceGuid", Binary, Fixed, 16, 0),
                col("Note", Text, Variable, 100, 1252),
                col("Extra", Binary, Tagged, 64, 0),
                col("Body", LongText, Tagged, 0, 1200),
            ],
            indexes: vec![
                IndexDef {
                    name: "primary".into(),
                    columns: vec![("Id".into(), true)],
                    primary: true,
                    unique: true,
                },
                IndexDef {
                    name: "idxSource".into(),
                    columns: vec![("SourceGuid".into(), true)],
                    primary: false,
                    unique: false,
                },
            ],
        },
        TableDef {
            long_values: false,
            name: "Plain".into(),
            columns: vec![
                col("Id", Long, Fixed, 4, 0),
                col("Data", Binary, Variable, 64, 0),
            ],
            indexes: vec![IndexDef {
                name: "primary".into(),
                columns: vec![("Id".into(), true)],
                primary: true,
                unique: true,
            }],
        },
    ]
}

/// 300 Attach rows: every 3rd holds the GUID in `SourceGuid` (100 rows), every 5th its text in
/// `Note` in upper case with braces (60), every 7th its bytes inside `Extra` (43), every 11th
/// its UTF-16 text inside `Body` (28). Plain rows hold other bytes.
fn rows(long_values: bool) -> Vec<Vec<Vec<Value>>> {
    let attach = (0..300i32)
        .map(|i| {
            let guid = if i % 3 == 0 { OLD } else { OTHER };
            let note = if i % 5 == 0 {
                format!("moved from {{{}}}", OLD_TEXT.to_uppercase())
            } else {
                format!("note {i}")
            };
            let extra = if i % 7 == 0 {
                let mut e = vec![0xEE; 5];
                e.extend_from_slice(&OLD);
                Value::Binary(e)
            } else {
                Value::Null
            };
            let body = if i % 11 == 0 {
                // Past the first chunk when the value is separated.
                let pad = if long_values {
                    "padding ".repeat(600)
                } else {
                    String::new()
                };
                Value::LongText(format!("{pad}see {OLD_TEXT} for the source"))
            } else {
                Value::LongText(format!("body {i}"))
            };
            vec![
                Value::Long(i),
                Value::Binary(guid.to_vec()),
                Value::Text(note),
                extra,
                body,
            ]
        })
        .collect();
    let plain = (0..50i32)
        .map(|i| vec![Value::Long(i), Value::Binary(OTHER.to_vec())])
        .collect();
    vec![attach, plain]
}

fn build(path: &Path, format: Format) {
    build_with(path, format, false)
}

/// `long_values`: `Attach.Body` in a long-value tree (separated), else in the record.
fn build_with(path: &Path, format: Format, long_values: bool) {
    let mut schema = schema();
    schema[0].long_values = long_values;
    let inputs = schema
        .into_iter()
        .zip(rows(long_values))
        .map(|(def, rows)| TableInput {
            def,
            rows: Box::new(rows.into_iter()),
        })
        .collect();
    let opts = BuildOptions {
        format,
        computer_name: "EXCH01".into(),
        signature_random: 7,
        created_unix: 946_728_000,
        os_version: (4, 0, 1381, 6),
        clean_shutdown: true,
    };
    build_database(path, &opts, inputs).unwrap();
}

fn run(bytes: &[u8]) -> CensusReport {
    let db = Database::open(bytes).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let m = Matcher::new(&[Needle {
        label: "old".into(),
        bytes: OLD,
    }]);
    census(&db, &catalog, &m, &|_| {}).unwrap()
}

fn raw(r: &CensusReport, place: Place, owner: &str) -> u64 {
    r.raw
        .iter()
        .filter(|c| c.place == place && c.owner == owner)
        .map(|c| c.count)
        .sum()
}

#[test]
fn every_kind_of_occurrence_is_found_in_both_formats() {
    for format in [Format::Ese97, Format::Ese98] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.edb");
        build(&path, format);
        let mut bytes = std::fs::read(&path).unwrap();
        let r = run(&bytes);
        let at = |c: &str| r.records("Attach", c, "old");
        assert_eq!(at("SourceGuid"), 100, "{format:?} fixed");
        assert_eq!(at("Note"), 60, "{format:?} variable, text form");
        assert_eq!(at("Extra"), 43, "{format:?} tagged");
        assert_eq!(at("Body"), 28, "{format:?} long value, UTF-16 text");
        assert_eq!(at("Id"), 0);
        assert!(r.columns.iter().all(|c| c.table == "Attach"), "{r:#?}");
        let forms = |c: &str| {
            r.columns
                .iter()
                .find(|x| x.column == c)
                .map(|x| x.forms.clone())
                .unwrap()
        };
        assert_eq!(
            forms("SourceGuid").keys().collect::<Vec<_>>(),
            [&Form::Binary]
        );
        assert_eq!(forms("Note").keys().collect::<Vec<_>>(), [&Form::Text]);
        assert_eq!(forms("Body").keys().collect::<Vec<_>>(), [&Form::TextUtf16]);
        // Sample primary keys: Id 0 is the first (0x7F, then 0 big-endian, sign bit flipped).
        let sg = r.columns.iter().find(|x| x.column == "SourceGuid").unwrap();
        assert_eq!(sg.samples[0], "7f80000000");
        // The index over SourceGuid holds the bytes once per indexed row.
        assert_eq!(raw(&r, Place::Key, "Attach index idxSource"), 100, "{r:#?}");
        assert_eq!(raw(&r, Place::FreeSpace, "Attach"), 0);

        // The GUID written into the free space of Plain's data page: found there, raw.
        let db = Database::open(&bytes).unwrap();
        let catalog = Catalog::read(&db).unwrap();
        let plain = catalog.table("Plain").unwrap();
        let pgno = coldpatch::ese::catalog::table_pages(&db, plain).unwrap()[0];
        let page_at = db.page_offset(pgno) as usize;
        let ps = db.page_size as usize;
        let page = coldpatch::ese::page::Page::parse(
            coldpatch::bytes::Bytes::new(&bytes[page_at..page_at + ps], page_at as u64),
            pgno,
        )
        .unwrap();
        let free = page.header_len() + usize::from(page.header.ib_mic_free);
        assert!(usize::from(page.header.cb_free) > 40, "room in the page");
        bytes[page_at + free + 8..page_at + free + 24].copy_from_slice(&OLD);
        let r2 = run(&bytes);
        assert_eq!(raw(&r2, Place::FreeSpace, "Plain"), 1, "{format:?}");
        assert_eq!(r2.columns, r.columns);
    }
}

/// `Body` as separated long values, long enough for two chunks with the text in the second:
/// found through the long-value tree and attributed to `Attach.Body` by the LID its records hold.
#[test]
fn separated_long_values_are_counted_in_their_column() {
    for format in [Format::Ese97, Format::Ese98] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lv.edb");
        build_with(&path, format, true);
        let bytes = std::fs::read(&path).unwrap();
        let db = Database::open(&bytes).unwrap();
        assert!(Catalog::read(&db)
            .unwrap()
            .table("Attach")
            .unwrap()
            .long_values
            .is_some());
        let r = run(&bytes);
        assert_eq!(r.records("Attach", "Body", "old"), 28, "{format:?}: {r:#?}");
        assert_eq!(r.records("Attach", "Extra", "old"), 43, "{format:?}");
        assert!(!r
            .raw
            .iter()
            .any(|x| x.place == Place::LongValueUnreferenced));
        let body = r.columns.iter().find(|c| c.column == "Body").unwrap();
        assert_eq!(body.forms.keys().collect::<Vec<_>>(), [&Form::TextUtf16]);
    }
}

#[test]
fn a_database_without_the_value_has_no_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.edb");
    build(&path, Format::Ese98);
    let bytes = std::fs::read(&path).unwrap();
    let db = Database::open(&bytes).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let m = Matcher::new(&[Needle {
        label: "absent".into(),
        bytes: [0x42; 16],
    }]);
    let r = census(&db, &catalog, &m, &|_| {}).unwrap();
    assert!(r.columns.is_empty() && r.raw.is_empty(), "{r:#?}");
    assert_eq!(r.pages as usize, bytes.len() / db.page_size as usize);
    assert_eq!(r.pages_with_hits, 0);
}

/// Separated long values, on the real samples: for every plain separated long value of every
/// sample, 16 bytes from inside it (past the first chunk when it has several) are found in
/// that column of that table, through the long-value tree and the LID the record holds.
#[test]
fn separated_long_values_of_the_samples_are_found_in_their_column() {
    use coldpatch::ese::catalog::walk_rows;
    use coldpatch::ese::longvalue::read_long_value;
    use std::ops::ControlFlow;
    let mut checked = 0;
    for name in ese_support::sample_names() {
        let bytes = ese_support::sample_bytes(&name);
        let db = Database::open(&bytes).unwrap();
        let catalog = Catalog::read(&db).unwrap();
        let mut values: Vec<(String, String, Vec<u8>)> = Vec::new();
        for table in &catalog.tables {
            walk_rows(&db, table, |row| {
                for col in row.record.tagged()? {
                    for inst in col
                        .instances
                        .iter()
                        .filter(|i| i.separated && !i.compressed)
                    {
                        let v = read_long_value(&db, table, inst.data)?;
                        if v.is_plain() && v.data.len() >= 64 {
                            let column = table.column_by_fid(col.fid).unwrap().name.clone();
                            values.push((table.name.clone(), column, v.data));
                        }
                    }
                }
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
        }
        for (table, column, data) in values {
            let at = (data.len() - 16).min(db.page_size as usize + 7);
            let mut needle = [0u8; 16];
            needle.copy_from_slice(&data[at..at + 16]);
            let m = Matcher::new(&[Needle {
                label: "lv".into(),
                bytes: needle,
            }]);
            let r = census(&db, &catalog, &m, &|_| {}).unwrap();
            assert!(
                r.records(&table, &column, "lv") >= 1,
                "{name}: {table}.{column} ({} bytes): {r:#?}",
                data.len()
            );
            assert!(
                !r.raw
                    .iter()
                    .any(|x| x.place == Place::LongValueUnreferenced),
                "{name}: {r:#?}"
            );
            checked += 1;
        }
    }
    eprintln!("{checked} separated long values checked");
    assert!(
        checked >= 2,
        "only {checked} separated long values in the samples"
    );
}

/// A row flagged deleted is skipped by every reader and left as it is by the patch, so its
/// occurrences are raw bytes of a deleted node (dead space), not column values: flagging every
/// row of one leaf of `Attach` moves exactly their occurrences from the columns to
/// `deleted_node`, and the file still verifies.
#[test]
fn occurrences_in_rows_flagged_deleted_are_dead_space() {
    use coldpatch::ese::node::FLAG_DELETED;
    use coldpatch::ese::page::TAG_FLAGS_SHIFT;
    for format in [Format::Ese97, Format::Ese98] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.edb");
        build(&path, format);
        let mut bytes = std::fs::read(&path).unwrap();
        let before = run(&bytes);
        let (page_at, ps, pgno, lines) = {
            let db = Database::open(&bytes).unwrap();
            let catalog = Catalog::read(&db).unwrap();
            let attach = catalog.table("Attach").unwrap();
            let pgno = db
                .tree_pages(attach.pgno_fdp, attach.objid)
                .unwrap()
                .into_iter()
                .find(|&p| {
                    let page = db.page(p, 0, "leaf").unwrap();
                    page.header.has(coldpatch::ese::page::flags::LEAF) && page.line_tags().len() > 3
                })
                .expect("a leaf of Attach with rows");
            let page = db.page(pgno, 0, "leaf").unwrap();
            let lines: Vec<usize> = page
                .line_tags()
                .map(|itag| page.tag_entry_offset(itag).unwrap())
                .collect();
            (
                db.page_offset(pgno) as usize,
                db.page_size as usize,
                pgno,
                lines,
            )
        };
        for entry in lines {
            let ib = page_at + entry + 2;
            let v = u16::from_le_bytes([bytes[ib], bytes[ib + 1]])
                | (u16::from(FLAG_DELETED) << TAG_FLAGS_SHIFT);
            bytes[ib..ib + 2].copy_from_slice(&v.to_le_bytes());
        }
        coldpatch::ese::checksum::stamp_page(&mut bytes[page_at..page_at + ps], pgno);
        let after = run(&bytes);
        let dropped: u64 = ["SourceGuid", "Note", "Extra", "Body"]
            .iter()
            .map(|c| before.records("Attach", c, "old") - after.records("Attach", c, "old"))
            .sum();
        assert!(dropped > 0, "{format:?}: the page's rows held the GUID");
        assert_eq!(
            raw(&after, Place::DeletedNode, "Attach"),
            dropped,
            "{format:?}"
        );
        assert_eq!(raw(&before, Place::DeletedNode, "Attach"), 0);
        assert!(Place::DeletedNode.is_dead_space());
        let report = coldpatch::ese::verify::verify_file(&bytes, 2, &|_| {}).unwrap();
        assert!(report.ok(), "{format:?}: {:?}", report.findings);
    }
}
