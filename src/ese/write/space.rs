//! Space trees: the `SPACE_HEADER` every tree root holds as tag 0, and the owned-extent (OE)
//! and available-extent (AE) trees of multiple-extent trees.
//!
//! Source: reference/ese.md §6 (\[MS\] `space.hxx` `SPACE_HEADER`, `space.cxx` `SPEXTKEY`):
//! 16-byte header `cpgPrimary`, `pgnoParent`, flags (0x01 multiple extent, 0x02 non-unique),
//! `pgnoOE` (the AE tree root is `pgnoOE + 1`); space-tree leaf node key = big-endian
//! `pgnoLast`, data = little-endian page count. ESE98 space-tree roots keep a 16-byte split
//! buffer in tag 0 (\[V\] basic.edb pages 2, 3: 16 zero bytes); ESE97 ones may lack it
//! (\[MS\] `node.cxx`), so the ESE97 form writes none.

use super::error::BuildError;
use super::page::{lay_out, NodeList, PageSpec, PAGE_SIZE};
use super::tree::PageSink;
use crate::ese::page::flags as page_flags;
use crate::ese::space::{SpaceHeader, SPACE_MULTIPLE_EXTENT, SPACE_NON_UNIQUE};

/// The ESE98 space-tree root's split buffer (all zero when no split is in progress).
pub const SPLIT_BUFFER_SIZE: usize = 16;

/// An inclusive run of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub first: u32,
    pub last: u32,
}

impl Extent {
    pub fn pages(&self) -> u32 {
        self.last - self.first + 1
    }
}

/// Merges sorted page numbers into extents.
pub fn extents_of(pages: &[u32]) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::new();
    for &p in pages {
        match out.last_mut() {
            Some(e) if e.last + 1 == p => e.last = p,
            _ => out.push(Extent { first: p, last: p }),
        }
    }
    out
}

/// The tag-0 header of a multiple-extent tree root.
pub fn space_header(
    cpg_primary: u32,
    pgno_parent: u32,
    non_unique: bool,
    pgno_oe: u32,
) -> [u8; SpaceHeader::LEN] {
    SpaceHeader {
        cpg_primary,
        pgno_parent,
        flags: SPACE_MULTIPLE_EXTENT | if non_unique { SPACE_NON_UNIQUE } else { 0 },
        pgno_oe,
    }
    .to_bytes()
}

/// Writes the OE tree root at `pgno_oe` and the AE tree root at `pgno_oe + 1` of the tree
/// `objid`. Each is a single root leaf (a tree owning more extents than a page holds is not
/// something this builder makes: its trees own a handful of extents each).
pub fn write_space_trees(
    sink: &mut dyn PageSink,
    objid: u32,
    base_flags: u32,
    split_buffer: bool,
    pgno_oe: u32,
    owned: &[Extent],
    available: &[Extent],
) -> Result<(), BuildError> {
    let mut page = vec![0u8; PAGE_SIZE];
    let external = if split_buffer {
        &[0u8; SPLIT_BUFFER_SIZE][..]
    } else {
        &[][..]
    };
    for (pgno, extents) in [(pgno_oe, owned), (pgno_oe + 1, available)] {
        let mut nodes = NodeList::default();
        for e in extents {
            if !nodes.fits(4, 4) {
                return Err(BuildError::Schema(format!(
                    "space tree of object {objid} needs more than one page of extents"
                )));
            }
            nodes.push(&e.last.to_be_bytes(), &e.pages().to_le_bytes());
        }
        let h = PageSpec {
            pgno,
            dbtime: sink.dbtime(),
            prev: 0,
            next: 0,
            objid,
            flags: base_flags | page_flags::ROOT | page_flags::LEAF | page_flags::SPACE_TREE,
        };
        lay_out(&mut page, &h, external, &nodes);
        sink.write(pgno, &page)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_merge_runs() {
        assert_eq!(
            extents_of(&[4, 5, 6, 9, 11, 12]),
            vec![
                Extent { first: 4, last: 6 },
                Extent { first: 9, last: 9 },
                Extent {
                    first: 11,
                    last: 12
                }
            ]
        );
        let h = space_header(20, 1, false, 5);
        assert_eq!(h, [20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]);
    }
}
