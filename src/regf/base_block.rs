//! The base block: the first 4096 bytes of a hive file. Source: reference/regf.md §1
//! (SUH §Base block, LIBREGF §2, ROS hivedata.h HBASE_BLOCK).

use super::error::RegfError;
use crate::bytes::{le_u32_words, Bytes};

/// Size of the base block; hive bins start here (file offset = 4096 + relative cell offset).
pub const BASE_BLOCK_SIZE: usize = 4096;
pub const SIGNATURE: &[u8; 4] = b"regf";

/// Why `data` is not a registry hive at all (no "regf" signature at offset 0: empty, another
/// format, noise); `None` when it starts as one, damaged or not.
pub fn not_a_hive(data: &[u8]) -> Option<String> {
    if data.starts_with(SIGNATURE) {
        None
    } else if data.is_empty() {
        Some("not a registry hive: the file is empty".into())
    } else {
        Some("not a registry hive: no \"regf\" at offset 0".into())
    }
}
pub const OFF_SEQ1: usize = 4;
pub const OFF_SEQ2: usize = 8;
pub const OFF_TIMESTAMP: usize = 12;
pub const OFF_MAJOR: usize = 20;
pub const OFF_MINOR: usize = 24;
pub const OFF_FILE_TYPE: usize = 28;
pub const OFF_FILE_FORMAT: usize = 32;
pub const OFF_ROOT: usize = 36;
pub const OFF_BINS_SIZE: usize = 40;
pub const OFF_CLUSTERING: usize = 44;
pub const OFF_FILE_NAME: usize = 48;
pub const FILE_NAME_LEN: usize = 64;
/// The checksum covers the 127 dwords before it.
pub const OFF_CHECKSUM: usize = 508;

/// File types (base block @28).
pub const FILE_TYPE_PRIMARY: u32 = 0;
pub const FILE_TYPE_LOG_XP: u32 = 1;
pub const FILE_TYPE_LOG_NT4: u32 = 2;
pub const FILE_TYPE_LOG_NEW: u32 = 6;
/// "Direct memory load", the only file format.
pub const FILE_FORMAT_DIRECT: u32 = 1;

/// The base-block checksum: XOR of the dwords at 0..508, with 0 → 1 and 0xFFFFFFFF →
/// 0xFFFFFFFE (SUH note 2, ROS hivesum.c). `first512` must hold at least 508 bytes.
pub fn checksum(first512: &[u8]) -> u32 {
    let x = le_u32_words(&first512[..OFF_CHECKSUM.min(first512.len()) & !3]).fold(0, |a, w| a ^ w);
    match x {
        0 => 1,
        0xFFFF_FFFF => 0xFFFF_FFFE,
        v => v,
    }
}

/// The fields of a base block that the tool reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseBlock {
    pub sequence1: u32,
    pub sequence2: u32,
    pub timestamp: u64,
    pub major: u32,
    pub minor: u32,
    pub file_type: u32,
    pub file_format: u32,
    pub root: u32,
    pub bins_size: u32,
    pub clustering: u32,
    pub stored_checksum: u32,
    pub computed_checksum: u32,
}

impl BaseBlock {
    /// Parses the first 512 bytes of `data` (a hive or a log). Only the signature is checked
    /// here; `verify` judges the rest.
    pub fn parse(data: &[u8]) -> Result<BaseBlock, RegfError> {
        let b = Bytes::new(data, 0);
        let sig = b.slice("base block signature", 0, 4)?;
        if sig != SIGNATURE {
            return Err(RegfError::corrupt(
                0,
                format!(
                    "base block signature: expected \"regf\", found {}",
                    crate::text::hex_bytes(sig)
                ),
            ));
        }
        let first = b.slice("base block", 0, 512)?;
        Ok(BaseBlock {
            sequence1: b.u32("primary sequence number", OFF_SEQ1)?,
            sequence2: b.u32("secondary sequence number", OFF_SEQ2)?,
            timestamp: b.u64("last written timestamp", OFF_TIMESTAMP)?,
            major: b.u32("major version", OFF_MAJOR)?,
            minor: b.u32("minor version", OFF_MINOR)?,
            file_type: b.u32("file type", OFF_FILE_TYPE)?,
            file_format: b.u32("file format", OFF_FILE_FORMAT)?,
            root: b.u32("root cell offset", OFF_ROOT)?,
            bins_size: b.u32("hive bins data size", OFF_BINS_SIZE)?,
            clustering: b.u32("clustering factor", OFF_CLUSTERING)?,
            stored_checksum: b.u32("base block checksum", OFF_CHECKSUM)?,
            computed_checksum: checksum(first),
        })
    }

    pub fn is_dirty(&self) -> bool {
        self.sequence1 != self.sequence2
    }
}

/// Rewrites the checksum of the base block at the start of `data` (at least 512 bytes).
pub fn put_checksum(data: &mut [u8]) {
    let sum = checksum(&data[..512]);
    data[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_special_cases() {
        let zero = [0u8; 512];
        assert_eq!(checksum(&zero), 1);
        let mut ones = [0u8; 512];
        ones[0..4].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(checksum(&ones), 0xFFFF_FFFE);
        ones[4..8].copy_from_slice(&0x0000_00FFu32.to_le_bytes());
        assert_eq!(checksum(&ones), 0xFFFF_FF00);
        // The stored checksum itself is outside the sum.
        ones[508..512].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(checksum(&ones), 0xFFFF_FF00);
    }
}
