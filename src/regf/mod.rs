//! Registry hives (regf): base block, bins and cells, keys, values, lists, logs; read, verify,
//! edit and build. Format facts: `../shared/reference/regf.md`.
pub mod alloc;
pub mod base_block;
pub mod build;
pub mod dirty;
pub mod edit;
pub mod error;
pub mod hive;
pub mod list;
pub mod log;
pub mod name;
pub mod ops;
pub mod security;
pub mod tree;
pub mod value_edit;
pub mod verify;
pub mod write;

pub use edit::Editor;
pub use error::RegfError;
pub use hive::HiveRef;
pub use verify::{verify, Finding, VerifyReport};
