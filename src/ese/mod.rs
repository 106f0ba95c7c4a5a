//! ESE ("JET Blue") databases: header, checksums, pages, nodes, records, catalog, B-trees;
//! read, verify, edit and build. Format facts: `../shared/reference/ese.md`.

pub mod build;
pub mod checksum;
pub mod header;
pub mod verify;
