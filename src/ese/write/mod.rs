//! Writes a complete, valid ESE database from a schema and a stream of rows (issue: ESE build).
//!
//! The public types below are the contract between the builder and its callers (`mkimage`,
//! tests, benchmarks). The builder itself ([`build_database`]) is implemented in this module's
//! children, one per part of the format: [`header`], [`page`], [`space`], [`catalog`], [`system`],
//! [`record`], [`key`] (normalisation), [`tree`] (the streaming B-tree writer), [`entries`]
//! (the external sort of secondary-index entries), [`table`] (one table's trees), [`file`](mod@file) (page output)
//! and [`database`] (the whole build).
//!
//! Limits, by design: 4 KiB pages; old-format XOR checksums only; long values are kept in the
//! record, so a row must fit one page — unless the table asks for a long-value tree
//! ([`TableDef::long_values`]: every long value of the table separated, in chunks as large as a
//! page holds, written after the record tree from a spool beside the output); index key columns may not be
//! Text, LongText or LongBinary (text sort keys are locale-dependent `LCMapString` output, not
//! reproduced here); the catalog must fit the 11 free pages of its fixed area (several hundred
//! columns and indexes). Memory stays bounded whatever the row count: secondary-index entries
//! beyond [`SORT_BUDGET`] are sorted in runs on disk next to the output (see [`entries`]).

pub mod catalog;
pub mod database;
pub mod entries;
pub mod error;
pub mod file;
pub mod header;
pub mod key;
pub mod page;
pub mod record;
pub mod space;
pub mod system;
pub mod table;
pub mod tree;

pub use database::build_database;
#[doc(hidden)]
pub use database::build_database_with_sort_budget;
pub use entries::{SortStats, SORT_BUDGET};
pub use error::BuildError;
pub use tree::TreeShape;

/// Which on-disk form to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// Exchange 5.5: version 0x620, revision 2, page-size field 0, ESE97 tagged columns,
    /// pages without the new-record-format flag.
    Ese97,
    /// Revision 9: page-size field 4096, ESE98 tagged columns, new-record-format page flag;
    /// still old-format XOR checksums. Readable by libesedb and dissect.esedb.
    Ese98,
}

/// `JET_coltyp` values of the ESE97 set (reference/ese.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColumnType {
    Bit,
    UnsignedByte,
    Short,
    Long,
    Currency,
    IeeeSingle,
    IeeeDouble,
    DateTime,
    Binary,
    Text,
    LongBinary,
    LongText,
}

/// Where a column lives in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Storage {
    Fixed,
    Variable,
    Tagged,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub coltyp: ColumnType,
    pub storage: Storage,
    /// Maximum length in bytes for Binary/Text (`SpaceUsage`); the natural size for fixed types.
    pub max_len: u32,
    /// Code page for text columns (1252 or 1200), 0 otherwise.
    pub code_page: u16,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexDef {
    pub name: String,
    /// Key columns in order; `false` = descending.
    pub columns: Vec<(String, bool)>,
    /// The clustered (primary) index: records are keyed by it. Exactly one per table.
    pub primary: bool,
    pub unique: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub indexes: Vec<IndexDef>,
    /// Keep the values of the table's long (LongBinary, LongText) columns in a long-value tree
    /// of their own, the record holding each one's LID, instead of in the record.
    #[serde(default)]
    pub long_values: bool,
}

/// One column value of a row. `Null` for an absent value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Bit(bool),
    UnsignedByte(u8),
    Short(i16),
    Long(i32),
    Currency(i64),
    IeeeSingle(f32),
    IeeeDouble(f64),
    /// OLE automation date: days since 1899-12-30.
    DateTime(f64),
    Binary(Vec<u8>),
    /// Text as Rust text; encoded with the column's code page.
    Text(String),
    LongBinary(Vec<u8>),
    LongText(String),
}

/// Header facts of the database being written.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildOptions {
    pub format: Format,
    /// NetBIOS computer name stored in the database signature (≤ 15 characters).
    pub computer_name: String,
    /// `signDb.ulRandom`, and the seed of the log signature.
    pub signature_random: u32,
    /// Creation time, seconds since the Unix epoch (stored as LOGTIME).
    pub created_unix: i64,
    /// OS version recorded for the index sort order: major, minor, build, service pack.
    pub os_version: (u32, u32, u32, u32),
    /// `true`: clean-shutdown state (3), consistent position and time set. `false`: dirty
    /// shutdown (2), as a crash leaves it.
    pub clean_shutdown: bool,
}

/// One table to write: its definition and its rows, in primary-key order, each row holding one
/// value per column in `def.columns` order.
pub struct TableInput<'a> {
    pub def: TableDef,
    pub rows: Box<dyn Iterator<Item = Vec<Value>> + 'a>,
}

/// What a build wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildReport {
    /// Pages in the file, the two header pages included.
    pub pages: u64,
    pub bytes: u64,
    /// Rows written per table, in table order.
    pub rows: Vec<(String, u64)>,
    /// Every user tree written: each table's record tree, then its secondary indexes.
    pub trees: Vec<TreeReport>,
}

/// Where one tree went and what shape it has.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeReport {
    pub table: String,
    /// `None` for the table's own (primary-index) tree.
    pub index: Option<String>,
    pub objid: u32,
    /// Root page number (`pgnoFDP`).
    pub root: u32,
    pub shape: TreeShape,
}
