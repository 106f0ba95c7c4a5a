//! A key tree → `.reg` text, in the form Windows' regedit (and `reg export`) writes.
//!
//! * CR LF line ends; the header, a blank line, then per key `[path]`, its values, a blank line.
//! * REG_SZ as `"text"` when the data is a proper string: UTF-16LE, NUL-terminated, no NUL
//!   before the end, no line break (which the line-based format cannot hold). Anything else
//!   as `hex(1):`, so that the bytes come back exactly (Windows itself writes every REG_SZ as
//!   text, silently cutting it at the first NUL).
//! * REG_DWORD of 4 bytes as `dword:xxxxxxxx`; REG_BINARY as `hex:`, every other type (and a
//!   DWORD of another size) as `hex(t):` with `t` in lower-case hex.
//! * Hex lists wrap as Windows wraps them: after a byte's comma, once the line (counted in
//!   UTF-16 units from the value name's opening quote) reaches 77 characters, the line ends in
//!   `\` and the next starts with two spaces (Wine reg.exe tests, `export.c`: a 17-byte first
//!   line after `"Multiple strings"=hex(7):`, 25 bytes per continuation line).
//! * `REGEDIT4`: the string types' bytes are written as ANSI (code page 1252); names, paths
//!   and strings must be representable in it, else the value is refused.

use super::parse::is_string_type;
use super::text::cp1252_byte;
use super::{RegVersion, REGEDIT4_HEADER};
use crate::regf::model::{ValueSpec, REG_BINARY, REG_DWORD, REG_SZ};
use std::fmt::Write as _;

/// Line end regedit writes.
const CRLF: &str = "\r\n";
/// A hex line is broken once it reaches this many characters (see the module comment).
const HEX_WRAP_AT: usize = 77;
/// Indentation of a continued hex line.
const HEX_CONTINUATION_INDENT: &str = "  ";

/// A key or value that cannot be written to a `.reg` file of the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {}{}: expected {expected}, found {found}", crate::text::quoted(path), value.as_ref().map(|v| format!(", value {}", crate::text::quoted(v))).unwrap_or_default())]
pub struct RegFormatError {
    pub path: String,
    /// The value's name, when the value (not the key path) is the problem.
    pub value: Option<String>,
    pub expected: &'static str,
    pub found: String,
}

/// Writes `keys` (each a full key path, e.g. `HKEY_LOCAL_MACHINE\SYSTEM\Select`, with its
/// values in the order given) as a `.reg` file. The text is returned as a `String`; write it
/// with [`super::encode_reg_text`] to get the bytes regedit would write.
pub fn format_reg(
    version: RegVersion,
    keys: &[(String, Vec<ValueSpec>)],
) -> Result<String, RegFormatError> {
    let mut out = String::new();
    out.push_str(match version {
        RegVersion::Regedit5 => super::REGEDIT5_HEADER,
        RegVersion::Regedit4 => REGEDIT4_HEADER,
    });
    out.push_str(CRLF);
    out.push_str(CRLF);
    for (path, values) in keys {
        check_path(version, path)?;
        out.push('[');
        out.push_str(path);
        out.push(']');
        out.push_str(CRLF);
        for v in values {
            format_value(&mut out, version, path, v)?;
        }
        out.push_str(CRLF);
    }
    Ok(out)
}

/// The value lines alone (`"name"=data`, each ending in CR LF, hex lists wrapped as in a
/// file) of values of the key `path` (which only names the key in errors): what `reg get`
/// prints.
pub fn format_values(
    version: RegVersion,
    path: &str,
    values: &[ValueSpec],
) -> Result<String, RegFormatError> {
    let mut out = String::new();
    for v in values {
        format_value(&mut out, version, path, v)?;
    }
    Ok(out)
}

fn check_path(version: RegVersion, path: &str) -> Result<(), RegFormatError> {
    let refuse = |expected, found: &str| RegFormatError {
        path: path.to_string(),
        value: None,
        expected,
        found: found.to_string(),
    };
    if path.is_empty() {
        return Err(refuse("a non-empty key path", "an empty path"));
    }
    if path.starts_with('-') {
        return Err(refuse(
            "a key path not starting with `-` (`[-...]` means delete)",
            "a leading `-`",
        ));
    }
    if path.contains(['\r', '\n']) {
        return Err(refuse("a key path without line breaks", "a line break"));
    }
    if version == RegVersion::Regedit4 {
        if let Some(c) = path.chars().find(|&c| cp1252_byte(c).is_none()) {
            return Err(refuse(
                "a key path in code page 1252 for REGEDIT4",
                &format!(
                    "{} (U+{:04X})",
                    crate::text::quoted(&c.to_string()),
                    c as u32
                ),
            ));
        }
    }
    Ok(())
}

fn format_value(
    out: &mut String,
    version: RegVersion,
    path: &str,
    v: &ValueSpec,
) -> Result<(), RegFormatError> {
    let refuse = |expected, found: String| RegFormatError {
        path: path.to_string(),
        value: Some(v.name.clone()),
        expected,
        found,
    };
    if v.name.contains(['\r', '\n']) {
        return Err(refuse(
            "a value name without line breaks",
            "a line break".into(),
        ));
    }
    if version == RegVersion::Regedit4 {
        if let Some(c) = v.name.chars().find(|&c| cp1252_byte(c).is_none()) {
            return Err(refuse(
                "a value name in code page 1252 for REGEDIT4",
                format!(
                    "{} (U+{:04X})",
                    crate::text::quoted(&c.to_string()),
                    c as u32
                ),
            ));
        }
    }
    let start = out.len();
    if v.name.is_empty() {
        out.push('@');
    } else {
        push_quoted(out, &v.name);
    }
    out.push('=');
    if v.kind == REG_SZ {
        if let Some(text) = proper_string(version, &v.data) {
            push_quoted(out, &text);
            out.push_str(CRLF);
            return Ok(());
        }
    }
    if v.kind == REG_DWORD {
        if let Ok(b) = <[u8; 4]>::try_from(v.data.as_slice()) {
            let _ = write!(out, "dword:{:08x}", u32::from_le_bytes(b));
            out.push_str(CRLF);
            return Ok(());
        }
    }
    let bytes = match version {
        RegVersion::Regedit4 if is_string_type(v.kind) => {
            utf16le_to_ansi(&v.data).ok_or_else(|| {
                refuse(
                "string data in UTF-16LE whose every character is in code page 1252, for REGEDIT4",
                format!("{} bytes that are not", v.data.len()),
            )
            })?
        }
        _ => v.data.clone(),
    };
    if v.kind == REG_BINARY {
        out.push_str("hex:");
    } else {
        let _ = write!(out, "hex({:x}):", v.kind);
    }
    let mut line_len: usize = out[start..].encode_utf16().count();
    for (i, b) in bytes.iter().enumerate() {
        let _ = write!(out, "{b:02x}");
        if i + 1 == bytes.len() {
            break;
        }
        out.push(',');
        line_len += 3;
        if line_len >= HEX_WRAP_AT {
            out.push('\\');
            out.push_str(CRLF);
            out.push_str(HEX_CONTINUATION_INDENT);
            line_len = HEX_CONTINUATION_INDENT.len();
        }
    }
    out.push_str(CRLF);
    Ok(())
}

fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The text of REG_SZ data that `"text"` reproduces exactly, if there is one.
fn proper_string(version: RegVersion, data: &[u8]) -> Option<String> {
    if data.len() < 2 || data.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let (last, body) = units.split_last()?;
    if *last != 0 || body.contains(&0) {
        return None;
    }
    let text = String::from_utf16(body).ok()?;
    if text.contains(['\r', '\n']) {
        return None;
    }
    if version == RegVersion::Regedit4 && text.chars().any(|c| cp1252_byte(c).is_none()) {
        return None;
    }
    Some(text)
}

/// UTF-16LE → code page 1252 bytes, if every unit is a character the code page has.
fn utf16le_to_ansi(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() % 2 != 0 {
        return None;
    }
    data.chunks_exact(2)
        .map(|c| {
            let unit = u16::from_le_bytes([c[0], c[1]]);
            char::from_u32(u32::from(unit)).and_then(cp1252_byte)
        })
        .collect()
}
