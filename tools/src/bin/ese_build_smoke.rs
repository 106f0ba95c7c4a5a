//! Builds a small or large synthetic database and prints the build report, the write rate and
//! what the secondary-index sort spilled; used to measure the builder:
//!
//! `ese_build_smoke OUT ROWS [ese97|ese98] [SORT_BUDGET_BYTES]`
//!
//! Rows are `Msg`-like: bodies of 0..=999 bytes (about 650 bytes a row on disk), one
//! non-unique secondary index. Peak memory: run it under `/usr/bin/time -v`.
use coldpatch::ese::write::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: ese_build_smoke OUT ROWS [ese97|ese98] [SORT_BUDGET_BYTES]");
        std::process::exit(2);
    };
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let format = if args.get(3).map(String::as_str) == Some("ese97") {
        Format::Ese97
    } else {
        Format::Ese98
    };
    let col = |name: &str, coltyp, storage, max_len, code_page| ColumnDef {
        name: name.into(),
        coltyp,
        storage,
        max_len,
        code_page,
    };
    let def = TableDef {
        long_values: false,
        name: "Msg".into(),
        columns: vec![
            col("MsgId", ColumnType::Currency, Storage::Fixed, 8, 0),
            col("FolderId", ColumnType::Currency, Storage::Fixed, 8, 0),
            col("SourceGuid", ColumnType::Binary, Storage::Fixed, 16, 0),
            col("Subject", ColumnType::Text, Storage::Variable, 255, 1252),
            col("Body", ColumnType::LongBinary, Storage::Tagged, 0, 0),
        ],
        indexes: vec![
            IndexDef {
                name: "MsgPK".into(),
                columns: vec![("MsgId".into(), true)],
                primary: true,
                unique: true,
            },
            IndexDef {
                name: "MsgFolder".into(),
                columns: vec![("FolderId".into(), true)],
                primary: false,
                unique: false,
            },
        ],
    };
    let body = vec![0x5Au8; 1000];
    let rows = (0..n).map(move |i| {
        vec![
            Value::Currency(i as i64 + 1),
            Value::Currency((i % 97) as i64),
            Value::Binary(vec![7; 16]),
            Value::Text(format!("subject {i}")),
            Value::LongBinary(body[..(i % 1000) as usize].to_vec()),
        ]
    });
    let opts = BuildOptions {
        format,
        computer_name: "EXCH01".into(),
        signature_random: 0x1234_5678,
        created_unix: 946_684_800,
        os_version: (4, 0, 1381, 6),
        clean_shutdown: true,
    };
    let budget: usize = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(SORT_BUDGET);
    let t = Instant::now();
    let (report, sort) = build_database_with_sort_budget(
        &out,
        &opts,
        vec![TableInput {
            def,
            rows: Box::new(rows),
        }],
        budget,
    )
    .expect("build");
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{} pages, {} bytes in {:.2}s = {:.0} MB/s; sort spilled {} runs, {} bytes",
        report.pages,
        report.bytes,
        secs,
        report.bytes as f64 / 1e6 / secs,
        sort.runs,
        sort.bytes
    );
    println!("{}", serde_json::to_string(&report).unwrap());
}
