//! Errors of the hive reader, editor and log replay. Every error names the absolute file
//! offset it is about, when there is one.

use crate::bytes::OutOfBounds;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegfError {
    #[error(transparent)]
    Bounds(#[from] OutOfBounds),
    /// A structure that is not what the format says it must be.
    #[error("at offset {offset:#x}: {what}")]
    Corrupt { offset: u64, what: String },
    /// Sequence numbers differ: the hive was not written to the end.
    #[error(
        "the hive is dirty (primary sequence number {primary}, secondary {secondary}); \
         replay its transaction log first (--replay-log)"
    )]
    Dirty { primary: u32, secondary: u32 },
    /// `verify` found problems; the hive is never written to.
    #[error("the hive does not verify ({}); first at offset {offset:#x}: {what}", crate::text::count(*count as u64, "problem", "problems"))]
    Flagged {
        count: usize,
        offset: u64,
        what: String,
    },
    /// Something this hive's version or layout does not allow.
    #[error("{what}")]
    Unsupported { what: String },
    #[error("key not found: {path}")]
    KeyNotFound { path: String },
    #[error("invalid name {}: {why}", crate::text::quoted(name))]
    InvalidName { name: String, why: &'static str },
    /// A transaction log that cannot be applied.
    #[error("log {what}")]
    Log { what: String },
    /// A field of a transaction log that is out of range (boxed to keep the error small).
    #[error("log {0}")]
    LogAt(Box<LogFault>),
}

/// A field of a transaction log that is out of range: the log file, the absolute offset in
/// it, and what was expected and found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} at offset {offset:#x}: {what}: expected {expected}, found {found}")]
pub struct LogFault {
    pub file: String,
    pub offset: u64,
    pub what: String,
    pub expected: String,
    pub found: String,
}

impl RegfError {
    pub fn corrupt(offset: u64, what: impl Into<String>) -> RegfError {
        RegfError::Corrupt {
            offset,
            what: what.into(),
        }
    }

    /// What is wrong without the offset: for a message that names the location once itself
    /// (a finding, a warning), so that it does not read "offset X: at offset X: …".
    pub fn detail(&self) -> String {
        match self {
            RegfError::Bounds(b) => b.detail(),
            RegfError::Corrupt { what, .. } => what.clone(),
            RegfError::Flagged { count, what, .. } => format!(
                "the hive does not verify ({}); the first: {what}",
                crate::text::count(*count as u64, "problem", "problems")
            ),
            other => other.to_string(),
        }
    }

    /// The absolute offset this error is about, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            RegfError::Bounds(b) => Some(b.offset),
            RegfError::Corrupt { offset, .. } | RegfError::Flagged { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}
