//! The database file header (`DBFILEHDR`) and its shadow copy.
//!
//! Source: reference/ese.md §1 ([MS] `daedef.hxx` `struct DBFILEHDR`, 748 bytes; `fileu.cxx`
//! for the shadow copy at offset `cbPage`) and §8 (what `eseutil /mh` prints).

use crate::bytes::{Bytes, OutOfBounds};
use crate::ese::checksum::HeaderChecksum;
use serde::Serialize;
use std::fmt;

/// `ulDAEMagic`, at offset 4 of the header.
pub const MAGIC: u32 = 0x89AB_CDEF;
/// Offset of the magic.
pub const MAGIC_OFFSET: usize = 4;
/// `sizeof(DBFILEHDR)` ([MS] asserts 748).
pub const HEADER_STRUCT_LEN: usize = 748;
/// A page-size field of 0 means 4 KiB ([MS] `fileu.cxx`: 0 → `g_cbPageDefault`).
pub const DEFAULT_PAGE_SIZE: u32 = 4096;
/// The page sizes ESE writes.
pub const PAGE_SIZES: [u32; 4] = [4096, 8192, 16384, 32768];
/// Offset of `le_dbtimeDirtied`.
pub const DBTIME_OFFSET: usize = 16;
/// Offset of `le_cbPageSize`.
pub const PAGE_SIZE_OFFSET: usize = 236;

/// What went wrong reading the header. Offsets are absolute in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "file is {found} bytes long; an ESE database needs at least {expected} (two header pages)"
    )]
    TooShort { expected: u64, found: u64 },
    #[error("offset {offset:#x}: expected ESE magic 0x89abcdef, found {found:#010x}")]
    BadMagic { offset: u64, found: u32 },
    #[error("offset {offset:#x}: page size field {found} is not 0, 4096, 8192, 16384 or 32768")]
    BadPageSize { offset: u64, found: u32 },
    #[error(transparent)]
    OutOfBounds(#[from] OutOfBounds),
}

/// `LGPOS`: a log position. Compared by generation, sector, byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lgpos {
    pub ib: u16,
    pub isec: u16,
    pub generation: i32,
}

impl Lgpos {
    fn read(b: &Bytes, at: usize) -> Result<Lgpos, OutOfBounds> {
        Ok(Lgpos {
            ib: b.u16("LGPOS.ib", at)?,
            isec: b.u16("LGPOS.isec", at + 2)?,
            generation: b.i32("LGPOS.lGeneration", at + 4)?,
        })
    }
}

impl fmt::Display for Lgpos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#X},{},{})", self.generation, self.isec, self.ib)
    }
}

/// `LOGTIME`: seconds, minutes, hours, day, month (1..12), year − 1900, then milliseconds and
/// the UTC flag packed into bytes 6 and 7.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogTime(pub [u8; 8]);

impl LogTime {
    fn read(b: &Bytes, at: usize) -> Result<LogTime, OutOfBounds> {
        let s = b.slice("LOGTIME", at, 8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(s);
        Ok(LogTime(raw))
    }

    pub fn is_null(&self) -> bool {
        self.0 == [0; 8]
    }

    pub fn milliseconds(&self) -> u16 {
        u16::from(self.0[6] >> 1) | (u16::from((self.0[7] >> 1) & 0x7) << 7)
    }

    pub fn is_utc(&self) -> bool {
        self.0[6] & 1 != 0
    }
}

impl fmt::Display for LogTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            return f.write_str("00/00/1900 00:00:00");
        }
        let [s, mi, h, d, mo, y, ..] = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}{}",
            1900 + u32::from(y),
            mo,
            d,
            h,
            mi,
            s,
            self.milliseconds(),
            if self.is_utc() { " UTC" } else { "" }
        )
    }
}

impl Serialize for LogTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An LGPOS serialises as eseutil prints it.
impl Serialize for Lgpos {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `SIGNATURE`: a random number, a creation time and the NetBIOS computer name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Signature {
    pub random: u32,
    pub create_time: LogTime,
    pub computer_name: String,
}

impl Signature {
    fn read(b: &Bytes, at: usize) -> Result<Signature, OutOfBounds> {
        let name = b.slice("SIGNATURE.szComputerName", at + 12, 16)?;
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Ok(Signature {
            random: b.u32("SIGNATURE.ulRandom", at)?,
            create_time: LogTime::read(b, at + 4)?,
            computer_name: name[..end].iter().map(|&c| char::from(c)).collect(),
        })
    }
}

/// `BKINFO`: one backup record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    pub lgpos_mark: Lgpos,
    pub logtime_mark: LogTime,
    pub gen_low: u32,
    pub gen_high: u32,
}

impl BackupInfo {
    fn read(b: &Bytes, at: usize) -> Result<BackupInfo, OutOfBounds> {
        Ok(BackupInfo {
            lgpos_mark: Lgpos::read(b, at)?,
            logtime_mark: LogTime::read(b, at + 8)?,
            gen_low: b.u32("BKINFO.genLow", at + 16)?,
            gen_high: b.u32("BKINFO.genHigh", at + 20)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == BackupInfo::default()
    }
}

/// `le_dbstate` (offset 52). Source: reference/ese.md §1 ([MS] `jethdr.w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbState(pub u32);

impl DbState {
    pub const JUST_CREATED: DbState = DbState(1);
    pub const DIRTY_SHUTDOWN: DbState = DbState(2);
    pub const CLEAN_SHUTDOWN: DbState = DbState(3);

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "Just Created",
            2 => "Dirty Shutdown",
            3 => "Clean Shutdown",
            4 => "Being Converted",
            5 => "Force Detach",
            6 => "Incremental Reseed In Progress",
            7 => "Dirty And Patched Shutdown",
            8 => "Revert In Progress",
            _ => "unknown state",
        }
    }

    /// Short machine name (`clean_shutdown`, ...).
    pub fn key(self) -> String {
        match self.0 {
            1..=8 => self.name().to_ascii_lowercase().replace(' ', "_"),
            n => format!("unknown_{n}"),
        }
    }
}

impl Serialize for DbState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

/// The OS version the indexes were built under (sort-order tracking).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OsVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub service_pack: u32,
}

/// The parsed `DBFILEHDR`. Field names follow [MS] without their Hungarian prefixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DbHeader {
    pub checksum: u32,
    pub magic: u32,
    /// `le_ulVersion` (0x620 for ESE97 and later).
    pub version: u32,
    /// `le_ulDaeUpdateMajor`: the format revision.
    pub revision: u32,
    /// `le_ulDaeUpdateMinor`.
    pub update_minor: u32,
    pub attrib: u32,
    pub dbtime: u64,
    pub db_signature: Signature,
    pub state: DbState,
    pub lgpos_consistent: Lgpos,
    pub logtime_consistent: LogTime,
    pub logtime_attach: LogTime,
    pub lgpos_attach: Lgpos,
    pub logtime_detach: LogTime,
    pub lgpos_detach: Lgpos,
    pub dbid: u32,
    pub log_signature: Signature,
    pub backup_full_prev: BackupInfo,
    pub backup_incremental_prev: BackupInfo,
    pub backup_full_current: BackupInfo,
    pub backup_snapshot_current: BackupInfo,
    pub backup_copy_prev: BackupInfo,
    pub backup_differential_prev: BackupInfo,
    /// `m_ulDbFlags` (byte 0: 0x01 shadowing disabled, 0x02 upgrade).
    pub db_flags: u32,
    pub objid_last: u32,
    pub os_version: OsVersion,
    /// `le_cbPageSize` as stored (0 = 4 KiB).
    pub page_size_field: u32,
    /// The page size in bytes (the field, with 0 read as 4096).
    pub page_size: u32,
    pub repair_count: u32,
    pub logtime_repair: LogTime,
    pub dbtime_last_scrub: u64,
    pub logtime_scrub: LogTime,
    pub gen_min_required: u32,
    pub gen_max_required: u32,
    pub gen_max_committed: u32,
    pub cpg_upgrade_55_format: u32,
    pub cpg_upgrade_free_pages: u32,
    pub cpg_upgrade_space_map_pages: u32,
    pub create_version: u32,
    pub create_update: u32,
}

/// Bit of `m_ulDbFlags` byte 0: the header is not shadowed.
pub const DB_FLAG_SHADOWING_DISABLED: u32 = 0x01;

impl DbHeader {
    /// Parses one header copy; `b` is the header page (or at least its 748 bytes), based at
    /// its absolute file offset.
    pub fn parse(b: &Bytes) -> Result<DbHeader, HeaderError> {
        let magic = b.u32("DBFILEHDR.ulMagic", MAGIC_OFFSET)?;
        if magic != MAGIC {
            return Err(HeaderError::BadMagic {
                offset: b.base() + MAGIC_OFFSET as u64,
                found: magic,
            });
        }
        // Read the last field first so a short buffer fails before anything else.
        b.slice("DBFILEHDR", 0, HEADER_STRUCT_LEN)?;
        let page_size_field = b.u32("DBFILEHDR.cbPageSize", PAGE_SIZE_OFFSET)?;
        let page_size = if page_size_field == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size_field
        };
        if !PAGE_SIZES.contains(&page_size) {
            return Err(HeaderError::BadPageSize {
                offset: b.base() + PAGE_SIZE_OFFSET as u64,
                found: page_size_field,
            });
        }
        let lg = |at| Lgpos::read(b, at);
        Ok(DbHeader {
            checksum: b.u32("DBFILEHDR.ulChecksum", 0)?,
            magic,
            version: b.u32("DBFILEHDR.ulVersion", 8)?,
            revision: b.u32("DBFILEHDR.ulDaeUpdateMajor", 232)?,
            update_minor: b.u32("DBFILEHDR.ulDaeUpdateMinor", 644)?,
            attrib: b.u32("DBFILEHDR.attrib", 12)?,
            dbtime: b.u64("DBFILEHDR.dbtimeDirtied", DBTIME_OFFSET)?,
            db_signature: Signature::read(b, 24)?,
            state: DbState(b.u32("DBFILEHDR.dbstate", 52)?),
            lgpos_consistent: lg(56)?,
            logtime_consistent: LogTime::read(b, 64)?,
            logtime_attach: LogTime::read(b, 72)?,
            lgpos_attach: lg(80)?,
            logtime_detach: LogTime::read(b, 88)?,
            lgpos_detach: lg(96)?,
            dbid: b.u32("DBFILEHDR.dbid", 104)?,
            log_signature: Signature::read(b, 108)?,
            backup_full_prev: BackupInfo::read(b, 136)?,
            backup_incremental_prev: BackupInfo::read(b, 160)?,
            backup_full_current: BackupInfo::read(b, 184)?,
            db_flags: b.u32("DBFILEHDR.ulDbFlags", 208)?,
            objid_last: b.u32("DBFILEHDR.objidLast", 212)?,
            os_version: OsVersion {
                major: b.u32("DBFILEHDR.dwMajorVersion", 216)?,
                minor: b.u32("DBFILEHDR.dwMinorVersion", 220)?,
                build: b.u32("DBFILEHDR.dwBuildNumber", 224)?,
                service_pack: b.u32("DBFILEHDR.lSPNumber", 228)?,
            },
            page_size_field,
            page_size,
            repair_count: b.u32("DBFILEHDR.ulRepairCount", 240)?,
            logtime_repair: LogTime::read(b, 244)?,
            dbtime_last_scrub: b.u64("DBFILEHDR.dbtimeLastScrub", 280)?,
            logtime_scrub: LogTime::read(b, 288)?,
            gen_min_required: b.u32("DBFILEHDR.lGenMinRequired", 296)?,
            gen_max_required: b.u32("DBFILEHDR.lGenMaxRequired", 300)?,
            cpg_upgrade_55_format: b.u32("DBFILEHDR.cpgUpgrade55Format", 304)?,
            cpg_upgrade_free_pages: b.u32("DBFILEHDR.cpgUpgradeFreePages", 308)?,
            cpg_upgrade_space_map_pages: b.u32("DBFILEHDR.cpgUpgradeSpaceMapPages", 312)?,
            backup_snapshot_current: BackupInfo::read(b, 316)?,
            create_version: b.u32("DBFILEHDR.ulCreateVersion", 340)?,
            create_update: b.u32("DBFILEHDR.ulCreateUpdate", 344)?,
            gen_max_committed: b.u32("DBFILEHDR.lGenMaxCommitted", 416)?,
            backup_copy_prev: BackupInfo::read(b, 420)?,
            backup_differential_prev: BackupInfo::read(b, 444)?,
        })
    }

    pub fn is_shadowed(&self) -> bool {
        self.db_flags & DB_FLAG_SHADOWING_DISABLED == 0
    }

    /// `eseutil /mh`-style lines.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let sig = |s: &Signature| {
            format!(
                "Create time:{} Rand:{} Computer:{}",
                s.create_time, s.random, s.computer_name
            )
        };
        let bk = |b: &BackupInfo| {
            if b.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "Log Gen: {}-{} Mark: {} {}",
                    b.gen_low, b.gen_high, b.lgpos_mark, b.logtime_mark
                )
            }
        };
        vec![
            ("Checksum", format!("{:#010x}", self.checksum)),
            ("Format ulMagic", format!("{:#010x}", self.magic)),
            (
                "Format ulVersion",
                format!(
                    "{:#x},{},{}",
                    self.version, self.revision, self.update_minor
                ),
            ),
            (
                "Created ulVersion",
                format!("{:#x},{}", self.create_version, self.create_update),
            ),
            ("DB Signature", sig(&self.db_signature)),
            (
                "cbDbPage",
                if self.page_size_field == 0 {
                    format!("{} (field 0 = 4 KiB)", self.page_size)
                } else {
                    self.page_size.to_string()
                },
            ),
            ("dbtime", format!("{} ({:#x})", self.dbtime, self.dbtime)),
            ("State", format!("{} ({})", self.state.name(), self.state.0)),
            (
                "Log Required",
                format!("{}-{}", self.gen_min_required, self.gen_max_required),
            ),
            ("Log Committed", format!("0-{}", self.gen_max_committed)),
            (
                "Shadowed",
                if self.is_shadowed() { "Yes" } else { "No" }.to_string(),
            ),
            ("Last Objid", self.objid_last.to_string()),
            ("Repair Count", self.repair_count.to_string()),
            ("Repair Date", self.logtime_repair.to_string()),
            (
                "Last Consistent",
                format!("{} {}", self.lgpos_consistent, self.logtime_consistent),
            ),
            (
                "Last Attach",
                format!("{} {}", self.lgpos_attach, self.logtime_attach),
            ),
            (
                "Last Detach",
                format!("{} {}", self.lgpos_detach, self.logtime_detach),
            ),
            ("Dbid", self.dbid.to_string()),
            ("Log Signature", sig(&self.log_signature)),
            (
                "OS Version",
                format!(
                    "({}.{}.{} SP {})",
                    self.os_version.major,
                    self.os_version.minor,
                    self.os_version.build,
                    self.os_version.service_pack
                ),
            ),
            ("Previous Full Backup", bk(&self.backup_full_prev)),
            (
                "Previous Incremental Backup",
                bk(&self.backup_incremental_prev),
            ),
            ("Previous Copy Backup", bk(&self.backup_copy_prev)),
            (
                "Previous Differential Backup",
                bk(&self.backup_differential_prev),
            ),
            ("Current Full Backup", bk(&self.backup_full_current)),
            (
                "Current Shadow copy backup",
                bk(&self.backup_snapshot_current),
            ),
            ("cpgUpgrade55Format", self.cpg_upgrade_55_format.to_string()),
            (
                "cpgUpgradeFreePages",
                self.cpg_upgrade_free_pages.to_string(),
            ),
            (
                "cpgUpgradeSpaceMapPages",
                self.cpg_upgrade_space_map_pages.to_string(),
            ),
        ]
    }
}

/// Both header copies of a file, checked against each other.
#[derive(Clone, Debug)]
pub struct HeaderCopies {
    /// The header to use: the primary when its checksum is good, else the shadow when its
    /// checksum is good, else the primary.
    pub header: DbHeader,
    pub primary_checksum: HeaderChecksum,
    /// `None` when the shadow copy could not be parsed at all (bad magic, ...).
    pub shadow_checksum: Option<HeaderChecksum>,
    /// First byte (relative to the header page) where primary and shadow differ.
    pub first_difference: Option<usize>,
    /// Whether `header` came from the shadow copy.
    pub used_shadow: bool,
    /// Why the primary copy could not be parsed, when the shadow stood in for it.
    pub primary_error: Option<HeaderError>,
}

impl HeaderCopies {
    /// Reads the header at offset 0 and the shadow at offset `page_size` of `file`.
    pub fn read(file: &[u8]) -> Result<HeaderCopies, HeaderError> {
        let whole = Bytes::new(file, 0);
        if file.len() < HEADER_STRUCT_LEN {
            return Err(HeaderError::TooShort {
                expected: 2 * u64::from(DEFAULT_PAGE_SIZE),
                found: file.len() as u64,
            });
        }
        let primary = match DbHeader::parse(&whole) {
            Ok(p) => p,
            Err(e) => return HeaderCopies::from_shadow_only(file, e),
        };
        let cb = primary.page_size as usize;
        let need = 2 * cb;
        if file.len() < need {
            return Err(HeaderError::TooShort {
                expected: need as u64,
                found: file.len() as u64,
            });
        }
        let primary_page = whole.slice("header page", 0, cb)?;
        let shadow_view = whole.sub("shadow header page", cb, cb)?;
        let shadow_page = shadow_view.as_slice();
        let primary_checksum = HeaderChecksum::of(primary_page);
        let shadow = DbHeader::parse(&shadow_view).ok();
        let shadow_checksum = shadow.as_ref().map(|_| HeaderChecksum::of(shadow_page));
        let first_difference = first_difference(primary_page, shadow_page);
        let (header, used_shadow) = match (&shadow, shadow_checksum) {
            (Some(s), Some(ck)) if !primary_checksum.is_good() && ck.is_good() => (s.clone(), true),
            _ => (primary, false),
        };
        Ok(HeaderCopies {
            header,
            primary_checksum,
            shadow_checksum,
            first_difference,
            used_shadow,
            primary_error: None,
        })
    }

    /// The primary copy is unreadable: use a shadow copy that is intact and whose page size
    /// matches its own offset, as ESE does; else fail with the primary's error.
    fn from_shadow_only(
        file: &[u8],
        primary_error: HeaderError,
    ) -> Result<HeaderCopies, HeaderError> {
        let whole = Bytes::new(file, 0);
        for cb in PAGE_SIZES.map(|c| c as usize) {
            let (Ok(primary_page), Ok(view)) = (
                whole.slice("header page", 0, cb),
                whole.sub("shadow header page", cb, cb),
            ) else {
                continue;
            };
            let Ok(shadow) = DbHeader::parse(&view) else {
                continue;
            };
            let ck = HeaderChecksum::of(view.as_slice());
            if shadow.page_size as usize != cb || !ck.is_good() {
                continue;
            }
            return Ok(HeaderCopies {
                header: shadow,
                primary_checksum: HeaderChecksum::of(primary_page),
                shadow_checksum: Some(ck),
                first_difference: first_difference(primary_page, view.as_slice()),
                used_shadow: true,
                primary_error: Some(primary_error),
            });
        }
        Err(primary_error)
    }
}

/// The first index where `a` and `b` differ (a memcmp first: copies are normally equal).
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    a.iter().zip(b).position(|(x, y)| x != y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_page(page_size_field: u32) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        h[4..8].copy_from_slice(&MAGIC.to_le_bytes());
        h[8..12].copy_from_slice(&0x620u32.to_le_bytes());
        h[52..56].copy_from_slice(&3u32.to_le_bytes());
        h[236..240].copy_from_slice(&page_size_field.to_le_bytes());
        h[36..41].copy_from_slice(b"SRV01");
        crate::ese::checksum::stamp_header(&mut h);
        h
    }

    #[test]
    fn page_size_zero_means_4k_and_copies_compare() {
        let h = header_page(0);
        let mut file = h.clone();
        file.extend_from_slice(&h);
        let copies = HeaderCopies::read(&file).unwrap();
        assert_eq!(copies.header.page_size, 4096);
        assert_eq!(copies.header.page_size_field, 0);
        assert_eq!(copies.header.state, DbState::CLEAN_SHUTDOWN);
        assert_eq!(copies.header.db_signature.computer_name, "SRV01");
        assert!(copies.primary_checksum.is_good());
        assert_eq!(copies.first_difference, None);

        file[4096 + 300] = 1;
        let copies = HeaderCopies::read(&file).unwrap();
        assert_eq!(copies.first_difference, Some(300));
        assert!(!copies.shadow_checksum.unwrap().is_good());
    }

    #[test]
    fn bad_magic_and_page_size_and_short_files_are_errors() {
        let mut h = header_page(0);
        h.extend_from_slice(&h.clone());
        // The primary alone broken: the intact shadow stands in, and says why.
        let mut bad = h.clone();
        bad[5] = 0;
        let copies = HeaderCopies::read(&bad).unwrap();
        assert!(copies.used_shadow);
        assert!(matches!(
            copies.primary_error,
            Some(HeaderError::BadMagic { offset: 4, .. })
        ));
        assert_eq!(copies.first_difference, Some(5));
        // Both broken: an error naming the primary's offset and value.
        bad[4096 + 5] = 0;
        assert!(matches!(
            HeaderCopies::read(&bad),
            Err(HeaderError::BadMagic { offset: 4, .. })
        ));
        let mut bad = h.clone();
        bad[236] = 7;
        bad[4096 + 236] = 7;
        assert!(matches!(
            HeaderCopies::read(&bad),
            Err(HeaderError::BadPageSize {
                offset: 236,
                found: 7
            })
        ));
        assert!(matches!(
            HeaderCopies::read(&h[..5000]),
            Err(HeaderError::TooShort { .. })
        ));
        assert!(HeaderCopies::read(&h[..10]).is_err());
    }
}
