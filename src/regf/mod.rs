//! Registry hives (regf): base block, bins and cells, keys, values, lists, logs; read, verify,
//! edit and build. Format facts: `../shared/reference/regf.md`.
//!
//! * Read: [`HiveRef`] over the bytes of a hive (`key_by_path`, `find_subkey`, `values`,
//!   `value_data`, …); [`tree::read_hive`] gives the whole tree as a [`model::KeySpec`].
//! * Forensic read: [`salvage::open`] and [`salvage::read_tree`] read what a damaged hive
//!   still holds, with the gaps (for the read-only verbs; writing stays strict).
//! * Check: [`verify()`] → [`VerifyReport`] (cells, dirty state, findings with offsets).
//! * Edit: [`Editor::open`] (refuses dirty or flagged hives) → `create_key`, `delete_key`,
//!   `set_value`, `delete_value`, `set_class`, `set_security` → [`Editor::finish`];
//!   [`ops::apply_ops`] applies a parsed `.reg` file ([`regfile::parse_reg`]'s `RegOp`s, key
//!   paths below a `--prefix`).
//! * Build: [`write::build_hive`] (same code path as the editor).
//! * Logs: [`log::replay_files`] / [`log::replay`] (old `DIRT` and new `HvLE` formats);
//!   [`dirty::make_dirty_hive`] makes the crash state of the `dirty-hive` lab scenario.
//! * Disk: [`disk::write_atomic`], [`disk::write_in_place`] (behind a [`crate::journal`] undo
//!   journal, written first).
pub mod alloc;
pub mod base_block;
pub mod bins;
pub mod cell_edit;
pub mod dirty;
pub mod disk;
pub mod edit;
pub mod error;
pub mod hive;
pub mod import;
pub mod list;
pub mod log;
pub mod model;
pub mod name;
pub mod ops;
pub mod regfile;
pub mod salvage;
pub mod security;
pub mod tree;
pub mod value_edit;
pub mod verify;
pub mod write;

pub use edit::Editor;
pub use error::RegfError;
pub use hive::HiveRef;
pub use verify::{verify, Finding, VerifyReport};
