//! A parsed `.reg` file applied to an [`Editor`]: the link between the `.reg` text layer
//! ([`super::regfile`], whose [`RegOp`] is the one operation type) and the hive editor.
//!
//! Key paths in a `.reg` file are full Windows paths (`HKEY_LOCAL_MACHINE\SYSTEM\Select`);
//! the hive does not store where it is mounted, so the caller gives that prefix, as
//! `hivexregedit --prefix` takes it: a key path is the prefix (matched without regard to
//! ASCII case) followed by the path inside the hive. With the empty prefix (hivexregedit's
//! default) paths are `\`-rooted: `\` is the root key, `\Select` a key below it.

use super::edit::Editor;
use super::error::RegfError;
use super::hive::{CellOffset, MINOR_BIG_DATA};
use super::regfile::RegOp;
use super::tree::MAX_DEPTH;

/// What applying the operations did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplySummary {
    pub keys_created: usize,
    pub keys_deleted: usize,
    pub values_set: usize,
    pub values_deleted: usize,
}

/// The largest value a hive of format 1.3 (before big data cells) takes from an import: 1 MiB.
/// Larger ones make hivex and libregf refuse the whole hive.
pub const STANDARD_VALUE_MOST: usize = 1 << 20;

/// An operation that cannot be applied, naming its line in the `.reg` file.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The key path does not start with the prefix the hive is mounted at.
    #[error("line {line}: expected a key path below {}, found \"{path}\" (set the hive's place in the registry with --prefix)", shown_prefix(prefix))]
    OutsidePrefix {
        line: usize,
        path: String,
        prefix: String,
    },
    /// `[-prefix]`: the root key of a hive cannot be deleted.
    #[error("line {line}: expected a key below the hive's root to delete, found the root itself (\"{path}\")")]
    DeleteRoot { line: usize, path: String },
    /// A key deeper than Windows allows (and than `reg export` reads).
    #[error("line {line}: the key is {depth} levels below the hive's root; Windows allows at most {MAX_DEPTH}")]
    TooDeep { line: usize, depth: usize },
    /// A value larger than a 1.3 ("standard format") hive holds in one cell.
    #[error("line {line}: value \"{name}\" is {size} bytes; a hive of format 1.{minor} holds values of at most {STANDARD_VALUE_MOST} bytes (1 MiB)")]
    ValueTooLarge {
        line: usize,
        name: String,
        size: usize,
        minor: u32,
    },
    /// The editor refused the operation.
    #[error("line {line}: {source}")]
    Edit {
        line: usize,
        #[source]
        source: RegfError,
    },
}

impl OpError {
    /// The 1-based line of the `.reg` file the error is about.
    pub fn line(&self) -> usize {
        match self {
            OpError::OutsidePrefix { line, .. }
            | OpError::DeleteRoot { line, .. }
            | OpError::TooDeep { line, .. }
            | OpError::ValueTooLarge { line, .. }
            | OpError::Edit { line, .. } => *line,
        }
    }
}

fn shown_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "`\\` (no --prefix given)".to_string()
    } else {
        crate::text::quoted(prefix)
    }
}

/// The prefix as compared: without a trailing `\` (hivexregedit drops it too).
pub fn normalise_prefix(prefix: &str) -> &str {
    prefix.strip_suffix('\\').unwrap_or(prefix)
}

/// The path inside the hive ("" = the root) of the `.reg` key path `path`, when it is below
/// `prefix`. The prefix is matched without regard to ASCII case; with the empty prefix the
/// path must start with `\`.
pub fn hive_path<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = normalise_prefix(prefix);
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &path[prefix.len()..];
    let inside = if prefix.is_empty() {
        rest.strip_prefix('\\')?
    } else if rest.is_empty() {
        rest
    } else {
        rest.strip_prefix('\\')?
    };
    Some(inside.trim_end_matches('\\'))
}

/// The `.reg` key path of the hive key `inside` ("" = the root), the inverse of
/// [`hive_path`]: `prefix\inside`; the root is `prefix`, or `\` with the empty prefix.
pub fn reg_path(inside: &str, prefix: &str) -> String {
    let prefix = normalise_prefix(prefix);
    match (prefix.is_empty(), inside.is_empty()) {
        (_, false) => format!("{prefix}\\{inside}"),
        (true, true) => "\\".to_string(),
        (false, true) => prefix.to_string(),
    }
}

/// Checks that every key path of `ops` is below `prefix` (and that no `[-…]` names the root),
/// without touching a hive: run it before opening anything for writing.
pub fn check_paths(ops: &[RegOp], prefix: &str) -> Result<(), OpError> {
    for op in ops {
        if let RegOp::Key { path, line } | RegOp::DeleteKey { path, line } = op {
            let inside = hive_path(path, prefix).ok_or_else(|| OpError::OutsidePrefix {
                line: *line,
                path: path.clone(),
                prefix: normalise_prefix(prefix).to_string(),
            })?;
            if matches!(op, RegOp::DeleteKey { .. }) && inside.is_empty() {
                return Err(OpError::DeleteRoot {
                    line: *line,
                    path: path.clone(),
                });
            }
            let depth = inside.split('\\').filter(|c| !c.is_empty()).count();
            if matches!(op, RegOp::Key { .. }) && depth > MAX_DEPTH {
                return Err(OpError::TooDeep { line: *line, depth });
            }
        }
    }
    Ok(())
}

/// Applies the operations of a parsed `.reg` file in order, as regedit does: `[key]` creates
/// the key and its missing parents, values go to the key of the last `[key]` line, `[-key]`
/// and `"name"=-` delete (something absent is nothing to do). Stops at the first failure (the
/// caller then writes nothing).
pub fn apply_ops(ed: &mut Editor, ops: &[RegOp], prefix: &str) -> Result<ApplySummary, OpError> {
    check_paths(ops, prefix)?;
    let mut s = ApplySummary::default();
    // The key the value lines apply to: its path inside the hive and its nk cell.
    let mut current: Option<(String, CellOffset)> = None;
    for op in ops {
        let line = op.line();
        let fail = |source| OpError::Edit { line, source };
        let outside = |path: &str| OpError::OutsidePrefix {
            line,
            path: path.to_string(),
            prefix: normalise_prefix(prefix).to_string(),
        };
        match op {
            RegOp::Key { path, .. } => {
                let inside = hive_path(path, prefix).ok_or_else(|| outside(path))?;
                let (off, created) = ed.create_key_counted(inside).map_err(fail)?;
                s.keys_created += created;
                current = Some((inside.to_string(), off));
            }
            RegOp::DeleteKey { path, .. } => {
                let inside = hive_path(path, prefix).ok_or_else(|| outside(path))?;
                if ed.delete_key(inside).map_err(fail)? {
                    s.keys_deleted += 1;
                }
                current = None;
            }
            RegOp::SetValue {
                name, kind, data, ..
            } => {
                // The parser refuses values before any key line and after `[-key]`.
                let Some((_, off)) = &current else {
                    return Err(fail(RegfError::Unsupported {
                        what: "a value line before any key line".into(),
                    }));
                };
                if ed.minor_version() < MINOR_BIG_DATA && data.len() > STANDARD_VALUE_MOST {
                    return Err(OpError::ValueTooLarge {
                        line,
                        name: name.clone(),
                        size: data.len(),
                        minor: ed.minor_version(),
                    });
                }
                ed.set_value_at(*off, name, *kind, data).map_err(fail)?;
                s.values_set += 1;
            }
            RegOp::DeleteValue { name, .. } => {
                let Some((path, _)) = &current else {
                    return Err(fail(RegfError::Unsupported {
                        what: "a value line before any key line".into(),
                    }));
                };
                if ed.delete_value(path, name).map_err(fail)? {
                    s.values_deleted += 1;
                }
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_the_prefix_map_into_the_hive_and_back() {
        let p = "HKEY_LOCAL_MACHINE\\SYSTEM";
        assert_eq!(hive_path("HKEY_LOCAL_MACHINE\\SYSTEM", p), Some(""));
        assert_eq!(hive_path("hkey_local_machine\\system\\", p), Some(""));
        assert_eq!(
            hive_path("HKEY_LOCAL_MACHINE\\SYSTEM\\Select\\A", p),
            Some("Select\\A")
        );
        assert_eq!(
            hive_path(
                "HKEY_LOCAL_MACHINE\\SYSTEM\\Select",
                "HKEY_LOCAL_MACHINE\\SYSTEM\\"
            ),
            Some("Select")
        );
        assert_eq!(hive_path("HKEY_LOCAL_MACHINE\\SYSTEMX", p), None);
        assert_eq!(hive_path("HKEY_LOCAL_MACHINE\\SOFTWARE\\X", p), None);
        assert_eq!(hive_path("\\", ""), Some(""));
        assert_eq!(hive_path("\\Select\\A", ""), Some("Select\\A"));
        assert_eq!(hive_path("Select", ""), None);
        for inside in ["", "Select", "Select\\A"] {
            for prefix in ["", p] {
                assert_eq!(hive_path(&reg_path(inside, prefix), prefix), Some(inside));
            }
        }
    }

    #[test]
    fn check_paths_names_the_line_outside_the_prefix_and_a_root_deletion() {
        let ops = vec![
            RegOp::Key {
                path: "\\A".into(),
                line: 3,
            },
            RegOp::Key {
                path: "B".into(),
                line: 7,
            },
        ];
        let e = check_paths(&ops, "").unwrap_err();
        assert_eq!(e.line(), 7);
        assert!(e.to_string().starts_with("line 7: "), "{e}");
        let del = vec![RegOp::DeleteKey {
            path: "X\\".into(),
            line: 2,
        }];
        assert!(matches!(
            check_paths(&del, "x"),
            Err(OpError::DeleteRoot { line: 2, .. })
        ));
    }
}
