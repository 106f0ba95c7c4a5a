//! The streaming pass over one database: a reading thread reads runs of pages ahead (with
//! direct I/O for `apply --out`), the pass verifies and patches each page, two other threads
//! hash the input and the output, the census of those runs is taken (with a [`CensusScan`];
//! on the input side the structure is checked too) on the same threads or, where the machine
//! has the cores, on one more thread per side ([`Layout`]), the output goes to a sink (a new
//! file for `apply --out`, nothing for the read-only pass of `apply --in-place`), and every
//! changed range is reported. A run of pages is read once into an aligned buffer; the input
//! side hashes it and takes its census first, then its changed pages are patched in that same
//! buffer, which the output side and the writer thread then share (the writer writes it as it
//! is, with no copy). A buffer is used again once every thread is done with it. Memory is a
//! few runs of pages, whatever the database's size.
//!
//! Database time: every changed page and the header get one new dbtime, above every dbtime in
//! the file. The pass assumes the header's dbtime is the highest (the common case: one pass);
//! a page above it stops the pass with [`PassError::DbtimeAbove`], and the caller runs it again
//! with a dbtime above the highest page (found by [`max_page_dbtime`]).

use crate::ese::census::{hits_after, tally_hits, tally_page, Hit, Matcher, Owners, Tally};
use crate::ese::patch::{
    page_dbtime, page_objid, patch_header, patch_page, Changes, EditCounts, PagePatch, PagePlan,
};
use crate::ese::verify::{Finding, LeafCheck};
use crate::image::write::{
    is_unaligned, open_direct_read, read_full_at, AlignedBuf, Cache, OutFile,
};
use crate::manifest::pagemap::{PageClass, PageMap, PageMapBuilder};
use crate::manifest::sums::hex;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

/// Pages per run: 1 MiB at 4 KiB pages.
const RUN_BYTES: usize = 1 << 20;
/// Runs in flight to each side (on the input side: runs it has not given back), and between a
/// side's hashing and looking threads.
const RUNS_IN_FLIGHT: usize = 4;
/// Runs the reading thread keeps ready ahead of the patch.
const READ_AHEAD: usize = 4;

/// What the reading thread hands over: the bytes read (empty at the end of the file).
type ReadRun = std::io::Result<AlignedBuf>;

/// The reading thread: the header pages, then runs of `run_len` bytes, read ahead of the
/// patch so that the disk works while pages are patched. Buffers come from `empty` (runs both
/// sides and the writer are done with) or are new. With [`Cache::Drop`] the file is read with
/// direct I/O where it can be (a copy reads it once: no page cache to fill, and far less
/// work for the kernel), else through the page cache.
#[allow(clippy::too_many_arguments)]
fn read_runs(
    input: &Path,
    f: &std::fs::File,
    size: u64,
    header_len: usize,
    run_len: usize,
    cache: Cache,
    full: SyncSender<ReadRun>,
    empty: Receiver<AlignedBuf>,
) {
    let direct = match cache {
        // The same file as `f` (whose size was checked), not whatever the path names now.
        Cache::Drop => open_direct_read(input).ok().filter(|d| same_file(d, f)),
        Cache::Keep => None,
    };
    let mut use_direct = direct.is_some();
    if !use_direct {
        advise_sequential(f);
    }
    let mut len = header_len;
    let mut at = 0u64;
    // Through the page cache, the disk is asked for the bytes `PREFETCH` ahead of the reads,
    // so that it keeps reading while the pass works on what it has.
    let mut asked = 0u64;
    loop {
        if !use_direct && asked < size && asked < at + PREFETCH {
            let to = (at + 2 * PREFETCH).min(size);
            advise_will_need(f, asked, to - asked);
            asked = to;
        }
        // Exactly the `size` bytes the pass was planned for; a file that changed size while
        // it was read is an error, not a shorter or longer copy.
        if at == size {
            let end = match f.metadata() {
                Ok(m) if m.len() != size => Err(changed_size(m.len(), size)),
                Ok(_) => Ok(AlignedBuf::new(0)),
                Err(e) => Err(e),
            };
            let _ = full.send(end.map(|mut b| {
                b.set_len(0);
                b
            }));
            return;
        }
        let len_now = len.min((size - at).min(usize::MAX as u64) as usize);
        let mut buf = empty
            .try_recv()
            .ok()
            .filter(|b| b.capacity() >= len_now)
            .unwrap_or_else(|| AlignedBuf::new(len_now));
        buf.set_len(len_now);
        let mut read = match (&direct, use_direct) {
            (Some(d), true) => read_full_at(d, &mut buf, at),
            _ => read_full_at(f, &mut buf, at),
        };
        if matches!(&read, Err(e) if use_direct && is_unaligned(e)) {
            // The file system takes no direct reads of these: through the page cache.
            use_direct = false;
            read = read_full_at(f, &mut buf, at);
        }
        let read = read.and_then(|n| {
            if n < len_now {
                return Err(changed_size(at + n as u64, size));
            }
            at += n as u64;
            Ok(buf)
        });
        let last = read.is_err();
        if full.send(read).is_err() || last {
            return;
        }
        len = run_len;
    }
}

/// A file that is not the size it was when its pass began.
fn changed_size(now: u64, then: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "the file changed while it was read ({then} bytes when the pass began, {now} now)"
    ))
}

/// Whether two open files are the same file (device and inode).
fn same_file(a: &std::fs::File, b: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

/// Tells the kernel `f` is read front to back (a larger read-ahead on a cold disk).
#[cfg(target_os = "linux")]
fn advise_sequential(f: &std::fs::File) {
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::Sequential);
}

#[cfg(not(target_os = "linux"))]
fn advise_sequential(_: &std::fs::File) {}

/// How far ahead of a pass's reads through the page cache the disk is asked to read.
const PREFETCH: u64 = 16 << 20;

/// Asks the kernel to start reading `[offset, offset + len)` of `f` into the page cache now.
/// Advice only: nothing depends on it but the time.
#[cfg(target_os = "linux")]
fn advise_will_need(f: &std::fs::File, offset: u64, len: u64) {
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(f, offset, Some(len), rustix::fs::Advice::WillNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_will_need(_: &std::fs::File, _: u64, _: u64) {}

/// The two header pages (the header and its shadow copy).
const HEADER_PAGES: u64 = 2;

/// Where changed ranges go (the audit log, the journal).
pub trait ChangeSink {
    /// One change, with its reason, in the order the patch made it.
    fn change(
        &mut self,
        file: &str,
        offset: u64,
        old: &[u8],
        new: &[u8],
        why: &str,
    ) -> std::io::Result<()>;

    /// A changed page (or the two header pages) at `offset`: its bytes before and after,
    /// after its [`ChangeSink::change`]s. The journal records the net difference from here.
    fn page(
        &mut self,
        _file: &str,
        _offset: u64,
        _before: &[u8],
        _after: &[u8],
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a pass's output goes: the new file of `apply --out`, or nowhere ([`NoOutput`], the
/// read-only pass of `apply --in-place`).
pub trait PassOut {
    /// Bytes to append (the header pages).
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// A run of pages to append, in a buffer the pass uses again once every holder lets go.
    fn run(&mut self, run: &Arc<AlignedBuf>) -> std::io::Result<()>;
}

impl PassOut for OutFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.append(bytes).map_err(std::io::Error::other)
    }

    fn run(&mut self, run: &Arc<AlignedBuf>) -> std::io::Result<()> {
        self.append_shared(run).map_err(std::io::Error::other)
    }
}

/// No output: the pass reads, patches in memory, hashes and reports.
pub struct NoOutput;

impl PassOut for NoOutput {
    fn write(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn run(&mut self, _: &Arc<AlignedBuf>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a pass stopped.
#[derive(Debug)]
pub enum PassError {
    /// A page or header the patch must not touch (bad checksum, newer format, no room):
    /// a refusal; nothing the pass wrote may remain.
    Refused(String),
    /// A page's dbtime is at or above the one the pass stamps: run again above `max`.
    DbtimeAbove { pgno: u32, found: u64 },
    /// Reading the input or writing the output failed.
    Io(String),
}

/// What a pass found and did.
#[derive(Clone, Debug, Default)]
pub struct PassResult {
    pub size: u64,
    pub input_sha256: String,
    pub output_sha256: String,
    /// Rows changed per edit, in [`PagePlan`]'s flattened edit order.
    pub rows: Vec<u64>,
    /// Rows each edit looked at, same order.
    pub seen: Vec<u64>,
    pub pages_changed: u64,
    /// The census of the pages read and of the pages written (with a [`CensusScan`]).
    pub census_before: Option<Tally>,
    pub census_after: Option<Tally>,
    /// The census reports (long values resolved), filled in by the caller.
    pub census: Option<crate::patch::census::CensusPair>,
    /// The uncovered places `--allow-uncovered` let through.
    pub uncovered_allowed: Vec<crate::patch::census::Uncovered>,
    /// What happened to each page, and whose it is (tables named when there is a census).
    pub page_map: Option<PageMap>,
}

/// What the census of a pass looks for, how it names what it finds, and when the pass
/// must stop: `refuse` is asked, after each run, about the census of the pages read so far
/// (an uncovered place found early stops the pass at once, not after the whole database).
pub struct CensusScan {
    pub owners: Owners,
    pub matcher: Matcher,
    pub refuse: Box<RefuseFn>,
}

/// The census's stop rule: the refusal, if the tally so far holds a place the patch may not
/// leave.
pub type RefuseFn = dyn Fn(&Tally, &Owners) -> Option<String> + Sync;

/// A run of pages for the input or the output side: its file offset and its bytes on that side.
struct Run {
    offset: u64,
    bytes: Arc<AlignedBuf>,
    /// Output side: the ranges of the replaced pages the patch may have changed (index in
    /// the run, byte range in the page; in order), from which the census of the run is
    /// derived from the input's; `None` where the run's bytes are not the input's with pages
    /// replaced (the header pages), whose census searches them whole.
    changed: Option<Vec<(usize, std::ops::Range<usize>)>>,
}

/// The census's occurrences in the pages of one run, as the input side found them, for the
/// output side: page `i`'s are `hits[ends[i - 1]..ends[i]]`.
struct RunHits {
    offset: u64,
    hits: Vec<Hit>,
    ends: Vec<usize>,
}

impl RunHits {
    fn page(&self, i: usize) -> &[Hit] {
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j]);
        &self.hits[start..self.ends[i]]
    }
}

/// How a looking thread's census shares the occurrences it finds: the input side hands
/// each run's to the output side, which searches only around the bytes the patch changed.
enum HitShare {
    None,
    Give(SyncSender<RunHits>),
    Take(Receiver<RunHits>),
}

/// Where each side's census and structure check run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// On the side's hashing thread, right after it hashed the run (the run is still in that
    /// core's cache).
    WithHash,
    /// On a thread of their own after the side's hashing thread, so that with a core for
    /// each the two SHA-256 streams alone set the pace.
    OwnThread,
}

/// The environment variable that chooses the [`Layout`] (`own` or `shared`), for tests and
/// benchmarks; without it, [`Layout::for_machine`].
pub const LAYOUT_VAR: &str = "COLDPATCH_CENSUS_THREADS";

impl Layout {
    /// Threads of their own where the process may use three cores or more; on two, the
    /// census stays on the hashing threads: both cores are busy anyway, and handing each run
    /// to another thread, whose core reads it again from a cache further away, cost 2–7 % more
    /// CPU on the development VM for no gain. [`LAYOUT_VAR`] overrides.
    pub fn for_machine() -> Layout {
        match std::env::var(LAYOUT_VAR).as_deref() {
            Ok("own") => Layout::OwnThread,
            Ok("shared") => Layout::WithHash,
            _ => match std::thread::available_parallelism() {
                Ok(n) if n.get() >= 3 => Layout::OwnThread,
                _ => Layout::WithHash,
            },
        }
    }
}

/// What a hashing thread does with a run once hashed.
enum Then<'a> {
    /// Looks at it on this thread.
    Look(Box<Looker<'a>>),
    /// Hands it to the side's looking thread.
    Pass(SyncSender<Run>),
}

/// The input's or the output's hashing thread: SHA-256 of the runs, each then looked at here
/// or handed on ([`Then`]). Gives back the hash, and the looker when it ran here.
fn hasher<'a>(rx: Receiver<Run>, mut then: Then<'a>) -> (String, Option<Looker<'a>>) {
    let mut h = Sha256::new();
    for run in rx {
        h.update(&run.bytes[..]);
        match &mut then {
            Then::Look(looker) => looker.take(run),
            Then::Pass(tx) => {
                // A looking thread never stops before its input ends; if it did, the run is
                // dropped and the pass, waiting for it, stops.
                let _ = tx.send(run);
            }
        }
    }
    let looker = match then {
        Then::Look(looker) => Some(*looker),
        Then::Pass(_) => None,
    };
    (hex(&h.finalize()), looker)
}

/// A side's looking thread ([`Layout::OwnThread`]): every run after the hashing thread.
fn looking<'a>(rx: Receiver<Run>, mut looker: Looker<'a>) -> Looker<'a> {
    for run in rx {
        looker.take(run);
    }
    looker
}

/// A side's threads: the hashing thread (which gives back the looker when it ran there) and
/// the looking thread, if it has one.
type SideThreads<'scope, 'a> = (
    ScopedJoinHandle<'scope, (String, Option<Looker<'a>>)>,
    Option<ScopedJoinHandle<'scope, Looker<'a>>>,
);

/// Starts a side's threads, named after it (`input-sha256`, `input-census`, ...).
fn spawn_side<'scope, 'env, 'a: 'scope>(
    s: &'scope Scope<'scope, 'env>,
    layout: Layout,
    name: &str,
    rx: Receiver<Run>,
    looker: Looker<'a>,
) -> Result<SideThreads<'scope, 'a>, PassError> {
    let named = |what: &str| std::thread::Builder::new().name(format!("{name}-{what}"));
    let spawned = |e: std::io::Error| PassError::Io(format!("starting a thread: {e}"));
    let (then, looking_thread) = match layout {
        Layout::WithHash => (Then::Look(Box::new(looker)), None),
        Layout::OwnThread => {
            let (tx, look_rx) = sync_channel::<Run>(RUNS_IN_FLIGHT);
            let t = named("census")
                .spawn_scoped(s, move || looking(look_rx, looker))
                .map_err(spawned)?;
            (Then::Pass(tx), Some(t))
        }
    };
    let hashing = named("sha256")
        .spawn_scoped(s, move || hasher(rx, then))
        .map_err(spawned)?;
    Ok((hashing, looking_thread))
}

/// Waits for a side's threads: its SHA-256, its census's tally and the structure check.
fn joined<'a>(
    side: SideThreads<'_, 'a>,
    name: &str,
) -> Result<(String, (Tally, Option<LeafCheck<'a>>)), PassError> {
    let (hashing, looking_thread) = side;
    let failed = |what: &str| PassError::Io(format!("the {name} {what} thread failed"));
    let (sha256, here) = hashing.join().map_err(|_| failed("hashing"))?;
    let looker = match (here, looking_thread) {
        (Some(looker), _) => looker,
        (None, Some(t)) => t.join().map_err(|_| failed("census"))?,
        (None, None) => return Err(failed("census")),
    };
    Ok((sha256, looker.finish()))
}

/// What a side does with its runs besides hashing them: with a census, the tally of their
/// pages. `stop` gets the census's refusal (input side only); `leaves` is handed every page
/// (input side only); `share` passes the occurrences found from the input side to the output
/// side. With `back`, each run is sent back there once the side is done with its bytes (the
/// input side: the pass then patches them in place).
struct Looker<'a> {
    look: Look<'a>,
    stop: Option<&'a std::sync::Mutex<Option<String>>>,
    leaves: Option<LeafCheck<'a>>,
    share: HitShare,
    back: Option<SyncSender<Run>>,
}

impl<'a> Looker<'a> {
    fn new(
        page_size: usize,
        census: Option<&'a CensusScan>,
        stop: Option<&'a std::sync::Mutex<Option<String>>>,
        leaves: Option<LeafCheck<'a>>,
        share: HitShare,
        back: Option<SyncSender<Run>>,
    ) -> Looker<'a> {
        Looker {
            look: Look {
                page_size,
                census,
                tally: Tally::default(),
                scratch: Vec::new(),
                ranges: Vec::new(),
            },
            stop,
            leaves,
            share,
            back,
        }
    }

    fn take(&mut self, run: Run) {
        let census = self.look.census;
        if census.is_some() || self.leaves.is_some() {
            self.look.run(&run, self.leaves.as_mut(), &mut self.share);
            if let (Some(c), Some(stop)) = (census, self.stop) {
                if let Some(why) = (c.refuse)(&self.look.tally, &c.owners) {
                    if let Ok(mut slot) = stop.lock() {
                        slot.get_or_insert(why);
                    }
                }
            }
        }
        if let Some(tx) = &self.back {
            if tx.send(run).is_err() {
                // The pass has stopped: nothing more to give back.
                self.back = None;
            }
        }
    }

    /// The census's tally and the structure check.
    fn finish(self) -> (Tally, Option<LeafCheck<'a>>) {
        (self.look.tally, self.leaves)
    }
}

/// What a looking thread looks at in its runs' pages: the structure and the census, with
/// buffers kept from one page to the next.
struct Look<'c> {
    page_size: usize,
    census: Option<&'c CensusScan>,
    tally: Tally,
    scratch: Vec<Hit>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl Look<'_> {
    /// The structure check (`leaves`, input side) and the census of one run's pages.
    fn run(&mut self, run: &Run, mut leaves: Option<&mut LeafCheck<'_>>, share: &mut HitShare) {
        let page_size = self.page_size;
        // The input side's occurrences in this run (they come in the runs' order; a side
        // that stopped gives none, and the run is searched whole).
        let given = match &*share {
            HitShare::Take(rx) => rx.recv().ok().filter(|g| g.offset == run.offset),
            _ => None,
        };
        let mut found = RunHits {
            offset: run.offset,
            hits: Vec::new(),
            ends: Vec::new(),
        };
        let mut changed = run.changed.as_deref().unwrap_or(&[]).iter().peekable();
        for (i, page) in run.bytes.chunks_exact(page_size).enumerate() {
            let at = run.offset + (i * page_size) as u64;
            let index = at / page_size as u64;
            let pgno = index
                .checked_sub(HEADER_PAGES)
                .map(|p| (p + 1).min(u64::from(u32::MAX)) as u32);
            // The structure first, then the census.
            if let (Some(check), Some(pgno)) = (leaves.as_mut(), pgno) {
                check.page(pgno, page, at);
            }
            let Some(c) = self.census else { continue };
            match (&given, &run.changed) {
                (Some(given), Some(_)) => {
                    self.ranges.clear();
                    while let Some((_, r)) = changed.next_if(|(j, _)| *j == i) {
                        self.ranges.push(r.clone());
                    }
                    let before = given.page(i);
                    let hits = if self.ranges.is_empty() {
                        before
                    } else {
                        self.scratch.clear();
                        hits_after(before, page, &self.ranges, &c.matcher, &mut self.scratch);
                        &self.scratch[..]
                    };
                    tally_hits(page, at, pgno, &c.owners, hits, &mut self.tally);
                }
                _ if matches!(share, HitShare::Give(_)) => {
                    let start = found.hits.len();
                    c.matcher.find(page, &mut found.hits);
                    found.ends.push(found.hits.len());
                    let hits = &found.hits[start..];
                    tally_hits(page, at, pgno, &c.owners, hits, &mut self.tally);
                }
                _ => tally_page(page, at, pgno, &c.owners, &c.matcher, &mut self.tally),
            }
        }
        if let HitShare::Give(tx) = &*share {
            if tx.send(found).is_err() {
                // The output side has stopped: nothing more to give it.
                *share = HitShare::None;
            }
        }
    }
}

/// The highest page dbtime in the file (a read of every page header).
pub fn max_page_dbtime(input: &Path, page_size: u32) -> Result<u64, PassError> {
    let io = |e: std::io::Error| PassError::Io(format!("{}: {e}", input.display()));
    let f = std::fs::File::open(input).map_err(io)?;
    let ps = page_size as usize;
    let mut buf = vec![0u8; RUN_BYTES.max(ps) / ps * ps];
    let mut max = 0u64;
    let mut first = true;
    let mut at = 0u64;
    loop {
        let n = read_full_at(&f, &mut buf, at).map_err(io)?;
        if n == 0 {
            break;
        }
        at += n as u64;
        let skip = if first { HEADER_PAGES as usize } else { 0 };
        first = false;
        for page in buf[..n].chunks_exact(ps).skip(skip) {
            max = max.max(page_dbtime(page));
        }
    }
    Ok(max)
}

/// One pass over `input` (named `rel` in reports): every page verified and patched under
/// `plan`, output to `out`, changes to `changes`. `progress` gets the bytes done. With
/// [`Cache::Drop`] the input is read with direct I/O where the file system allows it (a copy
/// reads it once: no page cache is filled). With `leaves`, the structure is checked as
/// `verify` checks it, on the pages read, and a finding refuses the pass at its end.
#[allow(clippy::too_many_arguments)]
pub fn stream_database(
    input: &Path,
    rel: &str,
    page_size: u32,
    plan: &PagePlan,
    census: Option<&CensusScan>,
    leaves: Option<LeafCheck<'_>>,
    out: &mut dyn PassOut,
    changes: &mut dyn ChangeSink,
    progress: &dyn Fn(u64),
    cache: Cache,
) -> Result<PassResult, PassError> {
    let io_in = |e: std::io::Error| PassError::Io(format!("{}: {e}", input.display()));
    let f = std::fs::File::open(input).map_err(io_in)?;
    let size = f.metadata().map_err(io_in)?.len();
    let ps = page_size as usize;
    if ps == 0 || size % page_size as u64 != 0 || size < HEADER_PAGES * page_size as u64 {
        return Err(PassError::Refused(format!(
            "{}: {size} bytes is not a whole number of {page_size}-byte pages (at least the two \
             header pages); run coldpatch verify on it",
            input.display()
        )));
    }
    let (in_tx, in_rx) = sync_channel::<Run>(RUNS_IN_FLIGHT);
    let (out_tx, out_rx) = sync_channel::<Run>(RUNS_IN_FLIGHT);
    let stop = std::sync::Mutex::new(None);
    let (full_tx, full_rx) = sync_channel::<ReadRun>(READ_AHEAD);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<AlignedBuf>();
    let run_len = (RUN_BYTES / ps).max(1) * ps;
    let layout = Layout::for_machine();
    std::thread::scope(|s| {
        let stop_ref = &stop;
        let f = &f;
        let header_len = HEADER_PAGES as usize * ps;
        std::thread::Builder::new()
            .name("image-reader".into())
            .spawn_scoped(s, move || {
                read_runs(
                    input, f, size, header_len, run_len, cache, full_tx, empty_rx,
                )
            })
            .map_err(|e| PassError::Io(format!("starting a thread: {e}")))?;
        // The census's occurrences go from the input side to the output side, as many runs
        // ahead as the runs in flight.
        let (give, take) = match census {
            Some(_) => {
                let (tx, rx) = sync_channel::<RunHits>(RUNS_IN_FLIGHT);
                (HitShare::Give(tx), HitShare::Take(rx))
            }
            None => (HitShare::None, HitShare::None),
        };
        // The input side gives each run back once it is done with the input's bytes. The pass
        // holds at most `RUNS_IN_FLIGHT` runs there, so giving back never waits.
        let (back_tx, back_rx) = sync_channel::<Run>(RUNS_IN_FLIGHT);
        // Each side: a hashing thread, and after it, on that thread or on one of its own, the
        // census and the structure check.
        let in_looker = Looker::new(ps, census, Some(stop_ref), leaves, give, Some(back_tx));
        let out_looker = Looker::new(ps, census, None, None, take, None);
        let in_side = spawn_side(s, layout, "input", in_rx, in_looker)?;
        let out_side = spawn_side(s, layout, "output", out_rx, out_looker)?;
        let owners = census.map(|c| &c.owners);
        let map = PageMapBuilder::new(
            size,
            page_size,
            owners.map(Owners::table_names).unwrap_or_default(),
        );
        let pages = Pages { owners, map };
        let result = run_pages(
            &full_rx, &empty_tx, input, rel, ps, plan, &stop, out, changes, progress, &in_tx,
            &back_rx, &out_tx, pages,
        );
        // A pass that stopped early stops the reading thread too.
        drop(full_rx);
        drop(back_rx);
        drop(in_tx);
        drop(out_tx);
        let (input_sha256, (before, leaves)) = joined(in_side, "input")?;
        let (output_sha256, (after, _)) = joined(out_side, "output")?;
        let (counts, pages_changed, page_map) = result?;
        // A damaged structure (what verify would report), found on the pages read.
        if let Some(leaves) = leaves {
            let findings = leaves.findings();
            if !findings.is_empty() {
                return Err(PassError::Refused(structure_refusal(rel, &findings)));
            }
        }
        // An uncovered place in the last runs, found after the main loop ended.
        if let Some(why) = stop.lock().ok().and_then(|mut s| s.take()) {
            return Err(PassError::Refused(why));
        }
        Ok(PassResult {
            size,
            input_sha256,
            output_sha256,
            rows: counts.rows,
            seen: counts.seen,
            pages_changed,
            census_before: census.map(|_| before),
            census_after: census.map(|_| after),
            census: None,
            uncovered_allowed: Vec::new(),
            page_map: Some(page_map),
        })
    })
}

/// The refusal of a database whose structure `verify` would flag: its first findings, then
/// how many more.
fn structure_refusal(rel: &str, findings: &[Finding]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = findings
        .iter()
        .take(SHOWN)
        .map(|f| {
            let page = f.page.map(|p| format!("page {p}, ")).unwrap_or_default();
            format!("{rel}: {page}offset {:#x}: {}", f.offset, f.problem)
        })
        .collect();
    if findings.len() > SHOWN {
        parts.push(format!(
            "{rel}: {} more",
            crate::text::count((findings.len() - SHOWN) as u64, "problem", "problems")
        ));
    }
    format!(
        "{}; nothing is patched over damage (coldpatch verify lists every problem)",
        parts.join("; ")
    )
}

/// The page map being drawn during the pass, and the catalog that names pages' owners.
struct Pages<'a> {
    owners: Option<&'a Owners>,
    map: PageMapBuilder,
}

impl Pages<'_> {
    /// One page after the header pages: `changes` are its changes (empty when untouched).
    fn page(&mut self, index: u64, page: &[u8], changes: &Changes) {
        let class = if changes.is_empty() {
            PageClass::Untouched
        } else {
            PageClass::of_changes(index, changes.iter().map(|c| c.why))
        };
        let objid = page_objid(page);
        let owner = match (objid, self.owners.and_then(|o| o.table_of(objid))) {
            (0, _) => self.map.unused(),
            (1, _) => self.map.database(),
            (_, Some(t)) => self.map.table(t),
            (_, None) => self.map.other(),
        };
        self.map.page(class, owner);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_pages(
    runs: &Receiver<ReadRun>,
    empty: &std::sync::mpsc::Sender<AlignedBuf>,
    input: &Path,
    rel: &str,
    ps: usize,
    plan: &PagePlan,
    stop: &std::sync::Mutex<Option<String>>,
    out: &mut dyn PassOut,
    changes: &mut dyn ChangeSink,
    progress: &dyn Fn(u64),
    in_tx: &SyncSender<Run>,
    back: &Receiver<Run>,
    out_tx: &SyncSender<Run>,
    mut pages: Pages,
) -> Result<(EditCounts, u64, PageMap), PassError> {
    let io_in = |e: std::io::Error| PassError::Io(format!("{}: {e}", input.display()));
    let io_out = |e: std::io::Error| PassError::Io(format!("writing the copy of {rel}: {e}"));
    let send = |tx: &SyncSender<Run>, run: Run| {
        tx.send(run)
            .map_err(|_| PassError::Io("a hashing thread stopped".into()))
    };
    let refused =
        |c: &dyn std::fmt::Display| PassError::Refused(format!("{}: {c}", input.display()));
    let mut counts = EditCounts::new(plan);
    let mut pages_changed = 0u64;
    let emit = |found: &Changes, changes: &mut dyn ChangeSink| {
        for c in found.iter() {
            changes
                .change(rel, c.offset, c.old, c.new, c.why)
                .map_err(|e| PassError::Io(format!("writing the audit log: {e}")))?;
        }
        Ok::<(), PassError>(())
    };

    let next = || -> Result<AlignedBuf, PassError> {
        runs.recv()
            .map_err(|_| PassError::Io("the reading thread stopped".into()))?
            .map_err(io_in)
    };
    // A run the input side is done with: this thread then holds its only reference.
    let given_back = || -> Result<(u64, AlignedBuf), PassError> {
        let run = back
            .recv()
            .map_err(|_| PassError::Io("the input side stopped".into()))?;
        let bytes = Arc::try_unwrap(run.bytes)
            .map_err(|_| PassError::Io("a run came back still shared".into()))?;
        Ok((run.offset, bytes))
    };
    // The header pages first: the new dbtime is known before the pass.
    let head = next()?;
    if head.len() != HEADER_PAGES as usize * ps {
        return Err(refused(&"the file ends inside its header pages"));
    }
    let mut found = Changes::default();
    let new_head = patch_header(&head, plan.dbtime, &mut found).map_err(|e| refused(&e))?;
    for (old, new) in head.chunks_exact(ps).zip(new_head.chunks_exact(ps)) {
        let class = if old == new {
            PageClass::Untouched
        } else {
            PageClass::HeaderOnly
        };
        let header = pages.map.header();
        pages.map.page(class, header);
    }
    emit(&found, changes)?;
    changes
        .page(rel, 0, &head, &new_head)
        .map_err(|e| PassError::Io(format!("writing the journal: {e}")))?;
    out.write(&new_head).map_err(io_out)?;
    send(in_tx, as_read(0, Arc::new(head)))?;
    send(out_tx, as_read(0, Arc::new(AlignedBuf::copy_of(&new_head))))?;
    // The header pages come back first; their copy above is what the output side has.
    given_back()?;
    let mut done = HEADER_PAGES * ps as u64;
    let mut read = done;
    progress(done);

    let mut work = PagePatch::default();
    // Runs the output side (its threads, the writer) may still hold.
    let mut flight: Vec<Arc<AlignedBuf>> = Vec::new();
    // Runs with the input side, and whether the reading thread has reached the end.
    let mut with_input = 0usize;
    let mut ended = false;
    let mut pgno: u32 = 1;
    loop {
        // Runs every thread is done with go back to the reading thread.
        take_returned(&mut flight, |b| {
            let _ = empty.send(b);
        });
        // The input side works ahead: up to `RUNS_IN_FLIGHT` runs it has not given back.
        while !ended && with_input < RUNS_IN_FLIGHT {
            let bytes = next()?;
            if bytes.is_empty() {
                ended = true;
                break;
            }
            let len = bytes.len() as u64;
            send(in_tx, as_read(read, Arc::new(bytes)))?;
            read += len;
            with_input += 1;
        }
        if with_input == 0 {
            break;
        }
        // The input side hashed this run, took its census and checked its structure: its
        // pages are patched where they are, and the run goes on as the output.
        let (run_at, mut run) = given_back()?;
        with_input -= 1;
        if run_at != done {
            return Err(PassError::Io(format!(
                "the input side gave back the run at {run_at}, not the one at {done}"
            )));
        }
        // The input thread's census found a place the patch may not leave: stop now.
        if let Some(why) = stop.lock().ok().and_then(|mut s| s.take()) {
            return Err(PassError::Refused(why));
        }
        let mut spans = Vec::new();
        for i in 0..run.len() / ps {
            let at = i * ps;
            let page = &run[at..at + ps];
            let dbtime = page_dbtime(page);
            if dbtime >= plan.dbtime {
                return Err(PassError::DbtimeAbove {
                    pgno,
                    found: dbtime,
                });
            }
            let offset = done;
            let changed = patch_page(page, pgno, offset, plan, &mut work, &mut counts)
                .map_err(|e| refused(&e))?;
            pages.page(offset / ps as u64, page, work.changes());
            emit(work.changes(), changes)?;
            if changed {
                pages_changed += 1;
                changes
                    .page(rel, offset, page, work.page())
                    .map_err(|e| PassError::Io(format!("writing the journal: {e}")))?;
                run[at..at + ps].copy_from_slice(work.page());
                changed_spans(work.changes(), offset, i, ps, &mut spans);
            }
            done += ps as u64;
            pgno = pgno
                .checked_add(1)
                .ok_or_else(|| refused(&"more than 2^32 pages"))?;
        }
        let output = Arc::new(run);
        flight.push(Arc::clone(&output));
        out.run(&output).map_err(io_out)?;
        send(
            out_tx,
            Run {
                offset: run_at,
                bytes: output,
                changed: Some(spans),
            },
        )?;
        progress(done);
    }
    Ok((counts, pages_changed, pages.map.finish()))
}

/// Takes the buffers no other thread holds any more out of `flight`, and hands each to `free`.
fn take_returned(flight: &mut Vec<Arc<AlignedBuf>>, mut free: impl FnMut(AlignedBuf)) {
    let mut i = 0;
    while i < flight.len() {
        if Arc::strong_count(&flight[i]) > 1 {
            i += 1;
            continue;
        }
        // Only this thread holds it: the unwrap cannot fail.
        if let Ok(b) = Arc::try_unwrap(flight.swap_remove(i)) {
            free(b);
        }
    }
}

/// A run with no page replaced.
fn as_read(offset: u64, bytes: Arc<AlignedBuf>) -> Run {
    Run {
        offset,
        bytes,
        changed: None,
    }
}

/// Appends the ranges `changes` cover in the page at file offset `page_at` (page `i` of its
/// run, `page_len` bytes), merged and in order: every byte the patch changed is in one of
/// them. A replaced page without changes (never made by the patch) is one range, all of it.
fn changed_spans(
    changes: &Changes,
    page_at: u64,
    i: usize,
    page_len: usize,
    out: &mut Vec<(usize, std::ops::Range<usize>)>,
) {
    if changes.is_empty() {
        out.push((i, 0..page_len));
        return;
    }
    let first = out.len();
    for c in changes.iter() {
        let start = c.offset.saturating_sub(page_at) as usize;
        out.push((i, start..start + c.old.len().max(c.new.len())));
    }
    out[first..].sort_by_key(|(_, r)| r.start);
    let mut merged = first;
    for k in first..out.len() {
        let r = out[k].1.clone();
        match out[first..merged].last_mut() {
            Some((_, last)) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => {
                out[merged] = (i, r);
                merged += 1;
            }
        }
    }
    out.truncate(merged);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spans of random changes (overlapping, touching, at the page's ends) are the runs
    /// of changed bytes a byte-by-byte marking finds, in order.
    #[test]
    fn changed_spans_are_the_runs_of_changed_bytes() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut changes = Changes::default();
        for round in 0..2000 {
            let page_len = [4096, 8192, 200][round % 3];
            let page_at = 3 * page_len as u64;
            changes.clear();
            let why = changes.reason(|s| s.push_str("test"));
            let mut want = vec![false; page_len];
            for _ in 0..1 + next(12) {
                let len = 1 + next(72) as usize;
                let start = next((page_len - len + 1) as u64) as usize;
                let new = vec![1u8; len];
                let old = vec![0u8; 1 + next(len as u64) as usize];
                changes.push(page_at + start as u64, &old, &new, why);
                want[start..start + len].iter_mut().for_each(|b| *b = true);
            }
            let mut runs = Vec::new();
            let mut at = 0;
            while at < page_len {
                if !want[at] {
                    at += 1;
                    continue;
                }
                let end = (at..page_len).find(|&e| !want[e]).unwrap_or(page_len);
                runs.push((7, at..end));
                at = end;
            }
            let mut got = vec![(1, 0..1)];
            changed_spans(&changes, page_at, 7, page_len, &mut got);
            assert_eq!(got[0], (1, 0..1), "what was there is kept");
            assert_eq!(got[1..], runs[..], "round {round}");
        }
    }

    /// What the reading thread hands over for a file of `actual` bytes read as one of `size`.
    fn reads(actual: usize, size: u64) -> Vec<Result<usize, String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.edb");
        std::fs::write(&path, vec![7u8; actual]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let (full_tx, full_rx) = sync_channel(64);
        let (_empty_tx, empty_rx) = std::sync::mpsc::channel();
        read_runs(&path, &f, size, 8192, 16384, Cache::Drop, full_tx, empty_rx);
        full_rx
            .iter()
            .map(|r| r.map(|b| b.len()).map_err(|e| e.to_string()))
            .collect()
    }

    /// The header, whole runs, a short last run, then the end; a file shorter or longer than
    /// the pass was planned for is an error naming both sizes, never a shorter or longer copy.
    #[test]
    fn the_reading_thread_reads_exactly_the_planned_size() {
        assert_eq!(
            reads(40960, 40960),
            vec![Ok(8192), Ok(16384), Ok(16384), Ok(0)]
        );
        let shrunk = reads(24576, 40960);
        assert_eq!(shrunk[..2], [Ok(8192), Ok(16384)]);
        let e = shrunk[2].as_ref().unwrap_err();
        assert!(e.contains("40960") && e.contains("24576"), "{e}");
        assert_eq!(shrunk.len(), 3);
        let grown = reads(49152, 40960);
        assert_eq!(grown[..3], [Ok(8192), Ok(16384), Ok(16384)]);
        let e = grown[3].as_ref().unwrap_err();
        assert!(e.contains("40960") && e.contains("49152"), "{e}");
    }
}
