//! Transaction logs: discovery beside a hive, replay of the old (`DIRT`) and new (`HvLE`)
//! formats, and writing an old-format log for the `dirty-hive` lab scenario.
//! Source: reference/regf.md §4 (SUH §Old format, §New format).

use std::path::{Path, PathBuf};

/// Log file suffixes Windows uses beside a hive: `.LOG` (NT4/2000, old format), `.LOG1` and
/// `.LOG2` (XP+ old format, 8.1+ new format).
pub const LOG_SUFFIXES: &[&str] = &["LOG", "LOG1", "LOG2"];

/// The non-empty log files beside `hive` (`NAME.LOG`, `NAME.LOG1`, `NAME.LOG2`, any case).
pub fn find_logs(hive: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (hive.parent(), hive.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for suffix in LOG_SUFFIXES {
        let want = format!("{name}.{suffix}").to_lowercase();
        for p in &names {
            let matches = p
                .file_name()
                .map(|f| f.to_string_lossy().to_lowercase() == want)
                .unwrap_or(false);
            let non_empty = std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false);
            if matches && non_empty {
                found.push(p.clone());
            }
        }
    }
    found
}

use super::base_block::{
    self, BaseBlock, BASE_BLOCK_SIZE, FILE_TYPE_LOG_NEW, FILE_TYPE_LOG_NT4, FILE_TYPE_LOG_XP,
    FILE_TYPE_PRIMARY, OFF_BINS_SIZE, OFF_FILE_TYPE,
};
use super::error::{LogFault, RegfError};
use crate::bytes::Bytes;

/// Old-format logs: a hive page ("dirty page") is 512 bytes, one bit each in the `DIRT`
/// bitmap (SUH §Old format).
pub const LOG_PAGE: usize = 512;
/// Hive bins are multiples of 4096 bytes (reference/regf.md §2).
const HBIN_BLOCK: usize = 4096;
pub const DIRT_SIGNATURE: &[u8; 4] = b"DIRT";
/// New-format log entries start here, each with this signature (SUH §New format).
pub const HVLE_SIGNATURE: &[u8; 4] = b"HvLE";
pub const HVLE_START: usize = 512;
/// Within an `HvLE` entry, the page references (offset u32, size u32 each) start at 40
/// (SUH §New format, log entry).
pub const HVLE_REFS: usize = 40;
pub const HVLE_REF_SIZE: usize = 8;
/// Marvin32 seed of the new-format log hashes (SUH: 82 EF 4D 88 7A 4E 55 C5).
pub const MARVIN_SEED: u64 = 0x82EF_4D88_7A4E_55C5;

/// One log file to replay: its name (for messages) and bytes.
pub struct LogInput<'a> {
    pub name: String,
    pub bytes: &'a [u8],
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The recovered hive: clean (both sequence numbers equal), file type 0, checksum right.
    pub data: Vec<u8>,
    /// Which log was applied, and how many pages or entries.
    pub applied: Vec<String>,
}

fn log_err(name: &str, what: impl std::fmt::Display) -> RegfError {
    RegfError::Log {
        what: format!("{name}: {what}"),
    }
}

/// Replays the logs of a dirty hive. Old-format logs (`DIRT`, file types 1 and 2) and
/// new-format logs (`HvLE`, type 6) are recognised; a log that does not belong to this hive
/// (timestamp or sequence numbers) is skipped with a reason. Fails when no log applies.
pub fn replay(primary: &[u8], logs: &[LogInput<'_>]) -> Result<Replayed, RegfError> {
    let bb = BaseBlock::parse(primary)?;
    let mut why = Vec::new();
    // New-format logs are replayed together.
    let new: Vec<&LogInput> = logs
        .iter()
        .filter(|l| {
            BaseBlock::parse(l.bytes)
                .map(|b| b.file_type == FILE_TYPE_LOG_NEW)
                .unwrap_or(false)
        })
        .collect();
    if !new.is_empty() {
        match replay_new(primary, &bb, &new) {
            Ok(r) => return Ok(r),
            Err(e) => why.push(e.to_string()),
        }
    }
    for l in logs {
        let lb = match BaseBlock::parse(l.bytes) {
            Ok(b) => b,
            Err(e) => {
                why.push(format!("{}: {e}", l.name));
                continue;
            }
        };
        if lb.file_type == FILE_TYPE_LOG_XP || lb.file_type == FILE_TYPE_LOG_NT4 {
            match replay_old(primary, &bb, l) {
                Ok(r) => return Ok(r),
                Err(e) => why.push(e.to_string()),
            }
        } else if lb.file_type != FILE_TYPE_LOG_NEW {
            why.push(format!(
                "{}: file type {} is not a log",
                l.name, lb.file_type
            ));
        }
    }
    Err(RegfError::Log {
        what: if why.is_empty() {
            "no transaction log found beside the dirty hive".into()
        } else {
            format!("none applies: {}", why.join("; "))
        },
    })
}

/// Replays an old-format log: its base-block copy, then every page its `DIRT` bitmap marks.
pub fn replay_old(
    primary: &[u8],
    bb: &BaseBlock,
    log: &LogInput<'_>,
) -> Result<Replayed, RegfError> {
    let name = &log.name;
    let lb = BaseBlock::parse(log.bytes).map_err(|e| log_err(name, e))?;
    if lb.stored_checksum != lb.computed_checksum {
        return Err(log_err(
            name,
            format!(
                "base block checksum stored {:#010x}, computed {:#010x}",
                lb.stored_checksum, lb.computed_checksum
            ),
        ));
    }
    if lb.is_dirty() {
        return Err(log_err(
            name,
            format!(
                "its own sequence numbers differ ({} / {})",
                lb.sequence1, lb.sequence2
            ),
        ));
    }
    // The log belongs to this write when the timestamps match (the base block's, or the first
    // bin's copy when the primary's checksum is bad).
    let primary_time = if bb.stored_checksum == bb.computed_checksum {
        bb.timestamp
    } else {
        Bytes::new(primary, 0).u64("first bin timestamp", BASE_BLOCK_SIZE + 20)?
    };
    if lb.timestamp != primary_time {
        return Err(log_err(
            name,
            format!(
                "timestamp {:#x} differs from the hive's {:#x}: the log is from another write",
                lb.timestamp, primary_time
            ),
        ));
    }
    if lb.bins_size % 4096 != 0 {
        return Err(log_err(
            name,
            format!("hive bins size {:#x} in the log", lb.bins_size),
        ));
    }
    let header = LOG_PAGE * lb.clustering.max(1) as usize;
    let b = Bytes::new(log.bytes, 0);
    let sig = b
        .slice("DIRT signature", header, 4)
        .map_err(|e| log_err(name, e))?;
    if sig != DIRT_SIGNATURE {
        return Err(log_err(
            name,
            format!(
                "expected \"DIRT\" at {header:#x}, found {}",
                crate::text::hex_bytes(sig)
            ),
        ));
    }
    let pages = lb.bins_size as usize / LOG_PAGE;
    let bitmap = b
        .slice("dirty page bitmap", header + 4, pages.div_ceil(8))
        .map_err(|e| log_err(name, e))?;
    let mut next = (header + 4 + bitmap.len()).div_ceil(LOG_PAGE) * LOG_PAGE;
    // Bound the recovered size by real data before allocating: the log must hold every page
    // its bitmap marks, and the hive can grow only as far as its highest dirty page (rounded
    // up to a whole bin block), or stay at the primary's own length.
    let dirty = bitmap
        .iter()
        .map(|b| b.count_ones() as usize)
        .sum::<usize>();
    let highest = (0..pages)
        .rev()
        .find(|&k| bitmap[k / 8] & (1 << (k % 8)) != 0);
    let need = next as u64 + (dirty * LOG_PAGE) as u64;
    if need > log.bytes.len() as u64 {
        return Err(RegfError::LogAt(Box::new(LogFault {
            file: name.clone(),
            offset: next as u64,
            what: format!("{dirty} dirty pages after the bitmap"),
            expected: format!("a log of at least {need:#x} bytes"),
            found: format!("{:#x} bytes", log.bytes.len()),
        })));
    }
    let grown = highest.map_or(0, |k| {
        BASE_BLOCK_SIZE + ((k + 1) * LOG_PAGE).div_ceil(HBIN_BLOCK) * HBIN_BLOCK
    });
    let limit = primary.len().max(grown);
    let end = BASE_BLOCK_SIZE + lb.bins_size as usize;
    if end > limit {
        return Err(RegfError::LogAt(Box::new(LogFault {
            file: name.clone(),
            offset: OFF_BINS_SIZE as u64,
            what: "hive bins size".into(),
            expected: format!(
                "at most {:#x} (the primary's length or the highest dirty page)",
                limit - BASE_BLOCK_SIZE
            ),
            found: format!("{:#x}", lb.bins_size),
        })));
    }
    let mut out = primary.to_vec();
    if out.len() < end {
        out.resize(end, 0);
    }
    let mut count = 0;
    for k in 0..pages {
        if bitmap[k / 8] & (1 << (k % 8)) == 0 {
            continue;
        }
        let page = b
            .slice("dirty page", next, LOG_PAGE)
            .map_err(|e| log_err(name, e))?;
        let at = BASE_BLOCK_SIZE + k * LOG_PAGE;
        out[at..at + LOG_PAGE].copy_from_slice(page);
        next += LOG_PAGE;
        count += 1;
    }
    let copy = (LOG_PAGE * lb.clustering.max(1) as usize).min(BASE_BLOCK_SIZE);
    let head = b
        .slice("log base block", 0, copy)
        .map_err(|e| log_err(name, e))?;
    out[..copy].copy_from_slice(head);
    finish_recovered(&mut out);
    Ok(Replayed {
        data: out,
        applied: vec![format!("{name}: {count} dirty pages (old format)")],
    })
}

/// A recovered hive is a primary file with a right checksum.
fn finish_recovered(out: &mut [u8]) {
    out[OFF_FILE_TYPE..OFF_FILE_TYPE + 4].copy_from_slice(&FILE_TYPE_PRIMARY.to_le_bytes());
    base_block::put_checksum(out);
}

/// Marvin32 (the hash of new-format log entries), as published with .NET's string hashing.
pub fn marvin32(data: &[u8], seed: u64) -> u64 {
    let mut lo = seed as u32;
    let mut hi = (seed >> 32) as u32;
    fn block(lo: &mut u32, hi: &mut u32) {
        *hi ^= *lo;
        *lo = lo.rotate_left(20).wrapping_add(*hi);
        *hi = hi.rotate_left(9) ^ *lo;
        *lo = lo.rotate_left(27).wrapping_add(*hi);
        *hi = hi.rotate_left(19);
    }
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        lo = lo.wrapping_add(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        block(&mut lo, &mut hi);
    }
    let rest = chunks.remainder();
    let mut fin: u32 = 0x80;
    for &byte in rest.iter().rev() {
        fin = (fin << 8) | byte as u32;
    }
    lo = lo.wrapping_add(fin);
    block(&mut lo, &mut hi);
    block(&mut lo, &mut hi);
    ((hi as u64) << 32) | lo as u64
}

/// One valid `HvLE` entry.
struct Entry<'a> {
    /// The log it is in, and its absolute offset there.
    file: &'a str,
    offset: u64,
    sequence: u32,
    bins_size: u32,
    refs: Vec<(u32, u32)>,
    pages: &'a [u8],
}

/// The valid entries of a new-format log, in file order, and why the walk stopped when it
/// was not at the end of the file or at a slot without an entry signature.
struct Entries<'a> {
    list: Vec<Entry<'a>>,
    stopped: Option<String>,
}

fn entries<'a>(log: &'a LogInput<'a>) -> Entries<'a> {
    let b = Bytes::new(log.bytes, 0);
    let mut list = Vec::new();
    let mut at = HVLE_START;
    let stop = |at: usize, why: String| Some(format!("{} at offset {at:#x}: {why}", log.name));
    let stopped = loop {
        let Ok(sig) = b.slice("HvLE", at, 4) else {
            break None;
        };
        if sig != HVLE_SIGNATURE {
            break None;
        }
        let Ok(size) = b.u32("HvLE size", at + 4) else {
            break stop(at, "entry size cut off".into());
        };
        let size = size as usize;
        if size < HVLE_REFS || size % 512 != 0 {
            break stop(
                at,
                format!("entry size: expected a multiple of 512, found {size:#x}"),
            );
        }
        let Ok(e) = b.slice("HvLE entry", at, size) else {
            break stop(
                at,
                format!(
                    "entry of {size:#x} bytes runs past the end of the file ({:#x} bytes)",
                    log.bytes.len()
                ),
            );
        };
        let eb = Bytes::new(e, at as u64);
        let (Ok(seq), Ok(bins), Ok(count), Ok(h1), Ok(h2)) = (
            eb.u32("sequence", 12),
            eb.u32("bins size", 16),
            eb.u32("page count", 20),
            eb.u64("hash-1", 24),
            eb.u64("hash-2", 32),
        ) else {
            break stop(at, "entry header cut off".into());
        };
        let (c1, c2) = (
            marvin32(&e[HVLE_REFS..], MARVIN_SEED),
            marvin32(&e[..32], MARVIN_SEED),
        );
        if c2 != h2 || c1 != h1 {
            break stop(
                at,
                format!(
                    "entry hashes: expected {c1:#018x}/{c2:#018x}, found {h1:#018x}/{h2:#018x}"
                ),
            );
        }
        // The page references must fit in the entry before any is read: `count` comes from
        // the file and is not trusted to bound a loop.
        let Some(data_at) = u64::from(count)
            .checked_mul(HVLE_REF_SIZE as u64)
            .and_then(|n| n.checked_add(HVLE_REFS as u64))
            .filter(|&n| n <= size as u64)
        else {
            break stop(
                at,
                format!("page count {count} does not fit an entry of {size:#x} bytes"),
            );
        };
        let data_at = data_at as usize;
        let mut refs = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let at_ref = HVLE_REFS + i * HVLE_REF_SIZE;
            match (
                eb.u32("page offset", at_ref),
                eb.u32("page size", at_ref + 4),
            ) {
                (Ok(o), Ok(s)) => refs.push((o, s)),
                _ => break,
            }
        }
        let total: u64 = refs.iter().map(|r| r.1 as u64).sum();
        if refs.len() != count as usize || data_at as u64 + total > size as u64 {
            break stop(
                at,
                format!(
                    "pages of {total:#x} bytes after {data_at:#x} do not fit an entry of \
                     {size:#x} bytes"
                ),
            );
        }
        list.push(Entry {
            file: &log.name,
            offset: at as u64,
            sequence: seq,
            bins_size: bins,
            refs,
            pages: &e[data_at..],
        });
        at += size;
    };
    Entries { list, stopped }
}

/// Replays new-format logs: entries from both logs in ascending sequence order, starting at
/// the hive's secondary sequence number, stopping at a gap.
pub fn replay_new(
    primary: &[u8],
    bb: &BaseBlock,
    logs: &[&LogInput<'_>],
) -> Result<Replayed, RegfError> {
    let walked: Vec<Entries> = logs.iter().map(|l| entries(l)).collect();
    let stopped: Vec<String> = walked.iter().filter_map(|w| w.stopped.clone()).collect();
    let mut all: Vec<&Entry> = walked.iter().flat_map(|w| w.list.iter()).collect();
    // A log can only grow the hive by pages it holds itself: the recovered hive is never
    // longer than the primary file and the logs together.
    let bound = primary.len() as u64 + logs.iter().map(|l| l.bytes.len() as u64).sum::<u64>();
    all.sort_by_key(|e| e.sequence);
    let mut out = primary.to_vec();
    let mut expect = bb.sequence2;
    let mut applied = 0;
    let mut last_bins = bb.bins_size;
    for e in all.iter().filter(|e| e.sequence >= bb.sequence2) {
        // The first entry may start above the hive's sequence number; after it, no gaps.
        if e.sequence != expect && applied > 0 {
            break;
        }
        let end = BASE_BLOCK_SIZE as u64 + e.bins_size as u64;
        if e.bins_size as usize % HBIN_BLOCK != 0 || end > bound {
            return Err(RegfError::LogAt(Box::new(LogFault {
                file: e.file.to_string(),
                offset: e.offset + 16,
                what: "entry hive bins size".into(),
                expected: format!(
                    "a multiple of {HBIN_BLOCK:#x} of at most {:#x} (the primary and its logs)",
                    bound.saturating_sub(BASE_BLOCK_SIZE as u64)
                ),
                found: format!("{:#x}", e.bins_size),
            })));
        }
        let end = end as usize;
        if out.len() < end {
            out.resize(end, 0);
        }
        let mut p = 0usize;
        for (i, &(off, size)) in e.refs.iter().enumerate() {
            let dst = BASE_BLOCK_SIZE + off as usize;
            let src = e.pages.get(p..p + size as usize);
            match (src, out.get_mut(dst..dst + size as usize)) {
                (Some(s), Some(d)) => d.copy_from_slice(s),
                _ => {
                    return Err(RegfError::LogAt(Box::new(LogFault {
                        file: e.file.to_string(),
                        offset: e.offset + (HVLE_REFS + i * HVLE_REF_SIZE) as u64,
                        what: "dirty page reference".into(),
                        expected: format!("a page inside {:#x} bytes of hive bins", e.bins_size),
                        found: format!("offset {off:#x}, size {size:#x}"),
                    })))
                }
            }
            p += size as usize;
        }
        last_bins = e.bins_size;
        expect = e.sequence.wrapping_add(1);
        applied += 1;
    }
    if applied == 0 {
        let mut what = "new-format logs: no entry continues the hive's sequence".to_string();
        if !stopped.is_empty() {
            what += &format!(" (entries stopped: {})", stopped.join("; "));
        }
        return Err(RegfError::Log { what });
    }
    let seq = expect;
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&seq.to_le_bytes());
    out[40..44].copy_from_slice(&last_bins.to_le_bytes());
    finish_recovered(&mut out);
    let mut notes = vec![format!("{applied} new-format log entries")];
    notes.extend(stopped.into_iter().map(|s| format!("entries stopped: {s}")));
    Ok(Replayed {
        data: out,
        applied: notes,
    })
}

/// Reads the hive at `path` and the logs beside it, and replays them.
pub fn replay_files(path: &Path) -> Result<Replayed, RegfError> {
    let io = |p: &Path, e: std::io::Error| RegfError::Log {
        what: format!("{}: {e}", p.display()),
    };
    let primary = std::fs::read(path).map_err(|e| io(path, e))?;
    let mut held = Vec::new();
    for p in find_logs(path) {
        let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
        held.push((p.display().to_string(), bytes));
    }
    let inputs: Vec<LogInput> = held
        .iter()
        .map(|(n, b)| LogInput {
            name: n.clone(),
            bytes: b,
        })
        .collect();
    replay(&primary, &inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regf::base_block::{OFF_CLUSTERING, OFF_SEQ1, OFF_SEQ2, OFF_TIMESTAMP};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An `HvLE` entry of `size` bytes at 512 with `count` page references and right hashes.
    fn hvle_log(size: usize, count: u32) -> Vec<u8> {
        let mut log = vec![0u8; HVLE_START + size];
        let e = &mut log[HVLE_START..];
        e[..4].copy_from_slice(HVLE_SIGNATURE);
        e[4..8].copy_from_slice(&(size as u32).to_le_bytes());
        e[12..16].copy_from_slice(&1u32.to_le_bytes());
        e[16..20].copy_from_slice(&4096u32.to_le_bytes());
        e[20..24].copy_from_slice(&count.to_le_bytes());
        let h1 = marvin32(&e[40..], MARVIN_SEED);
        e[24..32].copy_from_slice(&h1.to_le_bytes());
        let h2 = marvin32(&e[..32], MARVIN_SEED);
        e[32..40].copy_from_slice(&h2.to_le_bytes());
        log
    }

    #[test]
    fn hvle_page_count_beyond_entry_stops_at_once() {
        // A crafted count of 2^32-1 in a 512-byte entry: refused before any loop runs
        // (it used to run four billion failed reads).
        let log = hvle_log(512, u32::MAX);
        let input = LogInput {
            name: "crafted.LOG1".into(),
            bytes: &log,
        };
        assert!(entries(&input).list.is_empty());
        // One reference more than the entry holds is refused too; the most it holds is read.
        let fits = ((512 - HVLE_REFS) / HVLE_REF_SIZE) as u32;
        for (count, want) in [(fits + 1, 0), (fits, 1), (0, 1)] {
            let log = hvle_log(512, count);
            let input = LogInput {
                name: "crafted.LOG1".into(),
                bytes: &log,
            };
            assert_eq!(entries(&input).list.len(), want, "count {count}");
        }
    }

    /// A clean primary of one 4096-byte bin (sequence 5, timestamp 77) and a log base block
    /// of `file_type` for it claiming `bins_size`.
    fn primary_and_log_head(file_type: u32, bins_size: u32) -> (Vec<u8>, Vec<u8>) {
        let mut p = vec![0u8; 2 * BASE_BLOCK_SIZE];
        p[..4].copy_from_slice(b"regf");
        p[OFF_SEQ1..OFF_SEQ1 + 4].copy_from_slice(&5u32.to_le_bytes());
        p[OFF_SEQ2..OFF_SEQ2 + 4].copy_from_slice(&5u32.to_le_bytes());
        p[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].copy_from_slice(&77u64.to_le_bytes());
        p[OFF_BINS_SIZE..OFF_BINS_SIZE + 4].copy_from_slice(&4096u32.to_le_bytes());
        p[OFF_CLUSTERING..OFF_CLUSTERING + 4].copy_from_slice(&1u32.to_le_bytes());
        base_block::put_checksum(&mut p);
        let mut l = p[..LOG_PAGE].to_vec();
        l[OFF_FILE_TYPE..OFF_FILE_TYPE + 4].copy_from_slice(&file_type.to_le_bytes());
        l[OFF_BINS_SIZE..OFF_BINS_SIZE + 4].copy_from_slice(&bins_size.to_le_bytes());
        base_block::put_checksum(&mut l);
        (p, l)
    }

    #[test]
    fn old_log_bins_size_beyond_dirty_pages_is_refused() {
        // The log claims 4 GiB of bins but marks only page 0 dirty: refused, naming the file
        // and the bins-size field, instead of allocating 4 GiB.
        let bins = 0xFFFF_F000u32;
        let (primary, mut log) = primary_and_log_head(FILE_TYPE_LOG_XP, bins);
        log.extend_from_slice(DIRT_SIGNATURE);
        let mut bitmap = vec![0u8; (bins as usize / LOG_PAGE).div_ceil(8)];
        bitmap[0] = 1;
        log.extend_from_slice(&bitmap);
        log.resize(log.len().div_ceil(LOG_PAGE) * LOG_PAGE + LOG_PAGE, 0);
        let input = LogInput {
            name: "big.LOG1".into(),
            bytes: &log,
        };
        let e = replay(&primary, std::slice::from_ref(&input)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("big.LOG1 at offset 0x28"), "{msg}");
        assert!(msg.contains("found 0xfffff000"), "{msg}");
        // The same log with a bins size the primary already has replays.
        let (_, head) = primary_and_log_head(FILE_TYPE_LOG_XP, 4096);
        log[..LOG_PAGE].copy_from_slice(&head);
        let small_bitmap = (4096 / LOG_PAGE).div_ceil(8);
        let mut ok = log[..LOG_PAGE + 4 + small_bitmap].to_vec();
        ok.resize(2 * LOG_PAGE, 0);
        ok.extend_from_slice(&[0xAB; LOG_PAGE]);
        let input = LogInput {
            name: "small.LOG1".into(),
            bytes: &ok,
        };
        let r = replay(&primary, std::slice::from_ref(&input)).unwrap();
        assert_eq!(r.data.len(), 2 * BASE_BLOCK_SIZE);
        assert_eq!(
            &r.data[BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + LOG_PAGE],
            &[0xAB; LOG_PAGE]
        );
    }

    #[test]
    fn old_log_missing_dirty_pages_is_refused() {
        let (primary, mut log) = primary_and_log_head(FILE_TYPE_LOG_XP, 4096);
        log.extend_from_slice(DIRT_SIGNATURE);
        log.push(0xFF);
        let input = LogInput {
            name: "short.LOG1".into(),
            bytes: &log,
        };
        let msg = replay(&primary, std::slice::from_ref(&input))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("short.LOG1 at offset 0x400"), "{msg}");
        assert!(msg.contains("8 dirty pages"), "{msg}");
    }

    #[test]
    fn new_log_bins_size_beyond_files_is_refused() {
        let (primary, head) = primary_and_log_head(FILE_TYPE_LOG_NEW, 4096);
        let mut log = hvle_log(512, 0);
        log[..LOG_PAGE].copy_from_slice(&head);
        // Sequence 5 continues the primary; bins size 4 GiB.
        let e = &mut log[HVLE_START..];
        e[12..16].copy_from_slice(&5u32.to_le_bytes());
        e[16..20].copy_from_slice(&0xFFFF_F000u32.to_le_bytes());
        let h2 = marvin32(&e[..32], MARVIN_SEED);
        e[32..40].copy_from_slice(&h2.to_le_bytes());
        let input = LogInput {
            name: "big.LOG2".into(),
            bytes: &log,
        };
        let e = replay(&primary, std::slice::from_ref(&input)).unwrap_err();
        assert!(
            e.to_string()
                .contains("big.LOG2 at offset 0x210: entry hive bins size"),
            "{e}"
        );
        assert!(e.to_string().contains("found 0xfffff000"), "{e}");
    }

    #[test]
    fn new_log_bad_hash_reason_reaches_the_user() {
        let (primary, head) = primary_and_log_head(FILE_TYPE_LOG_NEW, 4096);
        let mut log = hvle_log(512, 0);
        log[..LOG_PAGE].copy_from_slice(&head);
        log[HVLE_START + 12] = 5; // sequence changed after hashing: hash-2 no longer matches
        let input = LogInput {
            name: "torn.LOG1".into(),
            bytes: &log,
        };
        let msg = replay(&primary, std::slice::from_ref(&input))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("torn.LOG1 at offset 0x200: entry hashes"),
            "{msg}"
        );
    }

    #[test]
    fn marvin32_known_answers() {
        // Published Marvin32 test vectors (.NET MarvinTests, seed 0x004FB61A001BDBCC).
        let seed = 0x004F_B61A_001B_DBCC;
        for (input, want) in [
            ("", 0x30ED_35C1_00CD_3C7Du64),
            ("af", 0x48E7_3FC7_7D75_DDC1),
            ("e70f", 0xB5F6_E1FC_485D_BFF8),
            ("37f495", 0xF0B0_7C78_9B8C_F7E8),
            ("8642dc59", 0x7008_F2E8_7E9C_F556),
            ("153fb79826", 0xE6C0_8C6D_A2AF_A997),
        ] {
            assert_eq!(marvin32(&hex(input), seed), want, "{input}");
        }
    }
}
