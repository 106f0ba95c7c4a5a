//! Read-only memory maps of input files.

use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How much of a mapped file a pass reads between two [`MappedFile::release`]s.
pub const RELEASE_EVERY: u64 = 16 << 20;

/// The most one read of a page can map: the span of one page table (2 MiB of addresses on
/// x86-64, aligned). The kernel maps the whole large folio of the page cache that holds the
/// page read (files just written with large writes sit in 2 MiB folios), else the pages cached
/// around it, but never past the page table of the address read.
const READ_SPAN: u64 = 2 << 20;

/// How many spans reads out of order may keep mapped before the map is released.
const READ_SPANS: usize = (RELEASE_EVERY / READ_SPAN) as usize;

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

    /// The file's stamp when it was opened (that of the file mapped, whatever the path names
    /// now).
    pub fn stamp(&self) -> &FileStamp {
        &self.opened
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

    /// Drops this process's mapping of the file's bytes `start..end` (as
    /// [`MappedFile::release`]); both ends are rounded inwards to whole memory pages, except an
    /// end at or past the end of the file, which takes its last page, whole or not.
    pub fn release_range(&self, start: u64, end: u64) {
        let Some(map) = &self.map else { return };
        const PAGE: u64 = 4096;
        let len = map.len() as u64;
        let start = start.div_ceil(PAGE) * PAGE;
        let end = if end >= len { len } else { end / PAGE * PAGE };
        if end <= start {
            return;
        }
        // SAFETY: as in `release`: a read-only shared file mapping, a range inside it.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                start as usize,
                (end - start) as usize,
            )
        };
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

    /// The span (of addresses, [`READ_SPAN`] aligned) that holds the map's byte `offset`.
    fn span_of(&self, offset: u64) -> u64 {
        (self.bytes().as_ptr() as u64).saturating_add(offset) / READ_SPAN
    }

    /// Drops this process's mapping of the part of the map in span `span` (as
    /// [`MappedFile::release`]).
    fn release_span(&self, span: u64) {
        let Some(map) = &self.map else { return };
        let base = map.as_ptr() as u64;
        let first = span.saturating_mul(READ_SPAN);
        self.release_range(
            first.saturating_sub(base),
            first.saturating_add(READ_SPAN).saturating_sub(base),
        );
    }

    /// A callback for reads out of file order (a tree walk, long-value lookups), given each
    /// page's file offset: once reads have touched more than [`RELEASE_EVERY`] bytes' worth
    /// of distinct 2 MiB spans, those spans are released (only they: a pass reading the file
    /// in order beside them keeps what it mapped). Counting pages would not do: one read can
    /// map a whole 2 MiB span, so 4,096 scattered reads could map 8 GiB. Reads that stay in a
    /// few spans (a root page, the leaves in order) release nothing. Several threads may call
    /// it; the count is then about right, never far under.
    pub fn releasing_reads(&self) -> impl Fn(u64) + Sync + '_ {
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
        let recent: [AtomicU64; READ_SPANS] = std::array::from_fn(|_| AtomicU64::new(u64::MAX));
        let filled = AtomicUsize::new(0);
        move |offset: u64| {
            let span = self.span_of(offset);
            if recent.iter().any(|s| s.load(Relaxed) == span) {
                return;
            }
            let slot = filled.fetch_add(1, Relaxed);
            if let Some(s) = recent.get(slot) {
                s.store(span, Relaxed);
                return;
            }
            for s in &recent {
                let old = s.swap(u64::MAX, Relaxed);
                if old != u64::MAX {
                    self.release_span(old);
                }
            }
            recent[0].store(span, Relaxed);
            filled.store(1, Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident kilobytes of this process's mapping that starts at `start` (`/proc/self/smaps`).
    fn resident_kb(start: *const u8) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{:x}-", start as usize);
        smaps
            .lines()
            .skip_while(|l| !l.starts_with(&head))
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn reads_out_of_order_release_their_spans_once_they_spread_over_16_mib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let span = READ_SPAN as usize;
        std::fs::write(&path, vec![7u8; (READ_SPANS + 3) * span]).unwrap();
        let map = MappedFile::open(&path).unwrap();
        let read = map.releasing_reads();
        let bytes = map.bytes();
        let resident = || resident_kb(bytes.as_ptr());
        let load = |at: usize| std::hint::black_box(bytes.get(at).copied());
        let touch = |s: usize| {
            let at = s * span + 4096;
            read(at as u64);
            load(at);
        };
        // A page read in order (a pass beside the lookups), in the last span.
        load((READ_SPANS + 2) * span + 4096);
        let in_order = resident();
        assert!(in_order >= 4);
        // To and fro among as many spans as may stay mapped: nothing is released.
        for s in (0..READ_SPANS).chain((0..READ_SPANS).rev()) {
            touch(s);
        }
        assert!(resident() >= in_order + 4 * READ_SPANS as u64);
        // A read in one span more releases those spans before it maps its page; the page
        // read in order stays.
        read((READ_SPANS * span) as u64);
        assert_eq!(resident(), in_order);
        // And the count starts again.
        touch(READ_SPANS);
        touch(0);
        assert!(resident() >= in_order + 8);
    }

    #[test]
    fn a_released_range_leaves_the_rest_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, vec![7u8; 64 * 4096]).unwrap();
        let map = MappedFile::open(&path).unwrap();
        let bytes = map.bytes();
        let resident = || resident_kb(bytes.as_ptr());
        for at in (0..bytes.len()).step_by(4096) {
            std::hint::black_box(bytes[at]);
        }
        assert_eq!(resident(), 256);
        // Pages 0..16; then, of a range from inside page 16 to inside page 32, only the
        // whole pages 17..32 (the ends are rounded inwards).
        map.release_range(0, 16 * 4096);
        assert_eq!(resident(), 192);
        map.release_range(16 * 4096 + 1, 33 * 4096 - 1);
        assert_eq!(resident(), 192 - 15 * 4);
        // Past the end: up to the end.
        map.release_range(60 * 4096, u64::MAX);
        assert_eq!(resident(), 192 - 19 * 4);
        assert_eq!(bytes[0], 7, "a released page reads again");
    }
}
