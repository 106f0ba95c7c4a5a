//! The error every ESE structure reader returns: where (absolute file offset, page), what was
//! expected and what was found.

use crate::bytes::OutOfBounds;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EseError {
    /// A read ran past the end of its structure.
    #[error(transparent)]
    OutOfBounds(#[from] OutOfBounds),
    /// A page number outside the file.
    #[error("offset {offset:#x}: {what} names page {pgno}, but the file has pages 1..={last}")]
    PageOutOfRange {
        offset: u64,
        what: &'static str,
        pgno: u32,
        last: u32,
    },
    /// A structure holds a value it cannot hold.
    #[error("offset {offset:#x} (page {pgno}): {what}: expected {expected}, found {found}")]
    Corrupt {
        offset: u64,
        pgno: u32,
        what: &'static str,
        expected: String,
        found: String,
    },
    /// A B-tree walk came back to a page it had already visited, or went too deep.
    #[error("page {pgno} (offset {offset:#x}): B-tree of object {objid}: {what}")]
    Tree {
        offset: u64,
        pgno: u32,
        objid: u32,
        what: &'static str,
    },
    /// The catalog lacks something the caller asked for.
    #[error("catalog: {0}")]
    Catalog(String),
}

impl EseError {
    /// The absolute file offset the error is about, and the page when one is known.
    pub fn location(&self) -> (u64, Option<u32>) {
        match self {
            EseError::OutOfBounds(e) => (e.offset, None),
            EseError::PageOutOfRange { offset, .. } => (*offset, None),
            EseError::Corrupt { offset, pgno, .. } => (*offset, Some(*pgno).filter(|&p| p != 0)),
            EseError::Tree { offset, pgno, .. } => (*offset, Some(*pgno)),
            EseError::Catalog(_) => (0, None),
        }
    }

    pub fn corrupt(
        offset: u64,
        pgno: u32,
        what: &'static str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> EseError {
        EseError::Corrupt {
            offset,
            pgno,
            what,
            expected: expected.into(),
            found: found.into(),
        }
    }
}
