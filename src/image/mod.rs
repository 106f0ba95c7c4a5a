//! The image: volumes, Windows-path resolution, and the memory maps.
//!
//! This module is the one place where files are mapped into memory, and so the one place
//! with `unsafe`.

#[allow(unsafe_code)]
pub mod map;
pub mod volumes;

pub use map::MappedFile;
pub use volumes::{Image, ImageError, Resolved, SystemRoot, VolumeArg};
