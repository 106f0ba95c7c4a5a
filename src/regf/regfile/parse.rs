//! `.reg` text → [`RegFile`]. Strict: every line is a header, key, value, comment or blank
//! line, and anything else is refused with its line number, what was expected and what was
//! found.

use super::text::cp1252_char;
use super::{RegFile, RegOp, RegVersion, REGEDIT4_HEADER, REGEDIT5_HEADER};
use crate::regf::model::{
    utf16z, ValueType, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ,
};

/// A line of a `.reg` file that is not what the format allows there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}, found {found}")]
pub struct RegParseError {
    /// 1-based line number (for a value continued over several lines, its first line).
    pub line: usize,
    pub expected: String,
    /// The text at the point of the error (quoted, shortened), or `end of line`.
    pub found: String,
}

/// How much of the offending text an error quotes.
const FOUND_MAX_CHARS: usize = 40;

fn found(rest: &str) -> String {
    if rest.is_empty() {
        return "end of line".to_string();
    }
    let mut s: String = rest.chars().take(FOUND_MAX_CHARS).collect();
    if rest.chars().count() > FOUND_MAX_CHARS {
        s.push('…');
    }
    crate::text::quoted(&s)
}

fn error(line: usize, expected: impl Into<String>, rest: &str) -> RegParseError {
    RegParseError {
        line,
        expected: expected.into(),
        found: found(rest),
    }
}

/// Where values may go: after a key line (its key), before any key, or after a `[-key]`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    NoKey,
    Key,
    DeletedKey,
}

/// Parses the text of a `.reg` file (as [`super::decode_reg_bytes`] returns it; a leading
/// byte-order mark character is also accepted). Lines may end in CR LF or LF.
pub fn parse_reg(text: &str) -> Result<RegFile, RegParseError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let header = lines.first().map(|l| l.trim_end()).unwrap_or("");
    let version = match header {
        REGEDIT5_HEADER => RegVersion::Regedit5,
        REGEDIT4_HEADER => RegVersion::Regedit4,
        _ => {
            return Err(error(
                1,
                format!("the header `{REGEDIT5_HEADER}` or `{REGEDIT4_HEADER}`"),
                header,
            ))
        }
    };
    let mut ops = Vec::new();
    let mut scope = Scope::NoKey;
    let mut next = 1usize;
    while next < lines.len() {
        let line_no = next + 1;
        let line = lines[next].trim_start();
        next += 1;
        if line.trim_end().is_empty() || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let op = parse_key_line(line.trim_end(), line_no)?;
            scope = match op {
                RegOp::DeleteKey { .. } => Scope::DeletedKey,
                _ => Scope::Key,
            };
            ops.push(op);
            continue;
        }
        if !(line.starts_with('"') || line.starts_with('@')) {
            return Err(error(
                line_no,
                "a key line `[...]`, a value line `\"name\"=...` or `@=...`, a `;` comment or a blank line",
                line,
            ));
        }
        match scope {
            Scope::Key => {}
            Scope::NoKey => {
                return Err(error(
                    line_no,
                    "a key line `[...]` before the first value",
                    line,
                ))
            }
            Scope::DeletedKey => {
                return Err(error(
                    line_no,
                    "a key line `[...]`: values cannot follow a `[-key]` deletion",
                    line,
                ))
            }
        }
        let (name, data) = parse_name_and_equals(line, line_no)?;
        let mut data = data.trim_end().to_string();
        if starts_with_ignore_case(&data, "hex") {
            // A hex list continues over lines ending in `\` (regedit wraps at 80 columns).
            while data.ends_with('\\') {
                data.pop();
                let Some(cont) = lines.get(next) else {
                    return Err(error(
                        line_no,
                        "a continuation line after the trailing `\\`",
                        "",
                    ));
                };
                next += 1;
                data.push_str(cont.trim());
            }
        }
        ops.push(parse_data(name, &data, version, line_no)?);
    }
    Ok(RegFile { version, ops })
}

fn parse_key_line(line: &str, line_no: usize) -> Result<RegOp, RegParseError> {
    let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
        return Err(error(line_no, "a key line ending in `]`", line));
    };
    let (delete, path) = match inner.strip_prefix('-') {
        Some(p) => (true, p),
        None => (false, inner),
    };
    if path.is_empty() {
        return Err(error(line_no, "a key path inside `[...]`", line));
    }
    let path = path.to_string();
    Ok(if delete {
        RegOp::DeleteKey {
            path,
            line: line_no,
        }
    } else {
        RegOp::Key {
            path,
            line: line_no,
        }
    })
}

/// Splits `"name"=rest` / `@=rest` into the unescaped name and `rest` (after `=` and spaces).
fn parse_name_and_equals(line: &str, line_no: usize) -> Result<(String, &str), RegParseError> {
    let (name, rest) = if let Some(rest) = line.strip_prefix('@') {
        (String::new(), rest)
    } else {
        parse_quoted(line, line_no)?
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(error(line_no, "`=` after the value name", rest));
    };
    Ok((name, rest.trim_start()))
}

/// Parses a quoted string at the start of `s` (`\\` and `\"` are its only escapes); returns
/// it and the text after the closing quote.
fn parse_quoted(s: &str, line_no: usize) -> Result<(String, &str), RegParseError> {
    let Some(body) = s.strip_prefix('"') else {
        return Err(error(line_no, "an opening `\"`", s));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '"'))) => out.push(e),
                _ => {
                    return Err(error(
                        line_no,
                        "an escape `\\\\` or `\\\"` after `\\`",
                        &body[i..],
                    ))
                }
            },
            c => out.push(c),
        }
    }
    Err(error(line_no, "a closing `\"`", ""))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if starts_with_ignore_case(s, prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Most hex digits a `dword:` or a `hex(t)` type may have (a 32-bit number).
const MAX_U32_HEX_DIGITS: usize = 8;

fn parse_u32_hex(digits: &str) -> Option<u32> {
    if digits.is_empty()
        || digits.len() > MAX_U32_HEX_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

fn parse_data(
    name: String,
    data: &str,
    version: RegVersion,
    line: usize,
) -> Result<RegOp, RegParseError> {
    if data == "-" {
        return Ok(RegOp::DeleteValue { name, line });
    }
    if data.starts_with('"') {
        let (text, rest) = parse_quoted(data, line)?;
        if !rest.trim().is_empty() {
            return Err(error(
                line,
                "the end of the line after the closing `\"`",
                rest.trim(),
            ));
        }
        return Ok(RegOp::SetValue {
            name,
            kind: REG_SZ,
            data: utf16z(&text),
            line,
        });
    }
    if let Some(digits) = strip_prefix_ignore_case(data, "dword:") {
        let Some(v) = parse_u32_hex(digits) else {
            return Err(error(line, "1 to 8 hex digits after `dword:`", digits));
        };
        return Ok(RegOp::SetValue {
            name,
            kind: REG_DWORD,
            data: v.to_le_bytes().to_vec(),
            line,
        });
    }
    let (kind, list) = if let Some(list) = strip_prefix_ignore_case(data, "hex:") {
        (REG_BINARY, list)
    } else if let Some(rest) = strip_prefix_ignore_case(data, "hex(") {
        let Some((digits, list)) = rest.split_once("):") else {
            return Err(error(line, "`hex(t):` with a hex type `t`", data));
        };
        let Some(kind) = parse_u32_hex(digits) else {
            return Err(error(
                line,
                "1 to 8 hex digits as the type in `hex(t):`",
                digits,
            ));
        };
        (kind, list)
    } else {
        return Err(error(
            line,
            "value data `\"text\"`, `dword:`, `hex:`, `hex(t):` or `-`",
            data,
        ));
    };
    let bytes = parse_hex_list(list, line)?;
    let data = match version {
        RegVersion::Regedit4 if is_string_type(kind) => ansi_to_utf16le(&bytes),
        _ => bytes,
    };
    Ok(RegOp::SetValue {
        name,
        kind,
        data,
        line,
    })
}

/// The string types whose `hex(t)` bytes are ANSI in a `REGEDIT4` file.
pub(crate) fn is_string_type(kind: ValueType) -> bool {
    matches!(kind, REG_SZ | REG_EXPAND_SZ | REG_MULTI_SZ)
}

fn ansi_to_utf16le(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|&b| {
            let mut unit = [0u16; 1];
            cp1252_char(b).encode_utf16(&mut unit);
            unit[0].to_le_bytes()
        })
        .collect()
}

/// `bb,bb,…` (each 1 or 2 hex digits, spaces allowed around them) → bytes; empty → no bytes.
fn parse_hex_list(list: &str, line: usize) -> Result<Vec<u8>, RegParseError> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    // One pass over the bytes (import speed: a `.reg` file is mostly hex lists).
    let mut out = Vec::with_capacity(list.len() / 3 + 1);
    for tok in list.split(',') {
        let t = tok.trim();
        let digit = |b: u8| char::from(b).to_digit(16);
        let byte = match t.as_bytes() {
            [a] => digit(*a),
            [a, b] => digit(*a).zip(digit(*b)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match byte.and_then(|b| u8::try_from(b).ok()) {
            Some(b) => out.push(b),
            None => {
                return Err(error(
                    line,
                    "a hex byte (1 or 2 hex digits) between commas",
                    tok,
                ))
            }
        }
    }
    Ok(out)
}
