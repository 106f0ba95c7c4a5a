//! A whole ESE database, as `verify` and `inspect` read it: open, verify every page and the
//! structure, read the catalog, walk every table's rows reading every column and long value,
//! list every table's pages and owned space.
#![no_main]

mod common;

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{count_rows, table_pages, Catalog};
use coldpatch::ese::space::{database_last_owned_page, owned_extents};
use coldpatch::ese::verify::verify_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = verify_file(data, 1, &|_| {});
    let Ok(db) = Database::open(data) else {
        return;
    };
    let _ = database_last_owned_page(&db);
    let Ok(catalog) = Catalog::read(&db) else {
        return;
    };
    for table in &catalog.tables {
        let _ = count_rows(&db, table);
        let _ = table_pages(&db, table);
        let _ = owned_extents(&db, table.pgno_fdp, table.objid);
        common::read_table(&db, table);
    }
});
