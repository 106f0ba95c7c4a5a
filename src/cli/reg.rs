//! `coldpatch reg export | import | get`: offline registry access over one hive file.
//!
//! The `.reg` text itself (parse and format) is the text layer's job (`regf::regfile`), the
//! import workflow (read, replay, verify, edit, verify, write) is `regf::import`'s; this file
//! parses arguments, walks trees for export, looks values up for `get`, and maps errors to
//! exit codes. Key
//! paths carry the hive's place in the registry, `--prefix` (see `regf::ops`).

use super::{Exit, Failure, GlobalArgs, RegVerb};
use crate::regf::hive::{split_path, KeyNode, ValueNode};
use crate::regf::import::{import_ops, reg_file_ops, ImportError, Target};
use crate::regf::ops::reg_path;
use crate::regf::regfile::{self, RegVersion};
use crate::regf::write::{KeySpec, ValueSpec};
use crate::regf::{self, tree, HiveRef, RegfError};
use std::io::Write as _;
use std::path::Path;

/// The variable that fixes the write time for reproducible runs.
pub use crate::patch::time::SOURCE_DATE_EPOCH;

/// The write time as a FILETIME: `SOURCE_DATE_EPOCH` when set (reproducible runs), else now.
/// A value that is not a number of seconds, or one past the year 9999, is a usage error.
pub fn now_filetime() -> Result<u64, Failure> {
    filetime_from(std::env::var(SOURCE_DATE_EPOCH).ok().as_deref())
}

/// [`now_filetime`] for a given `SOURCE_DATE_EPOCH` text (`None`: the variable is not set).
pub fn filetime_from(source_date_epoch: Option<&str>) -> Result<u64, Failure> {
    crate::patch::time::PatchTime::from_source_date_epoch(source_date_epoch)
        .map(|t| t.filetime())
        .map_err(|e| Failure::usage(e.to_string()))
}

pub fn run(verb: &RegVerb, global: &GlobalArgs) -> Result<Exit, Failure> {
    match verb {
        RegVerb::Export {
            hive,
            key,
            regedit4,
            utf16,
            prefix,
        } => {
            let encoding = match (regedit4, utf16) {
                (true, _) => ExportEncoding::Regedit4Ansi,
                (false, true) => ExportEncoding::Utf16,
                (false, false) => ExportEncoding::Utf8,
            };
            export(hive, key.as_deref(), encoding, prefix, global)
        }
        RegVerb::Get { hive, key, value } => get(hive, key, value.as_deref(), global),
        RegVerb::Import {
            hive,
            reg_file,
            out,
            in_place,
            journal,
            force,
            replay_log,
            prefix,
        } => {
            let bytes = std::fs::read(reg_file)
                .map_err(|e| Failure::usage(format!("{}: {e}", reg_file.display())))?;
            let ops = reg_file_ops(&bytes, reg_file, prefix).map_err(import_failure)?;
            let target = match (out, in_place, journal) {
                (Some(_), _, Some(_)) => {
                    return Err(Failure::usage(
                        "--out and --journal do not go together: --out writes a new file \
                         (no journal); --in-place --journal FILE patches the hive",
                    ))
                }
                (Some(o), false, None) => Target::Out {
                    path: o,
                    replace: *force,
                },
                (None, true, Some(j)) => Target::InPlace { journal: j },
                _ => {
                    return Err(Failure::usage(
                        "give --out NEWHIVE, or --in-place --journal FILE",
                    ))
                }
            };
            let s = import_ops(hive, &ops, prefix, target, *replay_log, now_filetime()?)
                .map_err(import_failure)?;
            if global.json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else if !global.quiet {
                println!(
                    "{}: {} keys created, {} deleted; {} values set, {} deleted",
                    s.written,
                    s.summary.keys_created,
                    s.summary.keys_deleted,
                    s.summary.values_set,
                    s.summary.values_deleted
                );
            }
            Ok(Exit::Ok)
        }
    }
}

/// The CLI failure (exit code and message) of an import error.
pub fn import_failure(e: ImportError) -> Failure {
    let message = e.to_string();
    match e {
        ImportError::Read { .. }
        | ImportError::RegFile { .. }
        | ImportError::OutIsInput(_)
        | ImportError::OutExists(_)
        | ImportError::NotAHive { .. } => Failure::usage(message),
        ImportError::Dirty { .. }
        | ImportError::Hive { .. }
        | ImportError::Op { .. }
        | ImportError::EditedInvalid { .. } => Failure::refused(message),
        ImportError::Out(_) | ImportError::InPlace { .. } => Failure::write(message),
    }
}

/// Reads a hive for a read-only verb: refused when `verify` flags it; a dirty hive is read as
/// its primary file with a warning.
fn read_checked(hive: &Path) -> Result<Vec<u8>, Failure> {
    let data =
        std::fs::read(hive).map_err(|e| Failure::usage(format!("{}: {e}", hive.display())))?;
    if let Some(why) = regf::base_block::not_a_hive(&data) {
        return Err(Failure::usage(format!("{}: {why}", hive.display())));
    }
    let r = regf::verify(&data);
    if let Some(first) = r.errors.first() {
        return Err(Failure::refused(format!(
            "{}: the hive does not verify ({}); first at offset {:#x}: {}. Run `coldpatch verify` for all of them",
            hive.display(),
            crate::text::count(r.errors.len() as u64, "problem", "problems"),
            first.offset,
            first.what
        )));
    }
    if r.dirty {
        eprintln!(
            "coldpatch: warning: {} is dirty (sequence numbers {} / {}); showing the primary file without its log",
            hive.display(),
            r.sequence1,
            r.sequence2
        );
    }
    Ok(data)
}

/// The key at `key` (a path inside the hive) with its tree, and its path with every name as
/// the hive spells it.
fn key_spec(hive: &Path, data: &[u8], key: &str) -> Result<(String, KeySpec), Failure> {
    let fail = |e: RegfError| Failure::refused(format!("{}: {e}", hive.display()));
    let h = HiveRef::new(data).map_err(fail)?;
    let (path, k) = find_key(hive, &h, key)?;
    Ok((path, tree::read_tree(&h, &k).map_err(fail)?))
}

/// The key at `key` (below the root), and its path as the hive spells it.
fn find_key(hive: &Path, h: &HiveRef<'_>, key: &str) -> Result<(String, KeyNode), Failure> {
    let fail = |e: RegfError| Failure::refused(format!("{}: {e}", hive.display()));
    let mut k = h.root_key().map_err(fail)?;
    let mut names = Vec::new();
    for part in split_path(key) {
        k = h
            .find_subkey(&k, &regf::name::from_str(part))
            .map_err(fail)?
            .ok_or_else(|| Failure::refused(format!("{}: no key {key:?}", hive.display())))?;
        names.push(regf::name::to_string(&k.name));
    }
    Ok((names.join("\\"), k))
}

/// The values of `key` itself (not of its subkeys), in list order; with `name`, only that
/// value (`Ok(None)` when the key has none of that name).
pub fn key_values(
    h: &HiveRef<'_>,
    key: &KeyNode,
    name: Option<&str>,
) -> Result<Option<Vec<ValueSpec>>, RegfError> {
    let spec = |v: ValueNode| -> Result<ValueSpec, RegfError> {
        Ok(ValueSpec {
            name: regf::name::to_string(&v.name),
            kind: v.kind,
            data: h.value_data(&v)?,
        })
    };
    match name {
        None => h
            .values(key)?
            .into_iter()
            .map(spec)
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(n) => match h.find_value(key, &regf::name::from_str(n))? {
            Some(v) => Ok(Some(vec![spec(v)?])),
            None => Ok(None),
        },
    }
}

/// The keys of a tree in export order (a key, then its subkeys in the hive's order), each
/// with its path inside the hive ("" = the root) and its values.
pub fn export_keys(root: &KeySpec, base: &str) -> Vec<(String, Vec<ValueSpec>)> {
    let mut out = Vec::new();
    let mut stack = vec![(root, base.to_string())];
    while let Some((k, path)) = stack.pop() {
        for c in k.subkeys.iter().rev() {
            let p = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}\\{}", c.name)
            };
            stack.push((c, p));
        }
        out.push((path, k.values.clone()));
    }
    out
}

/// How `reg export` writes the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportEncoding {
    /// `Windows Registry Editor Version 5.00`, UTF-8 (what hivexregedit prints).
    Utf8,
    /// `Windows Registry Editor Version 5.00`, UTF-16LE with a byte-order mark (regedit's file).
    Utf16,
    /// `REGEDIT4` in code page 1252 (NT4 regedit's file).
    Regedit4Ansi,
}

/// The `.reg` file of the key `key` (inside the hive; "" = the root) and everything below it,
/// key paths as `prefix\path` ([`reg_path`]).
pub fn export_bytes(
    hive: &Path,
    data: &[u8],
    key: &str,
    encoding: ExportEncoding,
    prefix: &str,
) -> Result<Vec<u8>, Failure> {
    let (base, spec) = key_spec(hive, data, key)?;
    let keys: Vec<(String, Vec<ValueSpec>)> = export_keys(&spec, &base)
        .into_iter()
        .map(|(inside, values)| (reg_path(&inside, prefix), values))
        .collect();
    let version = match encoding {
        ExportEncoding::Regedit4Ansi => RegVersion::Regedit4,
        _ => RegVersion::Regedit5,
    };
    let hint = match encoding {
        ExportEncoding::Regedit4Ansi => "export without --regedit4 keeps every character",
        // A name with a line break, a key path starting with `-`: no .reg file holds them.
        _ => "a .reg file cannot hold it; `reg export --json` shows every name",
    };
    let refuse =
        |e: &dyn std::fmt::Display| Failure::refused(format!("{}: {e}; {hint}", hive.display()));
    let text = regfile::format_reg(version, &keys).map_err(|e| refuse(&e))?;
    match encoding {
        ExportEncoding::Utf8 => Ok(text.into_bytes()),
        _ => regfile::encode_reg_text(version, &text).map_err(|e| refuse(&e)),
    }
}

fn export(
    hive: &Path,
    key: Option<&str>,
    encoding: ExportEncoding,
    prefix: &str,
    global: &GlobalArgs,
) -> Result<Exit, Failure> {
    let data = read_checked(hive)?;
    let key = key.unwrap_or("");
    if global.json {
        let (base, spec) = key_spec(hive, &data, key)?;
        let j: Vec<serde_json::Value> = export_keys(&spec, &base)
            .iter()
            .map(|(inside, values)| {
                serde_json::json!({
                    "path": reg_path(inside, prefix),
                    "values": values.iter().map(value_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        let bytes = export_bytes(hive, &data, key, encoding, prefix)?;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::write(format!("standard output: {e}")))?;
    }
    Ok(Exit::Ok)
}

fn hex_list(d: &[u8]) -> String {
    d.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A REG_SZ / REG_EXPAND_SZ as text, when it is UTF-16 ending in one NUL.
fn text_of(v: &ValueSpec) -> Option<String> {
    if v.data.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = v
        .data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let body = units.strip_suffix(&[0])?;
    if body.contains(&0) {
        return None;
    }
    String::from_utf16(body).ok()
}

fn type_name(kind: u32) -> String {
    match kind {
        0 => "REG_NONE".into(),
        1 => "REG_SZ".into(),
        2 => "REG_EXPAND_SZ".into(),
        3 => "REG_BINARY".into(),
        4 => "REG_DWORD".into(),
        5 => "REG_DWORD_BIG_ENDIAN".into(),
        6 => "REG_LINK".into(),
        7 => "REG_MULTI_SZ".into(),
        8 => "REG_RESOURCE_LIST".into(),
        9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        11 => "REG_QWORD".into(),
        other => format!("type {other:#x}"),
    }
}

/// A value rendered for people: text for strings, numbers for dwords/qwords, hex otherwise.
pub fn render_value(v: &ValueSpec) -> String {
    match v.kind {
        1 | 2 | 6 => text_of(v).unwrap_or_else(|| hex_list(&v.data)),
        4 if v.data.len() == 4 => {
            let n = u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]);
            format!("{n:#010x} ({n})")
        }
        5 if v.data.len() == 4 => format!(
            "{:#010x}",
            u32::from_be_bytes([v.data[0], v.data[1], v.data[2], v.data[3]])
        ),
        11 if v.data.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v.data);
            let n = u64::from_le_bytes(b);
            format!("{n:#018x} ({n})")
        }
        7 => {
            let units: Vec<u16> = v
                .data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            units
                .split(|&u| u == 0)
                .filter(|s| !s.is_empty())
                .map(String::from_utf16_lossy)
                .collect::<Vec<_>>()
                .join(" | ")
        }
        _ => hex_list(&v.data),
    }
}

fn value_json(v: &ValueSpec) -> serde_json::Value {
    serde_json::json!({
        "name": v.name,
        "type": type_name(v.kind),
        "type_id": v.kind,
        "size": v.data.len(),
        "data_hex": v.data.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "text": render_value(v),
    })
}

/// `reg get`: the key's values (or one value) as `.reg` value lines (`"name"=data`, `@=` for
/// the default value), or with `--json` each value's type, size, bytes and readable text.
fn get(hive: &Path, key: &str, value: Option<&str>, global: &GlobalArgs) -> Result<Exit, Failure> {
    let data = read_checked(hive)?;
    let h =
        HiveRef::new(&data).map_err(|e| Failure::refused(format!("{}: {e}", hive.display())))?;
    let (path, k) = find_key(hive, &h, key)?;
    let values = key_values(&h, &k, value)
        .map_err(|e| Failure::refused(format!("{}: {e}", hive.display())))?
        .ok_or_else(|| {
            Failure::refused(format!(
                "{}: key {key:?} has no value {:?}",
                hive.display(),
                value.unwrap_or_default()
            ))
        })?;
    if global.json {
        let j = serde_json::json!({
            "key": path,
            "values": values.iter().map(value_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        let text = regfile::format_values(RegVersion::Regedit5, &path, &values)
            .map_err(|e| Failure::refused(format!("{}: {e}", hive.display())))?;
        print!("{}", text.replace("\r\n", "\n"));
    }
    Ok(Exit::Ok)
}
