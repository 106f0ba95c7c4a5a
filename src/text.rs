//! Wording of messages: counts with their noun in the right number, ranges as words (no
//! Rust syntax such as `1..=9` or `problem(s)` reaches a user).

/// `n` and its noun: "1 problem", "2 problems", "0 problems".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An inclusive range as words: "1 to 9"; "none" when it is empty.
pub fn range(first: impl Into<u64>, last: impl Into<u64>) -> String {
    let (first, last) = (first.into(), last.into());
    if last < first {
        "none".into()
    } else {
        format!("{first} to {last}")
    }
}

/// A name, key path or other text from a file, quoted plainly for a message: `"A\B"`, not
/// Rust's escaped `"A\\B"`; a control character shows as `U+XXXX`, so that nothing in the
/// text can break the line or pass for the message's own words.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("U+{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Bytes as two-digit hex numbers separated by spaces ("6e 6b"), not Rust's `[6e, 6b]`.
pub fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_keeps_backslashes_and_names_control_characters() {
        assert_eq!(quoted("Nope\\Key"), "\"Nope\\Key\"");
        assert_eq!(quoted("a\nb"), "\"aU+000Ab\"");
        assert_eq!(quoted("ëigenaardig"), "\"ëigenaardig\"");
        assert_eq!(hex_bytes(b"nk"), "6e 6b");
    }

    #[test]
    fn counts_and_ranges_read_as_words() {
        assert_eq!(count(1u32, "row", "rows"), "1 row");
        assert_eq!(count(0u32, "row", "rows"), "0 rows");
        assert_eq!(count(2u64, "problem", "problems"), "2 problems");
        assert_eq!(range(1u32, 9u32), "1 to 9");
        assert_eq!(range(1u32, 0u32), "none");
    }
}
