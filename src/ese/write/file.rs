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
use crate::image::write::{OutFile, WriteError};
use std::collections::BTreeMap;
use std::path::Path;

/// File offset of database page `pgno` in the builder's 4 KiB pages.
pub fn page_offset(pgno: u32) -> u64 {
    crate::ese::header::page_offset(pgno, PAGE_SIZE as u32)
}

fn build_error(e: WriteError) -> BuildError {
    BuildError::Io {
        path: e.path,
        op: e.op,
        offset: e.offset,
        source: e.source,
    }
}

/// The database being written: pages in page-number order go to the stream of an
/// [`OutFile`] (aligned buffers, direct I/O where allowed, a writer thread); pages finished
/// ahead of the stream wait here; reserved pages and the header are written at their offsets.
pub struct PageFile {
    out: OutFile,
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
        let out = OutFile::create(path, page_offset(first)).map_err(build_error)?;
        Ok(PageFile {
            out,
            expected: first,
            pending: BTreeMap::new(),
            next_alloc: first,
            dbtime: 0,
            zero: vec![0u8; PAGE_SIZE],
        })
    }

    /// Appends one page to the stream; anything but a whole page is a builder bug.
    fn push_stream(&mut self, page: &[u8]) -> Result<(), BuildError> {
        if page.len() != PAGE_SIZE {
            return Err(BuildError::Io {
                path: self.out.path().to_path_buf(),
                op: "write",
                offset: self.out.stream_position(),
                source: std::io::Error::other(format!("internal: a page of {} bytes", page.len())),
            });
        }
        self.out.append(page).map_err(build_error)
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

    /// Writes a page outside the stream (a reserved page, the catalog area, the header); it
    /// lands after the zeros the stream wrote there.
    pub fn write_at(&mut self, offset: u64, page: &[u8]) -> Result<(), BuildError> {
        self.out.write_at(offset, page).map_err(build_error)
    }

    /// Writes everything out and fsyncs it; the stream must be complete. Returns the number of
    /// database pages.
    pub fn finish(self) -> Result<u32, BuildError> {
        let path = self.out.path().to_path_buf();
        if let Some((&pgno, _)) = self.pending.iter().next() {
            return Err(BuildError::Io {
                path: path.clone(),
                op: "finish",
                offset: page_offset(pgno),
                source: std::io::Error::other(format!(
                    "page {pgno} was never reached by the stream"
                )),
            });
        }
        let end = page_offset(self.expected);
        let (_, len) = self.out.finish().map_err(build_error)?;
        if len != end {
            return Err(BuildError::Io {
                path,
                op: "finish",
                offset: len,
                source: std::io::Error::other(format!(
                    "internal: the file ends at {len:#x}, not {end:#x}"
                )),
            });
        }
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
