//! Values of a hive being edited: inline data up to 4 bytes, one data cell, or (minor ≥ 4,
//! more than 16344 bytes) a `db` record with its segments. Source: reference/regf.md §3 "vk"
//! and "Set / delete value" (ROS `CmSetValueKey`, `CmDeleteValueKey`).

use super::edit::{Editor, MAX_VALUE_NAME};
use super::error::RegfError;
use super::hive::{
    nk, vk, CellOffset, DataPlace, BIG_DATA_SEGMENT, DATA_INLINE, KEY_SYM_LINK, MINOR_BIG_DATA,
    VALUE_COMP_NAME,
};
use super::name;

/// The one value a symbolic-link key may carry (REG_LINK; reference/regf.md §3).
pub const SYMLINK_VALUE: &str = "SymbolicLinkValue";

impl Editor {
    /// Frees the data cells of a value.
    pub(crate) fn free_data(&mut self, place: &DataPlace) -> Result<(), RegfError> {
        match place {
            DataPlace::Inline => Ok(()),
            DataPlace::Cell(c) => self.free_cell(*c),
            DataPlace::Big { db, list, segments } => {
                for &s in segments {
                    self.free_cell(s)?;
                }
                self.free_cell(*list)?;
                self.free_cell(*db)
            }
        }
    }

    /// Stores data as the hive's version wants it; returns (vk data size, vk data offset).
    pub(crate) fn store_data(&mut self, data: &[u8]) -> Result<(u32, u32), RegfError> {
        let len = data.len();
        if len > (!DATA_INLINE) as usize {
            return Err(RegfError::Unsupported {
                what: format!("value data of {len} bytes"),
            });
        }
        if len <= 4 {
            let mut w = [0u8; 4];
            w[..len].copy_from_slice(data);
            return Ok((len as u32 | DATA_INLINE, u32::from_le_bytes(w)));
        }
        if self.minor >= MINOR_BIG_DATA && len > BIG_DATA_SEGMENT as usize {
            // Every segment cell is full size, the last one zero-padded: what Windows writes
            // (BigDataHive's 81,725-byte value: six 16,352-byte segment cells, the last
            // holding 5 bytes; testhive likewise), and what hivex needs: it reads a short
            // last segment as 8 bytes shorter than its cell (a 1-byte tail in an 8-byte cell
            // comes back missing).
            let mut segs = Vec::new();
            for chunk in data.chunks(BIG_DATA_SEGMENT as usize) {
                let seg = if chunk.len() < BIG_DATA_SEGMENT as usize {
                    let mut full = chunk.to_vec();
                    full.resize(BIG_DATA_SEGMENT as usize, 0);
                    self.new_cell(&full)?
                } else {
                    self.new_cell(chunk)?
                };
                segs.push(seg);
            }
            let list_bytes: Vec<u8> = segs.iter().flat_map(|s| s.to_le_bytes()).collect();
            let list = self.new_cell(&list_bytes)?;
            let mut db = Vec::with_capacity(12);
            db.extend_from_slice(b"db");
            db.extend_from_slice(&(segs.len() as u16).to_le_bytes());
            db.extend_from_slice(&list.to_le_bytes());
            db.extend_from_slice(&0u32.to_le_bytes());
            let dbo = self.new_cell(&db)?;
            return Ok((len as u32, dbo.0));
        }
        Ok((len as u32, self.new_cell(data)?.0))
    }

    /// Sets a value of the key at `path` (the key must exist): replaces the data of an
    /// existing value (case-insensitive name), or adds the value.
    pub fn set_value(
        &mut self,
        path: &str,
        value: &str,
        kind: u32,
        data: &[u8],
    ) -> Result<(), RegfError> {
        let key = self.key(path)?;
        self.set_value_at(key.offset, value, kind, data)
    }

    /// [`Editor::set_value`] on the key node at `key_off`.
    pub fn set_value_at(
        &mut self,
        key_off: CellOffset,
        value: &str,
        kind: u32,
        data: &[u8],
    ) -> Result<(), RegfError> {
        let key = self.hive().key(key_off)?;
        if key.flags & KEY_SYM_LINK != 0
            && !name::eq(&name::from_str(value), &name::from_str(SYMLINK_VALUE))
        {
            return Err(RegfError::Unsupported {
                what: format!(
                    "key {} is a symbolic link; it carries only {SYMLINK_VALUE}",
                    crate::text::quoted(&name::to_string(&key.name))
                ),
            });
        }
        let vname = name::from_str(value);
        if vname.len() > MAX_VALUE_NAME {
            return Err(RegfError::InvalidName {
                name: value.to_string(),
                why: "a value name has at most 16383 characters",
            });
        }
        if let Some(v) = self.hive().find_value(&key, &vname)? {
            let place = self.hive().data_place(&v)?;
            let big = self.minor >= MINOR_BIG_DATA && data.len() > BIG_DATA_SEGMENT as usize;
            let fits = match place {
                DataPlace::Cell(c) if data.len() > 4 && !big => {
                    self.hive().cell(c, "value data")?.len() >= data.len()
                }
                _ => false,
            };
            let (size, off) = if fits {
                let DataPlace::Cell(c) = place else {
                    unreachable!("checked above")
                };
                self.put(c, 0, data)?;
                (data.len() as u32, c.0)
            } else {
                self.free_data(&place)?;
                self.store_data(data)?
            };
            self.put_u32(v.offset, vk::DATA_SIZE, size)?;
            self.put_u32(v.offset, vk::DATA_OFFSET, off)?;
            self.put_u32(v.offset, vk::TYPE, kind)?;
        } else {
            let (raw, comp) = name::encode(&vname);
            let (size, off) = self.store_data(data)?;
            let mut rec = vec![0u8; vk::NAME + raw.len()];
            rec[0..2].copy_from_slice(b"vk");
            rec[vk::NAME_LEN..vk::NAME_LEN + 2].copy_from_slice(&(raw.len() as u16).to_le_bytes());
            rec[vk::DATA_SIZE..vk::DATA_SIZE + 4].copy_from_slice(&size.to_le_bytes());
            rec[vk::DATA_OFFSET..vk::DATA_OFFSET + 4].copy_from_slice(&off.to_le_bytes());
            rec[vk::TYPE..vk::TYPE + 4].copy_from_slice(&kind.to_le_bytes());
            let flags: u16 = if comp && !vname.is_empty() {
                VALUE_COMP_NAME
            } else {
                0
            };
            rec[vk::FLAGS..vk::FLAGS + 2].copy_from_slice(&flags.to_le_bytes());
            rec[vk::NAME..].copy_from_slice(&raw);
            let vko = self.new_cell(&rec)?;
            let mut list: Vec<u8> = self
                .hive()
                .value_offsets(&key)?
                .iter()
                .flat_map(|o| o.to_le_bytes())
                .collect();
            list.extend_from_slice(&vko.to_le_bytes());
            let old = if key.value_count > 0 {
                key.value_list
            } else {
                CellOffset::NIL
            };
            let lo = self.rewrite(old, &list)?;
            self.put_u32(key.offset, nk::VALUE_LIST, lo)?;
            self.put_u32(key.offset, nk::VALUE_COUNT, key.value_count + 1)?;
        }
        let name_bytes = vname.len() as u32 * 2;
        if key.max_value_name_len < name_bytes {
            self.put_u32(key.offset, nk::MAX_VALUE_NAME_LEN, name_bytes)?;
        }
        if key.max_value_data_len < data.len() as u32 {
            self.put_u32(key.offset, nk::MAX_VALUE_DATA_LEN, data.len() as u32)?;
        }
        self.touch(key.offset)
    }

    /// Deletes a value; returns false when the key has no such value.
    pub fn delete_value(&mut self, path: &str, value: &str) -> Result<bool, RegfError> {
        let key = self.key(path)?;
        let vname = name::from_str(value);
        let offs = self.hive().value_offsets(&key)?;
        let mut hit = None;
        for (i, &o) in offs.iter().enumerate() {
            if name::eq(&self.hive().value(o)?.name, &vname) {
                hit = Some(i);
                break;
            }
        }
        let Some(i) = hit else { return Ok(false) };
        let v = self.hive().value(offs[i])?;
        let place = self.hive().data_place(&v)?;
        self.free_data(&place)?;
        self.free_cell(v.offset)?;
        let mut rest = offs;
        rest.remove(i);
        if rest.is_empty() {
            self.free_cell(key.value_list)?;
            self.put_u32(key.offset, nk::VALUE_LIST, CellOffset::NIL)?;
            self.put_u32(key.offset, nk::MAX_VALUE_NAME_LEN, 0u32)?;
            self.put_u32(key.offset, nk::MAX_VALUE_DATA_LEN, 0u32)?;
        } else {
            let bytes: Vec<u8> = rest.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.put(key.value_list, 0, &bytes)?;
        }
        self.put_u32(key.offset, nk::VALUE_COUNT, rest.len() as u32)?;
        self.touch(key.offset)?;
        Ok(true)
    }
}
