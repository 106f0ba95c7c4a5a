//! Space trees: which pages a B-tree (or the whole database) owns.
//!
//! Source: reference/ese.md §6 ([MS] `space.hxx` `SPACE_HEADER`, `space.cxx` `SPEXTKEY`): tag 0
//! of an FDP root page holds `{i32 cpgPrimary, u32 pgnoParent, u32 flags, u32 pgnoOE}`; with
//! flag 0x01 (multiple extent) the owned extents are the leaves of the OE tree rooted at
//! pgnoOE (key = big-endian pgnoLast, data = u32 cpg); otherwise the FDP owns
//! `[pgnoFDP, pgnoFDP + cpgPrimary - 1]`.

use crate::ese::btree::Database;
use crate::ese::error::EseError;
use std::ops::{ControlFlow, RangeInclusive};

/// The database-wide space tree root ([MS] `pgnoSystemRoot`, `objidSystemRoot`).
pub const DB_ROOT_PGNO: u32 = 1;
pub const DB_ROOT_OBJID: u32 = 1;
/// Root page of the database root's owned-extent tree ([V] basic.edb page 2; the
/// available-extent tree follows at page 3).
pub const DB_ROOT_OE_PGNO: u32 = 2;
/// `SPACE_HEADER` flags: the FDP has an OE/AE tree pair; the tree's keys are not unique.
pub const SPACE_MULTIPLE_EXTENT: u32 = 0x01;
pub const SPACE_NON_UNIQUE: u32 = 0x02;

/// `SPACE_HEADER` field offsets within tag 0 of an FDP root.
mod at {
    pub const CPG_PRIMARY: usize = 0;
    pub const PGNO_PARENT: usize = 4;
    pub const FLAGS: usize = 8;
    pub const PGNO_OE: usize = 12;
}

/// `SPACE_HEADER` as written: `i32 cpgPrimary`, `u32 pgnoParent`, `u32 flags`, `u32 pgnoOE`
/// (the AE tree root is `pgnoOE + 1`). The reader takes the fields one by one
/// ([`owned_extents`]), so that a single-extent header needs only the fields it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceHeader {
    pub cpg_primary: u32,
    pub pgno_parent: u32,
    pub flags: u32,
    pub pgno_oe: u32,
}

impl SpaceHeader {
    pub const LEN: usize = 16;

    pub fn to_bytes(&self) -> [u8; SpaceHeader::LEN] {
        let mut h = [0u8; SpaceHeader::LEN];
        h[at::CPG_PRIMARY..at::CPG_PRIMARY + 4].copy_from_slice(&self.cpg_primary.to_le_bytes());
        h[at::PGNO_PARENT..at::PGNO_PARENT + 4].copy_from_slice(&self.pgno_parent.to_le_bytes());
        h[at::FLAGS..at::FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        h[at::PGNO_OE..at::PGNO_OE + 4].copy_from_slice(&self.pgno_oe.to_le_bytes());
        h
    }
}

/// The extents owned by the B-tree rooted at `pgno_fdp` (object `objid`).
pub fn owned_extents(
    db: &Database,
    pgno_fdp: u32,
    objid: u32,
) -> Result<Vec<RangeInclusive<u32>>, EseError> {
    let root = db.page(pgno_fdp, 0, "space root")?;
    let (_, header) = root.tag_data(0)?;
    let cpg_primary = header.i32("SPACE_HEADER.cpgPrimary", at::CPG_PRIMARY)?;
    let flags = header.u32("SPACE_HEADER.flags", at::FLAGS)?;
    if flags & SPACE_MULTIPLE_EXTENT == 0 {
        let cpg = u32::try_from(cpg_primary.max(1)).unwrap_or(1);
        return Ok(vec![pgno_fdp..=pgno_fdp.saturating_add(cpg - 1)]);
    }
    let pgno_oe = header.u32("SPACE_HEADER.pgnoOE", at::PGNO_OE)?;
    let mut out = Vec::new();
    db.walk(
        pgno_oe,
        objid,
        |_| {},
        |entry| {
            let key = entry.node.key();
            let k = crate::bytes::Bytes::new(&key, entry.node.suffix.base());
            // The last 4 key bytes are pgnoLast (newer pool keys put a flag byte first).
            let last = k.u32_be("SPEXTKEY.pgnoLast", key.len().saturating_sub(4))?;
            let cpg = entry.node.data.u32("extent cpg", 0)?;
            if cpg == 0 || cpg > last {
                return Err(EseError::corrupt(
                    entry.node.data.base(),
                    Some(entry.page.pgno),
                    "owned extent size",
                    crate::text::range(1u32, last),
                    cpg.to_string(),
                ));
            }
            out.push(last - cpg + 1..=last);
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(out)
}

/// The highest page the database owns, per its root space tree.
pub fn database_last_owned_page(db: &Database) -> Result<u32, EseError> {
    Ok(owned_extents(db, DB_ROOT_PGNO, DB_ROOT_OBJID)?
        .iter()
        .map(|r| *r.end())
        .max()
        .unwrap_or(0))
}
