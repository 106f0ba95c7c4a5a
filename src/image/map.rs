//! Read-only memory maps of input files.

use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How much of a mapped file a pass reads between two [`MappedFile::release`]s.
pub const RELEASE_EVERY: u64 = 16 << 20;

/// A file opened read-only and mapped into memory.
///
/// An empty file is not mapped (a zero-length map is an error on some systems); its bytes are
/// the empty slice.
pub struct MappedFile {
    path: PathBuf,
    map: Option<Mmap>,
    /// The file as it was when it was opened.
    opened: FileStamp,
}

/// What tells one state of a file from another without reading it: its identity (device,
/// inode), size, modification and change times. Any write to the file, or its replacement,
/// changes it (apply's check of its inputs, the journal's check before undo writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    pub fn of_metadata(m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stamp of the file at `path` now (symlinks followed).
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        std::fs::metadata(path).map(|m| FileStamp::of_metadata(&m))
    }

    /// How `self` differs from `then` (the same file earlier), or `None` when it does not.
    pub fn change_from(&self, then: &FileStamp) -> Option<String> {
        if self == then {
            None
        } else if (self.dev, self.ino) != (then.dev, then.ino) {
            Some("another file was put at its path".into())
        } else if self.size != then.size {
            Some(format!(
                "its size went from {} to {}",
                crate::text::count(then.size, "byte", "bytes"),
                crate::text::count(self.size, "byte", "bytes")
            ))
        } else {
            Some("it was written to".into())
        }
    }
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
        let meta = file.metadata().map_err(err)?;
        let len = meta.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only. Its pages are the file's (a shared map), so another
            // process writing the file would change them under us: coldpatch never writes to
            // an input while it is mapped (edits are planned as owned data first, see STYLE.md
            // habit 4), and `apply` refuses an input whose stamp changed since it was opened
            // ([`MappedFile::changed_since_open`]) before anything is put in place; beyond
            // that, a file changed underneath us is outside the contract, as for every
            // memory-mapped reader.
            let map = unsafe { Mmap::map(&file) }.map_err(err)?;
            Some(map)
        };
        Ok(MappedFile {
            path: path.to_path_buf(),
            map,
            opened: FileStamp::of_metadata(&meta),
        })
    }

    /// How the file at this path differs from the one opened, or `None` when it is the same
    /// file, unchanged (same device and inode, size, modification and change times).
    pub fn changed_since_open(&self) -> Option<String> {
        match FileStamp::of(&self.path) {
            Ok(now) => now.change_from(&self.opened),
            Err(e) => Some(format!("it cannot be examined again: {e}")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Drops this process's mapping of the file's pages: they stay in the page cache and are
    /// mapped again when next read. A pass over a large file calls it as it goes, so that the
    /// file does not all count in the process's resident memory.
    pub fn release(&self) {
        if let Some(map) = &self.map {
            // SAFETY: a read-only shared file mapping: MADV_DONTNEED only removes page-table
            // entries, and the next read maps the file's (unchanged) page again.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// A progress callback for a pass over the map that counts `unit`-byte steps and releases
    /// the map ([`MappedFile::release`]) every [`RELEASE_EVERY`] bytes.
    pub fn releasing(&self, unit: u64) -> impl Fn(u64) + Sync + '_ {
        let done = std::sync::atomic::AtomicU64::new(0);
        let at_total = self.releasing_total();
        move |n: u64| {
            let bytes = n * unit;
            at_total(done.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes)
        }
    }

    /// [`MappedFile::releasing`] for a callback given the bytes done so far in all.
    pub fn releasing_total(&self) -> impl Fn(u64) + Sync + '_ {
        let last = std::sync::atomic::AtomicU64::new(0);
        move |total: u64| {
            use std::sync::atomic::Ordering::Relaxed;
            let at = total / RELEASE_EVERY;
            if last.fetch_max(at, Relaxed) < at {
                self.release();
            }
        }
    }

    /// Tells the kernel the map will be read front to back (a whole-file verify).
    pub fn advise_sequential(&self) {
        if let Some(map) = &self.map {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
    }

    /// Tells the kernel the map will be read here and there, a page at a time (the walk of a
    /// database's catalog and branch pages beside a pass that reads the file itself): no
    /// read-around, which on a cold file would read megabytes around each page touched (the
    /// device's read-ahead; 8 MiB on the development VM) and so most of the file twice.
    pub fn advise_random(&self) {
        if let Some(map) = &self.map {
            let _ = map.advise(memmap2::Advice::Random);
        }
    }
}
