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

/// Characters of a name from an image shown in a message before it is cut.
pub const SHOWN_MOST: usize = 160;

/// A name, key path or other text from a file, quoted plainly for a message: `"A\B"`, not
/// Rust's escaped `"A\\B"`; a control character shows as `U+XXXX`, so that nothing in the
/// text can break the line or pass for the message's own words.
pub fn quoted(s: &str) -> String {
    quote(s, usize::MAX)
}

/// A name or path from an image (or another untrusted place) as a message shows it:
/// [`quoted`], and a name longer than [`SHOWN_MOST`] characters cut, with its length said.
pub fn shown(s: &str) -> String {
    quote(s, SHOWN_MOST)
}

fn quote(s: &str, most: usize) -> String {
    let mut out = String::with_capacity(s.len().min(most) + 2);
    out.push('"');
    for c in s.chars().take(most) {
        if c.is_control() {
            out.push_str(&format!("U+{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    let n = s.chars().count();
    if n > most {
        out.push_str(&format!(
            " (cut; {})",
            count(n as u64, "character", "characters")
        ));
    }
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
    fn names_from_an_image_are_shown_without_controls_and_cut() {
        assert_eq!(shown("E:\\a\u{1}b\0"), "\"E:\\aU+0001bU+0000\"");
        let long = "x".repeat(SHOWN_MOST + 40);
        let s = shown(&long);
        assert!(
            s.ends_with(&format!(" (cut; {} characters)", SHOWN_MOST + 40)),
            "{s}"
        );
        assert_eq!(s.matches('x').count(), SHOWN_MOST);
    }

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
