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
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Header pages before database page 1 (`cpgDBReserved`).
pub const HEADER_PAGES: u64 = 2;
/// One write of the page stream: large enough that the disk sees big sequential writes.
const WRITE_CHUNK: usize = 8 << 20;
/// Stream buffers in use at once (one being filled, the others queued for or in the writer
/// thread): the builder's output memory is this many chunks.
const WRITE_BUFFERS: usize = 3;
/// Every time this much more of the stream is written, the writer thread waits for it to reach
/// the disk and drops it from the page cache. Buffered writes that grow the page cache into
/// fresh memory are the slow path on the development VM (shared/reference/machine-perf.md §1);
/// a bounded cache keeps recycling the same pages.
const WRITEBACK_CHUNK: u64 = 64 << 20;

pub fn page_offset(pgno: u32) -> u64 {
    (u64::from(pgno) + HEADER_PAGES - 1) * PAGE_SIZE as u64
}

/// One write for the writer thread: `bytes` at `offset`. Stream chunks go back to the pool.
struct Job {
    offset: u64,
    bytes: Vec<u8>,
    stream: bool,
}

/// A failed write in the writer thread.
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

/// The writer thread: performs the jobs in order, returns stream buffers to the pool, and keeps
/// the written stream from piling up in the page cache.
fn write_jobs(
    mut file: File,
    jobs: Receiver<Job>,
    free: SyncSender<Vec<u8>>,
    stream_start: u64,
) -> Result<File, WriteFailure> {
    let fail = |op, offset| move |source| WriteFailure { op, offset, source };
    let mut dropped = stream_start;
    for job in jobs {
        file.seek(SeekFrom::Start(job.offset))
            .map_err(fail("seek", job.offset))?;
        file.write_all(&job.bytes)
            .map_err(fail("write", job.offset))?;
        if !job.stream {
            continue;
        }
        let stream_end = job.offset + job.bytes.len() as u64;
        if stream_end - dropped >= WRITEBACK_CHUNK {
            file.sync_data().map_err(fail("sync", dropped))?;
            drop_cached(&file, dropped, stream_end - dropped);
            dropped = stream_end;
        }
        let mut buf = job.bytes;
        buf.clear();
        // The pool is full only if the builder is gone; the buffer is then freed.
        let _ = free.try_send(buf);
    }
    Ok(file)
}

pub struct PageFile {
    path: PathBuf,
    /// The stream being filled; starts at file offset `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    /// Stream buffers allocated so far (at most [`WRITE_BUFFERS`]).
    buffers: usize,
    jobs: Option<SyncSender<Job>>,
    free: Receiver<Vec<u8>>,
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
        let file = File::create(path).map_err(|source| BuildError::Io {
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
            .spawn(move || write_jobs(file, job_rx, free_tx, at))
            .map_err(|source| BuildError::Io {
                path: path.to_path_buf(),
                op: "start the writer thread for",
                offset: 0,
                source,
            })?;
        Ok(PageFile {
            path: path.to_path_buf(),
            buf: Vec::with_capacity(WRITE_CHUNK),
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
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = match self.free.try_recv() {
            Ok(b) => b,
            Err(_) if self.buffers < WRITE_BUFFERS => {
                self.buffers += 1;
                Vec::with_capacity(WRITE_CHUNK)
            }
            Err(_) => match self.free.recv() {
                Ok(b) => b,
                Err(_) => return Err(self.writer_failed()),
            },
        };
        let bytes = std::mem::replace(&mut self.buf, next);
        let offset = self.buf_start;
        self.buf_start += bytes.len() as u64;
        self.send(Job {
            offset,
            bytes,
            stream: true,
        })
    }

    /// Appends one page to the stream.
    fn push_stream(&mut self, page: &[u8]) -> Result<(), BuildError> {
        self.buf.extend_from_slice(page);
        if self.buf.len() >= WRITE_CHUNK {
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
        self.flush_stream()?;
        self.send(Job {
            offset,
            bytes: page.to_vec(),
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
