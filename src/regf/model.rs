//! The model of a hive's content, shared by the reader ([`super::tree`]), the `.reg` text
//! layer ([`super::regfile`]) and the writer ([`super::write`]): key and value trees, value
//! types (`REG_*`).

/// A registry value type (`REG_*`).
pub type ValueType = u32;

pub const REG_NONE: ValueType = 0;
pub const REG_SZ: ValueType = 1;
pub const REG_EXPAND_SZ: ValueType = 2;
pub const REG_BINARY: ValueType = 3;
pub const REG_DWORD: ValueType = 4;
pub const REG_DWORD_BIG_ENDIAN: ValueType = 5;
pub const REG_LINK: ValueType = 6;
pub const REG_MULTI_SZ: ValueType = 7;
pub const REG_QWORD: ValueType = 11;

/// One value: name (empty = the default value), type, raw data as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValueSpec {
    pub name: String,
    pub kind: ValueType,
    pub data: Vec<u8>,
}

/// One key and everything below it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySpec {
    pub name: String,
    pub class: Option<String>,
    pub values: Vec<ValueSpec>,
    pub subkeys: Vec<KeySpec>,
}

impl ValueSpec {
    /// REG_SZ: UTF-16LE with its terminating NUL.
    pub fn sz(name: &str, text: &str) -> ValueSpec {
        ValueSpec {
            name: name.to_string(),
            kind: REG_SZ,
            data: utf16z(text),
        }
    }

    pub fn dword(name: &str, v: u32) -> ValueSpec {
        ValueSpec {
            name: name.to_string(),
            kind: REG_DWORD,
            data: v.to_le_bytes().to_vec(),
        }
    }

    pub fn binary(name: &str, data: &[u8]) -> ValueSpec {
        ValueSpec {
            name: name.to_string(),
            kind: REG_BINARY,
            data: data.to_vec(),
        }
    }

    /// REG_MULTI_SZ: each string NUL-terminated, then one more NUL.
    pub fn multi_sz(name: &str, items: &[&str]) -> ValueSpec {
        let mut data = Vec::new();
        for s in items {
            data.extend(utf16z(s));
        }
        data.extend([0, 0]);
        ValueSpec {
            name: name.to_string(),
            kind: REG_MULTI_SZ,
            data,
        }
    }
}

/// UTF-16LE with a terminating NUL.
pub fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}
