//! ESE ("JET Blue") databases: header, checksums, pages, nodes, records, catalog, B-trees;
//! read, verify, edit and build. Format facts: `../shared/reference/ese.md`.

pub mod btree;
pub mod catalog;
pub mod census;
pub mod checksum;
pub mod edit;
pub mod error;
pub mod header;
pub mod longvalue;
pub mod node;
pub mod page;
pub mod patch;
pub mod record;
pub mod space;
pub mod verify;
pub mod write;
