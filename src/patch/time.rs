//! The patch time: `SOURCE_DATE_EPOCH` when set (reproducible runs), else now; shown as
//! RFC 3339, written as a FILETIME into hives and as an OLE date into `Globals.PatchTime`.

use serde::{Deserialize, Serialize};

/// The variable that fixes the patch time for reproducible runs.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// Seconds between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH_SECS: i64 = 11_644_473_600;
const FILETIME_PER_SEC: i64 = 10_000_000;
/// Days between 1899-12-30 (the OLE date's epoch) and 1970-01-01.
const OLE_UNIX_EPOCH_DAYS: f64 = 25_569.0;
const SECS_PER_DAY: i64 = 86_400;
/// Latest time kept: 9999-12-31T23:59:59Z (RFC 3339 has four-digit years).
const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// A patch time, whole seconds since 1970 (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchTime {
    pub unix_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{SOURCE_DATE_EPOCH}={}: expected whole seconds since 1970 between 0 and {MAX_UNIX_SECS}",
    crate::text::quoted(value)
)]
pub struct TimeError {
    pub value: String,
}

impl PatchTime {
    /// `SOURCE_DATE_EPOCH` when set, else the clock.
    pub fn from_env() -> Result<PatchTime, TimeError> {
        PatchTime::from_source_date_epoch(std::env::var(SOURCE_DATE_EPOCH).ok().as_deref())
    }

    pub fn from_source_date_epoch(value: Option<&str>) -> Result<PatchTime, TimeError> {
        let secs = match value {
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=MAX_UNIX_SECS).contains(s))
                .ok_or_else(|| TimeError {
                    value: text.to_string(),
                })?,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
                .min(MAX_UNIX_SECS),
        };
        Ok(PatchTime { unix_seconds: secs })
    }

    /// 100-ns intervals since 1601-01-01 (hive timestamps).
    pub fn filetime(self) -> u64 {
        ((self.unix_seconds + FILETIME_UNIX_EPOCH_SECS) * FILETIME_PER_SEC) as u64
    }

    /// Days since 1899-12-30 (the store's `PatchTime`, an OLE date).
    pub fn ole_date(self) -> f64 {
        OLE_UNIX_EPOCH_DAYS + self.unix_seconds as f64 / SECS_PER_DAY as f64
    }

    /// `YYYY-MM-DDThh:mm:ssZ`.
    pub fn rfc3339(self) -> String {
        let days = self.unix_seconds.div_euclid(SECS_PER_DAY);
        let rem = self.unix_seconds.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let t = PatchTime::from_source_date_epoch(Some("1700000000")).unwrap();
        assert_eq!(t.rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(t.filetime(), 133_444_736_000_000_000);
        let epoch = PatchTime { unix_seconds: 0 };
        assert_eq!(epoch.rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(epoch.ole_date(), 25_569.0);
        assert_eq!(
            PatchTime {
                unix_seconds: 951_782_400
            }
            .rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn bad_source_date_epoch_is_refused() {
        for bad in ["", "x", "-1", "253402300800"] {
            assert!(
                PatchTime::from_source_date_epoch(Some(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
