//! Registry hives (regf): base block, bins and cells, keys, values, lists, logs; read, verify,
//! edit and build. Format facts: `../shared/reference/regf.md`.
pub mod build;
pub mod regfile;
