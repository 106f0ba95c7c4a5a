//! GUIDs as the store and the registry keep them.
//!
//! Source: store-model.md, "File format": stored as Windows lays a `GUID` out in memory (the
//! first three fields little-endian, the last eight bytes as they are), shown as Windows shows
//! them, `{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8}`.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A GUID. Held as its field values; converted to and from the Windows memory layout and the
/// Windows text form in one place each.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid(uuid::Uuid);

/// Bytes of a GUID in memory (`sizeof(GUID)`).
pub const GUID_LEN: usize = 16;

/// A text that is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a GUID: {} (expected {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}})",
    crate::text::quoted(text)
)]
pub struct GuidParseError {
    pub text: String,
}

impl Guid {
    /// The all-zero GUID (`GUID_NULL`).
    pub const NIL: Guid = Guid(uuid::Uuid::nil());

    /// From the 16 bytes of a Windows `GUID` in memory (Data1, Data2, Data3 little-endian).
    pub fn from_windows_bytes(bytes: [u8; GUID_LEN]) -> Guid {
        Guid(uuid::Uuid::from_bytes_le(bytes))
    }

    /// The 16 bytes of a Windows `GUID` in memory, as the databases and `REG_BINARY` values
    /// store them.
    pub fn to_windows_bytes(&self) -> [u8; GUID_LEN] {
        self.0.to_bytes_le()
    }

    /// From the fields in text order (RFC 4122 byte order).
    pub fn from_text_order_bytes(bytes: [u8; GUID_LEN]) -> Guid {
        Guid(uuid::Uuid::from_bytes(bytes))
    }

    /// A fresh random version-4 GUID.
    pub fn new_random() -> Guid {
        Guid(uuid::Uuid::new_v4())
    }

    /// A version-4 GUID derived from `label`, `seed` and `name` (store-model.md, the patch,
    /// step 1): the first 16 bytes of SHA-256 over the UTF-8 of `label`, a NUL, `seed`, a NUL and
    /// `name`, taken in text order, with the version (4) and RFC 4122 variant bits set.
    ///
    /// The NUL separators keep `("ab", "c")` and `("a", "bc")` apart.
    pub fn derive(label: &str, seed: &str, name: &str) -> Guid {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update([0u8]);
        h.update(seed.as_bytes());
        h.update([0u8]);
        h.update(name.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; GUID_LEN];
        bytes.copy_from_slice(&digest[..GUID_LEN]);
        Guid(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Version field (4 for random and derived GUIDs).
    pub fn version(&self) -> usize {
        self.0.get_version_num()
    }

    /// `true` for the RFC 4122 variant (bits `10` at the top of byte 8 in text order).
    pub fn is_rfc4122_variant(&self) -> bool {
        self.0.get_variant() == uuid::Variant::RFC4122
    }

    /// Lower-case text without braces, as cluster resource and group ids are written.
    pub fn to_cluster_id(&self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl fmt::Display for Guid {
    /// Windows text form: upper case, in braces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = uuid::Uuid::encode_buffer();
        write!(f, "{{{}}}", self.0.hyphenated().encode_upper(&mut buf))
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Guid {
    type Err = GuidParseError;

    /// Accepts `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` or the same without braces, any case.
    fn from_str(text: &str) -> Result<Guid, GuidParseError> {
        let err = || GuidParseError {
            text: text.to_string(),
        };
        let inner = match (text.strip_prefix('{'), text.strip_suffix('}')) {
            (Some(_), Some(_)) => text.get(1..text.len() - 1).ok_or_else(err)?,
            (None, None) => text,
            _ => return Err(err()),
        };
        // Only the hyphenated 36-character form: no simple, URN or other forms.
        if inner.len() != 36 {
            return Err(err());
        }
        uuid::Uuid::parse_str(inner).map(Guid).map_err(|_| err())
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Guid, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_layout_swaps_the_first_three_fields() {
        let g: Guid = "{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8}".parse().unwrap();
        assert_eq!(
            g.to_windows_bytes(),
            [
                0x1C, 0x6B, 0x3A, 0x0F, 0x4E, 0x2D, 0x60, 0x4F, 0x81, 0x92, 0xA3, 0xB4, 0xC5, 0xD6,
                0xE7, 0xF8
            ]
        );
        assert_eq!(Guid::from_windows_bytes(g.to_windows_bytes()), g);
        assert_eq!(g.to_string(), "{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8}");
    }

    #[test]
    fn parse_accepts_braces_and_case_and_rejects_other_forms() {
        let a: Guid = "{0f3a6b1c-2d4e-4f60-8192-a3b4c5d6e7f8}".parse().unwrap();
        let b: Guid = "0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8".parse().unwrap();
        assert_eq!(a, b);
        for bad in [
            "",
            "{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8",
            "0F3A6B1C2D4E4F608192A3B4C5D6E7F8",
            "{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7FG}",
            "{{0F3A6B1C-2D4E-4F60-8192-A3B4C5D6E7F8}}",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn derive_is_deterministic_version_4_and_separates_its_inputs() {
        let a = Guid::derive("label", "seed", "priv");
        assert_eq!(a, Guid::derive("label", "seed", "priv"));
        assert_eq!(a.version(), 4);
        assert!(a.is_rfc4122_variant());
        assert_ne!(a, Guid::derive("label", "seed", "pub"));
        assert_ne!(a, Guid::derive("label", "seed2", "priv"));
        assert_ne!(a, Guid::derive("label2", "seed", "priv"));
        assert_ne!(
            Guid::derive("l", "ab", "c"),
            Guid::derive("l", "a", "bc"),
            "inputs are separated"
        );
    }

    #[test]
    fn derive_takes_the_first_hash_bytes_in_text_order() {
        // Recompute independently of `derive`: SHA-256("L\0S\0N"), set bits by hand.
        let digest = Sha256::digest(b"L\0S\0N");
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        assert_eq!(Guid::derive("L", "S", "N"), Guid::from_text_order_bytes(b));
    }

    #[test]
    fn serde_uses_the_windows_text_form() {
        let g = Guid::derive("a", "b", "c");
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, format!("\"{g}\""));
        assert_eq!(serde_json::from_str::<Guid>(&json).unwrap(), g);
    }
}
