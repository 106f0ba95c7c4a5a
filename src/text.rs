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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranges_read_as_words() {
        assert_eq!(count(1u32, "row", "rows"), "1 row");
        assert_eq!(count(0u32, "row", "rows"), "0 rows");
        assert_eq!(count(2u64, "problem", "problems"), "2 problems");
        assert_eq!(range(1u32, 9u32), "1 to 9");
        assert_eq!(range(1u32, 0u32), "none");
    }
}
