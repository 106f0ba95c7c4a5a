//! coldpatch: `isinteg -patch` for Exchange Server 5.5, done offline on a disk image.
//!
//! # Layers
//!
//! Data flows one way through the crate:
//!
//! * [`image`] finds the bytes: volumes, Windows paths resolved inside them, memory maps.
//! * [`ese`] and [`regf`] give the bytes structure: ESE databases (ESE97 and later) and
//!   registry hives. They know nothing of Exchange.
//! * [`exchange`] and [`cluster`] give the structures meaning: the store model and the
//!   registry model (the profile). They never index into bytes.
//! * [`patch`] decides the edits (discover → plan → apply); [`ese`] and [`regf`] write them;
//!   [`manifest`] records them (`SHA256SUMS`, `report.json`, `audit.jsonl.zst`).
//! * [`cli`] is a thin layer of argument parsing and output formatting over all of this.
//!
//! [`bytes`] holds the only checked little-endian reads and writes over file bytes.

//! `unsafe` is denied everywhere but [`image::map`], where files are mapped, and
//! [`image::guard`], where the file size signal is ignored.

#![deny(unsafe_code)]

pub mod bytes;
pub mod cli;
pub mod cluster;
pub mod ese;
pub mod exchange;
pub mod image;
pub mod journal;
pub mod manifest;
pub mod patch;
pub mod regf;
pub mod text;
pub mod verify;
