//! The database file header (`DBFILEHDR`) and its shadow.
//!
//! Source: reference/ese.md §1 (offsets from \[MS\] `daedef.hxx`, `struct DBFILEHDR`), §2.1
//! (header checksum), §8 (clean-shutdown state).

use super::{BuildOptions, Format};
use crate::ese::checksum::stamp_header;
use crate::ese::header::offsets as o;
use crate::ese::header::{
    DbState, Lgpos, LogTime, Signature, MAGIC, REVISION_ESE97, REVISION_ESE98, SIGNATURE_LEN,
    VERSION_ESE97,
};

/// `le_cbPageSize` values: "0 = 4k pages" in ESE97, the byte count in ESE98 (reference §1).
pub const PAGE_SIZE_FIELD_ESE97: u32 = 0;
pub const PAGE_SIZE_FIELD_ESE98: u32 = super::page::PAGE_SIZE as u32;

/// The log position the builder records for attach and detach: generation 1, as a database
/// attached to a fresh log stream and detached cleanly a few sectors later would show.
const ATTACH_POSITION: Lgpos = Lgpos {
    ib: 0,
    isec: 8,
    generation: 1,
};
const DETACH_POSITION: Lgpos = Lgpos {
    ib: 0x10,
    isec: 9,
    generation: 1,
};
/// Mixed into `signDb.ulRandom` to make the log stream's signature differ from the database's.
const LOG_SIGNATURE_SALT: u32 = 0x4C4F_4731; // "LOG1"

/// The facts of the finished file that go into its header.
#[derive(Clone, Copy, Debug)]
pub struct HeaderFacts {
    pub dbtime: u64,
    pub objid_last: u32,
}

fn signature(random: u32, create_time: LogTime, computer_name: &str) -> [u8; SIGNATURE_LEN] {
    Signature {
        random,
        create_time,
        computer_name: computer_name.into(),
    }
    .to_bytes()
}

/// The whole header page (4 KiB), checksummed. The shadow is the same bytes.
pub fn header_page(opts: &BuildOptions, facts: HeaderFacts) -> Vec<u8> {
    let mut h = vec![0u8; super::page::PAGE_SIZE];
    let mut put = |at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
    let (revision, page_size_field) = match opts.format {
        Format::Ese97 => (REVISION_ESE97, PAGE_SIZE_FIELD_ESE97),
        Format::Ese98 => (REVISION_ESE98, PAGE_SIZE_FIELD_ESE98),
    };
    let created = LogTime::from_unix(opts.created_unix);
    put(o::MAGIC, &MAGIC.to_le_bytes());
    put(o::VERSION, &VERSION_ESE97.to_le_bytes());
    put(o::ATTRIB, &0u32.to_le_bytes());
    put(o::DBTIME_DIRTIED, &facts.dbtime.to_le_bytes());
    put(
        o::SIGN_DB,
        &signature(opts.signature_random, created, &opts.computer_name),
    );
    put(
        o::SIGN_LOG,
        &signature(
            opts.signature_random ^ LOG_SIGNATURE_SALT,
            created,
            &opts.computer_name,
        ),
    );
    put(o::LOGTIME_ATTACH, &created.0);
    put(o::LGPOS_ATTACH, &ATTACH_POSITION.to_bytes());
    put(o::DBID, &1u32.to_le_bytes());
    if opts.clean_shutdown {
        put(o::DBSTATE, &DbState::CLEAN_SHUTDOWN.0.to_le_bytes());
        // Clean: consistent position/time = detach position/time (reference §8).
        put(o::LGPOS_DETACH, &DETACH_POSITION.to_bytes());
        put(o::LOGTIME_DETACH, &created.0);
        put(o::LGPOS_CONSISTENT, &DETACH_POSITION.to_bytes());
        put(o::LOGTIME_CONSISTENT, &created.0);
    } else {
        // Dirty: still attached, consistent fields null (reference §8). ESE97 never records
        // the required log range (always 0); ESE98 does.
        put(o::DBSTATE, &DbState::DIRTY_SHUTDOWN.0.to_le_bytes());
        if opts.format == Format::Ese98 {
            put(o::GEN_MIN_REQUIRED, &1u32.to_le_bytes());
            put(o::GEN_MAX_REQUIRED, &1u32.to_le_bytes());
        }
    }
    put(o::OBJID_LAST, &facts.objid_last.to_le_bytes());
    put(o::OS_MAJOR, &opts.os_version.0.to_le_bytes());
    put(o::OS_MINOR, &opts.os_version.1.to_le_bytes());
    put(o::OS_BUILD, &opts.os_version.2.to_le_bytes());
    put(o::OS_SP, &opts.os_version.3.to_le_bytes());
    put(o::DAE_UPDATE_MAJOR, &revision.to_le_bytes());
    put(o::PAGE_SIZE, &page_size_field.to_le_bytes());
    put(o::CREATE_VERSION, &VERSION_ESE97.to_le_bytes());
    put(o::CREATE_UPDATE, &revision.to_le_bytes());
    stamp_header(&mut h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::header::HEADER_STRUCT_LEN;

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
                u32_at(&h, o::CHECKSUM),
                crate::ese::checksum::old_format_xor(&h)
            );
            assert_eq!(u32_at(&h, o::MAGIC), MAGIC);
            assert_eq!(u32_at(&h, o::VERSION), 0x620);
            assert_eq!(u32_at(&h, o::DAE_UPDATE_MAJOR), revision);
            assert_eq!(u32_at(&h, o::CREATE_UPDATE), revision);
            assert_eq!(u32_at(&h, o::PAGE_SIZE), page_size);
            assert_eq!(u32_at(&h, o::DBSTATE), DbState::CLEAN_SHUTDOWN.0);
            assert_eq!(u32_at(&h, o::OBJID_LAST), 12);
            assert_eq!(u32_at(&h, o::OS_BUILD), 2195);
            assert_eq!(
                &h[o::DBTIME_DIRTIED..o::DBTIME_DIRTIED + 8],
                &77u64.to_le_bytes()
            );
            assert_eq!(
                &h[o::SIGN_DB + 4..o::SIGN_DB + 12],
                &LogTime::from_unix(1_000_000_000).0
            );
            assert_eq!(&h[o::SIGN_DB + 12..o::SIGN_DB + 20], b"SERVER1\0");
            assert_eq!(
                h[o::LGPOS_CONSISTENT..o::LGPOS_CONSISTENT + 8],
                h[o::LGPOS_DETACH..o::LGPOS_DETACH + 8]
            );
            assert!(h[HEADER_STRUCT_LEN..].iter().all(|&b| b == 0));
            let dirty = header_page(&opts(format, false), facts);
            assert_eq!(u32_at(&dirty, o::DBSTATE), DbState::DIRTY_SHUTDOWN.0);
            assert!(dirty[o::LGPOS_CONSISTENT..o::LOGTIME_CONSISTENT + 8]
                .iter()
                .all(|&b| b == 0));
        }
    }
}
