//! The database file header (`DBFILEHDR`) and its shadow.
//!
//! Source: reference/ese.md §1 (offsets from \[MS\] `daedef.hxx`, `struct DBFILEHDR`), §2.1
//! (header checksum), §8 (clean-shutdown state).

use super::{BuildOptions, Format};
use crate::ese::checksum::stamp_header;

/// `ulDAEMagic` (reference §1).
pub const DB_MAGIC: u32 = 0x89AB_CDEF;
/// `ulDAEVersionESE97`: the format version of ESE97 and everything later (reference §1).
pub const DB_VERSION: u32 = 0x620;
/// `ulDaeUpdateMajor` of ESE97 / Exchange 5.5 (reference §1, "0x620,2").
pub const REVISION_ESE97: u32 = 2;
/// Revision 9 ("sorted template columns"), the ESE98 form readers open (reference §1, §11).
pub const REVISION_ESE98: u32 = 9;
/// `le_cbPageSize` values: "0 = 4k pages" in ESE97, the byte count in ESE98 (reference §1).
pub const PAGE_SIZE_FIELD_ESE97: u32 = 0;
pub const PAGE_SIZE_FIELD_ESE98: u32 = 4096;

/// `JET_dbstateDirtyShutdown` and `JET_dbstateCleanShutdown` (reference §1 state table).
pub const DBSTATE_DIRTY_SHUTDOWN: u32 = 2;
pub const DBSTATE_CLEAN_SHUTDOWN: u32 = 3;

/// `DBFILEHDR` field offsets (reference §1 table).
pub const HDR_CHECKSUM: usize = 0;
pub const HDR_MAGIC: usize = 4;
pub const HDR_VERSION: usize = 8;
pub const HDR_ATTRIB: usize = 12;
pub const HDR_DBTIME_DIRTIED: usize = 16;
pub const HDR_SIGN_DB: usize = 24;
pub const HDR_DBSTATE: usize = 52;
pub const HDR_LGPOS_CONSISTENT: usize = 56;
pub const HDR_LOGTIME_CONSISTENT: usize = 64;
pub const HDR_LOGTIME_ATTACH: usize = 72;
pub const HDR_LGPOS_ATTACH: usize = 80;
pub const HDR_LOGTIME_DETACH: usize = 88;
pub const HDR_LGPOS_DETACH: usize = 96;
pub const HDR_DBID: usize = 104;
pub const HDR_SIGN_LOG: usize = 108;
pub const HDR_OBJID_LAST: usize = 212;
pub const HDR_OS_MAJOR: usize = 216;
pub const HDR_OS_MINOR: usize = 220;
pub const HDR_OS_BUILD: usize = 224;
pub const HDR_OS_SP: usize = 228;
pub const HDR_REVISION: usize = 232;
pub const HDR_PAGE_SIZE: usize = 236;
pub const HDR_GEN_MIN_REQUIRED: usize = 296;
pub const HDR_GEN_MAX_REQUIRED: usize = 300;
pub const HDR_CREATE_VERSION: usize = 340;
pub const HDR_CREATE_UPDATE: usize = 344;
/// `sizeof(DBFILEHDR)`; the rest of the header page is zero (reference §1).
pub const DBFILEHDR_SIZE: usize = 748;

/// `SIGNATURE`: `u32 ulRandom`, `LOGTIME logtimeCreate`, `char szComputerName[16]`.
pub const SIGNATURE_COMPUTER_NAME: usize = 12;
pub const COMPUTER_NAME_MAX: usize = 15;

/// The log position the builder records for attach and detach: generation 1, as a database
/// attached to a fresh log stream and detached cleanly a few sectors later would show.
const LGPOS_ATTACH: Lgpos = Lgpos {
    ib: 0,
    isec: 8,
    generation: 1,
};
const LGPOS_DETACH: Lgpos = Lgpos {
    ib: 0x10,
    isec: 9,
    generation: 1,
};
/// Mixed into `signDb.ulRandom` to make the log stream's signature differ from the database's.
const LOG_SIGNATURE_SALT: u32 = 0x4C4F_4731; // "LOG1"

/// `LGPOS`: `u16 ib`, `u16 isec`, `i32 lGeneration` (reference §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lgpos {
    pub ib: u16,
    pub isec: u16,
    pub generation: i32,
}

impl Lgpos {
    fn bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.ib.to_le_bytes());
        b[2..4].copy_from_slice(&self.isec.to_le_bytes());
        b[4..8].copy_from_slice(&self.generation.to_le_bytes());
        b
    }
}

/// `LOGTIME` for a Unix time: seconds, minutes, hours, day, month (1..12), year − 1900, then
/// two bytes of milliseconds/flags left zero (reference §1; months 1..12 per \[V\]).
pub fn logtime(unix: i64) -> [u8; 8] {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = (y - 1900).clamp(0, 255) as u8;
    [
        (secs % 60) as u8,
        (secs / 60 % 60) as u8,
        (secs / 3600) as u8,
        d as u8,
        m as u8,
        year,
        0,
        0,
    ]
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (the well-known
/// era-based conversion).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The facts of the finished file that go into its header.
#[derive(Clone, Copy, Debug)]
pub struct HeaderFacts {
    pub dbtime: u64,
    pub objid_last: u32,
}

fn signature(random: u32, created: &[u8; 8], computer_name: &str) -> [u8; 28] {
    let mut s = [0u8; 28];
    s[0..4].copy_from_slice(&random.to_le_bytes());
    s[4..12].copy_from_slice(created);
    let name = computer_name.as_bytes();
    let n = name.len().min(COMPUTER_NAME_MAX);
    s[SIGNATURE_COMPUTER_NAME..SIGNATURE_COMPUTER_NAME + n].copy_from_slice(&name[..n]);
    s
}

/// The whole header page (4 KiB), checksummed. The shadow is the same bytes.
pub fn header_page(opts: &BuildOptions, facts: HeaderFacts) -> Vec<u8> {
    let mut h = vec![0u8; super::page::PAGE_SIZE];
    let mut put = |at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
    let (revision, page_size_field) = match opts.format {
        Format::Ese97 => (REVISION_ESE97, PAGE_SIZE_FIELD_ESE97),
        Format::Ese98 => (REVISION_ESE98, PAGE_SIZE_FIELD_ESE98),
    };
    let created = logtime(opts.created_unix);
    put(HDR_MAGIC, &DB_MAGIC.to_le_bytes());
    put(HDR_VERSION, &DB_VERSION.to_le_bytes());
    put(HDR_ATTRIB, &0u32.to_le_bytes());
    put(HDR_DBTIME_DIRTIED, &facts.dbtime.to_le_bytes());
    put(
        HDR_SIGN_DB,
        &signature(opts.signature_random, &created, &opts.computer_name),
    );
    put(
        HDR_SIGN_LOG,
        &signature(
            opts.signature_random ^ LOG_SIGNATURE_SALT,
            &created,
            &opts.computer_name,
        ),
    );
    put(HDR_LOGTIME_ATTACH, &created);
    put(HDR_LGPOS_ATTACH, &LGPOS_ATTACH.bytes());
    put(HDR_DBID, &1u32.to_le_bytes());
    if opts.clean_shutdown {
        put(HDR_DBSTATE, &DBSTATE_CLEAN_SHUTDOWN.to_le_bytes());
        // Clean: consistent position/time = detach position/time (reference §8).
        put(HDR_LGPOS_DETACH, &LGPOS_DETACH.bytes());
        put(HDR_LOGTIME_DETACH, &created);
        put(HDR_LGPOS_CONSISTENT, &LGPOS_DETACH.bytes());
        put(HDR_LOGTIME_CONSISTENT, &created);
    } else {
        // Dirty: still attached, consistent fields null (reference §8). ESE97 never records
        // the required log range (always 0); ESE98 does.
        put(HDR_DBSTATE, &DBSTATE_DIRTY_SHUTDOWN.to_le_bytes());
        if opts.format == Format::Ese98 {
            put(HDR_GEN_MIN_REQUIRED, &1u32.to_le_bytes());
            put(HDR_GEN_MAX_REQUIRED, &1u32.to_le_bytes());
        }
    }
    put(HDR_OBJID_LAST, &facts.objid_last.to_le_bytes());
    put(HDR_OS_MAJOR, &opts.os_version.0.to_le_bytes());
    put(HDR_OS_MINOR, &opts.os_version.1.to_le_bytes());
    put(HDR_OS_BUILD, &opts.os_version.2.to_le_bytes());
    put(HDR_OS_SP, &opts.os_version.3.to_le_bytes());
    put(HDR_REVISION, &revision.to_le_bytes());
    put(HDR_PAGE_SIZE, &page_size_field.to_le_bytes());
    put(HDR_CREATE_VERSION, &DB_VERSION.to_le_bytes());
    put(HDR_CREATE_UPDATE, &revision.to_le_bytes());
    stamp_header(&mut h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(format: Format, clean: bool) -> BuildOptions {
        BuildOptions {
            format,
            computer_name: "SERVER1".into(),
            signature_random: 0xDEAD_BEEF,
            created_unix: 1_000_000_000,
            os_version: (5, 0, 2195, 4),
            clean_shutdown: clean,
        }
    }

    fn u32_at(h: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(h[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn header_fields_of_both_forms() {
        let facts = HeaderFacts {
            dbtime: 77,
            objid_last: 12,
        };
        for (format, revision, page_size) in [(Format::Ese97, 2, 0), (Format::Ese98, 9, 4096)] {
            let h = header_page(&opts(format, true), facts);
            assert_eq!(h.len(), 4096);
            assert_eq!(
                u32_at(&h, HDR_CHECKSUM),
                crate::ese::checksum::old_format_xor(&h)
            );
            assert_eq!(u32_at(&h, HDR_MAGIC), DB_MAGIC);
            assert_eq!(u32_at(&h, HDR_VERSION), 0x620);
            assert_eq!(u32_at(&h, HDR_REVISION), revision);
            assert_eq!(u32_at(&h, HDR_CREATE_UPDATE), revision);
            assert_eq!(u32_at(&h, HDR_PAGE_SIZE), page_size);
            assert_eq!(u32_at(&h, HDR_DBSTATE), DBSTATE_CLEAN_SHUTDOWN);
            assert_eq!(u32_at(&h, HDR_OBJID_LAST), 12);
            assert_eq!(u32_at(&h, HDR_OS_BUILD), 2195);
            assert_eq!(
                &h[HDR_DBTIME_DIRTIED..HDR_DBTIME_DIRTIED + 8],
                &77u64.to_le_bytes()
            );
            assert_eq!(
                &h[HDR_SIGN_DB + 4..HDR_SIGN_DB + 12],
                &logtime(1_000_000_000)
            );
            assert_eq!(&h[HDR_SIGN_DB + 12..HDR_SIGN_DB + 20], b"SERVER1\0");
            assert_eq!(
                h[HDR_LGPOS_CONSISTENT..HDR_LGPOS_CONSISTENT + 8],
                h[HDR_LGPOS_DETACH..HDR_LGPOS_DETACH + 8]
            );
            assert!(h[DBFILEHDR_SIZE..].iter().all(|&b| b == 0));
            let dirty = header_page(&opts(format, false), facts);
            assert_eq!(u32_at(&dirty, HDR_DBSTATE), DBSTATE_DIRTY_SHUTDOWN);
            assert!(dirty[HDR_LGPOS_CONSISTENT..HDR_LOGTIME_CONSISTENT + 8]
                .iter()
                .all(|&b| b == 0));
        }
    }

    #[test]
    fn logtime_of_a_known_date() {
        // 2001-09-09 01:46:40 UTC
        assert_eq!(logtime(1_000_000_000), [40, 46, 1, 9, 9, 101, 0, 0]);
        // 1999-12-31 23:59:59
        assert_eq!(logtime(946_684_799), [59, 59, 23, 31, 12, 99, 0, 0]);
    }
}
