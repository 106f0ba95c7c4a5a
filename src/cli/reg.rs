//! `coldpatch reg export | import | get`: offline registry access over one hive file.
//!
//! The `.reg` text itself (parse and format) is the text layer's job (`regf::regfile`); this
//! file walks trees for export, applies operations for import with the write discipline of
//! product.md (atomic `--out`, journaled `--in-place`), and looks values up for `get`.

use super::{Exit, Failure, GlobalArgs, RegVerb};
use crate::regf::build::{KeySpec, ValueSpec};
use crate::regf::ops::{apply_ops, ApplySummary, RegOp};
use crate::regf::{self, log, tree, write, Editor, HiveRef, RegfError};
use std::path::Path;

/// Seconds between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH_SECS: u64 = 11_644_473_600;
const FILETIME_PER_SEC: u64 = 10_000_000;

/// The write time as a FILETIME: `SOURCE_DATE_EPOCH` when set (reproducible runs), else now.
pub fn now_filetime() -> u64 {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    (secs + FILETIME_UNIX_EPOCH_SECS) * FILETIME_PER_SEC
}

pub fn run(verb: &RegVerb, global: &GlobalArgs) -> Result<Exit, Failure> {
    match verb {
        RegVerb::Export {
            hive,
            key,
            regedit4,
        } => export(hive, key.as_deref(), *regedit4, global),
        RegVerb::Get { hive, key, value } => get(hive, key, value.as_deref(), global),
        RegVerb::Import {
            hive,
            reg_file,
            out,
            in_place,
            journal,
            replay_log,
        } => {
            let text = std::fs::read(reg_file)
                .map_err(|e| Failure::usage(format!("{}: {e}", reg_file.display())))?;
            let ops = reg_text_to_ops(&text, reg_file)?;
            let target = match (out, in_place, journal) {
                (Some(o), false, _) => Target::Out(o),
                (None, true, Some(j)) => Target::InPlace { journal: j },
                _ => {
                    return Err(Failure::usage(
                        "give --out NEWHIVE, or --in-place --journal FILE",
                    ))
                }
            };
            let s = import_ops(hive, &ops, target, *replay_log, now_filetime())?;
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

/// The `.reg` text → operations. The text layer (`regf::regfile::parse_reg`) plugs in here.
fn reg_text_to_ops(_text: &[u8], path: &Path) -> Result<Vec<RegOp>, Failure> {
    Err(Failure::usage(format!(
        "{}: the .reg text reader is not part of this build yet",
        path.display()
    )))
}

/// Reads a hive for a read-only verb: refused when `verify` flags it; a dirty hive is read as
/// its primary file with a warning.
fn read_checked(hive: &Path) -> Result<Vec<u8>, Failure> {
    let data =
        std::fs::read(hive).map_err(|e| Failure::usage(format!("{}: {e}", hive.display())))?;
    let r = regf::verify(&data);
    if let Some(first) = r.errors.first() {
        return Err(Failure::refused(format!(
            "{}: the hive does not verify ({} problem(s)); first at offset {:#x}: {}. Run `coldpatch verify` for all of them",
            hive.display(),
            r.errors.len(),
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

fn key_spec(hive: &Path, data: &[u8], key: &str) -> Result<KeySpec, Failure> {
    let fail = |e: RegfError| Failure::refused(format!("{}: {e}", hive.display()));
    let h = HiveRef::new(data).map_err(fail)?;
    let k = h
        .key_by_path(key)
        .map_err(fail)?
        .ok_or_else(|| Failure::refused(format!("{}: no key {key:?}", hive.display())))?;
    tree::read_tree(&h, &k).map_err(fail)
}

/// One key of an export: its path below the hive root ("" = the root), class and values.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportedKey {
    pub path: String,
    pub class: Option<String>,
    pub values: Vec<ValueSpec>,
}

/// The keys of a tree in export order (a key, then its subkeys in sorted order).
pub fn export_keys(root: &KeySpec, base: &str) -> Vec<ExportedKey> {
    let mut out = Vec::new();
    let mut stack = vec![(root, base.to_string())];
    while let Some((k, path)) = stack.pop() {
        out.push(ExportedKey {
            path: path.clone(),
            class: k.class.clone(),
            values: k.values.clone(),
        });
        for c in k.subkeys.iter().rev() {
            let p = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}\\{}", c.name)
            };
            stack.push((c, p));
        }
    }
    out
}

fn export(
    hive: &Path,
    key: Option<&str>,
    regedit4: bool,
    global: &GlobalArgs,
) -> Result<Exit, Failure> {
    let data = read_checked(hive)?;
    let base = key.unwrap_or("");
    let spec = key_spec(hive, &data, base)?;
    let keys = export_keys(&spec, base.trim_matches('\\'));
    if global.json {
        let j: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "path": k.path,
                    "class": k.class,
                    "values": k.values.iter().map(value_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print!("{}", format_reg_minimal(&keys, regedit4));
    }
    Ok(Exit::Ok)
}

/// A plain `.reg` rendering (strings, dwords, hex for the rest) until the text layer's
/// formatter is wired in.
fn format_reg_minimal(keys: &[ExportedKey], regedit4: bool) -> String {
    let mut s = String::from(if regedit4 {
        "REGEDIT4\r\n"
    } else {
        "Windows Registry Editor Version 5.00\r\n"
    });
    for k in keys {
        s.push_str(&format!("\r\n[\\{}]\r\n", k.path));
        for v in &k.values {
            let name = if v.name.is_empty() {
                "@".to_string()
            } else {
                format!("\"{}\"", escape(&v.name))
            };
            let body = match (v.kind, text_of(v)) {
                (regf::build::REG_SZ, Some(t)) => format!("\"{}\"", escape(&t)),
                (regf::build::REG_DWORD, _) if v.data.len() == 4 => {
                    format!(
                        "dword:{:08x}",
                        u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]])
                    )
                }
                (regf::build::REG_BINARY, _) => format!("hex:{}", hex_list(&v.data)),
                _ => format!("hex({:x}):{}", v.kind, hex_list(&v.data)),
            };
            s.push_str(&format!("{name}={body}\r\n"));
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
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

fn get(hive: &Path, key: &str, value: Option<&str>, global: &GlobalArgs) -> Result<Exit, Failure> {
    let data = read_checked(hive)?;
    let spec = key_spec(hive, &data, key)?;
    let values: Vec<&ValueSpec> = match value {
        None => spec.values.iter().collect(),
        Some(name) => {
            let want = regf::name::from_str(name);
            let hit = spec
                .values
                .iter()
                .find(|v| regf::name::eq(&regf::name::from_str(&v.name), &want))
                .ok_or_else(|| {
                    Failure::refused(format!(
                        "{}: key {key:?} has no value {name:?}",
                        hive.display()
                    ))
                })?;
            vec![hit]
        }
    };
    if global.json {
        let j = serde_json::json!({
            "key": key,
            "values": values.iter().map(|v| value_json(v)).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        for v in values {
            let name = if v.name.is_empty() {
                "(default)"
            } else {
                &v.name
            };
            println!("{name}\t{}\t{}", type_name(v.kind), render_value(v));
        }
    }
    Ok(Exit::Ok)
}

/// Where an import writes.
pub enum Target<'a> {
    /// A new file, written atomically; the input hive is not modified.
    Out(&'a Path),
    /// The hive itself, behind an undo journal written first.
    InPlace { journal: &'a Path },
}

/// What an import did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    pub written: String,
    pub journal: Option<String>,
    pub replayed_log: Vec<String>,
    pub summary: ApplySummary,
}

/// Applies operations to a hive: a dirty hive is refused unless `replay_log` (then its logs
/// are replayed first); a hive that `verify` flags is refused; nothing is written unless every
/// operation succeeded and the result verifies.
pub fn import_ops(
    hive: &Path,
    ops: &[RegOp],
    target: Target<'_>,
    replay_log: bool,
    now: u64,
) -> Result<ImportReport, Failure> {
    let original =
        std::fs::read(hive).map_err(|e| Failure::usage(format!("{}: {e}", hive.display())))?;
    if let Target::Out(out) = &target {
        let same = match (std::fs::canonicalize(hive), std::fs::canonicalize(out)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(Failure::usage(format!(
                "--out {} is the input hive; use --in-place --journal FILE to patch it where it is",
                out.display()
            )));
        }
    }
    let mut data = original.clone();
    let mut replayed = Vec::new();
    let pre = regf::verify(&data);
    // A bad base-block checksum also means an unfinished write (reference/regf.md §4); with
    // --replay-log its log is tried (matched by the first bin's timestamp).
    let bad_checksum = pre
        .errors
        .iter()
        .any(|e| e.offset == regf::base_block::OFF_CHECKSUM as u64);
    if pre.dirty || (bad_checksum && replay_log) {
        if !replay_log {
            let logs = log::find_logs(hive);
            return Err(Failure::refused(format!(
                "{}: the hive is dirty (primary sequence number {}, secondary {}); logs beside it: {}. Re-run with --replay-log to replay them first",
                hive.display(),
                pre.sequence1,
                pre.sequence2,
                if logs.is_empty() {
                    "none".to_string()
                } else {
                    logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                }
            )));
        }
        let r = log::replay_files(hive)
            .map_err(|e| Failure::refused(format!("{}: {e}", hive.display())))?;
        data = r.data;
        replayed = r.applied;
    }
    let mut ed = Editor::open(data, now)
        .map_err(|e| Failure::refused(format!("{}: {e}", hive.display())))?;
    let summary = apply_ops(&mut ed, ops)
        .map_err(|e| Failure::refused(format!("{}: {e}; nothing was written", hive.display())))?;
    let new = ed.finish();
    let check = regf::verify(&new);
    if let Some(first) = check.errors.first() {
        return Err(Failure::write(format!(
            "{}: the edited hive does not verify (at {:#x}: {}); nothing was written",
            hive.display(),
            first.offset,
            first.what
        )));
    }
    let (written, journal) = match target {
        Target::Out(out) => {
            write::write_atomic(out, &new).map_err(|e| Failure::write(e.to_string()))?;
            (out.display().to_string(), None)
        }
        Target::InPlace { journal } => {
            write::write_in_place(hive, &original, &new, journal).map_err(|e| {
                Failure::write(format!(
                    "{e}; undo with the journal {} if the hive was touched",
                    journal.display()
                ))
            })?;
            (
                hive.display().to_string(),
                Some(journal.display().to_string()),
            )
        }
    };
    Ok(ImportReport {
        written,
        journal,
        replayed_log: replayed,
        summary,
    })
}
