//! The output file: pages streamed in page-number order through large buffers that a writer
//! thread writes out (the kernel's copy overlaps building the next pages), with the few pages
//! whose contents are known only at the end (tree roots reserved at the start of a run, the
//! catalog, the header) written in place afterwards, in order with the stream.
//!
//! Page `pgno` is at byte `(pgno + 1) * 4096`: two header pages come first (reference §1,
//! \[MS\] `OffsetOfPgno`, `cpgDBReserved = 2`).

use super::error::BuildError;
use super::page::PAGE_SIZE;
use super::tree::PageSink;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Write buffer: large enough that the disk sees big sequential writes.
const WRITE_BUFFER: usize = 8 << 20;

/// File offset of database page `pgno` in the builder's 4 KiB pages.
pub fn page_offset(pgno: u32) -> u64 {
    crate::ese::header::page_offset(pgno, PAGE_SIZE as u32)
}

/// One write of the page stream, in pages.
const CHUNK_PAGES: usize = WRITE_BUFFER / PAGE_SIZE;
/// Slices per vectored write (Linux `UIO_MAXIOV`).
const IOV_MOST: usize = 1024;
/// Stream buffers in use at once (one being filled, the others queued for or in the writer
/// thread): the builder's output memory is this many chunks.
const WRITE_BUFFERS: usize = 3;
/// Every time this much more of the stream is written, the writer thread waits for it to reach
/// the disk and drops it from the page cache. Buffered writes that grow the page cache into
/// fresh memory are the slow path on the development VM (shared/reference/machine-perf.md §1);
/// a bounded cache keeps recycling the same pages. Only when the file could not be opened for
/// direct I/O (which bypasses the cache).
const WRITEBACK_CHUNK: u64 = 64 << 20;

/// One page in page-aligned memory, as direct I/O needs (the alignment is `PAGE_SIZE`).
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; PAGE_SIZE]);

const ZERO_BLOCK: Block = Block([0; PAGE_SIZE]);

/// One write for the writer thread: the first `used` blocks at `offset`. Stream chunks go back
/// to the pool.
struct Job {
    offset: u64,
    blocks: Vec<Block>,
    used: usize,
    stream: bool,
}

/// A failed write in the writer thread.
#[derive(Debug)]
struct WriteFailure {
    op: &'static str,
    offset: u64,
    source: std::io::Error,
}

/// Drops `[offset, offset + len)` of `file` from the page cache (it is on disk already).
#[cfg(target_os = "linux")]
fn drop_cached(file: &File, offset: u64, len: u64) {
    if let Some(len) = std::num::NonZeroU64::new(len) {
        // Advice only: a failure leaves the pages cached, which is harmless.
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_cached(_: &File, _: u64, _: u64) {}

/// Creates `path` for direct I/O (no copy into the page cache), or, where the file system
/// refuses that, for ordinary buffered writes. Says which.
#[cfg(target_os = "linux")]
fn create_output(path: &Path) -> std::io::Result<(File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let direct = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path);
    match direct {
        Ok(f) => Ok((f, true)),
        Err(_) => File::create(path).map(|f| (f, false)),
    }
}

#[cfg(not(target_os = "linux"))]
fn create_output(path: &Path) -> std::io::Result<(File, bool)> {
    File::create(path).map(|f| (f, false))
}

/// Turns direct I/O off for `file` (a write was refused with it). False if that failed too.
#[cfg(target_os = "linux")]
fn stop_direct(file: &File) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    fcntl_getfl(file)
        .and_then(|flags| fcntl_setfl(file, flags - OFlags::DIRECT))
        .is_ok()
}

#[cfg(not(target_os = "linux"))]
fn stop_direct(_: &File) -> bool {
    false
}

/// Writes `blocks` at `offset` with vectored writes. A direct write the file system refuses
/// (`EINVAL`: alignment it does not accept) is retried buffered, with `direct` cleared.
fn write_blocks(
    file: &mut File,
    direct: &mut bool,
    offset: u64,
    blocks: &[Block],
) -> Result<(), WriteFailure> {
    let total = blocks.len() * PAGE_SIZE;
    let mut done = 0usize;
    let mut slices = Vec::with_capacity(IOV_MOST);
    while done < total {
        let at = offset + done as u64;
        file.seek(SeekFrom::Start(at))
            .map_err(|source| WriteFailure {
                op: "seek",
                offset: at,
                source,
            })?;
        let (first, within) = (done / PAGE_SIZE, done % PAGE_SIZE);
        slices.clear();
        if let Some((head, rest)) = blocks.get(first..).and_then(<[Block]>::split_first) {
            slices.push(IoSlice::new(head.0.get(within..).unwrap_or(&[])));
            slices.extend(rest.iter().take(IOV_MOST - 1).map(|b| IoSlice::new(&b.0)));
        }
        match file.write_vectored(&slices) {
            Ok(0) => {
                return Err(WriteFailure {
                    op: "write",
                    offset: at,
                    source: std::io::ErrorKind::WriteZero.into(),
                })
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if *direct && is_einval(&e) && stop_direct(file) => {
                *direct = false;
            }
            Err(source) => {
                return Err(WriteFailure {
                    op: "write",
                    offset: at,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// `EINVAL`: what a direct write returns for an offset, length or buffer it cannot align.
#[cfg(target_os = "linux")]
fn is_einval(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

#[cfg(not(target_os = "linux"))]
fn is_einval(_: &std::io::Error) -> bool {
    false
}

/// The writer thread: performs the jobs in order, returns stream buffers to the pool, and keeps
/// the written stream from piling up in the page cache.
fn write_jobs(
    mut file: File,
    mut direct: bool,
    jobs: Receiver<Job>,
    free: SyncSender<Vec<Block>>,
    stream_start: u64,
) -> Result<File, WriteFailure> {
    let mut dropped = stream_start;
    for job in jobs {
        let blocks = job.blocks.get(..job.used).unwrap_or(&job.blocks);
        write_blocks(&mut file, &mut direct, job.offset, blocks)?;
        if !job.stream {
            continue;
        }
        let stream_end = job.offset + (blocks.len() * PAGE_SIZE) as u64;
        if !direct && stream_end - dropped >= WRITEBACK_CHUNK {
            file.sync_data().map_err(|source| WriteFailure {
                op: "sync",
                offset: dropped,
                source,
            })?;
            drop_cached(&file, dropped, stream_end - dropped);
            dropped = stream_end;
        }
        // The pool is full only if the builder is gone; the buffer is then freed.
        let _ = free.try_send(job.blocks);
    }
    Ok(file)
}

pub struct PageFile {
    path: PathBuf,
    /// The stream being filled: its first `filled` blocks, from file offset `buf_start`.
    buf: Vec<Block>,
    filled: usize,
    buf_start: u64,
    /// Stream buffers allocated so far (at most [`WRITE_BUFFERS`]).
    buffers: usize,
    jobs: Option<SyncSender<Job>>,
    free: Receiver<Vec<Block>>,
    writer: Option<JoinHandle<Result<File, WriteFailure>>>,
    /// The next page of the sequential stream.
    expected: u32,
    /// Pages finished ahead of the stream (a handful: one per tree level at most).
    pending: BTreeMap<u32, Vec<u8>>,
    next_alloc: u32,
    dbtime: u64,
    zero: Vec<u8>,
}

impl PageFile {
    /// Creates `path`; the sequential stream starts at page `first`.
    pub fn create(path: &Path, first: u32) -> Result<PageFile, BuildError> {
        let (file, direct) = create_output(path).map_err(|source| BuildError::Io {
            path: path.to_path_buf(),
            op: "create",
            offset: 0,
            source,
        })?;
        let at = page_offset(first);
        let (jobs, job_rx) = mpsc::sync_channel(WRITE_BUFFERS);
        let (free_tx, free) = mpsc::sync_channel(WRITE_BUFFERS);
        let writer = std::thread::Builder::new()
            .name("ese-page-writer".into())
            .spawn(move || write_jobs(file, direct, job_rx, free_tx, at))
            .map_err(|source| BuildError::Io {
                path: path.to_path_buf(),
                op: "start the writer thread for",
                offset: 0,
                source,
            })?;
        Ok(PageFile {
            path: path.to_path_buf(),
            buf: vec![ZERO_BLOCK; CHUNK_PAGES],
            filled: 0,
            buf_start: at,
            buffers: 1,
            jobs: Some(jobs),
            free,
            writer: Some(writer),
            expected: first,
            pending: BTreeMap::new(),
            next_alloc: first,
            dbtime: 0,
            zero: vec![0u8; PAGE_SIZE],
        })
    }

    fn io(&self, op: &'static str, offset: u64, source: std::io::Error) -> BuildError {
        BuildError::Io {
            path: self.path.clone(),
            op,
            offset,
            source,
        }
    }

    /// The writer thread's error (it has stopped: a send or a receive failed).
    fn writer_failed(&mut self) -> BuildError {
        self.jobs = None;
        let failure = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(f))) => f,
            Some(Err(_)) => WriteFailure {
                op: "write",
                offset: self.buf_start,
                source: std::io::Error::other("the writer thread panicked"),
            },
            _ => WriteFailure {
                op: "write",
                offset: self.buf_start,
                source: std::io::Error::other("the writer thread stopped"),
            },
        };
        self.io(failure.op, failure.offset, failure.source)
    }

    fn send(&mut self, job: Job) -> Result<(), BuildError> {
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.writer_failed())
        }
    }

    /// Hands the filled part of the stream buffer to the writer thread and takes an empty one.
    fn flush_stream(&mut self) -> Result<(), BuildError> {
        if self.filled == 0 {
            return Ok(());
        }
        let next = match self.free.try_recv() {
            Ok(b) => b,
            Err(_) if self.buffers < WRITE_BUFFERS => {
                self.buffers += 1;
                vec![ZERO_BLOCK; CHUNK_PAGES]
            }
            Err(_) => match self.free.recv() {
                Ok(b) => b,
                Err(_) => return Err(self.writer_failed()),
            },
        };
        let blocks = std::mem::replace(&mut self.buf, next);
        let used = std::mem::take(&mut self.filled);
        let offset = self.buf_start;
        self.buf_start += (used * PAGE_SIZE) as u64;
        self.send(Job {
            offset,
            blocks,
            used,
            stream: true,
        })
    }

    /// A page as a block; anything but a whole page is a builder bug, reported as a failed
    /// write at `offset`.
    fn whole_page<'p>(
        &self,
        offset: u64,
        page: &'p [u8],
    ) -> Result<&'p [u8; PAGE_SIZE], BuildError> {
        page.try_into().map_err(|_| {
            self.io(
                "write",
                offset,
                std::io::Error::other(format!("internal: a page of {} bytes", page.len())),
            )
        })
    }

    /// Appends one page to the stream.
    fn push_stream(&mut self, page: &[u8]) -> Result<(), BuildError> {
        let at = self.buf_start + (self.filled * PAGE_SIZE) as u64;
        let page = self.whole_page(at, page)?;
        match self.buf.get_mut(self.filled) {
            Some(slot) => slot.0 = *page,
            None => {
                return Err(self.io(
                    "write",
                    at,
                    std::io::Error::other("internal: the stream buffer is full"),
                ))
            }
        }
        self.filled += 1;
        if self.filled == CHUNK_PAGES {
            self.flush_stream()?;
        }
        Ok(())
    }

    /// The page the next `alloc` returns.
    pub fn peek_alloc(&self) -> u32 {
        self.next_alloc
    }

    /// The last page allocated so far.
    pub fn last_allocated(&self) -> u32 {
        self.next_alloc - 1
    }

    /// The database time stamped so far (the header's `dbtimeDirtied` must be at least this).
    pub fn dbtime_now(&self) -> u64 {
        self.dbtime
    }

    /// Reserves `n` pages at the current end of the stream, to be filled by `write_at` later;
    /// they are written as zeros now. Only between trees (nothing pending).
    pub fn reserve(&mut self, n: u32) -> Result<u32, BuildError> {
        debug_assert!(self.pending.is_empty() && self.expected == self.next_alloc);
        let first = self.next_alloc;
        for _ in 0..n {
            self.next_alloc += 1;
            let zero = std::mem::take(&mut self.zero);
            let r = self.push_stream(&zero);
            self.zero = zero;
            r?;
            self.expected += 1;
        }
        Ok(first)
    }

    /// Writes a page outside the stream (a reserved page, the catalog area, the header). The
    /// stream so far is handed to the writer first, so the page lands after the zeros it
    /// replaces.
    pub fn write_at(&mut self, offset: u64, page: &[u8]) -> Result<(), BuildError> {
        let block = Block(*self.whole_page(offset, page)?);
        self.flush_stream()?;
        self.send(Job {
            offset,
            blocks: vec![block],
            used: 1,
            stream: false,
        })
    }

    /// Writes everything out; the stream must be complete. Returns the number of database pages.
    pub fn finish(mut self) -> Result<u32, BuildError> {
        if let Some((&pgno, _)) = self.pending.iter().next() {
            return Err(self.io(
                "finish",
                page_offset(pgno),
                std::io::Error::other(format!("page {pgno} was never reached by the stream")),
            ));
        }
        let end = page_offset(self.expected);
        self.flush_stream()?;
        self.jobs = None;
        let file = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Ok(file))) => file,
            Some(Ok(Err(f))) => return Err(self.io(f.op, f.offset, f.source)),
            _ => return Err(self.writer_failed()),
        };
        file.set_len(end).map_err(|e| self.io("set_len", end, e))?;
        Ok(self.expected - 1)
    }
}

impl PageSink for PageFile {
    fn alloc(&mut self) -> Result<u32, BuildError> {
        let p = self.next_alloc;
        self.next_alloc = p
            .checked_add(1)
            .ok_or_else(|| BuildError::Schema("database exceeds 2^32 pages".into()))?;
        Ok(p)
    }

    fn dbtime(&mut self) -> u64 {
        self.dbtime += 1;
        self.dbtime
    }

    fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError> {
        if pgno != self.expected {
            self.pending.insert(pgno, page.to_vec());
            return Ok(());
        }
        self.push_stream(page)?;
        self.expected += 1;
        while let Some(p) = self.pending.remove(&self.expected) {
            self.push_stream(&p)?;
            self.expected += 1;
        }
        Ok(())
    }
}

/// Pages of the fixed system area (the catalog's free pages), written in place.
pub struct SystemArea<'a> {
    pub file: &'a mut PageFile,
    pub next: u32,
    pub last: u32,
    /// Pages handed out, in order.
    pub used: Vec<u32>,
}

impl PageSink for SystemArea<'_> {
    fn alloc(&mut self) -> Result<u32, BuildError> {
        if self.next > self.last {
            return Err(BuildError::Schema(format!(
                "the catalog needs more pages than its fixed area (pages up to {})",
                self.last
            )));
        }
        self.next += 1;
        self.used.push(self.next - 1);
        Ok(self.next - 1)
    }

    fn dbtime(&mut self) -> u64 {
        self.file.dbtime()
    }

    fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError> {
        self.file.write_at(page_offset(pgno), page)
    }
}

/// Counts the pages a tree would take, writing nothing (sizing the catalog before the data).
#[derive(Default)]
pub struct CountingSink {
    pub allocated: u32,
}

impl PageSink for CountingSink {
    fn alloc(&mut self) -> Result<u32, BuildError> {
        self.allocated += 1;
        Ok(self.allocated)
    }
    fn dbtime(&mut self) -> u64 {
        0
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), BuildError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_direct_write_is_retried_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let (mut file, direct) = create_output(&path).unwrap();
        let mut blocks = vec![ZERO_BLOCK; 3];
        for (i, b) in blocks.iter_mut().enumerate() {
            b.0.fill(i as u8 + 1);
        }
        // Offset 100 is not block-aligned: a direct write of it is refused (EINVAL).
        let mut still_direct = direct;
        write_blocks(&mut file, &mut still_direct, 100, &blocks).unwrap();
        if direct {
            assert!(!still_direct, "the misaligned direct write was not refused");
        }
        // Aligned writes keep going, whichever mode the file is in now.
        write_blocks(
            &mut file,
            &mut still_direct,
            4 * PAGE_SIZE as u64,
            &blocks[..1],
        )
        .unwrap();
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 5 * PAGE_SIZE);
        assert!(bytes[..100].iter().all(|&b| b == 0));
        for i in 0..3 {
            let at = 100 + i * PAGE_SIZE;
            assert!(bytes[at..at + PAGE_SIZE].iter().all(|&b| b == i as u8 + 1));
        }
        assert!(bytes[4 * PAGE_SIZE..].iter().all(|&b| b == 1));
    }
}
