//! Bytes ↔ text of `.reg` files: UTF-8, UTF-16LE with a byte-order mark, and the ANSI code page
//! 1252 of `REGEDIT4` files.

use super::{RegVersion, REGEDIT4_HEADER};

/// UTF-8 byte-order mark.
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];
/// UTF-16LE byte-order mark: regedit 5 writes it first in every file.
const UTF16LE_BOM: &[u8] = &[0xFF, 0xFE];
/// UTF-16BE byte-order mark (never written by regedit; refused).
const UTF16BE_BOM: &[u8] = &[0xFE, 0xFF];

/// Code page 1252, bytes 0x80..=0x9F (the only range where it differs from Latin-1).
/// Source: the Unicode consortium's mapping file `WINDOWS/CP1252.TXT`, with the five bytes it
/// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) mapped to the same code point, as Windows'
/// `MultiByteToWideChar` does.
const CP1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// The character code page 1252 gives byte `b`.
pub(crate) fn cp1252_char(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The code page 1252 byte of `c`, if it has one.
pub(crate) fn cp1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    CP1252_80_9F
        .iter()
        .position(|&m| m == c)
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// Why the bytes of a `.reg` file are not text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegDecodeError {
    #[error("byte offset {offset}: expected UTF-8 (or a REGEDIT4 file in code page 1252), found byte {found:#04x} that is not valid UTF-8")]
    InvalidUtf8 { offset: usize, found: u8 },
    #[error(
        "UTF-16LE text: expected an even number of bytes after the byte-order mark, found {len}"
    )]
    OddUtf16Length { len: usize },
    #[error("byte offset {offset}: expected a valid UTF-16LE sequence, found unpaired surrogate {unit:#06x}")]
    UnpairedSurrogate { offset: usize, unit: u16 },
    #[error("expected UTF-8 or UTF-16LE with a byte-order mark, found {found}")]
    UnsupportedEncoding { found: &'static str },
}

/// Decodes the bytes of a `.reg` file into text, without its byte-order mark.
///
/// Accepted: UTF-16LE with a byte-order mark (what regedit 5 writes), UTF-8 with or without a
/// byte-order mark, and — only for a file starting with `REGEDIT4` that is not valid UTF-8 —
/// code page 1252 (what NT4 regedit writes). UTF-16 without a byte-order mark and UTF-16BE
/// are refused, naming what was found.
pub fn decode_reg_bytes(bytes: &[u8]) -> Result<String, RegDecodeError> {
    if let Some(rest) = bytes.strip_prefix(UTF16LE_BOM) {
        return decode_utf16le(rest, UTF16LE_BOM.len());
    }
    if bytes.starts_with(UTF16BE_BOM) {
        return Err(RegDecodeError::UnsupportedEncoding {
            found: "a UTF-16BE byte-order mark",
        });
    }
    let (body, base) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, UTF8_BOM.len()),
        None => (bytes, 0),
    };
    // UTF-16LE without a mark: ASCII text with every second byte zero.
    if base == 0 && body.len() >= 2 && body[0] != 0 && body[1] == 0 {
        return Err(RegDecodeError::UnsupportedEncoding {
            found: "UTF-16LE text without a byte-order mark",
        });
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_string()),
        Err(_) if base == 0 && body.starts_with(REGEDIT4_HEADER.as_bytes()) => {
            Ok(body.iter().map(|&b| cp1252_char(b)).collect())
        }
        Err(e) => {
            let at = e.valid_up_to();
            Err(RegDecodeError::InvalidUtf8 {
                offset: base + at,
                found: body.get(at).copied().unwrap_or(0),
            })
        }
    }
}

fn decode_utf16le(body: &[u8], base: usize) -> Result<String, RegDecodeError> {
    if body.len() % 2 != 0 {
        return Err(RegDecodeError::OddUtf16Length { len: body.len() });
    }
    let units = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut out = String::with_capacity(body.len() / 2);
    for (i, r) in char::decode_utf16(units).enumerate() {
        match r {
            Ok(c) => out.push(c),
            Err(e) => {
                // `i` counts decoded items, not units: find the unit's offset by re-walking.
                let offset = base + unit_offset_of_item(body, i);
                return Err(RegDecodeError::UnpairedSurrogate {
                    offset,
                    unit: e.unpaired_surrogate(),
                });
            }
        }
    }
    Ok(out)
}

/// Byte offset (in `body`) of the `item`-th item `char::decode_utf16` yields.
fn unit_offset_of_item(body: &[u8], item: usize) -> usize {
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut unit = 0usize;
    for _ in 0..item {
        let is_pair = matches!(units.get(unit), Some(0xD800..=0xDBFF))
            && matches!(units.get(unit + 1), Some(0xDC00..=0xDFFF));
        unit += if is_pair { 2 } else { 1 };
    }
    unit * 2
}

/// A character a `REGEDIT4` file (code page 1252) cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("character {index} of the text: expected a character of code page 1252 for a REGEDIT4 file, found {} (U+{code:04X})", crate::text::quoted(&found.to_string()))]
pub struct RegEncodeError {
    pub index: usize,
    pub found: char,
    pub code: u32,
}

/// Encodes `.reg` text the way regedit writes the file: regedit 5 as UTF-16LE with a
/// byte-order mark, regedit 4 in code page 1252 (refusing characters it does not have).
pub fn encode_reg_text(version: RegVersion, text: &str) -> Result<Vec<u8>, RegEncodeError> {
    match version {
        RegVersion::Regedit5 => {
            let mut out = UTF16LE_BOM.to_vec();
            out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            Ok(out)
        }
        RegVersion::Regedit4 => text
            .chars()
            .enumerate()
            .map(|(index, c)| {
                cp1252_byte(c).ok_or(RegEncodeError {
                    index,
                    found: c,
                    code: u32::from(c),
                })
            })
            .collect(),
    }
}
