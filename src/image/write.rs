//! Writing image files, shared by `apply --out` (the patched databases) and the ESE builder
//! (`mkimage`'s databases):
//!
//! * [`OutFile`]: a sequential stream (plus a few blocks written at known offsets) handed in
//!   large aligned buffers to a writer thread, so the kernel's copy overlaps the caller's work;
//!   a caller that holds its bytes in an aligned buffer already hands that buffer over
//!   ([`OutFile::append_shared`]), with no copy.
//!   The file is opened for direct I/O where the file system allows it (no copy into the page
//!   cache); where it does not, the writer syncs and drops what it wrote every
//!   [`WRITEBACK_CHUNK`], so a large output does not fill the page cache with fresh memory (the
//!   slow path on the development VM, `shared/reference/machine-perf.md` §1).
//! * [`sync_dir`]: the directory fsync that makes a rename durable.
//! * [`sha256_file`]: SHA-256 of a file in one streaming read, optionally dropping what it read
//!   from the page cache as it goes.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// The unit of direct I/O: offsets and lengths of direct writes are multiples of it.
pub const BLOCK: usize = 4096;
/// One stream buffer: large enough that the disk sees big sequential writes.
const CHUNK_BYTES: usize = 8 << 20;
/// Stream buffers in use at once (one being filled, the others queued for or in the writer).
const BUFFERS: usize = 3;
/// Writes queued for the writer thread (stream buffers, shared buffers, blocks at offsets).
const JOBS_QUEUED: usize = 4;
/// Buffered writes only: every this much more of the stream, wait for it to reach the disk and
/// drop it from the page cache.
pub const WRITEBACK_CHUNK: u64 = 64 << 20;

/// A write that failed: the file, what was being done, and where.
#[derive(Debug, thiserror::Error)]
#[error("{}: {op} at offset {offset:#x}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub op: &'static str,
    pub offset: u64,
    #[source]
    pub source: std::io::Error,
}

/// A failure inside the writer thread (the path is added by [`OutFile`]).
#[derive(Debug)]
struct Failure {
    op: &'static str,
    offset: u64,
    source: std::io::Error,
}

/// One write for the writer thread: the bytes `data` shows, at `offset`; `len` of them belong
/// to the file (a direct write of a partial last block writes it whole, zeros after `len`).
/// Stream buffers go back to the pool afterwards; shared ones go back to their owner when
/// the last holder lets go.
struct Job {
    offset: u64,
    data: JobData,
    len: usize,
    stream: bool,
}

enum JobData {
    /// A stream buffer of the pool, or a copy of blocks written at an offset.
    Own(AlignedBuf),
    /// A buffer the caller filled and shares ([`OutFile::append_shared`]).
    Shared(std::sync::Arc<AlignedBuf>),
}

impl std::ops::Deref for JobData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            JobData::Own(b) => b,
            JobData::Shared(b) => b,
        }
    }
}

/// A byte buffer whose start is aligned for direct I/O ([`BLOCK`]), of a capacity fixed at
/// creation (whole blocks); [`AlignedBuf::set_len`] sets how much of it it shows. Made
/// without `unsafe`: a plain byte vector one block longer, viewed from its first aligned byte.
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// At least `len` bytes (rounded up to whole blocks), zeroed, all shown.
    pub fn new(len: usize) -> AlignedBuf {
        let capacity = len.div_ceil(BLOCK) * BLOCK;
        let raw = vec![0u8; capacity + BLOCK];
        // `align_offset` may in principle not find the offset: the buffer is then merely
        // unaligned, and a direct read of it fails with EINVAL, which the caller handles.
        let start = raw.as_ptr().align_offset(BLOCK).min(BLOCK);
        AlignedBuf {
            raw,
            start,
            len: capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.raw.len() - BLOCK
    }

    /// Shows the first `len` bytes (at most the capacity).
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    /// A copy of `bytes` in a new buffer.
    pub fn copy_of(bytes: &[u8]) -> AlignedBuf {
        let mut b = AlignedBuf::new(bytes.len());
        b.set_len(bytes.len());
        b.copy_from_slice(bytes);
        b
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// Reads from `offset` until `buf` is full or the file ends; the bytes read.
pub fn read_full_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Opens `path` to read it with direct I/O (no page cache), where the file system allows it.
#[cfg(target_os = "linux")]
pub fn open_direct_read(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
pub fn open_direct_read(_: &Path) -> std::io::Result<File> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Whether a direct read or write was refused for its alignment (`EINVAL`).
pub fn is_unaligned(e: &std::io::Error) -> bool {
    is_einval(e)
}

/// Drops `[offset, offset + len)` of `file` from the page cache. Advice only: a failure leaves
/// the pages cached, which is harmless.
#[cfg(target_os = "linux")]
pub fn drop_cached(file: &File, offset: u64, len: u64) {
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn drop_cached(_: &File, _: u64, _: u64) {}

/// Starts writing `[offset, offset + len)` of `file`, just written, to the disk without waiting
/// for it, so that the fsync that follows the last write waits for less. Linux's
/// `POSIX_FADV_DONTNEED` starts the writeback of a range's dirty pages and drops only its clean
/// ones (a page just written stays cached). Advice only: nothing depends on it but the time.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    drop_cached(file, offset, len)
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_: &File, _: u64, _: u64) {}

/// Opens `path` (created, truncated) for direct I/O, or, where the file system refuses that,
/// for ordinary buffered writes. Says which. A symlink at `path` is not followed (`ELOOP`):
/// what is written lands at `path` or nowhere.
#[cfg(target_os = "linux")]
fn open_output(path: &Path) -> std::io::Result<(File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    let direct = options
        .clone()
        .custom_flags((rustix::fs::OFlags::DIRECT | rustix::fs::OFlags::NOFOLLOW).bits() as i32)
        .open(path);
    match direct {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => Err(e),
        Err(_) => options.open(path).map(|f| (f, false)),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_output(path: &Path) -> std::io::Result<(File, bool)> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map(|f| (f, false))
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

/// `EINVAL`: what a direct write returns for an offset, length or buffer it cannot align.
#[cfg(target_os = "linux")]
fn is_einval(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

#[cfg(not(target_os = "linux"))]
fn is_einval(_: &std::io::Error) -> bool {
    false
}

/// Writes `bytes` at `offset`. A direct write the file system refuses (`EINVAL`) is retried
/// buffered, with `direct` cleared.
fn write_bytes(file: &File, direct: &mut bool, offset: u64, bytes: &[u8]) -> Result<(), Failure> {
    use std::os::unix::fs::FileExt;
    let mut done = 0usize;
    while done < bytes.len() {
        let at = offset + done as u64;
        match file.write_at(&bytes[done..], at) {
            Ok(0) => {
                return Err(Failure {
                    op: "write",
                    offset: at,
                    source: std::io::ErrorKind::WriteZero.into(),
                })
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if *direct && is_einval(&e) && stop_direct(file) => *direct = false,
            Err(source) => {
                return Err(Failure {
                    op: "write",
                    offset: at,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// The writer thread: performs the jobs in order, returns stream buffers to the pool, and keeps
/// a buffered stream from piling up in the page cache.
fn write_jobs(
    file: File,
    mut direct: bool,
    jobs: Receiver<Job>,
    free: SyncSender<AlignedBuf>,
    stream_start: u64,
) -> Result<File, Failure> {
    let mut dropped = stream_start;
    for job in jobs {
        // A direct write of a partial last block writes the whole block (zeros after `len`);
        // `finish` cuts the file to its length.
        let len = if direct {
            job.len.div_ceil(BLOCK) * BLOCK
        } else {
            job.len
        };
        write_bytes(&file, &mut direct, job.offset, &job.data[..len])?;
        if !job.stream {
            continue;
        }
        let stream_end = job.offset + job.len as u64;
        if !direct && stream_end - dropped >= WRITEBACK_CHUNK {
            file.sync_data().map_err(|source| Failure {
                op: "sync",
                offset: dropped,
                source,
            })?;
            drop_cached(&file, dropped, stream_end - dropped);
            dropped = stream_end;
        }
        // The pool is full only if the owner is gone; the buffer is then freed.
        if let JobData::Own(b) = job.data {
            let _ = free.try_send(b);
        }
    }
    Ok(file)
}

/// A file written as one sequential stream from `stream_start` (bytes of any length, appended
/// in order), plus whole blocks written at known offsets ([`OutFile::write_at`]). Memory is
/// at most [`BUFFERS`] buffers of 8 MiB whatever the file's size (taken as the stream needs
/// them), besides the shared buffers queued ([`OutFile::append_shared`]). Nothing is durable
/// before [`OutFile::finish`], which writes everything, cuts the file to its length and
/// fsyncs it.
pub struct OutFile {
    path: PathBuf,
    /// The stream being filled (empty until the stream needs it): its first `filled` bytes,
    /// from file offset `buf_start`.
    buf: Option<AlignedBuf>,
    filled: usize,
    buf_start: u64,
    buffers: usize,
    jobs: Option<SyncSender<Job>>,
    free: Receiver<AlignedBuf>,
    writer: Option<JoinHandle<Result<File, Failure>>>,
    /// The end of the file: the furthest byte the stream or a block reached.
    end: u64,
}

impl OutFile {
    /// Creates (or truncates) `path`; the stream starts at byte `stream_start`, a multiple of
    /// [`BLOCK`]. Bytes before it are zeros unless written by [`OutFile::write_at`].
    pub fn create(path: &Path, stream_start: u64) -> Result<OutFile, WriteError> {
        let fail = |op, source| WriteError {
            path: path.to_path_buf(),
            op,
            offset: 0,
            source,
        };
        if stream_start % BLOCK as u64 != 0 {
            return Err(fail(
                "create",
                std::io::Error::other(format!(
                    "internal: stream start {stream_start:#x} is not block-aligned"
                )),
            ));
        }
        let (file, direct) = open_output(path).map_err(|e| fail("create", e))?;
        let (jobs, job_rx) = mpsc::sync_channel(JOBS_QUEUED);
        let (free_tx, free) = mpsc::sync_channel(BUFFERS);
        let writer = std::thread::Builder::new()
            .name("image-writer".into())
            .spawn(move || write_jobs(file, direct, job_rx, free_tx, stream_start))
            .map_err(|e| fail("start the writer thread for", e))?;
        Ok(OutFile {
            path: path.to_path_buf(),
            buf: None,
            filled: 0,
            buf_start: stream_start,
            buffers: 0,
            jobs: Some(jobs),
            free,
            writer: Some(writer),
            end: stream_start,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file offset the next appended byte goes to.
    pub fn stream_position(&self) -> u64 {
        self.buf_start + self.filled as u64
    }

    fn fail(&self, op: &'static str, offset: u64, source: std::io::Error) -> WriteError {
        WriteError {
            path: self.path.clone(),
            op,
            offset,
            source,
        }
    }

    /// The writer thread's error (it has stopped: a send or a receive failed).
    fn writer_failed(&mut self) -> WriteError {
        self.jobs = None;
        let failure = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(f))) => f,
            Some(Err(_)) => Failure {
                op: "write",
                offset: self.buf_start,
                source: std::io::Error::other("the writer thread panicked"),
            },
            _ => Failure {
                op: "write",
                offset: self.buf_start,
                source: std::io::Error::other("the writer thread stopped"),
            },
        };
        self.fail(failure.op, failure.offset, failure.source)
    }

    fn send(&mut self, job: Job) -> Result<(), WriteError> {
        let end = job.offset + job.len as u64;
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(self.writer_failed());
        }
        self.end = self.end.max(end);
        Ok(())
    }

    /// Hands the filled part of the stream buffer to the writer thread.
    fn flush_stream(&mut self) -> Result<(), WriteError> {
        let Some(mut buf) = self.buf.take().filter(|_| self.filled > 0) else {
            return Ok(());
        };
        let len = std::mem::take(&mut self.filled);
        // A partial last block is written whole by direct I/O: zeros after the stream, not
        // whatever a recycled buffer held.
        let whole = len.div_ceil(BLOCK) * BLOCK;
        buf.set_len(whole);
        buf[len..].fill(0);
        let offset = self.buf_start;
        self.buf_start += len as u64;
        self.send(Job {
            offset,
            data: JobData::Own(buf),
            len,
            stream: true,
        })
    }

    /// The stream buffer: a free one of the pool, a new one while the pool has fewer than
    /// [`BUFFERS`], else the next the writer thread gives back.
    fn stream_buf(&mut self) -> Result<&mut AlignedBuf, WriteError> {
        let buf = match self.buf.take() {
            Some(b) => b,
            None => {
                let mut b = match self.free.try_recv() {
                    Ok(b) => b,
                    Err(_) if self.buffers < BUFFERS => {
                        self.buffers += 1;
                        AlignedBuf::new(CHUNK_BYTES)
                    }
                    Err(_) => match self.free.recv() {
                        Ok(b) => b,
                        Err(_) => return Err(self.writer_failed()),
                    },
                };
                b.set_len(CHUNK_BYTES);
                b
            }
        };
        Ok(self.buf.insert(buf))
    }

    /// Appends `bytes` to the stream.
    pub fn append(&mut self, mut bytes: &[u8]) -> Result<(), WriteError> {
        while !bytes.is_empty() {
            let filled = self.filled;
            let buf = self.stream_buf()?;
            let n = (CHUNK_BYTES - filled).min(bytes.len());
            buf[filled..filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == CHUNK_BYTES {
                self.flush_stream()?;
            }
        }
        Ok(())
    }

    /// Appends the bytes of `shared` to the stream without copying them: the buffer goes to
    /// the writer thread as it is, and `shared` is the caller's again once the write is done
    /// (when the writer lets go of its clone). Copied like [`OutFile::append`] when the stream
    /// is not at a block boundary or `shared` is not whole blocks.
    pub fn append_shared(&mut self, shared: &std::sync::Arc<AlignedBuf>) -> Result<(), WriteError> {
        if self.filled % BLOCK != 0 || shared.len() % BLOCK != 0 {
            return self.append(shared);
        }
        self.flush_stream()?;
        let offset = self.buf_start;
        self.buf_start += shared.len() as u64;
        self.send(Job {
            offset,
            data: JobData::Shared(std::sync::Arc::clone(shared)),
            len: shared.len(),
            stream: true,
        })
    }

    /// Writes `bytes` (whole blocks) at `offset` (block-aligned), outside the stream. The stream
    /// so far is handed to the writer first, so these bytes land after any the stream put
    /// there; the stream must be at a block boundary.
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), WriteError> {
        if offset % BLOCK as u64 != 0 || bytes.len() % BLOCK != 0 || self.filled % BLOCK != 0 {
            return Err(self.fail(
                "write",
                offset,
                std::io::Error::other(format!(
                    "internal: {} bytes at {offset:#x} (stream at {:#x}) are not whole blocks",
                    bytes.len(),
                    self.stream_position()
                )),
            ));
        }
        self.flush_stream()?;
        self.send(Job {
            offset,
            data: JobData::Own(AlignedBuf::copy_of(bytes)),
            len: bytes.len(),
            stream: false,
        })
    }

    /// Writes everything out, cuts the file to its length (the end of the stream or of the
    /// furthest block) and fsyncs it. Returns the file and its length.
    pub fn finish(mut self) -> Result<(File, u64), WriteError> {
        self.flush_stream()?;
        let end = self.end;
        self.jobs = None;
        let file = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Ok(file))) => file,
            Some(Ok(Err(f))) => return Err(self.fail(f.op, f.offset, f.source)),
            _ => return Err(self.writer_failed()),
        };
        file.set_len(end)
            .map_err(|e| self.fail("set_len", end, e))?;
        file.sync_all().map_err(|e| self.fail("fsync", end, e))?;
        Ok((file, end))
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    /// Nothing to do: bytes reach the file through the writer thread, and the disk at
    /// [`OutFile::finish`].
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An I/O error's reason without the path the `tempfile` crate appends to the errors of the
/// temporary files it makes (`… at path "/dir/.tmpXYZ"`): a temporary name means nothing to
/// the user, so messages name the final file, and give only this as the reason.
pub fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" at path \"") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Whether `e` says the disk is full or the file size limit (`ulimit -f`) was reached.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge
    )
}

/// Makes the entries of `dir` (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// How a file read once goes through the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Leave what was read cached (a file read again soon).
    Keep,
    /// Keep it out: [`sha256_file`] drops it every [`WRITEBACK_CHUNK`]; the patch's pass reads
    /// with direct I/O where it can.
    Drop,
}

/// Streams a file through SHA-256 (1 MiB reads); returns its size and digest.
pub fn sha256_file(path: &Path, cache: Cache) -> std::io::Result<(u64, [u8; 32])> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut dropped) = (0u64, 0u64);
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        size += n as u64;
        if cache == Cache::Drop && size - dropped >= WRITEBACK_CHUNK {
            drop_cached(&f, dropped, size - dropped);
            dropped = size;
        }
    }
    if cache == Cache::Drop {
        drop_cached(&f, dropped, size - dropped);
    }
    Ok((size, h.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn a_refused_direct_write_is_retried_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let (file, direct) = open_output(&path).unwrap();
        let mut blocks = AlignedBuf::new(3 * BLOCK);
        for (i, b) in blocks.chunks_exact_mut(BLOCK).enumerate() {
            b.fill(i as u8 + 1);
        }
        // Offset 100 is not block-aligned: a direct write of it is refused (EINVAL).
        let mut still_direct = direct;
        write_bytes(&file, &mut still_direct, 100, &blocks).unwrap();
        if direct {
            assert!(!still_direct, "the misaligned direct write was not refused");
        }
        // Aligned writes keep going, whichever mode the file is in now.
        write_bytes(&file, &mut still_direct, 4 * BLOCK as u64, &blocks[..BLOCK]).unwrap();
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 5 * BLOCK);
        assert!(bytes[..100].iter().all(|&b| b == 0));
        for i in 0..3 {
            let at = 100 + i * BLOCK;
            assert!(bytes[at..at + BLOCK].iter().all(|&b| b == i as u8 + 1));
        }
        assert!(bytes[4 * BLOCK..].iter().all(|&b| b == 1));
    }

    #[test]
    fn stream_of_odd_pieces_and_blocks_at_offsets_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        // A stream from block 2, longer than two buffers, in pieces that straddle blocks and
        // buffers, ending inside a block; then the two blocks before it.
        let stream = pattern(2 * CHUNK_BYTES + 3 * BLOCK + 17, 5);
        let head = pattern(2 * BLOCK, 9);
        let mut out = OutFile::create(&path, 2 * BLOCK as u64).unwrap();
        let mut at = 0;
        for piece in [1, BLOCK - 1, 3 * BLOCK + 5, CHUNK_BYTES, 7].iter().cycle() {
            let n = (*piece).min(stream.len() - at);
            out.write_all(&stream[at..at + n]).unwrap();
            at += n;
            if at == stream.len() {
                break;
            }
        }
        assert_eq!(out.stream_position(), (2 * BLOCK + stream.len()) as u64);
        let (_, len) = out.finish().unwrap();
        assert_eq!(len, (2 * BLOCK + stream.len()) as u64);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(bytes[..2 * BLOCK].iter().all(|&b| b == 0));
        assert!(bytes[2 * BLOCK..] == stream[..]);

        // write_at after the stream replaces what the stream wrote; a misaligned one is refused.
        let mut out = OutFile::create(&path, 0).unwrap();
        out.append(&stream[..4 * BLOCK]).unwrap();
        out.write_at(BLOCK as u64, &head).unwrap();
        assert!(out.write_at(3, &head).is_err());
        let (_, len) = out.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(len, 4 * BLOCK as u64);
        assert!(bytes[..BLOCK] == stream[..BLOCK]);
        assert!(bytes[BLOCK..3 * BLOCK] == head[..]);
        assert!(bytes[3 * BLOCK..] == stream[3 * BLOCK..4 * BLOCK]);
    }

    #[test]
    fn shared_buffers_are_written_in_place_and_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let stream = pattern(7 * BLOCK + 10, 3);
        let shared = |range: std::ops::Range<usize>| {
            std::sync::Arc::new(AlignedBuf::copy_of(&stream[range]))
        };
        let mut out = OutFile::create(&path, 0).unwrap();
        out.append(&stream[..BLOCK]).unwrap();
        // At a block boundary, whole blocks: handed over as they are.
        let (a, b) = (shared(BLOCK..3 * BLOCK), shared(3 * BLOCK..4 * BLOCK));
        out.append_shared(&a).unwrap();
        out.append_shared(&b).unwrap();
        // Not whole blocks: copied into the stream, which is then inside a block...
        let c = shared(4 * BLOCK..4 * BLOCK + 10);
        out.append_shared(&c).unwrap();
        // ... so whole blocks are copied too, until the stream is at a boundary again.
        let d = shared(4 * BLOCK + 10..5 * BLOCK + 10);
        out.append_shared(&d).unwrap();
        out.append(&stream[5 * BLOCK + 10..6 * BLOCK]).unwrap();
        let e = shared(6 * BLOCK..7 * BLOCK);
        out.append_shared(&e).unwrap();
        // A partial last block: the file is cut to the stream's end.
        out.append(&stream[7 * BLOCK..]).unwrap();
        assert_eq!(out.stream_position(), stream.len() as u64);
        let (_, len) = out.finish().unwrap();
        assert_eq!(len, stream.len() as u64);
        assert!(std::fs::read(&path).unwrap() == stream);
        // The writer let go of every buffer it was handed.
        for s in [&a, &b, &c, &d, &e] {
            assert_eq!(std::sync::Arc::strong_count(s), 1);
        }
    }

    #[test]
    fn a_symlink_at_the_output_path_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (victim, link) = (dir.path().join("victim"), dir.path().join("out"));
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(OutFile::create(&link, 0).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn temporary_names_are_cut_from_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let e = tempfile::NamedTempFile::new_in(dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains(" at path "), "{e}");
        let r = reason(&e);
        assert!(r.contains("No such file") && !r.contains("at path"), "{r}");
    }

    #[test]
    fn a_write_that_fails_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("out");
        let e = OutFile::create(&missing, 0).err().unwrap();
        assert!(e.to_string().contains("no-such-dir"), "{e}");
    }

    #[test]
    fn sha256_of_a_file_either_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = pattern(3 << 20, 1);
        std::fs::write(&path, &bytes).unwrap();
        let want: [u8; 32] = Sha256::digest(&bytes).into();
        for cache in [Cache::Keep, Cache::Drop] {
            assert_eq!(
                sha256_file(&path, cache).unwrap(),
                (bytes.len() as u64, want)
            );
        }
    }
}
