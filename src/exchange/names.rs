//! Server and computer names.
//!
//! Source: product.md, "Safety rules": a target server name must be a NetBIOS name,
//! 1–15 characters, none of `\/:*?"<>|`.

/// Longest NetBIOS computer name (the 16th byte of a NetBIOS name is the service suffix).
pub const NETBIOS_MAX_LEN: usize = 15;

/// Characters a NetBIOS computer name may not hold (product.md).
pub const NETBIOS_FORBIDDEN: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>', '|'];

/// Why a name is not a valid server name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("server name is empty (expected 1 to {NETBIOS_MAX_LEN} characters)")]
    Empty,
    #[error(
        "server name {} has {len} characters (expected at most {NETBIOS_MAX_LEN})",
        crate::text::quoted(name)
    )]
    TooLong { name: String, len: usize },
    #[error("server name {} contains {} (not allowed: \\ / : * ? \" < > |)", crate::text::quoted(name), crate::text::quoted(&found.to_string()))]
    Forbidden { name: String, found: char },
    #[error(
        "server name {} contains a control character or a non-ASCII character",
        crate::text::quoted(name)
    )]
    NotPrintableAscii { name: String },
}

/// Checks a NetBIOS server or computer name.
///
/// Non-ASCII is refused too: the store keeps `ServerName` in code page 1252 and the registry in
/// UTF-16, and only ASCII is the same in both.
pub fn validate_server_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(found) = name.chars().find(|c| NETBIOS_FORBIDDEN.contains(c)) {
        return Err(NameError::Forbidden {
            name: name.to_string(),
            found,
        });
    }
    if !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err(NameError::NotPrintableAscii {
            name: name.to_string(),
        });
    }
    let len = name.chars().count();
    if len > NETBIOS_MAX_LEN {
        return Err(NameError::TooLong {
            name: name.to_string(),
            len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_netbios_names() {
        for ok in ["EXVS1", "A", "NODE-1", "ABCDEFGHIJKLMNO", "ex lab"] {
            assert_eq!(validate_server_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_empty_long_forbidden_and_non_ascii() {
        assert_eq!(validate_server_name(""), Err(NameError::Empty));
        assert!(matches!(
            validate_server_name("ABCDEFGHIJKLMNOP"),
            Err(NameError::TooLong { len: 16, .. })
        ));
        for c in NETBIOS_FORBIDDEN {
            let name = format!("EX{c}1");
            assert!(
                matches!(validate_server_name(&name), Err(NameError::Forbidden { found, .. }) if found == *c),
                "{name}"
            );
        }
        assert!(matches!(
            validate_server_name("EXÄ1"),
            Err(NameError::NotPrintableAscii { .. })
        ));
        assert!(matches!(
            validate_server_name("EX\t1"),
            Err(NameError::NotPrintableAscii { .. })
        ));
    }
}
