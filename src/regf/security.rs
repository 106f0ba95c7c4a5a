//! Security cells of a hive being edited: reference counts, and the ring of all sk cells.
//! Source: reference/regf.md §3 "sk" (SUH, LIBREGF; refcount behaviour from ROS).

use super::edit::Editor;
use super::error::RegfError;
use super::hive::{abs, nk, sk, CellOffset};

impl Editor {
    /// Adds `delta` (±1) to an sk's reference count; at 0 the sk is unlinked and freed.
    pub(crate) fn security_ref(&mut self, skoff: CellOffset, delta: i32) -> Result<(), RegfError> {
        let s = self.hive().security(skoff)?;
        let count = s.refcount.checked_add_signed(delta).ok_or_else(|| {
            RegfError::corrupt(abs(skoff), "security cell reference count underflow")
        })?;
        if count == 0 && s.flink != skoff {
            self.put_u32(s.blink, sk::FLINK, s.flink)?;
            self.put_u32(s.flink, sk::BLINK, s.blink)?;
            return self.free_cell(skoff);
        }
        self.put_u32(skoff, sk::REFCOUNT, count)
    }

    /// Gives the key at `path` this self-relative security descriptor: an sk with the same
    /// descriptor is shared (reference count + 1), else a new sk joins the list.
    pub fn set_security(&mut self, path: &str, descriptor: &[u8]) -> Result<(), RegfError> {
        let key = self.key(path)?;
        let old = key.security;
        // Look for an equal descriptor in the ring.
        let mut cur = old;
        let mut found = None;
        for _ in 0..=self.free.len() + self.bins_size as usize / 8 {
            let s = self.hive().security(cur)?;
            if s.descriptor == descriptor {
                found = Some(cur);
                break;
            }
            cur = s.flink;
            if cur == old {
                break;
            }
        }
        let target = match found {
            Some(t) => t,
            None => {
                let head = self.hive().security(old)?;
                let mut rec = vec![0u8; sk::SD + descriptor.len()];
                rec[0..2].copy_from_slice(b"sk");
                rec[sk::FLINK..sk::FLINK + 4].copy_from_slice(&old.to_le_bytes());
                rec[sk::BLINK..sk::BLINK + 4].copy_from_slice(&head.blink.to_le_bytes());
                rec[sk::SD_SIZE..sk::SD_SIZE + 4]
                    .copy_from_slice(&(descriptor.len() as u32).to_le_bytes());
                rec[sk::SD..].copy_from_slice(descriptor);
                let off = self.new_cell(&rec)?;
                self.put_u32(head.blink, sk::FLINK, off)?;
                self.put_u32(old, sk::BLINK, off)?;
                off
            }
        };
        if target == old {
            return Ok(());
        }
        self.security_ref(target, 1)?;
        self.put_u32(key.offset, nk::SECURITY, target)?;
        self.security_ref(old, -1)
    }
}
