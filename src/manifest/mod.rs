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
