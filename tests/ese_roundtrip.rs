//! Round trip through the project's own ESE engine: databases written by
//! `ese::write::build_database` (both the ESE97 and the ESE98 form) are read back by the
//! project's reader — catalog, every row of every table in key order, every column value,
//! secondary-index entries and the bookmarks they hold — and pass `verify` and `inspect`.
//!
//! Rows come from a seeded generator (deterministic): the store model of
//! `Profile::exchange55()` (PRIV.EDB and PUB.EDB, ≥ 10,000 messages with varied subjects,
//! bodies of 0..=1024 bytes, NULLs, foreign GUIDs), and a small table with long keys whose
//! trees are at least three levels deep and that covers every column type and storage.
//!
//! What is compared with what was built is decoded here from the reader's raw column bytes, and
//! normalised keys are computed here from reference/ese.md §7, independently of the builder.

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{self, Catalog, Column, Index, Table};
use coldpatch::ese::node::Node;
use coldpatch::ese::page::{flags, Page};
use coldpatch::ese::record::Record;
use coldpatch::ese::write::{
    build_database, BuildOptions, BuildReport, ColumnDef, ColumnType, Format, IndexDef, Storage,
    TableDef, TableInput, Value,
};
use coldpatch::exchange::profile::{column, table, Profile, StoreKind, BODY_MAX};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Deterministic data.

/// xorshift64*: a seeded generator without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn bytes_upto(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1) as usize;
        self.bytes(n)
    }
    fn text_upto(&mut self, max: u64) -> String {
        let n = self.below(max + 1) as usize;
        self.text(n)
    }
    fn guid(&mut self) -> Vec<u8> {
        self.bytes(16)
    }
    /// Text of exactly `n` characters encodable in code page 1252 (ASCII and U+00A0..U+00FF).
    fn text(&mut self, n: usize) -> String {
        const EXTRA: [char; 6] = ['é', 'ñ', 'ü', 'ß', 'Ø', '\u{A0}'];
        (0..n)
            .map(|_| match self.below(20) {
                0 => EXTRA[self.below(EXTRA.len() as u64) as usize],
                1 => ' ',
                _ => char::from(b'a' + self.below(26) as u8),
            })
            .collect()
    }
}

/// The rows of one database, by table name, in primary-key order.
type Rows = BTreeMap<String, Vec<Vec<Value>>>;

/// Store-model rows for `store`: `folders` folders and `msgs` messages (and, in PUB, a
/// replication-state table). Foreign GUIDs come from `foreign`.
fn store_rows(store: StoreKind, folders: u64, msgs: u64, seed: u64) -> (Rows, GenStats) {
    let mut r = Rng(seed);
    let base = r.guid();
    let foreign: Vec<Vec<u8>> = (0..3).map(|_| r.guid()).collect();
    let mut stats = GenStats::default();
    let pick_guid = |r: &mut Rng, stats: &mut GenStats| -> Value {
        if r.one_in(97) {
            stats.null_guids += 1;
            Value::Null
        } else if r.one_in(7) {
            stats.foreign_guids += 1;
            Value::Binary(foreign[r.below(3) as usize].clone())
        } else {
            Value::Binary(base.clone())
        }
    };
    let mut rows = Rows::new();
    rows.insert(
        table::GLOBALS.into(),
        vec![vec![
            Value::Long(1),
            Value::Binary(base.clone()),
            Value::Currency(0x0001_0000_0000_0000 + msgs as i64),
            Value::Long(0),
            Value::Long(3),
            Value::DateTime(36_526.25),
            Value::Text("EXCH01".into()),
            Value::Text("Organisation Café".into()),
            Value::Null,
        ]],
    );
    let folder_ids: Vec<i64> = (1..=folders as i64).collect();
    let folder_rows = folder_ids
        .iter()
        .map(|&id| {
            vec![
                Value::Currency(id),
                if id == 1 {
                    Value::Null
                } else {
                    Value::Currency(1 + r.below(id as u64 - 1) as i64)
                },
                pick_guid(&mut r, &mut stats),
                Value::Currency(r.next() as i64),
                if r.one_in(11) {
                    Value::Null
                } else {
                    Value::Long(r.below(5000) as i32)
                },
                match r.below(10) {
                    0 => Value::Null,
                    1 => Value::Text(String::new()),
                    _ => {
                        let n = 1 + r.below(60) as usize;
                        Value::Text(r.text(n))
                    }
                },
            ]
        })
        .collect();
    rows.insert(table::FOLDERS.into(), folder_rows);

    // Message ids start negative (the sign bit is flipped in keys) and grow by random steps.
    let mut id: i64 = -(1 << 40);
    let mut msg_rows = Vec::with_capacity(msgs as usize);
    for i in 0..msgs {
        id += 1 + r.below(1 << 20) as i64;
        let subject = if r.one_in(23) {
            stats.null_subjects += 1;
            Value::Null
        } else {
            // Mostly short, some long, and both ends of the range on purpose.
            let n = match i % 1000 {
                1 => 0,
                2 => 255,
                _ if r.one_in(8) => r.below(256) as usize,
                _ => 5 + r.below(60) as usize,
            };
            stats.subject_lens.insert(n);
            Value::Text(r.text(n))
        };
        let body = if r.one_in(19) {
            stats.null_bodies += 1;
            Value::Null
        } else {
            let n = match i % 1000 {
                3 => 0,
                4 => BODY_MAX as usize,
                _ => r.below(u64::from(BODY_MAX) + 1) as usize,
            };
            stats.body_lens.insert(n);
            Value::LongBinary(r.bytes(n))
        };
        msg_rows.push(vec![
            Value::Currency(id),
            if r.one_in(50) {
                Value::Null
            } else {
                Value::Currency(folder_ids[r.below(folders) as usize])
            },
            pick_guid(&mut r, &mut stats),
            Value::Currency(r.next() as i64),
            if r.one_in(31) {
                Value::Null
            } else {
                Value::Long(r.below(1 << 20) as i32)
            },
            subject,
            body,
        ]);
    }
    rows.insert(table::MSG.into(), msg_rows);

    if store == StoreKind::Pub {
        let repl = (0..300)
            .map(|i| {
                vec![
                    Value::Long(i - 150),
                    Value::Currency(folder_ids[r.below(folders) as usize]),
                    if i % 4 == 0 {
                        Value::Binary(base.clone())
                    } else {
                        stats.foreign_guids += 1;
                        Value::Binary(foreign[r.below(3) as usize].clone())
                    },
                    if r.one_in(9) {
                        Value::Null
                    } else {
                        Value::Currency(r.next() as i64 >> 1)
                    },
                ]
            })
            .collect();
        rows.insert(table::REPL_STATE.into(), repl);
    }
    (rows, stats)
}

/// What the generator produced, so the test can show its inputs are not vacuous.
#[derive(Default)]
struct GenStats {
    null_guids: u64,
    foreign_guids: u64,
    null_subjects: u64,
    null_bodies: u64,
    subject_lens: std::collections::BTreeSet<usize>,
    body_lens: std::collections::BTreeSet<usize>,
}

fn fixed(name: &str, coltyp: ColumnType, len: u32) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        coltyp,
        storage: Storage::Fixed,
        max_len: len,
        code_page: 0,
    }
}

fn other(name: &str, coltyp: ColumnType, storage: Storage, max: u32, cp: u16) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        coltyp,
        storage,
        max_len: max,
        code_page: cp,
    }
}

/// Length of the `Deep` table's primary key column; its keys share all but the last bytes, so
/// branch separators are long and few fit a page: the tree grows levels with few rows.
const DEEP_KEY_LEN: usize = 240;
const DEEP_SHARED: usize = 232;

/// A table with every column type and storage, a long shared-prefix primary key, a descending
/// two-segment index, a unique index and an index over variable Binary.
fn deep_table() -> TableDef {
    use ColumnType::*;
    use Storage::*;
    TableDef {
        long_values: false,
        name: "Deep".into(),
        columns: vec![
            fixed("K", Binary, DEEP_KEY_LEN as u32),
            fixed("Flag", Bit, 1),
            fixed("Tiny", UnsignedByte, 1),
            fixed("Small", Short, 2),
            fixed("Num", Long, 4),
            fixed("Ratio", IeeeSingle, 4),
            fixed("Real", IeeeDouble, 8),
            fixed("When", DateTime, 8),
            fixed("Money", Currency, 8),
            other("Note", Text, Variable, 100, 1200),
            other("Blob", Binary, Variable, 200, 0),
            other("Label", Text, Tagged, 80, 1252),
            other("Extra", Binary, Tagged, 50, 0),
            other("LongNote", LongText, Tagged, 600, 1200),
            other("LongBlob", LongBinary, Tagged, 900, 0),
        ],
        indexes: vec![
            IndexDef {
                name: "DeepPK".into(),
                columns: vec![("K".into(), true)],
                primary: true,
                unique: true,
            },
            IndexDef {
                name: "BySmallDescNum".into(),
                columns: vec![("Small".into(), false), ("Num".into(), true)],
                primary: false,
                unique: false,
            },
            IndexDef {
                name: "ByNum".into(),
                columns: vec![("Num".into(), true)],
                primary: false,
                unique: true,
            },
            IndexDef {
                name: "ByBlob".into(),
                columns: vec![("Blob".into(), true)],
                primary: false,
                unique: false,
            },
        ],
    }
}

fn deep_rows(n: u32, seed: u64) -> Vec<Vec<Value>> {
    let mut r = Rng(seed);
    let shared = r.bytes(DEEP_SHARED);
    (0..n)
        .map(|i| {
            let mut k = shared.clone();
            k.extend_from_slice(&(i * 3 + 7).to_be_bytes());
            k.extend(r.bytes(DEEP_KEY_LEN - DEEP_SHARED - 4));
            // 7919 is prime and does not divide n: i -> i·7919 mod n is a permutation, so `Num`
            // is unique (its index is unique) and never NULL.
            let num = (u64::from(i) * 7919 % u64::from(n)) as i32 - (n / 2) as i32;
            // UTF-16 (code page 1200): characters outside code page 1252 too.
            let mut note = r.text_upto(47);
            if r.one_in(3) {
                note.push('\u{3A9}');
            }
            let mut row = vec![
                Value::Binary(k),
                Value::Bit(r.one_in(2)),
                Value::UnsignedByte(r.next() as u8),
                // Few distinct values (and NULLs): many duplicates in the non-unique index.
                Value::Short(r.below(9) as i16 - 4),
                Value::Long(num),
                Value::IeeeSingle((r.next() as i32) as f32 / 7.0),
                Value::IeeeDouble((r.next() as i64) as f64 / 3.0),
                Value::DateTime(30_000.0 + r.below(20_000) as f64 / 8.0),
                Value::Currency(r.next() as i64),
                Value::Text(note),
                Value::Binary(r.bytes_upto(200)),
                Value::Text(r.text_upto(80)),
                Value::Binary(r.bytes_upto(50)),
                Value::LongText(r.text_upto(300)),
                Value::LongBinary(r.bytes_upto(900)),
            ];
            for (c, v) in row.iter_mut().enumerate() {
                // The key (0) and `Num` (4) are never NULL.
                if c != 0 && c != 4 && r.one_in(13) {
                    *v = Value::Null;
                }
            }
            row
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Building.

fn options(format: Format) -> BuildOptions {
    BuildOptions {
        format,
        computer_name: "EXCH01".into(),
        signature_random: 0x1234_5678,
        created_unix: 946_728_000,
        os_version: (4, 0, 1381, 6),
        clean_shutdown: true,
    }
}

fn build(path: &Path, format: Format, defs: &[TableDef], rows: &Rows) -> BuildReport {
    let inputs: Vec<TableInput> = defs
        .iter()
        .map(|d| TableInput {
            def: d.clone(),
            rows: Box::new(rows[&d.name].iter().cloned()),
        })
        .collect();
    build_database(path, &options(format), inputs).unwrap_or_else(|e| {
        panic!("build {} ({format:?}): {e}", path.display());
    })
}

// ---------------------------------------------------------------------------------------------
// Independent decoding: values from raw column bytes, normalised keys from reference §7.

/// `JET_coltyp` of a builder type (reference/ese.md §6).
fn coltyp_code(t: ColumnType) -> u32 {
    use ColumnType::*;
    match t {
        Bit => 1,
        UnsignedByte => 2,
        Short => 3,
        Long => 4,
        Currency => 5,
        IeeeSingle => 6,
        IeeeDouble => 7,
        DateTime => 8,
        Binary => 9,
        Text => 10,
        LongBinary => 11,
        LongText => 12,
    }
}

fn natural_size(t: ColumnType) -> Option<u32> {
    use ColumnType::*;
    match t {
        Bit | UnsignedByte => Some(1),
        Short => Some(2),
        Long | IeeeSingle => Some(4),
        Currency | IeeeDouble | DateTime => Some(8),
        _ => None,
    }
}

fn decode_text(b: &[u8], code_page: u32) -> String {
    if code_page == 1200 {
        assert_eq!(b.len() % 2, 0, "UTF-16 text of odd length");
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).expect("valid UTF-16")
    } else {
        // Code page 1252 agrees with Latin-1 on every character the generator uses.
        b.iter().map(|&c| char::from(c)).collect()
    }
}

/// Turns a column's stored bytes into a value of its type.
fn decode_value(def: &ColumnDef, code_page: u32, b: &[u8]) -> Value {
    let arr = |n: usize| -> [u8; 8] {
        assert_eq!(b.len(), n, "column {} stored size", def.name);
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(b);
        a
    };
    use ColumnType as T;
    match def.coltyp {
        T::Bit => Value::Bit(arr(1)[0] != 0),
        T::UnsignedByte => Value::UnsignedByte(arr(1)[0]),
        T::Short => {
            let a = arr(2);
            Value::Short(i16::from_le_bytes([a[0], a[1]]))
        }
        T::Long => {
            let a = arr(4);
            Value::Long(i32::from_le_bytes([a[0], a[1], a[2], a[3]]))
        }
        T::Currency => Value::Currency(i64::from_le_bytes(arr(8))),
        T::IeeeSingle => {
            let a = arr(4);
            Value::IeeeSingle(f32::from_le_bytes([a[0], a[1], a[2], a[3]]))
        }
        T::IeeeDouble => Value::IeeeDouble(f64::from_le_bytes(arr(8))),
        T::DateTime => Value::DateTime(f64::from_le_bytes(arr(8))),
        T::Binary => Value::Binary(b.to_vec()),
        T::Text => Value::Text(decode_text(b, code_page)),
        T::LongBinary => Value::LongBinary(b.to_vec()),
        T::LongText => Value::LongText(decode_text(b, code_page)),
    }
}

/// Reads column `col` (catalog) of `rec` as a value of `def`'s type.
fn read_value(rec: &Record, col: &Column, def: &ColumnDef) -> Value {
    let bytes = match col.storage {
        catalog::Storage::Fixed => rec
            .fixed(
                col.fid,
                col.fixed_offset.expect("fixed offset"),
                col.fixed_size.expect("fixed size"),
            )
            .expect("fixed column")
            .map(|b| b.as_slice()),
        catalog::Storage::Variable => rec
            .variable(col.fid)
            .expect("variable column")
            .map(|b| b.as_slice()),
        catalog::Storage::Tagged => match rec.tagged_column(col.fid).expect("tagged columns") {
            None => None,
            Some(t) if t.null => None,
            Some(t) => {
                assert_eq!(t.instances.len(), 1, "column {}: one instance", def.name);
                let inst = t.instances[0];
                assert!(
                    !inst.separated && !inst.compressed,
                    "column {}: the builder keeps long values in the record",
                    def.name
                );
                Some(inst.data.as_slice())
            }
        },
    };
    match bytes {
        None => Value::Null,
        Some(b) => decode_value(def, col.code_page, b),
    }
}

/// The normalised key segment of `v` (reference/ese.md §7).
fn key_segment(out: &mut Vec<u8>, def: &ColumnDef, v: &Value, ascending: bool) {
    let start = out.len();
    match v {
        Value::Null => out.push(0x00),
        Value::Bit(b) => out.extend([0x7F, if *b { 0xFF } else { 0 }]),
        Value::UnsignedByte(b) => out.extend([0x7F, *b]),
        Value::Short(x) => {
            out.push(0x7F);
            out.extend(((*x as u16) ^ 0x8000).to_be_bytes());
        }
        Value::Long(x) => {
            out.push(0x7F);
            out.extend(((*x as u32) ^ 0x8000_0000).to_be_bytes());
        }
        Value::Currency(x) => {
            out.push(0x7F);
            out.extend(((*x as u64) ^ (1 << 63)).to_be_bytes());
        }
        Value::Binary(b) if b.is_empty() => out.push(0x40),
        Value::Binary(b) if def.storage == Storage::Fixed => {
            out.push(0x7F);
            out.extend_from_slice(b);
        }
        Value::Binary(b) => {
            out.push(0x7F);
            let n = b.len().div_ceil(8);
            for (i, chunk) in b.chunks(8).enumerate() {
                out.extend_from_slice(chunk);
                if i + 1 < n {
                    out.push(9);
                } else {
                    out.extend(std::iter::repeat(0).take(8 - chunk.len()));
                    out.push(chunk.len() as u8);
                }
            }
        }
        other => panic!("no key normalisation here for {other:?}"),
    }
    if !ascending {
        for b in &mut out[start..] {
            *b = !*b;
        }
    }
}

/// The key of `row` in `index` (segments named by the catalog).
fn index_key(def: &TableDef, t: &Table, index: &Index, row: &[Value]) -> Vec<u8> {
    let mut key = Vec::new();
    for s in &index.segments {
        let col = t.column_by_fid(s.fid).expect("segment column");
        let i = def
            .columns
            .iter()
            .position(|c| c.name == col.name)
            .expect("segment column in the definition");
        key_segment(&mut key, &def.columns[i], &row[i], !s.descending);
    }
    key
}

// ---------------------------------------------------------------------------------------------
// Reading back.

/// Finds the leaf node with key `key` by descending from `root`: at each branch page, the first
/// node whose separator is above the key (the last node's may be empty: above everything).
/// Returns the node and the number of levels passed.
fn seek<'a>(
    db: &Database<'a>,
    root: u32,
    objid: u32,
    key: &[u8],
) -> Option<(Page<'a>, Node<'a>, u32)> {
    let mut pgno = root;
    let mut levels = 1;
    loop {
        let page = db.page(pgno, 0, "seek").expect("page in range");
        assert_eq!(
            page.header.objid_fdp, objid,
            "page {pgno} belongs to the tree"
        );
        let nodes: Vec<Node> = page
            .line_tags()
            .map(|itag| Node::parse(&page, itag).expect("node"))
            .filter(|n| !n.is_deleted())
            .collect();
        if page.header.has(flags::LEAF) {
            let found = nodes.into_iter().find(|n| n.key() == key)?;
            return Some((page, found, levels));
        }
        let last = nodes.len().checked_sub(1).expect("branch page with nodes");
        let child = nodes
            .iter()
            .enumerate()
            .find(|(i, n)| {
                let k = n.key();
                *i == last || k.as_slice() > key
            })
            .map(|(_, n)| n.data.u32("child", 0).expect("child pgno"))
            .expect("a child");
        pgno = child;
        levels += 1;
        assert!(levels <= 32, "seek deeper than 32 levels");
    }
}

/// Everything checked for one database; returns rows read per table.
fn check_database(
    path: &Path,
    format: Format,
    defs: &[TableDef],
    rows: &Rows,
    report: &BuildReport,
) {
    let bytes = std::fs::read(path).expect("read the database");
    let db = Database::open(&bytes).expect("header");
    let cat = Catalog::read(&db).expect("catalog");

    // The catalog: the two system tables, then the user tables in the order given.
    let names: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
    let mut expected_names = vec!["MSysObjects", "MSysObjectsShadow"];
    expected_names.extend(defs.iter().map(|d| d.name.as_str()));
    assert_eq!(names, expected_names, "{}: tables", path.display());

    for def in defs {
        let t = cat.table(&def.name).expect("table in catalog");
        let ctx = format!("{} ({format:?}) table {}", path.display(), def.name);
        check_catalog_table(&ctx, def, t);
        let table_rows = &rows[&def.name];
        let tree = report
            .trees
            .iter()
            .find(|r| r.table == def.name && r.index.is_none())
            .expect("tree report");
        assert_eq!(t.pgno_fdp, tree.root, "{ctx}: root page");
        assert_eq!(t.objid, tree.objid, "{ctx}: objid");
        assert_eq!(
            tree.shape.entries,
            table_rows.len() as u64,
            "{ctx}: entries"
        );

        // Every row in key order, every column.
        let primary = t.indexes.iter().find(|i| i.is_primary()).expect("primary");
        let mut n = 0usize;
        let mut leaves = Vec::new();
        let mut keys: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut prev_key: Option<Vec<u8>> = None;
        db.walk(
            t.pgno_fdp,
            t.objid,
            |p| {
                if p.header.has(flags::LEAF) {
                    leaves.push(p.pgno);
                }
            },
            |entry| {
                let rec = Record::parse(entry.node.data, db.record_form(entry.page))?;
                let expected = table_rows.get(n).unwrap_or_else(|| {
                    panic!("{ctx}: more rows than the {} built", table_rows.len())
                });
                for (cdef, want) in def.columns.iter().zip(expected) {
                    let col = t.column(&cdef.name).expect("column");
                    let got = read_value(&rec, col, cdef);
                    assert_eq!(&got, want, "{ctx}: row {n} column {}", cdef.name);
                }
                let key = entry.node.key();
                assert_eq!(
                    key,
                    index_key(def, t, primary, expected),
                    "{ctx}: row {n} node key"
                );
                if let Some(p) = &prev_key {
                    assert!(p < &key, "{ctx}: row {n} walked out of key order");
                }
                prev_key = Some(key.clone());
                keys.insert(key, n);
                n += 1;
                Ok(ControlFlow::Continue(()))
            },
        )
        .unwrap_or_else(|e| panic!("{ctx}: walk: {e}"));
        assert_eq!(n, table_rows.len(), "{ctx}: rows walked");
        assert_eq!(keys.len(), n, "{ctx}: primary keys are distinct");

        // The leaf sibling chain agrees with the depth-first order.
        check_sibling_chain(&ctx, &db, &leaves);

        // Each row can be found by its key from the root; the descent depth is the tree's.
        for (i, row) in table_rows.iter().enumerate() {
            let key = index_key(def, t, primary, row);
            let (_, node, levels) = seek(&db, t.pgno_fdp, t.objid, &key)
                .unwrap_or_else(|| panic!("{ctx}: row {i} not found by its key"));
            assert_eq!(node.key(), key);
            assert_eq!(levels, tree.shape.levels, "{ctx}: row {i} depth");
        }

        // Secondary indexes: entries sorted, one per row, each bookmark finds its row, and
        // each entry's key is the normalised value of that row's key columns.
        for index in t.indexes.iter().filter(|i| !i.is_primary()) {
            let ictx = format!("{ctx} index {}", index.name);
            let ireport = report
                .trees
                .iter()
                .find(|r| r.table == def.name && r.index.as_deref() == Some(&index.name))
                .expect("index tree report");
            assert_eq!(index.pgno_fdp, ireport.root, "{ictx}: root");
            assert_eq!(index.objid, ireport.objid, "{ictx}: objid");
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut ileaves = Vec::new();
            db.walk(
                index.pgno_fdp,
                index.objid,
                |p| {
                    assert!(
                        p.header.has(flags::INDEX),
                        "{ictx}: page {} index flag",
                        p.pgno
                    );
                    if p.header.has(flags::LEAF) {
                        ileaves.push(p.pgno);
                    }
                },
                |entry| {
                    entries.push((entry.node.key(), entry.node.data.as_slice().to_vec()));
                    Ok(ControlFlow::Continue(()))
                },
            )
            .unwrap_or_else(|e| panic!("{ictx}: walk: {e}"));
            check_sibling_chain(&ictx, &db, &ileaves);
            assert_eq!(entries.len(), table_rows.len(), "{ictx}: one entry per row");
            for w in entries.windows(2) {
                assert!(w[0] < w[1], "{ictx}: entries out of order");
                if index.is_unique() {
                    assert!(w[0].0 < w[1].0, "{ictx}: duplicate key in a unique index");
                }
            }
            let mut seen = vec![false; table_rows.len()];
            for (k, bookmark) in &entries {
                let (page, node, _) = seek(&db, t.pgno_fdp, t.objid, bookmark)
                    .unwrap_or_else(|| panic!("{ictx}: bookmark {bookmark:02x?} finds no row"));
                let i = keys[&node.key()];
                assert!(!seen[i], "{ictx}: row {i} indexed twice");
                seen[i] = true;
                assert_eq!(
                    k,
                    &index_key(def, t, index, &table_rows[i]),
                    "{ictx}: row {i} key"
                );
                // The row found is the row built (one column re-read is enough here: the
                // full comparison ran above, in key order).
                let rec = Record::parse(node.data, db.record_form(&page)).expect("record");
                let c0 = &def.columns[0];
                assert_eq!(
                    read_value(&rec, t.column(&c0.name).expect("column"), c0),
                    table_rows[i][0]
                );
            }
        }
    }

    // The system tables: one catalog row per table, column and index (user tables from their
    // definitions), in key order, and the shadow catalog holds the same records.
    let mut catalog_records: Vec<Vec<Vec<u8>>> = Vec::new();
    for name in ["MSysObjects", "MSysObjectsShadow"] {
        let t = cat.table(name).expect("system table");
        let mut records = Vec::new();
        let mut prev: Option<Vec<u8>> = None;
        catalog::walk_rows(&db, t, |row| {
            let key = row.node.key();
            if let Some(p) = &prev {
                assert!(p < &key, "{name}: key order");
            }
            prev = Some(key);
            records.push(row.record.bytes.as_slice().to_vec());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap_or_else(|e| panic!("{name}: walk: {e}"));
        catalog_records.push(records);
    }
    let expected_catalog_rows: usize = cat
        .tables
        .iter()
        .map(|t| match defs.iter().find(|d| d.name == t.name) {
            Some(d) => 1 + d.columns.len() + d.indexes.len(),
            None => 1 + t.columns.len() + t.indexes.len(),
        })
        .sum();
    assert_eq!(
        catalog_records[0].len(),
        expected_catalog_rows,
        "catalog rows"
    );
    assert_eq!(
        catalog_records[0], catalog_records[1],
        "shadow catalog records"
    );

    // verify: clean; every page counted.
    let v = coldpatch::ese::verify::verify_file(&bytes, 2, &|_| {}).expect("verify");
    assert!(
        v.ok(),
        "{}: verify findings: {:?}",
        path.display(),
        v.findings
    );
    assert_eq!(
        v.pages + 2,
        report.pages,
        "{}: pages verified",
        path.display()
    );

    // inspect: the row count of every table.
    let ins = coldpatch::cli::inspect::inspect_bytes(path, &bytes).expect("inspect");
    for def in defs {
        let s = ins
            .tables
            .iter()
            .find(|s| s.name == def.name)
            .expect("inspected");
        assert_eq!(
            s.rows,
            rows[&def.name].len() as u64,
            "inspect rows of {}",
            def.name
        );
    }
}

/// Leaves in depth-first order are linked through `pgnoPrev`/`pgnoNext`, ends at 0.
fn check_sibling_chain(ctx: &str, db: &Database, leaves: &[u32]) {
    for (i, &pgno) in leaves.iter().enumerate() {
        let page = db.page(pgno, 0, "leaf").expect("leaf");
        let prev = if i == 0 { 0 } else { leaves[i - 1] };
        let next = leaves.get(i + 1).copied().unwrap_or(0);
        if leaves.len() > 1 {
            assert_eq!(page.header.pgno_prev, prev, "{ctx}: leaf {pgno} pgnoPrev");
            assert_eq!(page.header.pgno_next, next, "{ctx}: leaf {pgno} pgnoNext");
        }
    }
}

/// The catalog describes the table as defined: columns with type, storage, size and code
/// page; indexes with flags and key columns.
fn check_catalog_table(ctx: &str, def: &TableDef, t: &Table) {
    assert_eq!(t.columns.len(), def.columns.len(), "{ctx}: column count");
    for c in &def.columns {
        let got = t
            .column(&c.name)
            .unwrap_or_else(|| panic!("{ctx}: no column {}", c.name));
        let storage = match c.storage {
            Storage::Fixed => catalog::Storage::Fixed,
            Storage::Variable => catalog::Storage::Variable,
            Storage::Tagged => catalog::Storage::Tagged,
        };
        assert_eq!(
            got.coltyp,
            coltyp_code(c.coltyp),
            "{ctx}.{}: coltyp",
            c.name
        );
        assert_eq!(got.storage, storage, "{ctx}.{}: storage", c.name);
        assert_eq!(
            got.code_page,
            u32::from(c.code_page),
            "{ctx}.{}: code page",
            c.name
        );
        let size = match c.storage {
            Storage::Fixed => natural_size(c.coltyp).unwrap_or(c.max_len),
            _ => c.max_len,
        };
        assert_eq!(got.cb_max, size, "{ctx}.{}: SpaceUsage", c.name);
        if c.storage == Storage::Fixed {
            assert_eq!(
                got.fixed_size,
                Some(size as usize),
                "{ctx}.{}: fixed size",
                c.name
            );
        }
    }
    assert_eq!(t.indexes.len(), def.indexes.len(), "{ctx}: index count");
    for ix in &def.indexes {
        let got = t
            .indexes
            .iter()
            .find(|i| i.name == ix.name)
            .unwrap_or_else(|| panic!("{ctx}: no index {}", ix.name));
        assert_eq!(got.is_primary(), ix.primary, "{ctx} {}: primary", ix.name);
        assert_eq!(got.is_unique(), ix.unique, "{ctx} {}: unique", ix.name);
        let segs: Vec<(String, bool)> = got
            .segments
            .iter()
            .map(|s| {
                let c = t.column_by_fid(s.fid).expect("segment column");
                (c.name.clone(), !s.descending)
            })
            .collect();
        assert_eq!(segs, ix.columns, "{ctx} {}: key columns", ix.name);
        if ix.primary {
            assert_eq!(
                got.pgno_fdp, t.pgno_fdp,
                "{ctx}: primary index is the table's tree"
            );
        }
    }
}

/// The command-line verbs agree: `verify` exits 0 and reports the file intact, `inspect --json`
/// gives every table's row count.
fn check_cli(path: &Path, rows: &Rows) {
    let exe = env!("CARGO_BIN_EXE_coldpatch");
    let out = Command::new(exe)
        .args(["--json", "verify"])
        .arg(path)
        .output()
        .expect("run coldpatch verify");
    assert_eq!(out.status.code(), Some(0), "verify: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
    assert_eq!(v[0]["ok"], true, "{v}");
    assert_eq!(v[0]["kind"], "ese");
    assert_eq!(v[0]["errors"].as_array().map(Vec::len), Some(0));

    let out = Command::new(exe)
        .args(["--json", "inspect"])
        .arg(path)
        .output()
        .expect("run coldpatch inspect");
    assert_eq!(out.status.code(), Some(0), "inspect: {out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    for (name, r) in rows {
        let t = j["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["name"] == name.as_str())
            .unwrap_or_else(|| panic!("inspect lists {name}"));
        assert_eq!(t["rows"], r.len() as u64, "inspect --json rows of {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

const MESSAGES: u64 = 10_500;

#[test]
fn store_model_databases_read_back_row_for_row_in_both_forms() {
    let profile = Profile::exchange55();
    let dir = tempfile::tempdir().expect("temp dir");
    for store in StoreKind::ALL {
        let defs: Vec<TableDef> = profile.tables_for(store).cloned().collect();
        let seed = 0x5EED_0000 + store as u64;
        let msgs = if store == StoreKind::Priv {
            MESSAGES
        } else {
            2_000
        };
        let (rows, stats) = store_rows(store, 150, msgs, seed);
        // The generator made what the test is about.
        assert!(stats.foreign_guids > 100 && stats.null_guids > 0);
        assert!(stats.null_subjects > 0 && stats.null_bodies > 0);
        assert!(stats.subject_lens.contains(&0) && stats.subject_lens.contains(&255));
        assert!(stats.body_lens.contains(&0) && stats.body_lens.contains(&(BODY_MAX as usize)));
        assert!(stats.subject_lens.len() > 100 && stats.body_lens.len() > 500);
        for format in [Format::Ese97, Format::Ese98] {
            let path = dir.path().join(format!("{}-{format:?}.edb", store.name()));
            let report = build(&path, format, &defs, &rows);
            assert_eq!(
                report.rows,
                defs.iter()
                    .map(|d| (d.name.clone(), rows[&d.name].len() as u64))
                    .collect::<Vec<_>>()
            );
            let msg_tree = report
                .trees
                .iter()
                .find(|t| t.table == table::MSG && t.index.is_none())
                .expect("Msg tree");
            assert!(msg_tree.shape.levels >= 2, "Msg is a multi-page tree");
            check_database(&path, format, &defs, &rows, &report);
            check_cli(&path, &rows);
        }
        // The Msg columns the store model names are all there (names from the profile).
        assert!(defs
            .iter()
            .any(|d| d.columns.iter().any(|c| c.name == column::SUBJECT)));
    }
}

#[test]
fn a_three_level_tree_with_every_column_type_reads_back_and_seeks() {
    let def = deep_table();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = Rows::new();
    rows.insert(def.name.clone(), deep_rows(2_500, 0xD00D));
    for format in [Format::Ese97, Format::Ese98] {
        let path = dir.path().join(format!("deep-{format:?}.edb"));
        let report = build(&path, format, std::slice::from_ref(&def), &rows);
        let tree = &report.trees[0];
        assert!(
            tree.shape.levels >= 3,
            "Deep has {} levels ({:?})",
            tree.shape.levels,
            tree.shape.pages_per_level
        );
        check_database(&path, format, std::slice::from_ref(&def), &rows, &report);
        check_cli(&path, &rows);
    }
}
