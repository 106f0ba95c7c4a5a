//! Key and value names: upper-casing, the sort order of subkey lists, `lh` hashes and `lf`
//! hints. Source: reference/regf.md §3 "Subkey lists" (SUH, ROS cmindex.c `CmpComputeHashKey`,
//! `CmpAddToLeaf`).

use std::cmp::Ordering;

/// A name as UTF-16 code units (compressed Latin-1 names are widened byte by byte).
pub type Name = Vec<u16>;

/// Upper-cases one UTF-16 code unit the way Windows' per-unit upcase table does: simple
/// (one-to-one) upper-casing inside the BMP; surrogates and characters whose upper case is not
/// a single BMP character (e.g. `ß`) stay unchanged.
pub fn upcase(unit: u16) -> u16 {
    if unit < 0x80 {
        return (unit as u8).to_ascii_uppercase() as u16;
    }
    let Some(c) = char::from_u32(unit as u32) else {
        return unit; // a surrogate
    };
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if (u as u32) <= 0xFFFF => u as u32 as u16,
        _ => unit,
    }
}

/// Compares two names case-insensitively by upper-cased UTF-16 code units (the order of every
/// subkey list).
pub fn compare(a: &[u16], b: &[u16]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        match upcase(*x).cmp(&upcase(*y)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

/// Case-insensitive equality.
pub fn eq(a: &[u16], b: &[u16]) -> bool {
    compare(a, b) == Ordering::Equal
}

/// The `lh` hash: h = h * 37 + upcase(unit) over the UTF-16 units, 32-bit wrap.
pub fn lh_hash(name: &[u16]) -> u32 {
    name.iter().fold(0u32, |h, &u| {
        h.wrapping_mul(37).wrapping_add(upcase(u) as u32)
    })
}

/// The `lf` name hint: the first min(len, 4) characters filled from the last position
/// backwards, stopping at the first character above 0xFF; untouched positions stay 0.
pub fn lf_hint(name: &[u16]) -> [u8; 4] {
    let mut hint = [0u8; 4];
    let k = name.len().min(4);
    for i in (0..k).rev() {
        let u = name[i];
        if u > 0xFF {
            break;
        }
        hint[i] = u as u8;
    }
    hint
}

/// True when every unit fits in one byte, i.e. Windows stores the name compressed (Latin-1).
pub fn compressible(name: &[u16]) -> bool {
    name.iter().all(|&u| u <= 0xFF)
}

/// The name as stored: Latin-1 bytes when compressible, else UTF-16LE.
pub fn encode(name: &[u16]) -> (Vec<u8>, bool) {
    if compressible(name) {
        (name.iter().map(|&u| u as u8).collect(), true)
    } else {
        (name.iter().flat_map(|u| u.to_le_bytes()).collect(), false)
    }
}

/// Decodes a stored name.
pub fn decode(raw: &[u8], compressed: bool) -> Name {
    if compressed {
        raw.iter().map(|&b| b as u16).collect()
    } else {
        raw.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }
}

/// A name from Rust text.
pub fn from_str(s: &str) -> Name {
    s.encode_utf16().collect()
}

/// A name as Rust text (lossy for unpaired surrogates).
pub fn to_string(name: &[u16]) -> String {
    String::from_utf16_lossy(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_upcased_units_not_lowercase() {
        // '_' (0x5F) sorts after 'C' (0x43) once both are upper-cased.
        assert_eq!(compare(&from_str("_x"), &from_str("c")), Ordering::Greater);
        assert_eq!(compare(&from_str("abc"), &from_str("ABC")), Ordering::Equal);
        assert_eq!(compare(&from_str("ab"), &from_str("abc")), Ordering::Less);
        // ß is not folded to SS: "ss1" < "SS3" < "ß2" (yarp UpcaseHive order).
        assert_eq!(compare(&from_str("SS3"), &from_str("ß2")), Ordering::Less);
    }

    #[test]
    fn hints_stop_at_wide_characters() {
        assert_eq!(lf_hint(&from_str("txt\u{F00D}")), [0, 0, 0, 0]);
        assert_eq!(lf_hint(&from_str(".txt\u{F00D}")), *b".txt");
        assert_eq!(lf_hint(&from_str("ab")), [b'a', b'b', 0, 0]);
    }

    #[test]
    fn hash_upcases() {
        assert_eq!(lh_hash(&from_str("äöü")), lh_hash(&from_str("ÄÖÜ")));
        assert_eq!(lh_hash(&from_str("a")), 'A' as u32);
        assert_eq!(lh_hash(&from_str("ab")), 65 * 37 + 66);
    }
}
