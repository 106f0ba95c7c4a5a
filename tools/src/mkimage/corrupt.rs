//! The `bad-page` defect: exactly one data page of a finished database gets a wrong checksum.
//!
//! Pages are read with `coldpatch::ese::page` (reference/ese.md §3): the chosen page is a
//! leaf of a user table with a record in tag 1; the byte flipped is in the middle of that
//! record, so the page still parses and only its checksum is wrong.

use coldpatch::bytes::Bytes;
use coldpatch::ese::catalog::OBJID_FIRST_USER;
use coldpatch::ese::checksum::OldPageChecksum;
use coldpatch::ese::header::{page_offset, HEADER_PAGES};
use coldpatch::ese::page::{flags, Page};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Exchange 5.5 databases have 4 KiB pages (store-model.md, "File format").
pub const PAGE_SIZE: u64 = 4096;
/// Object ids of the database's own trees: space root 1, `MSysObjects` 2, its shadow 3, the
/// catalog indexes 4 and 5 (reference/ese.md §6). User tables come after them.
const LAST_SYSTEM_OBJID: u32 = OBJID_FIRST_USER - 1;

/// What was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadPage {
    pub pgno: u32,
    /// Absolute file offset of the changed byte.
    pub offset: u64,
    pub old_byte: u8,
    pub new_byte: u8,
    /// The page's stored checksum (still the one of the original page) and the one its bytes
    /// now give.
    pub stored_xor: u32,
    pub expected_xor: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CorruptError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: no leaf data page with a valid checksum and a record ({pages} pages looked at)"
    )]
    NoDataPage { path: PathBuf, pages: u64 },
}

/// A leaf page of a user table's data with at least one record and a valid old-format
/// checksum: where (page offset) the middle of its first record sits, if so. The page is read
/// with the project's page reader; a page it cannot read is not a candidate.
fn data_record(page: &[u8], pgno: u32, base: u64) -> Option<usize> {
    let p = Page::parse(Bytes::new(page, base), pgno).ok()?;
    let not_data = flags::EMPTY | flags::SPACE_TREE | flags::INDEX | flags::LONG_VALUE;
    if !p.header.has(flags::LEAF)
        || p.header.has(not_data)
        || p.tag_count() < 2
        || p.header.objid_fdp <= LAST_SYSTEM_OBJID
    {
        return None;
    }
    if OldPageChecksum::stored(page) != OldPageChecksum::expected(page, pgno) {
        return None;
    }
    let (tag, record) = p.tag_data(1).ok()?;
    if tag.cb == 0 {
        return None;
    }
    let start = usize::try_from(record.base().checked_sub(base)?).ok()?;
    start.checked_add(tag.cb / 2)
}

/// Flips one byte in the middle of the first record of one table-data leaf page of the
/// database at `path` (searching from the middle of the file onwards, then from the start), so
/// that exactly that page's checksum is wrong. Reads one page at a time.
pub fn break_one_page(path: &Path) -> Result<BadPage, CorruptError> {
    let io = |source| CorruptError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let pages = (len / PAGE_SIZE).saturating_sub(HEADER_PAGES);
    let mut page = vec![0u8; PAGE_SIZE as usize];
    let middle = pages / 2 + 1;
    let order = (middle..=pages).chain(1..middle);
    for pgno in order {
        let pgno32 = pgno as u32;
        let base = page_offset(pgno32, PAGE_SIZE as u32);
        read_page(&mut file, base, &mut page).map_err(io)?;
        if let Some(at) = data_record(&page, pgno32, base) {
            let old_byte = page[at];
            let new_byte = !old_byte;
            page[at] = new_byte;
            let offset = base + at as u64;
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
            file.write_all(&[new_byte]).map_err(io)?;
            file.sync_all().map_err(io)?;
            return Ok(BadPage {
                pgno: pgno32,
                offset,
                old_byte,
                new_byte,
                stored_xor: OldPageChecksum::stored(&page).xor,
                expected_xor: OldPageChecksum::expected(&page, pgno32).xor,
            });
        }
    }
    Err(CorruptError::NoDataPage {
        path: path.to_path_buf(),
        pages,
    })
}

fn read_page(file: &mut File, at: u64, page: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coldpatch::ese::checksum::stamp_old_format_page;
    use coldpatch::ese::page::{offsets, SMALL_HEADER_LEN};

    /// A page of tree `objid` with the given flags and one 100-byte record at ib 0.
    fn page(pgno: u32, flags: u32, objid: u32) -> Vec<u8> {
        let mut p = vec![0u8; PAGE_SIZE as usize];
        p[offsets::OBJID_FDP..offsets::OBJID_FDP + 4].copy_from_slice(&objid.to_le_bytes());
        p[offsets::FLAGS..offsets::FLAGS + 4].copy_from_slice(&flags.to_le_bytes());
        p[offsets::ITAG_STATE..offsets::ITAG_STATE + 2].copy_from_slice(&2u16.to_le_bytes());
        let n = p.len();
        // tag 0: empty external header; tag 1: cb 100, ib 0.
        p[n - 8..n - 6].copy_from_slice(&100u16.to_le_bytes());
        p[n - 6..n - 4].copy_from_slice(&0u16.to_le_bytes());
        for (i, b) in p[SMALL_HEADER_LEN..SMALL_HEADER_LEN + 100]
            .iter_mut()
            .enumerate()
        {
            *b = i as u8;
        }
        stamp_old_format_page(&mut p, pgno);
        p
    }

    fn bad_pages(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks(PAGE_SIZE as usize)
            .enumerate()
            .skip(HEADER_PAGES as usize)
            .filter_map(|(i, p)| {
                let pgno = (i as u64 - 1) as u32;
                (OldPageChecksum::stored(p) != OldPageChecksum::expected(p, pgno)).then_some(pgno)
            })
            .collect()
    }

    #[test]
    fn breaks_exactly_one_leaf_data_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.edb");
        let mut file = vec![0u8; 2 * PAGE_SIZE as usize];
        // pages 1..=7: root, space tree leaf, index leaf, catalog leaf, data leaf, LV leaf,
        // data leaf
        let pages = [
            (0x1, 10),
            (0x22, 10),
            (0x42, 10),
            (0x3, 2),
            (0x2, 10),
            (0x82, 10),
            (0x2, 11),
        ];
        for (i, (flags, objid)) in pages.iter().enumerate() {
            file.extend(page(i as u32 + 1, *flags, *objid));
        }
        std::fs::write(&path, &file).unwrap();
        assert!(bad_pages(&file).is_empty());

        let bad = break_one_page(&path).unwrap();
        let after = std::fs::read(&path).unwrap();
        assert_eq!(bad_pages(&after), vec![bad.pgno]);
        // The search starts in the middle (page 4, the catalog's): the next data leaf is 5.
        assert_eq!(bad.pgno, 5);
        assert_ne!(bad.stored_xor, bad.expected_xor);
        let diff: Vec<usize> = (0..file.len()).filter(|&i| file[i] != after[i]).collect();
        assert_eq!(diff, vec![bad.offset as usize]);
        assert_eq!(after[bad.offset as usize], bad.new_byte);
    }

    #[test]
    fn refuses_a_file_without_data_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.edb");
        let mut file = vec![0u8; 2 * PAGE_SIZE as usize];
        file.extend(page(1, 0x22, 10));
        file.extend(page(2, 0x3, 2));
        file.extend(b"not a page".iter());
        std::fs::write(&path, &file).unwrap();
        assert!(matches!(
            break_one_page(&path),
            Err(CorruptError::NoDataPage { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), file, "nothing written");
    }
}
