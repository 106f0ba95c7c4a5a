//! The `.reg` text format that regedit exports and imports: pure text ↔ model, no hive access.
//!
//! Format facts (what Windows writes and accepts), as used here:
//!
//! * The first line is the header: `Windows Registry Editor Version 5.00` (regedit 5, Windows
//!   2000 and later; the file is UTF-16LE with a byte-order mark) or `REGEDIT4` (NT4; the file
//!   is ANSI, code page 1252 on Western systems).
//! * `[path]` opens (creates) a key, `[-path]` deletes a key and everything below it.
//! * Below a key: `"name"=data` or `@=data` (the default value), with data one of
//!   `"text"` (REG_SZ; `\\` and `\"` are the only escapes), `dword:xxxxxxxx` (REG_DWORD),
//!   `hex:bb,bb,…` (REG_BINARY), `hex(t):bb,…` (type `t` in hex, any 32-bit type), or `-`
//!   (delete the value). A hex list continues on the next line after a trailing `\`.
//! * Blank lines and lines starting with `;` are ignored.
//! * In both versions `"text"` is stored as REG_SZ in UTF-16LE with a terminating NUL
//!   (regedit 4 goes through `RegSetValueExA`, which converts). For the same reason, in a
//!   `REGEDIT4` file the bytes of `hex(1)`, `hex(2)` and `hex(7)` (the string types) are ANSI
//!   text that Windows converts to UTF-16LE on import, and writes back as ANSI on export.
//!
//! Sources: Microsoft KB 310516 ("How to add, modify, or delete registry subkeys and values by
//! using a .reg file"); Wine's reg.exe conformance tests (`programs/reg/tests/export.c`,
//! `import.c`), which record byte for byte what Windows' reg.exe/regedit write and accept,
//! including the 80-column hex wrapping; `hivexregedit(1)`.

mod format;
mod parse;
mod text;

pub use format::{format_reg, format_values, RegFormatError};
pub use parse::{parse_reg, RegParseError};
pub(crate) use text::{cp1252_byte, cp1252_char};
pub use text::{decode_reg_bytes, encode_reg_text, RegDecodeError, RegEncodeError};

use super::model::ValueType;

/// The header line of a `.reg` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegVersion {
    /// `Windows Registry Editor Version 5.00`: Unicode, written by regedit on Windows 2000+.
    Regedit5,
    /// `REGEDIT4`: ANSI (code page 1252), written by regedit on NT4 and Windows 9x.
    Regedit4,
}

/// The header text of regedit 5 files.
pub const REGEDIT5_HEADER: &str = "Windows Registry Editor Version 5.00";
/// The header text of regedit 4 files.
pub const REGEDIT4_HEADER: &str = "REGEDIT4";

impl RegVersion {
    /// The header line (without line break).
    pub fn header(self) -> &'static str {
        match self {
            RegVersion::Regedit5 => REGEDIT5_HEADER,
            RegVersion::Regedit4 => REGEDIT4_HEADER,
        }
    }
}

/// A parsed `.reg` file: its version and its operations, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegFile {
    pub version: RegVersion,
    pub ops: Vec<RegOp>,
}

/// One operation of a `.reg` file. `line` is the 1-based line where it starts.
///
/// `SetValue` and `DeleteValue` apply to the key of the most recent `Key` operation (the
/// parser refuses values before any key line and values after a `[-key]` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOp {
    /// `[-path]`: delete the key and all its subkeys.
    DeleteKey { path: String, line: usize },
    /// `[path]`: open the key, creating it (and missing parents) if absent.
    Key { path: String, line: usize },
    /// `"name"=…` / `@=…`: set a value. `name` is empty for the default value; `data` is the
    /// raw bytes as they are to be stored in the hive.
    SetValue {
        name: String,
        kind: ValueType,
        data: Vec<u8>,
        line: usize,
    },
    /// `"name"=-` / `@=-`: delete a value.
    DeleteValue { name: String, line: usize },
}

impl RegOp {
    /// The 1-based line the operation starts on.
    pub fn line(&self) -> usize {
        match self {
            RegOp::DeleteKey { line, .. }
            | RegOp::Key { line, .. }
            | RegOp::SetValue { line, .. }
            | RegOp::DeleteValue { line, .. } => *line,
        }
    }
}

#[cfg(test)]
mod tests;
