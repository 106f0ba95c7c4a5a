//! The undo journal of an in-place write: one binary file for every file a run changes, kept
//! outside the image, written and fsynced before the first byte of a target changes.
//!
//! Layout: the magic [`MAGIC`], then frames `kind u8, length u32 LE, payload, check` where
//! `check` is the first 8 bytes of SHA-256 over kind, length and payload (a torn or damaged
//! tail is found). Frames: `PATHS` first (the absolute path of every file the run may write,
//! by file index; the journal appears under its name only with this frame written and
//! fsynced, so a journal without it was cut short), `RANGES` (a batch of ranges, see below),
//! then `FILES` (the file table: absolute path, size and SHA-256 before and after), `SEALED`
//! (everything recorded; only now may targets be written) and, once the writes are fsynced,
//! `COMMITTED`. A file's ranges are recorded in ascending offset order and never overlap (the
//! net difference of each page or hive). Old bytes stop at the file's old end (a hive that
//! grows); new bytes are stored too: they let undo tell a half-written range from a file
//! changed by someone else, byte by byte.
//!
//! A `RANGES` frame is `raw length u32 LE` and a zstd frame of that many bytes (at most
//! [`MAX_BATCH`]): ranges one after another, each `head varint` — the offset's distance from
//! the previous range's, times two, when it is the same file further on, else the file index
//! times two plus one followed by the offset as a varint — then `old length varint`, `new
//! length − old length varint`, the old bytes and the new bytes (varints are LEB128). A patch
//! changes a few bytes in every page, mostly the same GUIDs: batched and compressed, the
//! journal is about half the bytes that change instead of four times them, with one frame
//! check per batch instead of per range. The older `RANGE` frame (one range: file index u32,
//! offset u64, old length u32, new length u32, old bytes, new bytes) is still read.
//!
//! [`undo`] of a journal that ends before its seal writes nothing, and says so only after
//! checking that every recorded range of the named files still holds its old bytes (a journal
//! cut short from a run that went on to write is refused, not taken for an early crash).
//!
//! [`undo`] checks before it writes: the whole journal is read and validated; every file must
//! be a regular file (not a symbolic link); every file must
//! be in its before state, or be one that putting the old bytes back turns into the recorded
//! SHA-256 of the original — and, when the journal is committed, hold in each recorded range
//! only old or new bytes (an uncommitted run may have left a format's own in-progress bytes
//! there, as a hive's write-in-progress base block). Anything else is refused and nothing is
//! written to any file. A file above [`WHOLE_CHECK_MOST`] that keeps its size (a database) is
//! checked range by range instead (every byte of every range old or new, the size unchanged),
//! so that undo reads and writes only the pages the patch changed.

use crate::image::map::MappedFile;
use crate::image::write::read_full_at;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The first bytes of a journal.
pub const MAGIC: &[u8; 8] = b"CPJRNL01";
const KIND_RANGE: u8 = 1;
const KIND_FILES: u8 = 2;
const KIND_SEALED: u8 = 3;
const KIND_COMMITTED: u8 = 4;
const KIND_PATHS: u8 = 5;
const KIND_RANGES: u8 = 6;
const CHECK_LEN: usize = 8;
/// A batch of ranges is compressed and framed once it holds this many bytes.
const BATCH: usize = 1 << 20;
/// The most bytes a batch of ranges may hold uncompressed (and so the largest range).
pub const MAX_BATCH: usize = 16 << 20;
/// Longest frame payload accepted: a batch that did not compress (zstd's bound for it is
/// `MAX_BATCH` + 1/256 of it and a few bytes), with room.
const MAX_FRAME: u32 = (MAX_BATCH + (1 << 17)) as u32;
/// zstd's level for the batches: its fastest, which already finds the repeated GUIDs.
const BATCH_LEVEL: i32 = 1;
const HASH_BUF: usize = 1 << 20;

/// One file of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalFile {
    pub path: PathBuf,
    pub size_before: u64,
    pub sha256_before: [u8; 32],
    pub size_after: u64,
    pub sha256_after: [u8; 32],
}

/// One recorded range, borrowed from the frame or batch it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range<'a> {
    pub file: u32,
    pub offset: u64,
    pub old: &'a [u8],
    pub new: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: the journal exists; it may be the only undo of an earlier run")]
    Exists(PathBuf),
    #[error("{0}: not a coldpatch journal")]
    NotJournal(PathBuf),
    #[error("journal {path} at offset {offset:#x}: {what}")]
    Damaged {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// A file of the journal cannot be opened for writing (permissions, a read-only mount);
    /// found before any byte is written.
    #[error("{path}: cannot be opened for writing ({source}); nothing was written to any file. Make it writable and run again")]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's directory is held by another run writing in place (an apply, a reg import,
    /// another undo).
    #[error("{}: locked by {holder}, another run writing these files; wait for it to end, then run undo again. Nothing was written to any file", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("{file} at offset {offset:#x}: {what}; nothing was written to any file")]
    Refused {
        file: PathBuf,
        offset: u64,
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_of(kind: u8, payload: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = Sha256::new();
    h.update([kind]);
    h.update((payload.len() as u32).to_le_bytes());
    h.update(payload);
    let d = h.finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// One frame as the journal holds it: kind, length, payload and check (the fuzz targets build
/// journals from it).
pub fn frame_bytes(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len() + CHECK_LEN);
    push_frame(&mut out, kind, payload);
    out
}

/// Writes a journal.
pub struct JournalWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// Ranges recorded and not yet framed, encoded as a `RANGES` frame's body.
    batch: Vec<u8>,
    /// The file and offset of the batch's last range.
    last: Option<(u32, u64)>,
    zstd: zstd::bulk::Compressor<'static>,
}

impl JournalWriter {
    /// Creates the journal naming `files` (absolute paths, by file index); an existing path is
    /// refused. The magic and the `PATHS` frame are written to a temporary file beside it,
    /// fsynced, and only then linked under `path` (never over an existing file): a journal
    /// that exists always names its files.
    pub fn create(path: &Path, files: &[PathBuf]) -> Result<JournalWriter, JournalError> {
        let dir = parent_dir(path);
        let tmp = tempfile::Builder::new()
            .prefix(".coldpatch-journal-")
            .tempfile_in(&dir)
            .map_err(io(path))?;
        let mut p = Vec::new();
        p.extend_from_slice(&(files.len() as u32).to_le_bytes());
        for f in files {
            let name = f.as_os_str().as_bytes();
            p.extend_from_slice(&(name.len() as u32).to_le_bytes());
            p.extend_from_slice(name);
        }
        let mut head = Vec::with_capacity(MAGIC.len() + p.len() + 5 + CHECK_LEN);
        head.extend_from_slice(MAGIC);
        push_frame(&mut head, KIND_PATHS, &p);
        tmp.as_file().write_all_at(&head, 0).map_err(io(path))?;
        tmp.as_file().sync_all().map_err(io(path))?;
        let mut file = tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                JournalError::Exists(path.to_path_buf())
            } else {
                JournalError::Io {
                    path: path.to_path_buf(),
                    source: e.error,
                }
            }
        })?;
        sync_dir(&dir)?;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0)).map_err(io(path))?;
        Ok(JournalWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            batch: Vec::with_capacity(BATCH + (1 << 16)),
            last: None,
            zstd: zstd::bulk::Compressor::new(BATCH_LEVEL).map_err(io(path))?,
        })
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), JournalError> {
        self.out
            .write_all(&frame_bytes(kind, payload))
            .map_err(io(&self.path))
    }

    /// Appends one range (buffered, framed with the others of its batch). `old` may be shorter
    /// than `new` past the file's old end; a range must fit in [`MAX_BATCH`].
    pub fn record(
        &mut self,
        file: u32,
        offset: u64,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), JournalError> {
        const HEAD_MOST: usize = 4 * 10;
        let need = old.len() + new.len() + HEAD_MOST;
        if old.len() > new.len() || need > MAX_BATCH {
            return Err(io(&self.path)(std::io::Error::other(format!(
                "a range of {} old and {} new bytes at {offset:#x} of file {file}: a journal \
                 records ranges of at most {} bytes that never shrink",
                old.len(),
                new.len(),
                MAX_BATCH - HEAD_MOST
            ))));
        }
        if self.batch.len() + need > MAX_BATCH {
            self.frame_batch()?;
        }
        let b = &mut self.batch;
        match self.last {
            Some((f, at)) if f == file && offset >= at && offset - at < 1 << 62 => {
                push_varint(b, (offset - at) << 1)
            }
            _ => {
                push_varint(b, (u64::from(file) << 1) | 1);
                push_varint(b, offset);
            }
        }
        push_varint(b, old.len() as u64);
        push_varint(b, (new.len() - old.len()) as u64);
        b.extend_from_slice(old);
        b.extend_from_slice(new);
        self.last = Some((file, offset));
        if self.batch.len() >= BATCH {
            self.frame_batch()?;
        }
        Ok(())
    }

    /// The recorded ranges not yet framed, compressed into one `RANGES` frame.
    fn frame_batch(&mut self) -> Result<(), JournalError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let packed = self.zstd.compress(&self.batch).map_err(io(&self.path))?;
        let mut p = Vec::with_capacity(4 + packed.len());
        p.extend_from_slice(&(self.batch.len() as u32).to_le_bytes());
        p.extend_from_slice(&packed);
        self.batch.clear();
        self.last = None;
        self.frame(KIND_RANGES, &p)
    }

    /// Where the journal ends with every range so far framed: a database pass run again
    /// (above a higher dbtime) is cut back to it with [`JournalWriter::rewind`].
    pub fn mark(&mut self) -> Result<u64, JournalError> {
        use std::io::Seek;
        self.frame_batch()?;
        self.out.stream_position().map_err(io(&self.path))
    }

    /// Drops every range recorded after `mark` (the journal is not sealed: nothing was
    /// written from them).
    pub fn rewind(&mut self, mark: u64) -> Result<(), JournalError> {
        use std::io::{Seek, SeekFrom};
        self.batch.clear();
        self.last = None;
        self.out.flush().map_err(io(&self.path))?;
        let file = self.out.get_mut();
        file.set_len(mark).map_err(io(&self.path))?;
        file.seek(SeekFrom::Start(mark)).map_err(io(&self.path))?;
        Ok(())
    }

    /// Every range recorded so far framed and handed to the file (not fsynced): what a run
    /// stopped before its seal may have left.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.frame_batch()?;
        self.out.flush().map_err(io(&self.path))
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        let p = self.path.clone();
        self.frame_batch()?;
        self.out.flush().map_err(io(&p))?;
        self.out.get_ref().sync_all().map_err(io(&p))?;
        sync_dir(&parent_dir(&p))
    }

    /// The file table and the SEALED marker, fsynced with the journal's directory. Only after
    /// this may the targets be written.
    pub fn seal(&mut self, files: &[JournalFile]) -> Result<(), JournalError> {
        self.frame_batch()?;
        let mut p = Vec::new();
        p.extend_from_slice(&(files.len() as u32).to_le_bytes());
        for f in files {
            let name = f.path.as_os_str().as_bytes();
            p.extend_from_slice(&(name.len() as u32).to_le_bytes());
            p.extend_from_slice(name);
            p.extend_from_slice(&f.size_before.to_le_bytes());
            p.extend_from_slice(&f.sha256_before);
            p.extend_from_slice(&f.size_after.to_le_bytes());
            p.extend_from_slice(&f.sha256_after);
        }
        self.frame(KIND_FILES, &p)?;
        self.frame(KIND_SEALED, &[])?;
        self.sync()
    }

    /// The COMMITTED marker, after the targets are written and fsynced.
    pub fn commit(mut self) -> Result<(), JournalError> {
        self.frame(KIND_COMMITTED, &[])?;
        self.sync()
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The LEB128 number at `*at` in `b`, moving `at` past it; `None` past the end or above 64 bits.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn push_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&check_of(kind, payload));
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A validated journal (ranges are read again from the file when needed).
#[derive(Clone, Debug)]
pub struct Journal {
    pub path: PathBuf,
    /// The files named by the first frame (empty in a journal without one).
    pub paths: Vec<PathBuf>,
    pub files: Vec<JournalFile>,
    pub sealed: bool,
    pub committed: bool,
    pub ranges: u64,
}

/// A frame's kind and payload.
type Frame = (u8, Vec<u8>);

/// Reads frames one by one.
struct Frames<R> {
    path: PathBuf,
    r: R,
    at: u64,
}

impl Frames<BufReader<File>> {
    fn open(path: &Path) -> Result<Frames<BufReader<File>>, JournalError> {
        let f = File::open(path).map_err(io(path))?;
        Frames::over(path, BufReader::with_capacity(1 << 20, f))
    }
}

impl<R: Read> Frames<R> {
    /// Frames read from `r`, named `path` in messages; the magic is checked.
    fn over(path: &Path, mut r: R) -> Result<Frames<R>, JournalError> {
        let mut magic = [0u8; 8];
        if r.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(JournalError::NotJournal(path.to_path_buf()));
        }
        Ok(Frames {
            path: path.to_path_buf(),
            r,
            at: MAGIC.len() as u64,
        })
    }

    fn damaged(&self, what: impl Into<String>) -> JournalError {
        JournalError::Damaged {
            path: self.path.clone(),
            offset: self.at,
            what: what.into(),
        }
    }

    /// The next frame; `Ok(None)` at a clean end; a torn frame is `Err` with `torn` set.
    fn next(&mut self) -> Result<Option<Frame>, (JournalError, bool)> {
        let mut head = [0u8; 5];
        match read_some(&mut self.r, &mut head) {
            Ok(0) => return Ok(None),
            Ok(5) => {}
            Ok(_) => return Err((self.damaged("a frame header cut short"), true)),
            Err(e) => return Err((io(&self.path)(e), false)),
        }
        let kind = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if !(KIND_RANGE..=KIND_RANGES).contains(&kind) || len > MAX_FRAME {
            return Err((
                self.damaged(format!("frame kind {kind}, length {len}: not a frame")),
                false,
            ));
        }
        let mut payload = vec![0u8; len as usize + CHECK_LEN];
        match read_some(&mut self.r, &mut payload) {
            Ok(n) if n == payload.len() => {}
            Ok(_) => return Err((self.damaged("a frame cut short"), true)),
            Err(e) => return Err((io(&self.path)(e), false)),
        }
        let check = payload.split_off(len as usize);
        if check != check_of(kind, &payload) {
            return Err((self.damaged("frame check does not match its bytes"), false));
        }
        self.at += 5 + u64::from(len) + CHECK_LEN as u64;
        Ok(Some((kind, payload)))
    }

    /// Calls `f` with every range and the journal offset of its frame, in order; with
    /// `torn_ends`, a frame cut short ends the ranges instead of being an error.
    fn each_range(
        mut self,
        torn_ends: bool,
        mut f: impl FnMut(Range<'_>, u64) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let mut unpack = Unpacker::new(&self.path)?;
        loop {
            let at = self.at;
            match self.next() {
                Ok(Some((KIND_RANGE, p))) => {
                    let r = parse_range(&p).ok_or_else(|| self.damaged("a range frame"))?;
                    f(r, at)?;
                }
                Ok(Some((KIND_RANGES, p))) => {
                    let ranges = unpack
                        .ranges(&p)
                        .ok_or_else(|| damaged_at(&self.path, at, "a batch of ranges"))?;
                    for r in ranges {
                        f(r, at)?;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok(()),
                Err((_, true)) if torn_ends => return Ok(()),
                Err((e, _)) => return Err(e),
            }
        }
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse_range(p: &[u8]) -> Option<Range<'_>> {
    let file = u32_at(p, 0)?;
    let offset = u64_at(p, 4)?;
    let old_len = u32_at(p, 12)? as usize;
    let new_len = u32_at(p, 16)? as usize;
    if p.len() != 20 + old_len + new_len || old_len > new_len {
        return None;
    }
    Some(Range {
        file,
        offset,
        old: &p[20..20 + old_len],
        new: &p[20 + old_len..],
    })
}

fn damaged_at(path: &Path, offset: u64, what: &str) -> JournalError {
    JournalError::Damaged {
        path: path.to_path_buf(),
        offset,
        what: what.into(),
    }
}

/// Reads `RANGES` frames: one decompressor and one buffer for all of them.
struct Unpacker {
    zstd: zstd::bulk::Decompressor<'static>,
    body: Vec<u8>,
}

impl Unpacker {
    fn new(path: &Path) -> Result<Unpacker, JournalError> {
        Ok(Unpacker {
            zstd: zstd::bulk::Decompressor::new().map_err(io(path))?,
            body: Vec::new(),
        })
    }

    /// The ranges of one `RANGES` frame's payload, in order; `None` when it does not decode
    /// whole (its raw length above [`MAX_BATCH`] or not the one found, a range cut short).
    fn ranges(&mut self, payload: &[u8]) -> Option<Vec<Range<'_>>> {
        let raw = u32_at(payload, 0)? as usize;
        if raw > MAX_BATCH {
            return None;
        }
        self.body.clear();
        self.body.reserve(raw);
        let n = self
            .zstd
            .decompress_to_buffer(payload.get(4..)?, &mut self.body)
            .ok()?;
        if n != raw {
            return None;
        }
        let b = &self.body[..];
        let (mut at, mut out) = (0, Vec::new());
        let mut last: Option<(u32, u64)> = None;
        while at < b.len() {
            let head = varint(b, &mut at)?;
            let (file, offset) = if head & 1 == 0 {
                let (file, prev) = last?;
                (file, prev.checked_add(head >> 1)?)
            } else {
                (u32::try_from(head >> 1).ok()?, varint(b, &mut at)?)
            };
            let old_len = usize::try_from(varint(b, &mut at)?).ok()?;
            let grow = usize::try_from(varint(b, &mut at)?).ok()?;
            let new_len = old_len.checked_add(grow)?;
            let old_end = at.checked_add(old_len)?;
            let new_end = old_end.checked_add(new_len)?;
            out.push(Range {
                file,
                offset,
                old: b.get(at..old_end)?,
                new: b.get(old_end..new_end)?,
            });
            at = new_end;
            last = Some((file, offset));
        }
        Some(out)
    }
}

/// The byte string at `at` in `p` after its `u32` length, and the offset past it.
fn prefixed(p: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let start = at.checked_add(4)?;
    let end = start.checked_add(u32_at(p, at)? as usize)?;
    Some((p.get(start..end)?, end))
}

fn parse_paths(p: &[u8]) -> Option<Vec<PathBuf>> {
    let n = u32_at(p, 0)? as usize;
    let mut at = 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let (name, next) = prefixed(p, at)?;
        out.push(PathBuf::from(std::ffi::OsString::from_vec(name.to_vec())));
        at = next;
    }
    (at == p.len()).then_some(out)
}

fn parse_files(p: &[u8]) -> Option<Vec<JournalFile>> {
    let n = u32_at(p, 0)? as usize;
    let mut at = 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let (name, next) = prefixed(p, at)?;
        let name = name.to_vec();
        at = next;
        let size_before = u64_at(p, at)?;
        let sha256_before = p.get(at + 8..at + 40)?.try_into().ok()?;
        let size_after = u64_at(p, at + 40)?;
        let sha256_after = p.get(at + 48..at + 80)?.try_into().ok()?;
        at += 80;
        out.push(JournalFile {
            path: PathBuf::from(std::ffi::OsString::from_vec(name)),
            size_before,
            sha256_before,
            size_after,
            sha256_after,
        });
    }
    (at == p.len()).then_some(out)
}

/// Reads and validates the whole journal: frames and their checks, one file table, every
/// range's file index, offsets inside the file's sizes, each file's ranges ascending and
/// apart. A torn tail is accepted only before the SEALED marker (nothing was written then).
pub fn read(path: &Path) -> Result<Journal, JournalError> {
    read_from(path, &|| Frames::open(path))
}

/// [`read`] over a journal already in memory, named `path` in messages (the fuzz targets read
/// journals this way). The returned [`Journal`] reads its ranges again from `path`.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<Journal, JournalError> {
    read_from(path, &|| Frames::over(path, bytes))
}

/// [`read`]: `open` gives the frames from the start, once per pass.
fn read_from<R: Read>(
    path: &Path,
    open: &dyn Fn() -> Result<Frames<R>, JournalError>,
) -> Result<Journal, JournalError> {
    let mut frames = open()?;
    let mut unpack = Unpacker::new(path)?;
    let mut files: Option<Vec<JournalFile>> = None;
    let mut paths: Option<Vec<PathBuf>> = None;
    let (mut sealed, mut committed, mut ranges) = (false, false, 0u64);
    let mut first = true;
    loop {
        let (kind, payload) = match frames.next() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err((_, true)) if !sealed => break,
            Err((e, _)) => return Err(e),
        };
        let order = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(frames.damaged(what))
            }
        };
        let was_first = std::mem::replace(&mut first, false);
        match kind {
            KIND_PATHS => {
                order(was_first, "the list of files after the first frame")?;
                paths =
                    Some(parse_paths(&payload).ok_or_else(|| frames.damaged("the list of files"))?);
            }
            KIND_RANGE => {
                order(files.is_none(), "a range after the file table")?;
                parse_range(&payload).ok_or_else(|| frames.damaged("a range frame"))?;
                ranges += 1;
            }
            KIND_RANGES => {
                order(files.is_none(), "a range after the file table")?;
                let batch = unpack
                    .ranges(&payload)
                    .ok_or_else(|| frames.damaged("a batch of ranges"))?;
                ranges += batch.len() as u64;
            }
            KIND_FILES => {
                order(files.is_none(), "a second file table")?;
                let table =
                    parse_files(&payload).ok_or_else(|| frames.damaged("the file table"))?;
                let named: Vec<&Path> = table.iter().map(|f| f.path.as_path()).collect();
                if let Some(p) = &paths {
                    order(
                        named == p.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                        "the file table names other files than the list of files",
                    )?;
                }
                let mut sorted = named.clone();
                sorted.sort();
                sorted.dedup();
                order(
                    sorted.len() == named.len(),
                    "the file table names a file twice",
                )?;
                if let Some(f) = table.iter().find(|f| f.size_after < f.size_before) {
                    return Err(frames.damaged(format!(
                        "the file table has {} shrink from {} to {} bytes; no run shrinks a file",
                        f.path.display(),
                        f.size_before,
                        f.size_after
                    )));
                }
                files = Some(table);
            }
            KIND_SEALED => {
                order(files.is_some() && !sealed, "SEALED without a file table")?;
                sealed = true;
            }
            _ => {
                order(sealed && !committed, "COMMITTED before SEALED")?;
                committed = true;
            }
        }
    }
    let files = files.unwrap_or_default();
    let journal = Journal {
        path: path.to_path_buf(),
        paths: paths.unwrap_or_default(),
        files,
        sealed,
        committed,
        ranges,
    };
    if sealed {
        // Second pass: every range against the file table.
        let mut end: Vec<u64> = vec![0; journal.files.len()];
        open()?.each_range(false, |r, at| {
            let bad = |what: String| JournalError::Damaged {
                path: path.to_path_buf(),
                offset: at,
                what,
            };
            let f = journal.files.get(r.file as usize).ok_or_else(|| {
                bad(format!(
                    "range names file {}, the table has {}",
                    r.file,
                    journal.files.len()
                ))
            })?;
            // Both ends checked: an offset near 2^64 is damage, not an overflow.
            let ends = r
                .offset
                .checked_add(r.old.len() as u64)
                .zip(r.offset.checked_add(r.new.len() as u64))
                .filter(|&(old_end, new_end)| {
                    new_end <= f.size_after.max(f.size_before)
                        && old_end <= f.size_before
                        && (r.old.len() == r.new.len() || old_end == f.size_before)
                });
            let Some((_, new_end)) = ends else {
                return Err(bad(format!(
                    "range at {:#x} (+{}) outside {} ({} bytes before, {} after)",
                    r.offset,
                    r.new.len(),
                    f.path.display(),
                    f.size_before,
                    f.size_after
                )));
            };
            let e = &mut end[r.file as usize];
            if r.offset < *e {
                return Err(bad(format!(
                    "ranges of {} out of order or overlapping at {:#x}",
                    f.path.display(),
                    r.offset
                )));
            }
            *e = new_end;
            Ok(())
        })?;
    }
    Ok(journal)
}

impl Journal {
    /// Calls `f` with every range and the journal offset of its frame, in order.
    pub fn for_each_range(
        &self,
        f: impl FnMut(Range<'_>, u64) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        self.ranges_until(false, f)
    }

    /// As [`Journal::for_each_range`]; with `torn_ends`, a frame cut short ends the ranges (an
    /// unsealed journal's tail, as [`read`] accepts it).
    fn ranges_until(
        &self,
        torn_ends: bool,
        f: impl FnMut(Range<'_>, u64) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        Frames::open(&self.path)?.each_range(torn_ends, f)
    }
}

/// Size and SHA-256 of a file, streamed.
fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), JournalError> {
    crate::manifest::sums::hash_file_raw(path).map_err(io(path))
}

/// A file whose first bytes — its header — must reach the disk last, as a hive's base block
/// must: `interim` (the header saying "write in progress") is written over them first and
/// fsynced, then the file's other ranges, fsynced, then the header's new bytes. The journal's
/// ranges must cover the whole header (checked before any byte is written), so that undo puts
/// every byte of the interim header back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadLast {
    pub interim: Vec<u8>,
}

pub use crate::image::map::FileStamp;

/// Bytes read at once when undo checks the bytes of a file's ranges.
const CHECK_WINDOW: usize = 1 << 20;

/// Checks, before anything is written, that every file is in its before state. A file with a
/// stamp (in `stamps`, by file index: one read and hashed moments ago, in the same run) must
/// still have that stamp and hold the old bytes of each of its ranges — compared in a map of
/// the file (no copy of what is read), only the ranges; any other file is hashed whole.
fn check_before(
    j: &Journal,
    stamps: &BTreeMap<u32, FileStamp>,
    mut each: impl FnMut(&Range<'_>),
) -> Result<(), JournalError> {
    let changed = |f: &JournalFile, offset: u64| JournalError::Refused {
        file: f.path.clone(),
        offset,
        what: "the file changed since it was read".into(),
    };
    let mut maps: BTreeMap<u32, MappedFile> = BTreeMap::new();
    for (i, f) in j.files.iter().enumerate() {
        match stamps.get(&(i as u32)) {
            Some(stamp) => {
                // The map is of the file the stamp names: it is taken first, then compared.
                let map = MappedFile::open(&f.path).map_err(|e| io(&f.path)(e.source))?;
                if map.stamp() != stamp || stamp.size() != f.size_before {
                    return Err(changed(f, 0));
                }
                map.advise_sequential();
                maps.insert(i as u32, map);
            }
            None => {
                let (size, sha) = hash_file(&f.path)?;
                if (size, sha) != (f.size_before, f.sha256_before) {
                    return Err(changed(f, 0));
                }
            }
        }
    }
    // Each map's pages are let go as the ranges (ascending in each file) pass them, a step at
    // a time, and the whole map when the ranges move to another file: the files do not count
    // in the process's memory.
    const STEP: u64 = 2 << 20;
    let mut released: BTreeMap<u32, u64> = BTreeMap::new();
    let mut last_file = None;
    j.for_each_range(|r, _| {
        each(&r);
        let Some(map) = maps.get(&r.file) else {
            return Ok(());
        };
        if let Some(prev) = last_file
            .filter(|&l| l != r.file)
            .and_then(|l| maps.get(&l))
        {
            prev.release();
        }
        last_file = Some(r.file);
        let done = released.entry(r.file).or_insert(0);
        let below = r.offset / STEP * STEP;
        if below > *done {
            map.release_range(*done, below);
            *done = below;
        }
        let f = &j.files[r.file as usize];
        let found = usize::try_from(r.offset)
            .ok()
            .and_then(|at| map.bytes().get(at..at.checked_add(r.old.len())?))
            .unwrap_or(&[]);
        if found != r.old {
            let first = crate::bytes::common_prefix(found, r.old);
            return Err(changed(f, r.offset + first as u64));
        }
        Ok(())
    })
}

/// Files above this size are checked by undo range by range (each byte it writes must hold
/// the old or the new value), not hashed whole; smaller ones (hives) are hashed whole before and
/// after.
pub const WHOLE_CHECK_MOST: u64 = 64 << 20;

/// The granularity of [`RangeWriter`]'s writes (the smallest database page).
const WRITE_BLOCK: u64 = 4096;
/// [`RangeWriter`]'s windows end on multiples of this (the largest folio of the page cache).
const WINDOW_ALIGN: u64 = 2 << 20;

/// Writes ranges of one file — ascending, not overlapping, inside the file — a window at a
/// time: the window is read, the ranges are laid into it, and each run of touched 4 KiB blocks
/// is written back in one write from its first to its last changed byte (the bytes between two
/// ranges of a run are written as they were just read). So a database whose every page
/// changes is written with a few thousand writes, not one per range, and no byte outside the
/// blocks that change.
struct RangeWriter<'a> {
    file: &'a File,
    path: &'a Path,
    start: u64,
    window: Vec<u8>,
    /// Spans of the window to write back, merged by block.
    touched: Vec<(usize, usize)>,
}

impl<'a> RangeWriter<'a> {
    fn new(file: &'a File, path: &'a Path) -> RangeWriter<'a> {
        RangeWriter {
            file,
            path,
            start: 0,
            window: Vec::new(),
            touched: Vec::new(),
        }
    }

    fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<(), JournalError> {
        let end = offset + bytes.len() as u64;
        if offset < self.start || end > self.start + self.window.len() as u64 {
            self.flush()?;
            self.start = offset - offset % WRITE_BLOCK;
            // The window ends on a multiple of its size: the page cache's large folios are
            // aligned to their size, so none straddles two windows, and none is sent to the
            // disk (see `flush`) before the next window changes its other part.
            let aligned_end = (offset / WINDOW_ALIGN + 1) * WINDOW_ALIGN;
            let len = (aligned_end - self.start).max(end - self.start) as usize;
            self.window.resize(len, 0);
            let n = read_full_at(self.file, &mut self.window, self.start).map_err(io(self.path))?;
            self.window.truncate(n);
            if end > self.start + n as u64 {
                return Err(JournalError::Refused {
                    file: self.path.to_path_buf(),
                    offset: self.start + n as u64,
                    what: "the file ends before a recorded range".into(),
                });
            }
        }
        let at = (offset - self.start) as usize;
        self.window[at..at + bytes.len()].copy_from_slice(bytes);
        let block = |i: usize| i as u64 / WRITE_BLOCK;
        match self.touched.last_mut() {
            Some((_, e)) if block(at) <= block(*e - 1) + 1 => *e = (*e).max(at + bytes.len()),
            _ => self.touched.push((at, at + bytes.len())),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        let mut span: Option<(usize, usize)> = None;
        for (s, e) in self.touched.drain(..) {
            self.file
                .write_all_at(&self.window[s..e], self.start + s as u64)
                .map_err(io(self.path))?;
            span = Some(span.map_or((s, e), |(a, _)| (a, e)));
        }
        // The disk starts on the window now rather than at the final fsync (7 % of an
        // in-place run at 1 GiB).
        if let Some((s, e)) = span {
            crate::image::write::start_writeback(self.file, self.start + s as u64, (e - s) as u64);
        }
        Ok(())
    }
}

/// Writes a sealed journal's new bytes to its targets: each must be in its before state
/// (checked first, see [`check_before`]: `stamps` names, by file index, the files read in this
/// run, which are checked by their stamp and their ranges' old bytes instead of a whole new
/// hash); ranges are written in order (but see [`HeadLast`] for the files `heads` names, by
/// file index), sizes set, each file fsynced. `pause` is called after each range written with
/// the count so far (the crash tests stop the process there).
pub fn apply_sealed(
    path: &Path,
    heads: &BTreeMap<u32, HeadLast>,
    stamps: &BTreeMap<u32, FileStamp>,
    pause: &dyn Fn(u64),
) -> Result<(), JournalError> {
    let j = read(path)?;
    if !j.sealed {
        return Err(JournalError::Damaged {
            path: path.to_path_buf(),
            offset: 0,
            what: "not sealed: nothing may be written from it".into(),
        });
    }
    // The new bytes of each held-back header, from the ranges (gathered as the check reads
    // them); every byte must be covered.
    let mut finals: BTreeMap<u32, (Vec<u8>, usize)> = BTreeMap::new();
    for (&i, head) in heads {
        if j.files.get(i as usize).is_none() {
            return Err(JournalError::Damaged {
                path: path.to_path_buf(),
                offset: 0,
                what: format!("no file {i} for a header written last"),
            });
        }
        finals.insert(i, (vec![0u8; head.interim.len()], 0));
    }
    check_before(&j, stamps, |r| {
        if let Some((bytes, covered)) = finals.get_mut(&r.file) {
            let len = bytes.len() as u64;
            if r.offset < len {
                let end = (r.offset + r.new.len() as u64).min(len);
                let part = &r.new[..(end - r.offset) as usize];
                bytes[r.offset as usize..end as usize].copy_from_slice(part);
                *covered += part.len();
            }
        }
    })?;
    for (i, (bytes, covered)) in &finals {
        if *covered != bytes.len() {
            return Err(JournalError::Damaged {
                path: path.to_path_buf(),
                offset: 0,
                what: format!(
                    "{}: the ranges cover {covered} of the {} header bytes written last",
                    j.files[*i as usize].path.display(),
                    bytes.len()
                ),
            });
        }
    }

    let mut handles: Vec<Option<File>> = j.files.iter().map(|_| None).collect();
    // Every file opens for writing before any byte is written: one that cannot (permissions,
    // a read-only mount) stops the run with every file as it was.
    for (i, f) in j.files.iter().enumerate() {
        writable(&mut handles, i as u32, &f.path).map_err(|e| match e {
            JournalError::Io { path, source } => JournalError::NotWritable { path, source },
            e => e,
        })?;
    }
    // Headers saying "write in progress" first.
    for (&i, head) in heads {
        let p = &j.files[i as usize].path;
        let h = writable(&mut handles, i, p)?;
        h.write_all_at(&head.interim, 0).map_err(io(p))?;
        h.sync_all().map_err(io(p))?;
    }
    // The ranges, without the held-back headers: through a window for the files read in this
    // run that keep their size (the databases), one write per range otherwise.
    let windowed: Vec<bool> = j
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let i = i as u32;
            stamps.contains_key(&i) && !finals.contains_key(&i) && f.size_before == f.size_after
        })
        .collect();
    for (i, f) in j.files.iter().enumerate() {
        if windowed[i] {
            writable(&mut handles, i as u32, &f.path)?;
        }
    }
    let mut writers: Vec<Option<RangeWriter>> = j
        .files
        .iter()
        .zip(&handles)
        .zip(&windowed)
        .map(|((f, h), &w)| {
            h.as_ref()
                .filter(|_| w)
                .map(|h| RangeWriter::new(h, &f.path))
        })
        .collect();
    let mut direct: Vec<Option<File>> = j.files.iter().map(|_| None).collect();
    let mut n = 0u64;
    j.for_each_range(|r, _| {
        let i = r.file as usize;
        let skip = finals.get(&r.file).map_or(0, |(b, _)| b.len() as u64);
        let from = skip.saturating_sub(r.offset).min(r.new.len() as u64) as usize;
        if from < r.new.len() {
            let p = &j.files[i].path;
            match writers.get_mut(i).and_then(Option::as_mut) {
                Some(w) => w.put(r.offset, r.new)?,
                None => writable(&mut direct, r.file, p)?
                    .write_all_at(&r.new[from..], r.offset + from as u64)
                    .map_err(io(p))?,
            }
        }
        n += 1;
        pause(n);
        Ok(())
    })?;
    for w in writers.iter_mut().flatten() {
        w.flush()?;
    }
    drop(writers);
    for (slot, d) in handles.iter_mut().zip(direct) {
        if slot.is_none() {
            *slot = d;
        }
    }
    for (f, h) in j.files.iter().zip(&handles) {
        if let Some(h) = h {
            h.set_len(f.size_after).map_err(io(&f.path))?;
            h.sync_all().map_err(io(&f.path))?;
        }
    }
    // The headers' new bytes last.
    for (&i, (bytes, _)) in &finals {
        let p = &j.files[i as usize].path;
        let h = writable(&mut handles, i, p)?;
        h.write_all_at(bytes, 0).map_err(io(p))?;
        h.sync_all().map_err(io(p))?;
    }
    Ok(())
}

/// File `i` of a journal, opened for writing the first time it is needed.
fn writable<'h>(
    handles: &'h mut [Option<File>],
    i: u32,
    path: &Path,
) -> Result<&'h File, JournalError> {
    let slot = &mut handles[i as usize];
    if slot.is_none() {
        *slot = Some(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io(path))?,
        );
    }
    slot.as_ref().ok_or_else(|| JournalError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("not opened"),
    })
}

/// What undo did to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoAction {
    /// The file already held its original bytes.
    AlreadyOriginal,
    /// Its recorded ranges were put back (and its size).
    Restored { ranges: u64 },
}

/// What undo did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoReport {
    pub sealed: bool,
    pub committed: bool,
    pub files: Vec<(PathBuf, UndoAction)>,
}

/// Restores every file to its before state, after checking every one of them (see the
/// module documentation).
pub fn undo(path: &Path) -> Result<UndoReport, JournalError> {
    let j = read(path)?;
    // No other in-place run on these files meanwhile (its own checks would refuse what this
    // one wrote, and the other way round, but neither should have to).
    let _locked = crate::image::guard::lock_file_dirs(j.paths.iter().map(PathBuf::as_path))
        .map_err(|e| match e {
            crate::image::guard::LockError::Held { path, holder } => {
                JournalError::Locked { path, holder }
            }
            crate::image::guard::LockError::Io { path, source } => {
                JournalError::Io { path, source }
            }
        })?;
    let mut report = UndoReport {
        sealed: j.sealed,
        committed: j.committed,
        files: Vec::new(),
    };
    if !j.sealed {
        // Nothing was written to any target before the seal: the named files must show it.
        check_unsealed(&j)?;
        report.files = j
            .paths
            .iter()
            .map(|p| (p.clone(), UndoAction::AlreadyOriginal))
            .collect();
        return Ok(report);
    }
    // Check every file before writing any.
    for f in &j.files {
        regular_file(&f.path)?;
    }
    let mut todo = Vec::new();
    let mut by_ranges = Vec::new();
    for (i, f) in j.files.iter().enumerate() {
        if checked_by_ranges(f) {
            if check_ranges(&j, i as u32, f)? {
                report
                    .files
                    .push((f.path.clone(), UndoAction::AlreadyOriginal));
            } else {
                by_ranges.push(i as u32);
            }
            continue;
        }
        let (size, sha) = hash_file(&f.path)?;
        if (size, sha) == (f.size_before, f.sha256_before) {
            report
                .files
                .push((f.path.clone(), UndoAction::AlreadyOriginal));
            continue;
        }
        check_restorable(&j, i as u32, f, size)?;
        todo.push(i as u32);
    }
    for i in todo {
        let f = &j.files[i as usize];
        let h = OpenOptions::new()
            .write(true)
            .open(&f.path)
            .map_err(io(&f.path))?;
        let mut ranges = 0;
        j.for_each_range(|r, _| {
            if r.file == i && !r.old.is_empty() {
                h.write_all_at(r.old, r.offset).map_err(io(&f.path))?;
            }
            ranges += u64::from(r.file == i);
            Ok(())
        })?;
        h.set_len(f.size_before).map_err(io(&f.path))?;
        h.sync_all().map_err(io(&f.path))?;
        drop(h);
        let (size, sha) = hash_file(&f.path)?;
        if (size, sha) != (f.size_before, f.sha256_before) {
            return Err(JournalError::Io {
                path: f.path.clone(),
                source: std::io::Error::other(
                    "restored, but its SHA-256 is not the original's (a write was lost?)",
                ),
            });
        }
        report
            .files
            .push((f.path.clone(), UndoAction::Restored { ranges }));
    }
    for i in by_ranges {
        let f = &j.files[i as usize];
        let h = OpenOptions::new()
            .write(true)
            .read(true)
            .open(&f.path)
            .map_err(io(&f.path))?;
        let mut w = RangeWriter::new(&h, &f.path);
        let mut ranges = 0;
        j.for_each_range(|r, _| {
            if r.file == i {
                w.put(r.offset, r.old)?;
                ranges += 1;
            }
            Ok(())
        })?;
        w.flush()?;
        h.sync_all().map_err(io(&f.path))?;
        report
            .files
            .push((f.path.clone(), UndoAction::Restored { ranges }));
    }
    Ok(report)
}

/// Refuses a path that is not a regular file (a symbolic link put in the file's place, a
/// directory): undo writes only to the files the run wrote.
fn regular_file(path: &Path) -> Result<(), JournalError> {
    let m = std::fs::symlink_metadata(path).map_err(io(path))?;
    if m.file_type().is_file() {
        return Ok(());
    }
    let what = if m.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    };
    Err(JournalError::Refused {
        file: path.to_path_buf(),
        offset: 0,
        what: format!(
            "{what}, not the file the journal recorded: put the original file back at this              path, then run undo again"
        ),
    })
}

/// A journal that ends before its seal: a run stopped before it wrote anything — or a journal
/// cut short from one that went on. Every recorded range of the named files must still hold
/// its old bytes; a journal that names no files (cut inside its first frame) cannot show it
/// and is refused.
fn check_unsealed(j: &Journal) -> Result<(), JournalError> {
    if !has_paths_frame(j)? {
        return Err(JournalError::Refused {
            file: j.path.clone(),
            offset: MAGIC.len() as u64,
            what: "the journal ends before the list of the files it covers, so undo cannot                    check them: it was cut short (a journal always has that list when it                    appears). Give the whole journal as apply wrote it"
                .into(),
        });
    }
    let mut handles: Vec<Option<File>> = j.paths.iter().map(|_| None).collect();
    let (mut start, mut window, mut at_file) = (0u64, Vec::new(), u32::MAX);
    j.ranges_until(true, |r, at| {
        let path = j.paths.get(r.file as usize).ok_or_else(|| JournalError::Damaged {
            path: j.path.clone(),
            offset: at,
            what: format!(
                "range names file {}, the journal lists {}",
                r.file,
                j.paths.len()
            ),
        })?;
        if r.old.is_empty() {
            return Ok(());
        }
        let slot = &mut handles[r.file as usize];
        if slot.is_none() {
            regular_file(path)?;
            *slot = Some(File::open(path).map_err(io(path))?);
        }
        let file = slot.as_ref().ok_or_else(|| io(path)(std::io::Error::other("not opened")))?;
        let end = r.offset.saturating_add(r.old.len() as u64);
        if at_file != r.file || r.offset < start || end > start + window.len() as u64 {
            window.resize(CHECK_WINDOW.max(r.old.len()), 0);
            let n = read_full_at(file, &mut window, r.offset).map_err(io(path))?;
            window.truncate(n);
            (start, at_file) = (r.offset, r.file);
        }
        let from = (r.offset - start) as usize;
        let found = window.get(from..from + r.old.len()).unwrap_or(&[]);
        if found != r.old {
            let k = crate::bytes::common_prefix(found, r.old);
            let held = found
                .get(k)
                .map_or("nothing (the file ends there)".to_string(), |b| {
                    format!("{b:#04x}")
                });
            return Err(JournalError::Refused {
                file: path.clone(),
                offset: r.offset + k as u64,
                what: format!(
                    "holds {held}, not the {:#04x} recorded before any write, yet the journal                      ends before its seal: it is cut short from a run that went on to write                      (give the whole journal), or the file changed since",
                    r.old.get(k).copied().unwrap_or(0)
                ),
            });
        }
        Ok(())
    })
}

/// Whether the journal's first frame is its list of files.
fn has_paths_frame(j: &Journal) -> Result<bool, JournalError> {
    let mut frames = Frames::open(&j.path)?;
    Ok(matches!(frames.next(), Ok(Some((KIND_PATHS, _)))))
}

/// Whether undo checks `f` range by range rather than hashing it whole: a large file that
/// keeps its size (a database).
fn checked_by_ranges(f: &JournalFile) -> bool {
    f.size_before == f.size_after && f.size_before > WHOLE_CHECK_MOST
}

/// Checks that every byte of file `i`'s ranges holds its old or its new value (a write cut
/// short leaves some of each; anything else means the file changed since) and that the file
/// has its size; true when every range holds its old bytes (nothing to undo). Reads the ranges
/// only, a window at a time.
fn check_ranges(j: &Journal, i: u32, f: &JournalFile) -> Result<bool, JournalError> {
    let refuse = |offset: u64, what: String| JournalError::Refused {
        file: f.path.clone(),
        offset,
        what,
    };
    let file = File::open(&f.path).map_err(io(&f.path))?;
    let size = file.metadata().map_err(io(&f.path))?.len();
    if size != f.size_before {
        return Err(refuse(
            size,
            format!(
                "{size} bytes, not the {} it had: the file changed since the journal was written",
                f.size_before
            ),
        ));
    }
    let (mut start, mut window) = (0u64, Vec::new());
    let mut original = true;
    j.for_each_range(|r, _| {
        if r.file != i {
            return Ok(());
        }
        let end = r.offset + r.new.len() as u64;
        if r.offset < start || end > start + window.len() as u64 {
            start = r.offset;
            window.resize(CHECK_WINDOW.max(r.new.len()), 0);
            let n = read_full_at(&file, &mut window, start).map_err(io(&f.path))?;
            window.truncate(n);
        }
        let at = (r.offset - start) as usize;
        let cur = window
            .get(at..at + r.new.len())
            .ok_or_else(|| refuse(r.offset, "the file ends before a recorded range".into()))?;
        for (k, &b) in cur.iter().enumerate() {
            let (old, new) = (r.old.get(k).copied().unwrap_or(r.new[k]), r.new[k]);
            if b != old && b != new {
                return Err(refuse(
                    r.offset + k as u64,
                    format!(
                        "holds {b:#04x}, neither the original {old:#04x} nor the patched \
                         {new:#04x}: the file changed since the journal was written"
                    ),
                ));
            }
        }
        original &= cur == r.old;
        Ok(())
    })?;
    Ok(original)
}

/// Checks that file `i` (now `size` bytes) holds only old or new bytes in its ranges and that
/// putting the old bytes back gives the original SHA-256, reading the file once, streamed.
fn check_restorable(j: &Journal, i: u32, f: &JournalFile, size: u64) -> Result<(), JournalError> {
    let refuse = |offset: u64, what: String| JournalError::Refused {
        file: f.path.clone(),
        offset,
        what,
    };
    let lo = f.size_before.min(f.size_after);
    let hi = f.size_before.max(f.size_after);
    if size < lo || size > hi {
        return Err(refuse(
            size,
            format!(
                "{size} bytes: neither the original {} nor the patched {} nor in between; \
                 the file changed since the journal was written",
                f.size_before, f.size_after
            ),
        ));
    }
    let file = File::open(&f.path).map_err(io(&f.path))?;
    let mut h = Sha256::new();
    let mut pos = 0u64; // bytes of the original hashed so far
    let mut buf = vec![0u8; HASH_BUF];
    let mut copy_until = |h: &mut Sha256, pos: &mut u64, end: u64| -> Result<(), JournalError> {
        while *pos < end {
            let k = ((end - *pos) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..k], *pos)
                .map_err(io(&f.path))?;
            h.update(&buf[..k]);
            *pos += k as u64;
        }
        Ok(())
    };
    j.for_each_range(|r, _| {
        if r.file != i {
            return Ok(());
        }
        copy_until(&mut h, &mut pos, r.offset.min(f.size_before))?;
        let present = size.saturating_sub(r.offset).min(r.new.len() as u64) as usize;
        let mut cur = vec![0u8; present];
        file.read_exact_at(&mut cur, r.offset)
            .map_err(io(&f.path))?;
        // A committed run wrote exactly the new bytes; a run cut short may have left a
        // format's own in-progress bytes (a hive's dirty base block) in its ranges, and is
        // judged by the restored hash below alone.
        for (k, &b) in cur.iter().enumerate().filter(|_| j.committed) {
            let old = r.old.get(k).copied();
            if old.is_some() && Some(b) != old && b != r.new[k] {
                return Err(refuse(
                    r.offset + k as u64,
                    format!(
                        "holds {b:#04x}, neither the original {:#04x} nor the patched {:#04x}: \
                         the file changed since the journal was written",
                        old.unwrap_or(0),
                        r.new[k]
                    ),
                ));
            }
        }
        h.update(r.old);
        pos = r.offset + r.old.len() as u64;
        Ok(())
    })?;
    copy_until(&mut h, &mut pos, f.size_before)?;
    if <[u8; 32]>::from(h.finalize()) != f.sha256_before {
        return Err(refuse(
            0,
            "with the recorded bytes put back its SHA-256 is not the original's: the file \
             changed outside the patched ranges (or another file is in its place)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
