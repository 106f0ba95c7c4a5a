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
use crate::regf::{self, salvage, HiveRef, RegfError};
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
        | ImportError::NotAHive { .. }
        | ImportError::NotWritable { .. } => Failure::usage(message),
        ImportError::Dirty { .. }
        | ImportError::Hive { .. }
        | ImportError::Op { .. }
        | ImportError::EditedInvalid { .. }
        | ImportError::Locked { .. } => Failure::refused(message),
        ImportError::Out(_) | ImportError::InPlace { .. } => Failure::write(message),
    }
}

/// At most this many of `verify`'s findings are shown as warnings by a read-only verb; the
/// rest are counted (`coldpatch verify` lists them all).
pub const MAX_FINDING_WARNINGS: usize = 20;

/// A hive read for a read-only verb: its bytes, and how many problems `verify` found in it.
struct ReadHive {
    data: Vec<u8>,
    problems: usize,
}

fn warn(hive: &Path, what: &str) {
    super::say(format_args!(
        "coldpatch: warning: {}: {what}",
        hive.display()
    ));
}

/// Reads a hive for a read-only verb. A file that is no hive at all is unreadable input (exit
/// 2). A damaged hive is read as far as it goes (forensic reading): each problem `verify`
/// finds is a warning naming its offset, and the verb exits 1 once it has printed what it
/// could read. A dirty hive is read as its primary file with a warning.
fn read_hive(hive: &Path) -> Result<ReadHive, Failure> {
    let data =
        std::fs::read(hive).map_err(|e| Failure::usage(format!("{}: {e}", hive.display())))?;
    if let Some(why) = regf::base_block::not_a_hive(&data) {
        return Err(Failure::usage(format!("{}: {why}", hive.display())));
    }
    let r = regf::verify(&data);
    for f in r.errors.iter().take(MAX_FINDING_WARNINGS) {
        warn(hive, &format!("offset {:#x}: {}", f.offset, f.what));
    }
    if r.errors.len() > MAX_FINDING_WARNINGS {
        warn(
            hive,
            &format!(
                "{} more not shown; `coldpatch verify {}` lists every one",
                crate::text::count(
                    (r.errors.len() - MAX_FINDING_WARNINGS) as u64,
                    "problem",
                    "problems"
                ),
                hive.display()
            ),
        );
    }
    if r.dirty {
        warn(
            hive,
            &format!(
                "the hive is dirty (sequence numbers {} / {}); showing the primary file without its log",
                r.sequence1, r.sequence2
            ),
        );
    }
    Ok(ReadHive {
        data,
        problems: r.errors.len(),
    })
}

/// The exit code of a read-only verb that printed what it could: 0 for a sound hive, 1 (with
/// a closing warning) when the hive has problems or parts could not be read.
fn read_exit(hive: &Path, problems: usize, gaps: &[salvage::Gap]) -> Exit {
    for g in gaps {
        warn(
            hive,
            &format!(
                "key {}: {} left out, unreadable: {}",
                crate::text::quoted(&g.key),
                g.left_out,
                g.why
            ),
        );
    }
    if problems == 0 && gaps.is_empty() {
        return Exit::Ok;
    }
    warn(
        hive,
        &format!(
            "damaged hive ({}, {} left out); the output holds everything else. \
             Exit 1; nothing is ever written to a damaged hive",
            crate::text::count(problems as u64, "problem", "problems"),
            crate::text::count(gaps.len() as u64, "part", "parts")
        ),
    );
    Exit::Problems
}

/// Opens a hive's bytes for reading, a truncated one too ([`salvage::open`]).
fn open_lenient<'a>(hive: &Path, data: &'a [u8]) -> Result<HiveRef<'a>, Failure> {
    salvage::open(data).map_err(|e| {
        Failure::refused(format!(
            "{}: {e}; nothing of the hive can be read",
            hive.display()
        ))
    })
}

/// The key at `key` (a path inside the hive), its path with every name as the hive spells it
/// (`\`-rooted), and what of its tree can be read.
fn key_tree(
    hive: &Path,
    h: &HiveRef<'_>,
    key: &str,
) -> Result<(String, salvage::Salvaged), Failure> {
    let (path, k) = find_key(hive, h, key)?;
    let shown = format!("\\{path}");
    let s = salvage::read_tree(h, &k, &shown);
    Ok((path, s))
}

/// The key at `key` (below the root), and its path as the hive spells it. A key on the way
/// that cannot be read stops here (exit 1), naming the key path that was reached.
fn find_key(hive: &Path, h: &HiveRef<'_>, key: &str) -> Result<(String, KeyNode), Failure> {
    let mut names: Vec<String> = Vec::new();
    let fail = |names: &[String], e: RegfError| {
        Failure::refused(format!(
            "{}: key {}: unreadable ({}); `coldpatch reg export` of a key above it shows what can be read",
            hive.display(),
            crate::text::quoted(&format!("\\{}", names.join("\\"))),
            e.detail()
        ))
    };
    let mut k = h.root_key().map_err(|e| fail(&names, e))?;
    for part in split_path(key) {
        k = h
            .find_subkey(&k, &regf::name::from_str(part))
            .map_err(|e| fail(&names, e))?
            .ok_or_else(|| {
                Failure::refused(format!(
                    "{}: no key {}",
                    hive.display(),
                    crate::text::quoted(key)
                ))
            })?;
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

/// The `.reg` file of the tree `spec` (the key at `base`, a path inside the hive; "" = the
/// root), key paths as `prefix\\path` ([`reg_path`]).
pub fn export_bytes(
    hive: &Path,
    spec: &KeySpec,
    base: &str,
    encoding: ExportEncoding,
    prefix: &str,
) -> Result<Vec<u8>, Failure> {
    let keys: Vec<(String, Vec<ValueSpec>)> = export_keys(spec, base)
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

/// `reg export`: the key's tree as a `.reg` file (or `--json`), everything that can be read
/// of it; the whole output is made before any of it is printed.
fn export(
    hive: &Path,
    key: Option<&str>,
    encoding: ExportEncoding,
    prefix: &str,
    global: &GlobalArgs,
) -> Result<Exit, Failure> {
    let read = read_hive(hive)?;
    let h = open_lenient(hive, &read.data)?;
    let (base, s) = key_tree(hive, &h, key.unwrap_or(""))?;
    let bytes = if global.json {
        let j: Vec<serde_json::Value> = export_keys(&s.tree, &base)
            .iter()
            .map(|(inside, values)| {
                serde_json::json!({
                    "path": reg_path(inside, prefix),
                    "values": values.iter().map(value_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&j).unwrap_or_default();
        text.push('\n');
        text.into_bytes()
    } else {
        export_bytes(hive, &s.tree, &base, encoding, prefix)?
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::write(format!("standard output: {e}")))?;
    Ok(read_exit(hive, read.problems, &s.gaps))
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
/// the default value), or with `--json` each value's type, size, bytes and readable text. On
/// a damaged hive, the values that can be read.
fn get(hive: &Path, key: &str, value: Option<&str>, global: &GlobalArgs) -> Result<Exit, Failure> {
    let read = read_hive(hive)?;
    let h = open_lenient(hive, &read.data)?;
    let (path, k) = find_key(hive, &h, key)?;
    let (mut values, gaps) = salvage::read_values(&h, &k, &format!("\\{path}"));
    if let Some(name) = value {
        let wanted = regf::name::from_str(name);
        values.retain(|v| regf::name::eq(&regf::name::from_str(&v.name), &wanted));
        if values.is_empty() {
            let _ = read_exit(hive, read.problems, &gaps);
            return Err(Failure::refused(format!(
                "{}: key {} has no value {}{}",
                hive.display(),
                crate::text::quoted(key),
                crate::text::quoted(name),
                if gaps.is_empty() {
                    ""
                } else {
                    " among the values that can be read"
                }
            )));
        }
    }
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
    Ok(read_exit(hive, read.problems, &gaps))
}
