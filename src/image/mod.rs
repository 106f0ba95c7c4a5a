//! The image: volumes, Windows-path resolution, the memory maps, and the writer of output
//! files (direct I/O, directory fsync, streaming SHA-256).
//!
//! This module is the one place where files are mapped into memory (and where the file size
//! signal is ignored, [`guard`]), and so the one place with `unsafe`.

#[allow(unsafe_code)]
pub mod guard;
#[allow(unsafe_code)]
pub mod map;
pub mod volumes;
pub mod write;

pub use map::MappedFile;
pub use volumes::{Image, ImageError, Resolved, SystemRoot, VolumeArg};
