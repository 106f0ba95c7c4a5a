//! What an `apply` leaves behind to prove what it did (product.md, "Output of apply --out"):
//! `SHA256SUMS` / `SHA256SUMS.input` (`sha256sum -c` format), `report.json` and
//! `audit.jsonl.zst`, one JSON object per changed byte range (zstd-compressed JSON lines).

pub mod audit;
pub mod html;
pub mod pagemap;
pub mod report;
pub mod sums;

pub use audit::{AuditEntry, AuditWriter};
pub use report::Report;
pub use sums::{sha256_hex, FileDigest};

/// Writes a record of a run (a manifest, a report, the case file) as `path`, atomically (no
/// half-written file under its name), readable by all (0644). `Err` is the reason, without
/// the path.
pub fn write_record(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use crate::regf::disk::WriteError;
    use std::os::unix::fs::PermissionsExt;
    crate::regf::disk::write_atomic(path, bytes).map_err(|e| match e {
        WriteError::Io { source, .. } => crate::image::write::reason(&source),
        other => other.to_string(),
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| e.to_string())
}
