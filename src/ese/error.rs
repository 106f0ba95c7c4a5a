//! The error every ESE structure reader returns: where (absolute file offset, page), what was
//! expected and what was found.

use crate::bytes::OutOfBounds;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EseError {
    /// A read ran past the end of its structure.
    #[error(transparent)]
    OutOfBounds(#[from] OutOfBounds),
    /// A page number outside the file.
    #[error("offset {offset:#x}: {what} names page {pgno}, but the file has pages {}", crate::text::range(1u32, *last))]
    PageOutOfRange {
        offset: u64,
        what: &'static str,
        pgno: u32,
        last: u32,
    },
    /// A structure holds a value it cannot hold.
    #[error("offset {offset:#x}{}: {what}: expected {expected}, found {found}", page_note(*.pgno))]
    Corrupt {
        offset: u64,
        /// The page, when the reader knows it (a record or value parsed alone does not).
        pgno: Option<u32>,
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

/// " (page N)" when the page is known, else nothing.
fn page_note(pgno: Option<u32>) -> String {
    pgno.map_or_else(String::new, |p| format!(" (page {p})"))
}

impl EseError {
    /// The absolute file offset the error is about, and the page when one is known.
    pub fn location(&self) -> (u64, Option<u32>) {
        match self {
            EseError::OutOfBounds(e) => (e.offset, None),
            EseError::PageOutOfRange { offset, .. } => (*offset, None),
            EseError::Corrupt { offset, pgno, .. } => (*offset, *pgno),
            EseError::Tree { offset, pgno, .. } => (*offset, Some(*pgno)),
            EseError::Catalog(_) => (0, None),
        }
    }

    /// What is wrong without the offset or page: for a message that names the location once
    /// itself (a finding), so that it does not read "page 10 (offset X): … offset X (page 10)".
    pub fn detail(&self) -> String {
        match self {
            EseError::OutOfBounds(e) => e.detail(),
            EseError::PageOutOfRange {
                what, pgno, last, ..
            } => format!(
                "{what} names page {pgno}, but the file has pages {}",
                crate::text::range(1u32, *last)
            ),
            EseError::Corrupt {
                what,
                expected,
                found,
                ..
            } => format!("{what}: expected {expected}, found {found}"),
            EseError::Tree { objid, what, .. } => format!("B-tree of object {objid}: {what}"),
            EseError::Catalog(what) => format!("catalog: {what}"),
        }
    }

    pub fn corrupt(
        offset: u64,
        pgno: Option<u32>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An unknown page prints nothing, not "(page 0)"; a known one prints its number, and
    /// `location` reports the same.
    #[test]
    fn corrupt_with_unknown_page_prints_no_page_0() {
        let unknown = EseError::corrupt(0x2010, None, "record size", "4..", "2");
        let text = unknown.to_string();
        assert!(!text.contains("page"), "{text}");
        assert!(text.starts_with("offset 0x2010: record size"), "{text}");
        assert_eq!(unknown.location(), (0x2010, None));
        let known = EseError::corrupt(0x2010, Some(7), "record size", "4..", "2");
        assert!(known.to_string().contains("(page 7)"));
        assert_eq!(known.location(), (0x2010, Some(7)));
    }
}
