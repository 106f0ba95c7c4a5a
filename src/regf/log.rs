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
