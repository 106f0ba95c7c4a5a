//! What several targets share: reading every part of a record, as the verbs do.

#![allow(dead_code)]

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{walk_rows, Table};
use coldpatch::ese::longvalue::read_long_value;
use coldpatch::ese::record::Record;
use std::ops::ControlFlow;

/// Reads every fixed, variable and tagged column a record can hold, with or without a
/// catalog's layout.
pub fn read_record(rec: &Record, table: Option<&Table>) {
    match table {
        Some(t) => {
            for c in &t.columns {
                if let (Some(off), Some(size)) = (c.fixed_offset, c.fixed_size) {
                    let _ = rec.fixed(c.fid, off, size);
                }
            }
        }
        None => {
            // One byte per fixed column: the shape of an unknown table.
            for fid in 1..=u16::from(rec.fid_fixed_last) {
                let _ = rec.fixed(fid, 3 + usize::from(fid), 1);
            }
        }
    }
    for fid in 128..=u16::from(rec.fid_var_last) {
        let _ = rec.variable(fid);
    }
    if let Ok(tagged) = rec.tagged() {
        for col in &tagged {
            let _ = rec.tagged_column(col.fid);
        }
    }
}

/// Reads every row of `table`: every column, and every separated long value.
pub fn read_table(db: &Database, table: &Table) {
    let _ = walk_rows(db, table, |row| {
        read_record(&row.record, Some(table));
        if let Ok(tagged) = row.record.tagged() {
            for col in tagged {
                for inst in col.instances {
                    if inst.separated {
                        let _ = read_long_value(db, table, inst.data);
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    });
}
