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
/// `ulDAEVersionESE97`: `le_ulVersion` of ESE97 and every later engine (§1, "0x620,2").
pub const VERSION_ESE97: u32 = 0x620;
/// `le_ulDaeUpdateMajor` of ESE97 / Exchange 5.5 (§1, "0x620,2").
pub const REVISION_ESE97: u32 = 2;
/// Revision 9 ("sorted template columns"), the ESE98 form readers open (§1, §11).
pub const REVISION_ESE98: u32 = 9;
/// `sizeof(DBFILEHDR)` ([MS] asserts 748); the rest of the header page is zero.
pub const HEADER_STRUCT_LEN: usize = 748;
/// A page-size field of 0 means 4 KiB ([MS] `fileu.cxx`: 0 → `g_cbPageDefault`).
pub const DEFAULT_PAGE_SIZE: u32 = 4096;
/// The page sizes ESE writes.
pub const PAGE_SIZES: [u32; 4] = [4096, 8192, 16384, 32768];
/// Pages before database page 1: the header and its shadow (`cpgDBReserved`, §1).
pub const HEADER_PAGES: u64 = 2;

/// File offset of database page `pgno` (1-based; page 1 follows the header pages, §1).
pub fn page_offset(pgno: u32, page_size: u32) -> u64 {
    (u64::from(pgno) + HEADER_PAGES - 1) * u64::from(page_size)
}

/// `DBFILEHDR` field offsets (§1 table; [MS] `daedef.hxx`).
pub mod offsets {
    pub const CHECKSUM: usize = 0;
    pub const MAGIC: usize = 4;
    pub const VERSION: usize = 8;
    pub const ATTRIB: usize = 12;
    pub const DBTIME_DIRTIED: usize = 16;
    pub const SIGN_DB: usize = 24;
    pub const DBSTATE: usize = 52;
    pub const LGPOS_CONSISTENT: usize = 56;
    pub const LOGTIME_CONSISTENT: usize = 64;
    pub const LOGTIME_ATTACH: usize = 72;
    pub const LGPOS_ATTACH: usize = 80;
    pub const LOGTIME_DETACH: usize = 88;
    pub const LGPOS_DETACH: usize = 96;
    pub const DBID: usize = 104;
    pub const SIGN_LOG: usize = 108;
    pub const BKINFO_FULL_PREV: usize = 136;
    pub const BKINFO_INCREMENTAL_PREV: usize = 160;
    pub const BKINFO_FULL_CUR: usize = 184;
    pub const DB_FLAGS: usize = 208;
    pub const OBJID_LAST: usize = 212;
    pub const OS_MAJOR: usize = 216;
    pub const OS_MINOR: usize = 220;
    pub const OS_BUILD: usize = 224;
    pub const OS_SP: usize = 228;
    pub const DAE_UPDATE_MAJOR: usize = 232;
    pub const PAGE_SIZE: usize = 236;
    pub const REPAIR_COUNT: usize = 240;
    pub const LOGTIME_REPAIR: usize = 244;
    pub const DBTIME_LAST_SCRUB: usize = 280;
    pub const LOGTIME_SCRUB: usize = 288;
    pub const GEN_MIN_REQUIRED: usize = 296;
    pub const GEN_MAX_REQUIRED: usize = 300;
    pub const CPG_UPGRADE_55_FORMAT: usize = 304;
    pub const CPG_UPGRADE_FREE_PAGES: usize = 308;
    pub const CPG_UPGRADE_SPACE_MAP_PAGES: usize = 312;
    pub const BKINFO_SNAPSHOT_CUR: usize = 316;
    pub const CREATE_VERSION: usize = 340;
    pub const CREATE_UPDATE: usize = 344;
    pub const GEN_MAX_COMMITTED: usize = 416;
    pub const BKINFO_COPY_PREV: usize = 420;
    pub const BKINFO_DIFFERENTIAL_PREV: usize = 444;
    pub const DAE_UPDATE_MINOR: usize = 644;
}
/// The offsets callers outside this module name directly.
pub use offsets::{
    DBTIME_DIRTIED as DBTIME_OFFSET, MAGIC as MAGIC_OFFSET, PAGE_SIZE as PAGE_SIZE_OFFSET,
};

/// `SIGNATURE`: `u32 ulRandom`, `LOGTIME logtimeCreate`, `char szComputerName[16]` (§1).
pub const SIGNATURE_LEN: usize = 28;
const SIGNATURE_LOGTIME: usize = 4;
const SIGNATURE_COMPUTER_NAME: usize = 12;
const COMPUTER_NAME_FIELD: usize = 16;
/// The NetBIOS name is at most 15 characters; the field keeps a terminating NUL.
pub const COMPUTER_NAME_MAX: usize = COMPUTER_NAME_FIELD - 1;
/// `LOGTIME` and `LGPOS` are 8 bytes each (§1).
pub const LOGTIME_LEN: usize = 8;
pub const LGPOS_LEN: usize = 8;

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

    /// The stored form: `u16 ib`, `u16 isec`, `i32 lGeneration`.
    pub fn to_bytes(&self) -> [u8; LGPOS_LEN] {
        let mut b = [0u8; LGPOS_LEN];
        b[0..2].copy_from_slice(&self.ib.to_le_bytes());
        b[2..4].copy_from_slice(&self.isec.to_le_bytes());
        b[4..8].copy_from_slice(&self.generation.to_le_bytes());
        b
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
pub struct LogTime(pub [u8; LOGTIME_LEN]);

impl LogTime {
    fn read(b: &Bytes, at: usize) -> Result<LogTime, OutOfBounds> {
        let s = b.slice("LOGTIME", at, LOGTIME_LEN)?;
        let mut raw = [0u8; LOGTIME_LEN];
        raw.copy_from_slice(s);
        Ok(LogTime(raw))
    }

    /// The LOGTIME of a Unix time (UTC), whole seconds: milliseconds and flags left zero,
    /// years before 1900 or after 2155 clamped (months 1..12 per [V]).
    pub fn from_unix(unix: i64) -> LogTime {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year = (y - 1900).clamp(0, 255) as u8;
        LogTime([
            (secs % 60) as u8,
            (secs / 60 % 60) as u8,
            (secs / 3600) as u8,
            d as u8,
            m as u8,
            year,
            0,
            0,
        ])
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
        let name = b.slice(
            "SIGNATURE.szComputerName",
            at + SIGNATURE_COMPUTER_NAME,
            COMPUTER_NAME_FIELD,
        )?;
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Ok(Signature {
            random: b.u32("SIGNATURE.ulRandom", at)?,
            create_time: LogTime::read(b, at + SIGNATURE_LOGTIME)?,
            computer_name: name[..end].iter().map(|&c| char::from(c)).collect(),
        })
    }

    /// The stored form; the computer name's bytes are cut to [`COMPUTER_NAME_MAX`] and
    /// NUL-padded.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut s = [0u8; SIGNATURE_LEN];
        s[0..4].copy_from_slice(&self.random.to_le_bytes());
        s[SIGNATURE_LOGTIME..SIGNATURE_LOGTIME + LOGTIME_LEN].copy_from_slice(&self.create_time.0);
        let name = self.computer_name.as_bytes();
        let n = name.len().min(COMPUTER_NAME_MAX);
        s[SIGNATURE_COMPUTER_NAME..SIGNATURE_COMPUTER_NAME + n].copy_from_slice(&name[..n]);
        s
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
        let magic = b.u32("DBFILEHDR.ulMagic", offsets::MAGIC)?;
        if magic != MAGIC {
            return Err(HeaderError::BadMagic {
                offset: b.base() + offsets::MAGIC as u64,
                found: magic,
            });
        }
        // Read the last field first so a short buffer fails before anything else.
        b.slice("DBFILEHDR", 0, HEADER_STRUCT_LEN)?;
        let page_size_field = b.u32("DBFILEHDR.cbPageSize", offsets::PAGE_SIZE)?;
        let page_size = if page_size_field == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size_field
        };
        if !PAGE_SIZES.contains(&page_size) {
            return Err(HeaderError::BadPageSize {
                offset: b.base() + offsets::PAGE_SIZE as u64,
                found: page_size_field,
            });
        }
        use offsets as o;
        let lg = |at| Lgpos::read(b, at);
        Ok(DbHeader {
            checksum: b.u32("DBFILEHDR.ulChecksum", o::CHECKSUM)?,
            magic,
            version: b.u32("DBFILEHDR.ulVersion", o::VERSION)?,
            revision: b.u32("DBFILEHDR.ulDaeUpdateMajor", o::DAE_UPDATE_MAJOR)?,
            update_minor: b.u32("DBFILEHDR.ulDaeUpdateMinor", o::DAE_UPDATE_MINOR)?,
            attrib: b.u32("DBFILEHDR.attrib", o::ATTRIB)?,
            dbtime: b.u64("DBFILEHDR.dbtimeDirtied", o::DBTIME_DIRTIED)?,
            db_signature: Signature::read(b, o::SIGN_DB)?,
            state: DbState(b.u32("DBFILEHDR.dbstate", o::DBSTATE)?),
            lgpos_consistent: lg(o::LGPOS_CONSISTENT)?,
            logtime_consistent: LogTime::read(b, o::LOGTIME_CONSISTENT)?,
            logtime_attach: LogTime::read(b, o::LOGTIME_ATTACH)?,
            lgpos_attach: lg(o::LGPOS_ATTACH)?,
            logtime_detach: LogTime::read(b, o::LOGTIME_DETACH)?,
            lgpos_detach: lg(o::LGPOS_DETACH)?,
            dbid: b.u32("DBFILEHDR.dbid", o::DBID)?,
            log_signature: Signature::read(b, o::SIGN_LOG)?,
            backup_full_prev: BackupInfo::read(b, o::BKINFO_FULL_PREV)?,
            backup_incremental_prev: BackupInfo::read(b, o::BKINFO_INCREMENTAL_PREV)?,
            backup_full_current: BackupInfo::read(b, o::BKINFO_FULL_CUR)?,
            db_flags: b.u32("DBFILEHDR.ulDbFlags", o::DB_FLAGS)?,
            objid_last: b.u32("DBFILEHDR.objidLast", o::OBJID_LAST)?,
            os_version: OsVersion {
                major: b.u32("DBFILEHDR.dwMajorVersion", o::OS_MAJOR)?,
                minor: b.u32("DBFILEHDR.dwMinorVersion", o::OS_MINOR)?,
                build: b.u32("DBFILEHDR.dwBuildNumber", o::OS_BUILD)?,
                service_pack: b.u32("DBFILEHDR.lSPNumber", o::OS_SP)?,
            },
            page_size_field,
            page_size,
            repair_count: b.u32("DBFILEHDR.ulRepairCount", o::REPAIR_COUNT)?,
            logtime_repair: LogTime::read(b, o::LOGTIME_REPAIR)?,
            dbtime_last_scrub: b.u64("DBFILEHDR.dbtimeLastScrub", o::DBTIME_LAST_SCRUB)?,
            logtime_scrub: LogTime::read(b, o::LOGTIME_SCRUB)?,
            gen_min_required: b.u32("DBFILEHDR.lGenMinRequired", o::GEN_MIN_REQUIRED)?,
            gen_max_required: b.u32("DBFILEHDR.lGenMaxRequired", o::GEN_MAX_REQUIRED)?,
            cpg_upgrade_55_format: b
                .u32("DBFILEHDR.cpgUpgrade55Format", o::CPG_UPGRADE_55_FORMAT)?,
            cpg_upgrade_free_pages: b
                .u32("DBFILEHDR.cpgUpgradeFreePages", o::CPG_UPGRADE_FREE_PAGES)?,
            cpg_upgrade_space_map_pages: b.u32(
                "DBFILEHDR.cpgUpgradeSpaceMapPages",
                o::CPG_UPGRADE_SPACE_MAP_PAGES,
            )?,
            backup_snapshot_current: BackupInfo::read(b, o::BKINFO_SNAPSHOT_CUR)?,
            create_version: b.u32("DBFILEHDR.ulCreateVersion", o::CREATE_VERSION)?,
            create_update: b.u32("DBFILEHDR.ulCreateUpdate", o::CREATE_UPDATE)?,
            gen_max_committed: b.u32("DBFILEHDR.lGenMaxCommitted", o::GEN_MAX_COMMITTED)?,
            backup_copy_prev: BackupInfo::read(b, o::BKINFO_COPY_PREV)?,
            backup_differential_prev: BackupInfo::read(b, o::BKINFO_DIFFERENTIAL_PREV)?,
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
                expected: HEADER_PAGES * u64::from(DEFAULT_PAGE_SIZE),
                found: file.len() as u64,
            });
        }
        let primary = match DbHeader::parse(&whole) {
            Ok(p) => p,
            Err(e) => return HeaderCopies::from_shadow_only(file, e),
        };
        let cb = primary.page_size as usize;
        let need = HEADER_PAGES as usize * cb;
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

    #[test]
    fn logtime_of_a_known_unix_time() {
        // 2001-09-09 01:46:40 UTC
        assert_eq!(
            LogTime::from_unix(1_000_000_000).0,
            [40, 46, 1, 9, 9, 101, 0, 0]
        );
        // 1999-12-31 23:59:59
        assert_eq!(
            LogTime::from_unix(946_684_799).0,
            [59, 59, 23, 31, 12, 99, 0, 0]
        );
    }

    #[test]
    fn lgpos_and_signature_written_read_back() {
        let sig = Signature {
            random: 0x1234_5678,
            create_time: LogTime::from_unix(1_000_000_000),
            computer_name: "SERVER1".into(),
        };
        let lgpos = Lgpos {
            ib: 0x10,
            isec: 9,
            generation: 3,
        };
        let mut buf = sig.to_bytes().to_vec();
        buf.extend_from_slice(&lgpos.to_bytes());
        let b = Bytes::new(&buf, 0);
        assert_eq!(Signature::read(&b, 0).unwrap(), sig);
        assert_eq!(Lgpos::read(&b, SIGNATURE_LEN).unwrap(), lgpos);
    }
}
