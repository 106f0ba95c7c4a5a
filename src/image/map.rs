//! Read-only memory maps of input files.

use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A file opened read-only and mapped into memory.
///
/// An empty file is not mapped (a zero-length map is an error on some systems); its bytes are
/// the empty slice.
pub struct MappedFile {
    path: PathBuf,
    map: Option<Mmap>,
}

/// Opening or mapping a file failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct MapError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl MappedFile {
    /// Opens `path` read-only and maps all of it.
    pub fn open(path: &Path) -> Result<MappedFile, MapError> {
        let err = |source| MapError {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this process. coldpatch never writes
            // to an input file while it is mapped (edits are planned as owned data first, see
            // STYLE.md habit 4); a file changed underneath us by another process is outside
            // the contract, as for every memory-mapped reader.
            let map = unsafe { Mmap::map(&file) }.map_err(err)?;
            Some(map)
        };
        Ok(MappedFile {
            path: path.to_path_buf(),
            map,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Tells the kernel the map will be read front to back (a whole-file verify).
    pub fn advise_sequential(&self) {
        if let Some(map) = &self.map {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
    }
}
