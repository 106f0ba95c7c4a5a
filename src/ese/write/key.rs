//! Normalised keys: the byte strings B-trees sort by.
//!
//! Source: reference/ese.md §7 (\[MS\] `fldnorm.cxx`): each segment is one prefix byte (`0x7F`
//! data, `0x00` NULL, `0x40` zero-length) and a body; signed integers big-endian with the sign
//! bit flipped; floating point with the sign bit flipped, or every bit when negative; fixed
//! Binary as is; variable Binary in 8-byte chunks each followed by a count byte; descending
//! segments with every byte complemented. Keys are at most 255 bytes in ESE97.
//!
//! Text is not normalised for user indexes: its sort key is `LCMapString` output, locale and OS
//! version dependent, which this builder does not reproduce. The catalog's own text keys
//! (object names, code page 1252, ASCII) are upper-cased and NUL-terminated, as the catalog
//! `Name` index of every sample holds them (\[V\] basic.edb page 15: `7F 'SPACEUSAGE' 00`).

use super::{ColumnType, Storage, Value};

/// `JET_cbKeyMost_OLD` (reference §7).
pub const KEY_MOST: usize = 255;
/// Segment prefix bytes (reference §7).
pub const KEY_PREFIX_DATA: u8 = 0x7F;
pub const KEY_PREFIX_NULL: u8 = 0x00;
pub const KEY_PREFIX_ZERO_LENGTH: u8 = 0x40;
/// Variable Binary: 8-byte chunks, each followed by 9 when more data follows, else the count
/// of valid bytes in the zero-padded last chunk (reference §7).
pub const BINARY_CHUNK: usize = 8;
pub const BINARY_CHUNK_MORE: u8 = 9;

/// Why a value cannot be a key segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The column's type is not normalised by this builder (text, long values).
    Unsupported(ColumnType),
    /// The value does not match the column type.
    WrongType,
}

/// Whether a column of this type and storage may be an index segment here.
pub fn indexable(coltyp: ColumnType) -> bool {
    !matches!(
        coltyp,
        ColumnType::Text | ColumnType::LongText | ColumnType::LongBinary
    )
}

fn flip_float_bits(bits: u64, width: u32) -> u64 {
    let sign = 1u64 << (width - 1);
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    if bits & sign != 0 {
        !bits & mask
    } else {
        bits ^ sign
    }
}

/// Appends the normalised segment for `value` to `out`.
pub fn push_segment(
    out: &mut Vec<u8>,
    coltyp: ColumnType,
    storage: Storage,
    value: &Value,
    ascending: bool,
) -> Result<(), KeyError> {
    let start = out.len();
    match (coltyp, value) {
        (_, Value::Null) => out.push(KEY_PREFIX_NULL),
        (ColumnType::Bit, Value::Bit(b)) => {
            out.push(KEY_PREFIX_DATA);
            out.push(if *b { 0xFF } else { 0x00 });
        }
        (ColumnType::UnsignedByte, Value::UnsignedByte(b)) => {
            out.extend_from_slice(&[KEY_PREFIX_DATA, *b]);
        }
        (ColumnType::Short, Value::Short(v)) => {
            out.push(KEY_PREFIX_DATA);
            out.extend_from_slice(&((*v as u16) ^ 0x8000).to_be_bytes());
        }
        (ColumnType::Long, Value::Long(v)) => {
            out.push(KEY_PREFIX_DATA);
            out.extend_from_slice(&((*v as u32) ^ 0x8000_0000).to_be_bytes());
        }
        (ColumnType::Currency, Value::Currency(v)) => {
            out.push(KEY_PREFIX_DATA);
            out.extend_from_slice(&((*v as u64) ^ (1 << 63)).to_be_bytes());
        }
        (ColumnType::IeeeSingle, Value::IeeeSingle(v)) => {
            out.push(KEY_PREFIX_DATA);
            let bits = flip_float_bits(u64::from(v.to_bits()), 32) as u32;
            out.extend_from_slice(&bits.to_be_bytes());
        }
        (ColumnType::IeeeDouble, Value::IeeeDouble(v))
        | (ColumnType::DateTime, Value::DateTime(v)) => {
            out.push(KEY_PREFIX_DATA);
            out.extend_from_slice(&flip_float_bits(v.to_bits(), 64).to_be_bytes());
        }
        (ColumnType::Binary, Value::Binary(b)) => {
            if b.is_empty() {
                out.push(KEY_PREFIX_ZERO_LENGTH);
            } else if storage == Storage::Fixed {
                out.push(KEY_PREFIX_DATA);
                out.extend_from_slice(b);
            } else {
                out.push(KEY_PREFIX_DATA);
                let mut chunks = b.chunks(BINARY_CHUNK).peekable();
                while let Some(chunk) = chunks.next() {
                    out.extend_from_slice(chunk);
                    if chunks.peek().is_some() {
                        out.push(BINARY_CHUNK_MORE);
                    } else {
                        out.resize(out.len() + BINARY_CHUNK - chunk.len(), 0);
                        out.push(chunk.len() as u8);
                    }
                }
            }
        }
        (ct, _) if !indexable(ct) => return Err(KeyError::Unsupported(ct)),
        _ => return Err(KeyError::WrongType),
    }
    if !ascending {
        for b in &mut out[start..] {
            *b = !*b;
        }
    }
    Ok(())
}

/// Appends the catalog's key segment for an ASCII object name: upper case, NUL-terminated.
pub fn push_catalog_name(out: &mut Vec<u8>, name: &str) {
    if name.is_empty() {
        out.push(KEY_PREFIX_ZERO_LENGTH);
        return;
    }
    out.push(KEY_PREFIX_DATA);
    out.extend(name.bytes().map(|b| b.to_ascii_uppercase()));
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(coltyp: ColumnType, storage: Storage, v: Value, asc: bool) -> Vec<u8> {
        let mut out = Vec::new();
        push_segment(&mut out, coltyp, storage, &v, asc).unwrap();
        out
    }

    #[test]
    fn integers_are_big_endian_with_the_sign_flipped() {
        assert_eq!(
            seg(ColumnType::Long, Storage::Fixed, Value::Long(2), true),
            [0x7F, 0x80, 0, 0, 2]
        );
        assert_eq!(
            seg(ColumnType::Short, Storage::Fixed, Value::Short(-1), true),
            [0x7F, 0x7F, 0xFF]
        );
        assert_eq!(
            seg(
                ColumnType::Currency,
                Storage::Fixed,
                Value::Currency(1),
                true
            ),
            [0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn order_of_keys_follows_order_of_values() {
        let vals = [-5.5f64, -1.0, -0.0, 0.0, 0.25, 3.0, 1e10];
        let keys: Vec<_> = vals
            .iter()
            .map(|v| {
                seg(
                    ColumnType::IeeeDouble,
                    Storage::Fixed,
                    Value::IeeeDouble(*v),
                    true,
                )
            })
            .collect();
        for w in keys.windows(2) {
            assert!(w[0] <= w[1]);
        }
        let longs = [i64::MIN, -3, 0, 7, i64::MAX];
        let keys: Vec<_> = longs
            .iter()
            .map(|v| {
                seg(
                    ColumnType::Currency,
                    Storage::Fixed,
                    Value::Currency(*v),
                    true,
                )
            })
            .collect();
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
        }
        let desc: Vec<_> = longs
            .iter()
            .map(|v| {
                seg(
                    ColumnType::Currency,
                    Storage::Fixed,
                    Value::Currency(*v),
                    false,
                )
            })
            .collect();
        for w in desc.windows(2) {
            assert!(w[0] > w[1]);
        }
    }

    #[test]
    fn variable_binary_is_chunked() {
        assert_eq!(
            seg(
                ColumnType::Binary,
                Storage::Variable,
                Value::Binary(vec![1, 2, 3]),
                true
            ),
            [0x7F, 1, 2, 3, 0, 0, 0, 0, 0, 3]
        );
        let nine: Vec<u8> = (1..=9).collect();
        assert_eq!(
            seg(
                ColumnType::Binary,
                Storage::Variable,
                Value::Binary(nine),
                true
            ),
            [0x7F, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            seg(
                ColumnType::Binary,
                Storage::Variable,
                Value::Binary(vec![]),
                true
            ),
            [0x40]
        );
    }

    #[test]
    fn text_is_refused_and_null_has_its_prefix() {
        let mut out = Vec::new();
        assert_eq!(
            push_segment(
                &mut out,
                ColumnType::Text,
                Storage::Variable,
                &Value::Text("a".into()),
                true
            ),
            Err(KeyError::Unsupported(ColumnType::Text))
        );
        assert_eq!(
            seg(ColumnType::Long, Storage::Fixed, Value::Null, true),
            [0x00]
        );
        let mut out = Vec::new();
        push_catalog_name(&mut out, "SpaceUsage");
        assert_eq!(out, b"\x7fSPACEUSAGE\x00");
    }
}
