//! Secondary-index entries of one table: gathered as its rows stream in, then handed out sorted,
//! index by index, in bounded memory (an external sort).
//!
//! Memory: every entry costs 8 bytes of bookkeeping plus its normalised key and primary
//! bookmark, all in one byte arena per index (no allocation per entry); for the store model's
//! `Msg` table (9-byte key, 9-byte bookmark) that is 26 bytes a row. While the table's indexes
//! together hold more than the sort budget ([`SORT_BUDGET`] unless a test asks for less), each
//! index's buffer is sorted and written as one run to that index's temporary file, and emptied.
//! When the table is done, each index's runs and the entries still in memory are merged (a
//! binary heap over buffered run readers). Peak memory is about twice the budget at worst: the
//! buffers may over-allocate while they grow, and the merge adds read buffers of at most a
//! quarter of the budget.
//!
//! The temporary files are created in the output file's directory (so that a build does not
//! fill a small `/tmp`) by `tempfile::tempfile_in`: they have no name in the directory and are
//! gone when closed, whether the build succeeds or fails. A run takes the entries' bytes plus
//! two length bytes each (28 bytes a `Msg` row).
//!
//! The entries come out in the same order whether or not runs were spilled (key, then
//! bookmark; the bookmark, the primary key, is unique), so the index trees are the same bytes.

use super::error::BuildError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Memory for one table's secondary-index entries before they spill to disk: about 1.3 million
/// `Msg` rows a run. Chosen to keep a whole `mkimage` build (which must stay under 256 MiB) far
/// from its limit while keeping the number of runs small (about ten for 11 million messages).
pub const SORT_BUDGET: usize = 32 << 20;

/// Bytes of bookkeeping per entry in memory (one [`Entry`]).
const ENTRY_COST: usize = std::mem::size_of::<Entry>();

/// Write buffer of a run being spilled.
const RUN_WRITE_BUFFER: usize = 1 << 20;
/// Read buffer per run while merging: the share of a quarter of the budget, within these bounds.
const RUN_READ_BUFFER_MIN: usize = 4 << 10;
const RUN_READ_BUFFER_MAX: usize = 1 << 20;

/// Keys and bookmarks are at most `KEY_MOST` (255) bytes, so each length fits a byte and the
/// arena offset takes the other 48 bits of one word.
#[derive(Clone, Copy)]
struct Entry(u64);

const OFFSET_BITS: u32 = 48;

impl Entry {
    fn new(at: usize, key_len: usize, bookmark_len: usize) -> Entry {
        debug_assert!(key_len <= 0xFF && bookmark_len <= 0xFF && (at as u64) < 1 << OFFSET_BITS);
        Entry((at as u64) | (key_len as u64) << OFFSET_BITS | (bookmark_len as u64) << 56)
    }
    fn at(self) -> usize {
        (self.0 & ((1 << OFFSET_BITS) - 1)) as usize
    }
    fn key_len(self) -> usize {
        (self.0 >> OFFSET_BITS & 0xFF) as usize
    }
    fn bookmark_len(self) -> usize {
        (self.0 >> 56) as usize
    }
}

/// One index's entries in memory.
#[derive(Default)]
pub struct EntryBuffer {
    arena: Vec<u8>,
    entries: Vec<Entry>,
}

impl EntryBuffer {
    /// Adds an entry; the key and bookmark are each at most 255 bytes (the caller checks
    /// `KEY_MOST`).
    pub fn push(&mut self, key: &[u8], bookmark: &[u8]) {
        self.entries
            .push(Entry::new(self.arena.len(), key.len(), bookmark.len()));
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(bookmark);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the buffer, keeping its allocations for the next run.
    fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
    }

    fn parts(arena: &[u8], e: Entry) -> (&[u8], &[u8]) {
        let at = e.at();
        let k = at + e.key_len();
        (&arena[at..k], &arena[k..k + e.bookmark_len()])
    }

    fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|e| Self::parts(&self.arena, *e))
    }

    /// Sorts by key, then bookmark (the order of a tree with non-unique keys).
    pub fn sort(&mut self) {
        let arena = &self.arena;
        self.entries
            .sort_unstable_by(|a, b| Self::parts(arena, *a).cmp(&Self::parts(arena, *b)));
    }

    /// (key, bookmark) in buffer order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().map(|e| Self::parts(&self.arena, *e))
    }
}

/// How a build sorts secondary-index entries.
#[derive(Clone, Debug)]
pub struct SortSettings {
    /// Bytes of entries a table may hold in memory before spilling.
    pub budget: usize,
    /// Where the temporary run files go: the output file's directory.
    pub dir: PathBuf,
}

/// What the sorts of a build spilled (for tests and measurements).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SortStats {
    /// Runs written to temporary files.
    pub runs: u64,
    /// Bytes written to temporary files.
    pub bytes: u64,
}

impl SortStats {
    pub fn add(&mut self, other: SortStats) {
        self.runs += other.runs;
        self.bytes += other.bytes;
    }
}

/// An index's temporary file and the runs in it, as (start, end) byte offsets.
struct Spill {
    file: File,
    runs: Vec<(u64, u64)>,
    len: u64,
}

/// The secondary-index entries of one table, for all its indexes.
pub struct EntrySorter {
    buffers: Vec<EntryBuffer>,
    spills: Vec<Option<Spill>>,
    /// Bytes held by the buffers (arena bytes plus bookkeeping), against `budget`.
    used: usize,
    budget: usize,
    /// Where temporary files go (named in errors; the files themselves have no name).
    dir: PathBuf,
    stats: SortStats,
}

impl EntrySorter {
    /// A sorter for `indexes` indexes that keeps at most about `budget` bytes of entries in
    /// memory, spilling into temporary files in `dir`.
    pub fn new(indexes: usize, budget: usize, dir: &Path) -> EntrySorter {
        EntrySorter {
            buffers: (0..indexes).map(|_| EntryBuffer::default()).collect(),
            spills: (0..indexes).map(|_| None).collect(),
            used: 0,
            budget,
            dir: dir.to_path_buf(),
            stats: SortStats::default(),
        }
    }

    pub fn stats(&self) -> SortStats {
        self.stats
    }

    /// Adds an entry to index `index`; the key and bookmark are each at most 255 bytes (the
    /// caller checks `KEY_MOST`). Spills every index's buffer when the budget is exceeded.
    pub fn push(&mut self, index: usize, key: &[u8], bookmark: &[u8]) -> Result<(), BuildError> {
        self.buffers[index].push(key, bookmark);
        self.used += ENTRY_COST + key.len() + bookmark.len();
        if self.used > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts each non-empty buffer and appends it as a run to its index's temporary file.
    fn spill(&mut self) -> Result<(), BuildError> {
        let dir = &self.dir;
        for (buffer, slot) in self.buffers.iter_mut().zip(self.spills.iter_mut()) {
            if buffer.is_empty() {
                continue;
            }
            let spill = match slot {
                Some(s) => s,
                None => {
                    let file = tempfile::tempfile_in(dir)
                        .map_err(|e| run_error(dir, "create sort run file", 0, e))?;
                    slot.insert(Spill {
                        file,
                        runs: Vec::new(),
                        len: 0,
                    })
                }
            };
            buffer.sort();
            let start = spill.len;
            let written = write_run(&spill.file, start, buffer)
                .map_err(|e| run_error(dir, "write sort run", start, e))?;
            spill.len += written;
            spill.runs.push((start, spill.len));
            self.stats.runs += 1;
            self.stats.bytes += written;
            buffer.clear();
        }
        self.used = 0;
        Ok(())
    }

    /// Entries of index `index` in (key, bookmark) order: its spilled runs merged with what is
    /// still in memory. The index's memory buffer is released when the merge is dropped.
    pub fn sorted(&mut self, index: usize) -> Result<Merge<'_>, BuildError> {
        let mut memory = std::mem::take(&mut self.buffers[index]);
        memory.sort();
        let runs = match &self.spills[index] {
            None => Vec::new(),
            Some(s) => s.runs.iter().map(|&r| (&s.file, r)).collect(),
        };
        Merge::new(memory, runs, self.budget / 4, &self.dir)
    }
}

/// An I/O error on a temporary run file: it has no name, so the error names its directory.
fn run_error(dir: &Path, op: &'static str, offset: u64, source: std::io::Error) -> BuildError {
    BuildError::Io {
        path: dir.join("(temporary sort run)"),
        op,
        offset,
        source,
    }
}

/// Writes a sorted buffer at `start` of `file` as `[key length][bookmark length][key][bookmark]`
/// records; returns the bytes written.
fn write_run(file: &File, start: u64, buffer: &EntryBuffer) -> std::io::Result<u64> {
    let mut f = file;
    f.seek(SeekFrom::Start(start))?;
    let mut w = BufWriter::with_capacity(RUN_WRITE_BUFFER, f);
    let mut n = 0u64;
    for (k, b) in buffer.iter() {
        // Lengths are at most KEY_MOST (255): see `EntryBuffer::push`.
        w.write_all(&[k.len() as u8, b.len() as u8])?;
        w.write_all(k)?;
        w.write_all(b)?;
        n += 2 + k.len() as u64 + b.len() as u64;
    }
    w.flush()?;
    Ok(n)
}

/// Reads one run: its byte range of the shared temporary file, each read at its own position.
struct RunRead<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RunRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut f = self.file;
        f.seek(SeekFrom::Start(self.pos))?;
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            // Not `UnexpectedEof`: that kind marks the regular end of a run to `Source::read`.
            return Err(std::io::Error::other(format!(
                "sort run ends at {:#x}, the temporary file before it",
                self.end
            )));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// One input of a merge.
enum Source<'a> {
    Memory { buffer: EntryBuffer, next: usize },
    Run(BufReader<RunRead<'a>>),
}

impl Source<'_> {
    /// Reads the next entry into `key` and `bookmark`; `false` at the end.
    fn read(&mut self, key: &mut Vec<u8>, bookmark: &mut Vec<u8>) -> std::io::Result<bool> {
        match self {
            Source::Memory { buffer, next } => {
                let Some((k, b)) = buffer.get(*next) else {
                    return Ok(false);
                };
                *next += 1;
                key.clear();
                key.extend_from_slice(k);
                bookmark.clear();
                bookmark.extend_from_slice(b);
                Ok(true)
            }
            Source::Run(r) => {
                let mut lens = [0u8; 2];
                match r.read_exact(&mut lens[..1]) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                    Err(e) => return Err(e),
                }
                r.read_exact(&mut lens[1..])?;
                key.resize(usize::from(lens[0]), 0);
                r.read_exact(key)?;
                bookmark.resize(usize::from(lens[1]), 0);
                r.read_exact(bookmark)?;
                Ok(true)
            }
        }
    }

    /// Where a run reader stands, for errors.
    fn position(&self) -> u64 {
        match self {
            Source::Memory { .. } => 0,
            Source::Run(r) => r.get_ref().pos,
        }
    }
}

/// The current entry of one source, ordered by (key, bookmark, source).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Head {
    key: Vec<u8>,
    bookmark: Vec<u8>,
    source: usize,
}

/// An index entry: normalised key, primary bookmark.
pub type KeyAndBookmark<'e> = (&'e [u8], &'e [u8]);

/// Sorted entries of one index; `next_entry` lends each entry until the following call.
pub struct Merge<'a> {
    sources: Vec<Source<'a>>,
    heap: BinaryHeap<Reverse<Head>>,
    /// The entry handed out last; its source is read again on the next call.
    current: Option<Head>,
    dir: PathBuf,
}

impl<'a> Merge<'a> {
    fn new(
        memory: EntryBuffer,
        runs: Vec<(&'a File, (u64, u64))>,
        read_budget: usize,
        dir: &Path,
    ) -> Result<Merge<'a>, BuildError> {
        let mut m = Merge {
            sources: Vec::with_capacity(runs.len() + 1),
            heap: BinaryHeap::with_capacity(runs.len() + 1),
            current: None,
            dir: dir.to_path_buf(),
        };
        let capacity =
            (read_budget / runs.len().max(1)).clamp(RUN_READ_BUFFER_MIN, RUN_READ_BUFFER_MAX);
        let only_memory = runs.is_empty();
        for (file, (pos, end)) in runs {
            m.sources.push(Source::Run(BufReader::with_capacity(
                capacity,
                RunRead { file, pos, end },
            )));
        }
        m.sources.push(Source::Memory {
            buffer: memory,
            next: 0,
        });
        if only_memory {
            // Nothing spilled: `next_entry` reads the buffer directly, without the heap.
            return Ok(m);
        }
        for source in 0..m.sources.len() {
            let mut head = Head {
                key: Vec::new(),
                bookmark: Vec::new(),
                source,
            };
            if m.read(&mut head)? {
                m.heap.push(Reverse(head));
            }
        }
        Ok(m)
    }

    fn read(&mut self, head: &mut Head) -> Result<bool, BuildError> {
        let s = &mut self.sources[head.source];
        s.read(&mut head.key, &mut head.bookmark)
            .map_err(|e| run_error(&self.dir, "read sort run", s.position(), e))
    }

    /// The next (key, bookmark), or `None` after the last.
    pub fn next_entry(&mut self) -> Result<Option<KeyAndBookmark<'_>>, BuildError> {
        if self.sources.len() == 1 {
            // Nothing spilled: straight from the sorted buffer.
            return Ok(match &mut self.sources[0] {
                Source::Memory { buffer, next } => {
                    *next += 1;
                    buffer.get(*next - 1)
                }
                Source::Run(_) => None,
            });
        }
        if let Some(mut head) = self.current.take() {
            if self.read(&mut head)? {
                self.heap.push(Reverse(head));
            }
        }
        Ok(self.heap.pop().map(|Reverse(head)| {
            let h = self.current.insert(head);
            (h.key.as_slice(), h.bookmark.as_slice())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_key_then_bookmark() {
        let mut b = EntryBuffer::default();
        b.push(b"\x7f\x02", b"b");
        b.push(b"\x7f\x01", b"z");
        b.push(b"\x7f\x02", b"a");
        b.push(b"\x7f\x01\x00", b"a");
        b.sort();
        let got: Vec<_> = b.iter().map(|(k, m)| (k.to_vec(), m.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (b"\x7f\x01".to_vec(), b"z".to_vec()),
                (b"\x7f\x01\x00".to_vec(), b"a".to_vec()),
                (b"\x7f\x02".to_vec(), b"a".to_vec()),
                (b"\x7f\x02".to_vec(), b"b".to_vec()),
            ]
        );
    }

    /// Deterministic entries for two indexes: keys of varying length with many repeats, and a
    /// unique bookmark per row.
    fn rows(n: u32) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let mut x = 0x9E37_79B9u32;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let k1 = vec![0x7F, (x % 7) as u8, (x >> 8) as u8 % 3];
                let k2: Vec<u8> = std::iter::once(0x7F)
                    .chain((0..(x % 5)).map(|j| (x >> j) as u8))
                    .collect();
                (
                    k1,
                    k2,
                    [0x7F].iter().chain(&i.to_be_bytes()).copied().collect(),
                )
            })
            .collect()
    }

    fn collect(sorter: &mut EntrySorter, index: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut m = sorter.sorted(index).unwrap();
        let mut out = Vec::new();
        while let Some((k, b)) = m.next_entry().unwrap() {
            out.push((k.to_vec(), b.to_vec()));
        }
        out
    }

    #[test]
    fn spilled_runs_merge_into_the_same_order_as_an_in_memory_sort() {
        let dir = tempfile::tempdir().unwrap();
        let input = rows(5000);
        let mut want: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![Vec::new(), Vec::new()];
        for (k1, k2, b) in &input {
            want[0].push((k1.clone(), b.clone()));
            want[1].push((k2.clone(), b.clone()));
        }
        want.iter_mut().for_each(|w| w.sort());
        for budget in [0, 1, 300, 4096, 100_000, SORT_BUDGET] {
            let mut s = EntrySorter::new(2, budget, dir.path());
            for (k1, k2, b) in &input {
                s.push(0, k1, b).unwrap();
                s.push(1, k2, b).unwrap();
            }
            let stats = s.stats();
            if budget <= 4096 {
                assert!(stats.runs >= 2, "budget {budget}: {stats:?}");
            }
            if budget == SORT_BUDGET {
                assert_eq!(stats, SortStats::default());
            }
            assert_eq!(collect(&mut s, 0), want[0], "budget {budget}, index 0");
            assert_eq!(collect(&mut s, 1), want[1], "budget {budget}, index 1");
            // The temporary files never show up in the directory.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn an_index_with_no_entries_merges_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = EntrySorter::new(2, 10, dir.path());
        for i in 0..100u8 {
            s.push(0, &[0x7F, i], &[0x7F, i]).unwrap();
        }
        assert!(s.stats().runs > 1);
        assert!(collect(&mut s, 1).is_empty());
        assert_eq!(collect(&mut s, 0).len(), 100);
    }

    #[test]
    fn a_run_cut_short_is_an_io_error_not_a_short_index() {
        let dir = tempfile::tempdir().unwrap();
        for cut in [1u64, 2, 7] {
            let mut s = EntrySorter::new(1, 100, dir.path());
            for i in 0..50u8 {
                s.push(0, &[0x7F, i, i], &[0x7F, i]).unwrap();
            }
            let spill = s.spills[0].as_ref().unwrap();
            spill.file.set_len(spill.len - cut).unwrap();
            let mut m = s.sorted(0).unwrap();
            let err = loop {
                match m.next_entry() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("cut {cut}: the merge ended without an error"),
                    Err(e) => break e,
                }
            };
            match err {
                BuildError::Io { op, .. } => assert_eq!(op, "read sort run"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_run_directory_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let mut s = EntrySorter::new(1, 0, &gone);
        match s.push(0, b"\x7f", b"\x7f") {
            Err(BuildError::Io { path, op, .. }) => {
                assert!(path.starts_with(&gone), "{path:?}");
                assert_eq!(op, "create sort run file");
            }
            other => panic!("{other:?}"),
        }
    }
}
