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
    FILE_TYPE_PRIMARY, OFF_FILE_TYPE,
};
use super::error::RegfError;
use crate::bytes::Bytes;

/// Old-format logs: a hive page ("dirty page") is 512 bytes, one bit each in the `DIRT`
/// bitmap (SUH §Old format).
pub const LOG_PAGE: usize = 512;
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
            format!("expected \"DIRT\" at {header:#x}, found {sig:02x?}"),
        ));
    }
    let pages = lb.bins_size as usize / LOG_PAGE;
    let bitmap = b
        .slice("dirty page bitmap", header + 4, pages.div_ceil(8))
        .map_err(|e| log_err(name, e))?;
    let mut next = (header + 4 + bitmap.len()).div_ceil(LOG_PAGE) * LOG_PAGE;
    let mut out = primary.to_vec();
    let end = BASE_BLOCK_SIZE + lb.bins_size as usize;
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
    sequence: u32,
    bins_size: u32,
    refs: Vec<(u32, u32)>,
    pages: &'a [u8],
}

fn entries<'a>(log: &LogInput<'a>) -> Vec<Entry<'a>> {
    let b = Bytes::new(log.bytes, 0);
    let mut out = Vec::new();
    let mut at = HVLE_START;
    while let Ok(sig) = b.slice("HvLE", at, 4) {
        if sig != HVLE_SIGNATURE {
            break;
        }
        let Ok(size) = b.u32("HvLE size", at + 4) else {
            break;
        };
        let size = size as usize;
        if size < 40 || size % 512 != 0 {
            break;
        }
        let Ok(e) = b.slice("HvLE entry", at, size) else {
            break;
        };
        let eb = Bytes::new(e, at as u64);
        let (Ok(seq), Ok(bins), Ok(count), Ok(h1), Ok(h2)) = (
            eb.u32("sequence", 12),
            eb.u32("bins size", 16),
            eb.u32("page count", 20),
            eb.u64("hash-1", 24),
            eb.u64("hash-2", 32),
        ) else {
            break;
        };
        if marvin32(&e[..32], MARVIN_SEED) != h2 || marvin32(&e[40..], MARVIN_SEED) != h1 {
            break;
        }
        // The page references must fit in the entry before any is read: `count` comes from
        // the file and is not trusted to bound a loop.
        let Some(data_at) = u64::from(count)
            .checked_mul(HVLE_REF_SIZE as u64)
            .and_then(|n| n.checked_add(HVLE_REFS as u64))
            .filter(|&n| n <= size as u64)
        else {
            break;
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
            break;
        }
        out.push(Entry {
            sequence: seq,
            bins_size: bins,
            refs,
            pages: &e[data_at..],
        });
        at += size;
    }
    out
}

/// Replays new-format logs: entries from both logs in ascending sequence order, starting at
/// the hive's secondary sequence number, stopping at a gap.
pub fn replay_new(
    primary: &[u8],
    bb: &BaseBlock,
    logs: &[&LogInput<'_>],
) -> Result<Replayed, RegfError> {
    let mut all: Vec<Entry> = logs.iter().flat_map(|l| entries(l)).collect();
    // A log can only grow the hive by pages it holds itself.
    let bound = bb.bins_size as u64 + logs.iter().map(|l| l.bytes.len() as u64).sum::<u64>();
    all.retain(|e| e.bins_size % 4096 == 0 && (e.bins_size as u64) <= bound);
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
        let end = BASE_BLOCK_SIZE + e.bins_size as usize;
        if out.len() < end {
            out.resize(end, 0);
        }
        let mut p = 0usize;
        for &(off, size) in &e.refs {
            let dst = BASE_BLOCK_SIZE + off as usize;
            let src = e.pages.get(p..p + size as usize);
            match (src, out.get_mut(dst..dst + size as usize)) {
                (Some(s), Some(d)) => d.copy_from_slice(s),
                _ => {
                    return Err(log_err(
                        "new-format log",
                        format!("page at {off:#x} out of range"),
                    ))
                }
            }
            p += size as usize;
        }
        last_bins = e.bins_size;
        expect = e.sequence.wrapping_add(1);
        applied += 1;
    }
    if applied == 0 {
        return Err(log_err(
            "new-format logs",
            "no entry continues the hive's sequence",
        ));
    }
    let seq = expect;
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&seq.to_le_bytes());
    out[40..44].copy_from_slice(&last_bins.to_le_bytes());
    finish_recovered(&mut out);
    Ok(Replayed {
        data: out,
        applied: vec![format!("{applied} new-format log entries")],
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
        assert!(entries(&input).is_empty());
        // One reference more than the entry holds is refused too; the most it holds is read.
        let fits = ((512 - HVLE_REFS) / HVLE_REF_SIZE) as u32;
        for (count, want) in [(fits + 1, 0), (fits, 1), (0, 1)] {
            let log = hvle_log(512, count);
            let input = LogInput {
                name: "crafted.LOG1".into(),
                bytes: &log,
            };
            assert_eq!(entries(&input).len(), want, "count {count}");
        }
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
