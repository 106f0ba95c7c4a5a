//! What can go wrong while building a database.

use std::path::PathBuf;

/// A build that could not complete. Every variant names what it is about (file, table, column,
/// row) so that a caller can report it without more context.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {op} at offset {offset:#x}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        offset: u64,
        #[source]
        source: std::io::Error,
    },

    #[error("table {table}: row {row}: {what} needs {need} bytes, a page holds at most {max}")]
    RowTooLarge {
        table: String,
        row: u64,
        what: &'static str,
        need: usize,
        max: usize,
    },

    #[error(
        "table {table}: row {row}: column {column} ({coltyp:?}, {storage:?}): expected {expected}, found {found}"
    )]
    WrongValue {
        table: String,
        row: u64,
        column: String,
        coltyp: super::ColumnType,
        storage: super::Storage,
        expected: String,
        found: String,
    },

    #[error("table {table}: row {row} has {found} values, the table has {expected} columns")]
    WrongArity {
        table: String,
        row: u64,
        expected: usize,
        found: usize,
    },

    #[error(
        "table {table}: row {row}: primary key {key} is not greater than the previous row's {previous} (rows must arrive in strictly increasing primary-key order)"
    )]
    OutOfOrder {
        table: String,
        row: u64,
        key: String,
        previous: String,
    },

    #[error("table {table}: unique index {index}: duplicate key {key}")]
    DuplicateKey {
        table: String,
        index: String,
        key: String,
    },

    #[error("schema: {0}")]
    Schema(String),
}

/// Hex for keys in error messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
