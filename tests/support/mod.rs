//! Test support shared by the integration tests: independent readers of hives and ESE
//! databases (run as external programs), a canonical key tree to compare their answers, and
//! the shared samples.
//!
//! Include it with `#[path = "support/mod.rs"] mod support;`.
//!
//! * [`dump_hive`] reads a hive with regipy, dissect.regf, hivex or libregf through
//!   `tests/support/hive_dump.py`, whose header documents each reader's quirks and what is done
//!   about them; [`Tree::lossy_for`] applies, to both sides of a comparison, the normalisation
//!   a reader needs (only libregf needs one).
//! * [`esedb_dump`] reads an ESE database with dissect.esedb or libesedb (pyesedb) through
//!   `tests/support/ese_dump.py`.
#![allow(dead_code)]

use coldpatch::regf::regfile::{RegFile, RegOp};
use coldpatch::regf::write::{utf16z, KeySpec, ValueSpec, REG_EXPAND_SZ, REG_SZ};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared samples directory (`../shared/samples` beside the checkout).
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples");
/// The hive dumper script.
pub const HIVE_DUMP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/hive_dump.py");
/// The ESE dumper script.
pub const ESE_DUMP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/ese_dump.py");

/// The Python with dissect.esedb, dissect.regf and regipy: `$PYTHON`, else `python3` on PATH.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Debian's Python, the only one that can import `pyesedb` (python3-libesedb).
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// An independent hive reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reader {
    Regipy,
    Dissect,
    Hivex,
    Libregf,
}

impl Reader {
    pub const ALL: [Reader; 4] = [
        Reader::Regipy,
        Reader::Dissect,
        Reader::Hivex,
        Reader::Libregf,
    ];

    /// The name `hive_dump.py` takes.
    pub fn name(self) -> &'static str {
        match self {
            Reader::Regipy => "regipy",
            Reader::Dissect => "dissect",
            Reader::Hivex => "hivex",
            Reader::Libregf => "libregf",
        }
    }
}

/// One value of a [`Tree`]: name ("" = default), raw type, raw data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeValue {
    pub name: String,
    pub kind: u32,
    pub data: Vec<u8>,
}

/// A key and everything below it, as a reader sees it. Compare trees after [`Tree::canonical`]
/// (which [`dump_hive`] and [`tree_from_keyspec`] already return).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub name: String,
    pub values: Vec<TreeValue>,
    pub subkeys: Vec<Tree>,
}

#[derive(serde::Deserialize)]
struct RawTree {
    name: String,
    values: Vec<RawValue>,
    subkeys: Vec<RawTree>,
}

#[derive(serde::Deserialize)]
struct RawValue {
    name: String,
    #[serde(rename = "type")]
    kind: u32,
    data: String,
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 {
        return Err(format!("odd-length hex string ({} digits)", hex.len()));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad hex at digit {i}"))
        })
        .collect()
}

impl RawTree {
    fn into_tree(self) -> Result<Tree, String> {
        Ok(Tree {
            values: self
                .values
                .into_iter()
                .map(|v| {
                    Ok(TreeValue {
                        data: from_hex(&v.data).map_err(|e| format!("value {:?}: {e}", v.name))?,
                        name: v.name,
                        kind: v.kind,
                    })
                })
                .collect::<Result<_, String>>()?,
            subkeys: self
                .subkeys
                .into_iter()
                .map(RawTree::into_tree)
                .collect::<Result<_, _>>()?,
            name: self.name,
        })
    }
}

/// A name upper-cased the way Windows compares key and value names: character by character
/// in the Basic Multilingual Plane only, one character to one (RtlUpcaseUnicodeChar works on
/// single UTF-16 units: `ß` stays `ß`, and surrogate pairs such as Deseret `𐐸` are not folded,
/// which is how testhive holds both `𐐐` and `𐐸`). An approximation of Windows' upcase table by
/// Unicode's simple upper-case mapping.
pub fn win_upcase(name: &str) -> String {
    name.chars()
        .map(|c| {
            if u32::from(c) > 0xFFFF {
                return c;
            }
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) if u32::from(u) <= 0xFFFF => u,
                _ => c,
            }
        })
        .collect()
}

/// Canonical key order: by Windows-upper-cased name, then by name (a total order).
fn key_order(a: &Tree, b: &Tree) -> std::cmp::Ordering {
    (win_upcase(&a.name), &a.name).cmp(&(win_upcase(&b.name), &b.name))
}

impl Tree {
    /// The same tree with subkeys in canonical order and values sorted by name, recursively.
    pub fn canonical(mut self) -> Tree {
        self.values
            .sort_by(|a, b| (&a.name, a.kind, &a.data).cmp(&(&b.name, b.kind, &b.data)));
        self.subkeys = self.subkeys.into_iter().map(Tree::canonical).collect();
        self.subkeys.sort_by(key_order);
        self
    }

    /// The subkey named `name` (case-insensitive, as Windows looks keys up).
    pub fn subkey(&self, name: &str) -> Option<&Tree> {
        let upper = win_upcase(name);
        self.subkeys.iter().find(|k| win_upcase(&k.name) == upper)
    }

    /// The key at `path` below this one (`\`-separated, case-insensitive; "" = this key).
    pub fn find(&self, path: &str) -> Option<&Tree> {
        path.split('\\')
            .filter(|p| !p.is_empty())
            .try_fold(self, |k, part| k.subkey(part))
    }

    /// The value named `name` of this key (case-insensitive).
    pub fn value(&self, name: &str) -> Option<&TreeValue> {
        let upper = win_upcase(name);
        self.values.iter().find(|v| win_upcase(&v.name) == upper)
    }

    /// The same tree with every key and value name passed through `f` (canonical order).
    pub fn map_names(&self, f: &dyn Fn(&str) -> String) -> Tree {
        Tree {
            name: f(&self.name),
            values: self
                .values
                .iter()
                .map(|v| TreeValue {
                    name: f(&v.name),
                    kind: v.kind,
                    data: v.data.clone(),
                })
                .collect(),
            subkeys: self.subkeys.iter().map(|k| k.map_names(f)).collect(),
        }
        .canonical()
    }

    /// Number of keys, this one included.
    pub fn key_count(&self) -> usize {
        1 + self.subkeys.iter().map(Tree::key_count).sum::<usize>()
    }

    /// Number of values in the whole tree.
    pub fn value_count(&self) -> usize {
        self.values.len() + self.subkeys.iter().map(Tree::value_count).sum::<usize>()
    }

    /// The tree as `reader` can represent it; compare `a.lossy_for(r) == b.lossy_for(r)`.
    ///
    /// Only libregf (regfexport) loses information; what it loses, and so what is normalised
    /// on both sides:
    /// * names are cut at the first NUL (regfexport prints C strings);
    /// * characters U+0080..U+009F in names become their code page 1252 characters (regfexport
    ///   decodes compressed names as Windows-1252, the others as Latin-1);
    /// * a value named "(default)" becomes the default value "" (regfexport prints both so);
    /// * data of 1 to 3 bytes, other than strings, becomes zeros of the same length
    ///   (regfexport 20201007 returns zeros for such inline data: SAM's 2-byte
    ///   `ServerDomainUpdates` fe0f reads 0000; inline strings read correctly);
    /// * REG_SZ / REG_EXPAND_SZ data (an odd length padded with a zero byte) becomes its
    ///   text up to the first NUL, re-encoded as UTF-16LE with one NUL, when that text is valid
    ///   UTF-16 (regfexport 20201007 prints only that text, and a size computed from it);
    ///   data that is not is kept raw (regfexport dumps it raw).
    ///
    /// The result is in canonical order.
    pub fn lossy_for(&self, reader: Reader) -> Tree {
        match reader {
            Reader::Libregf => self.map_lossy(&|name| libregf_name(name)).canonical(),
            _ => self.clone().canonical(),
        }
    }

    fn map_lossy(&self, name_of: &dyn Fn(&str) -> String) -> Tree {
        Tree {
            name: name_of(&self.name),
            values: self
                .values
                .iter()
                .map(|v| {
                    let mut name = name_of(&v.name);
                    if name == "(default)" {
                        name.clear();
                    }
                    let data = match v.kind {
                        REG_SZ | REG_EXPAND_SZ => text_to_first_nul(&v.data),
                        _ if (1..=3).contains(&v.data.len()) => vec![0; v.data.len()],
                        _ => v.data.clone(),
                    };
                    TreeValue {
                        name,
                        kind: v.kind,
                        data,
                    }
                })
                .collect(),
            subkeys: self.subkeys.iter().map(|k| k.map_lossy(name_of)).collect(),
        }
    }
}

/// Code page 1252 characters for bytes 0x80..=0x9F (Unicode's `CP1252.TXT`; the five
/// undefined bytes map to themselves, as Windows maps them).
const CP1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// String data as its text up to the first NUL plus one NUL, if that text is valid UTF-16
/// (an odd length padded with a zero byte); otherwise the data unchanged.
fn text_to_first_nul(data: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = data
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect();
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    match String::from_utf16(&units[..end]) {
        Ok(text) => utf16z(&text),
        Err(_) => data.to_vec(),
    }
}

fn libregf_name(name: &str) -> String {
    name.split('\0')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| match u32::from(c) {
            code @ 0x80..=0x9F => CP1252_80_9F[(code - 0x80) as usize],
            _ => c,
        })
        .collect()
}

/// Reads the hive at `path` with `reader`; the error is the dumper's stderr.
pub fn try_dump_hive(reader: Reader, path: &Path) -> Result<Tree, String> {
    try_dump_hives(reader, &[path]).map(|mut trees| trees.remove(0))
}

/// Reads several hives with `reader` in one run of the dumper (one Python start-up).
pub fn try_dump_hives(reader: Reader, paths: &[&Path]) -> Result<Vec<Tree>, String> {
    let out = Command::new(python())
        .arg(HIVE_DUMP)
        .arg(reader.name())
        .args(paths)
        .output()
        .map_err(|e| format!("cannot run {} {HIVE_DUMP}: {e}", python()))?;
    if !out.status.success() {
        return Err(format!(
            "{} on {paths:?}: {}\n{}",
            reader.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let trees = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .zip(paths)
        .map(|(line, path)| {
            let raw: RawTree = serde_json::from_slice(line)
                .map_err(|e| format!("{} on {}: bad JSON: {e}", reader.name(), path.display()))?;
            Ok(raw.into_tree()?.canonical())
        })
        .collect::<Result<Vec<_>, String>>()?;
    if trees.len() != paths.len() {
        return Err(format!(
            "{}: {} trees for {} hives",
            reader.name(),
            trees.len(),
            paths.len()
        ));
    }
    Ok(trees)
}

/// Reads several hives with `reader` in one run; panics with the reader's message on failure.
pub fn dump_hives(reader: Reader, paths: &[&Path]) -> Vec<Tree> {
    try_dump_hives(reader, paths).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads the hive at `path` with `reader`, in canonical order; panics with the reader's
/// message if it fails.
pub fn dump_hive(reader: Reader, path: &Path) -> Tree {
    try_dump_hive(reader, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The tree a [`KeySpec`] describes (its class is not compared), in canonical order.
pub fn tree_from_keyspec(spec: &KeySpec) -> Tree {
    fn walk(spec: &KeySpec) -> Tree {
        Tree {
            name: spec.name.clone(),
            values: spec
                .values
                .iter()
                .map(|v| TreeValue {
                    name: v.name.clone(),
                    kind: v.kind,
                    data: v.data.clone(),
                })
                .collect(),
            subkeys: spec.subkeys.iter().map(walk).collect(),
        }
    }
    walk(spec).canonical()
}

/// How many differences a diff lists before it stops.
const DIFF_LIMIT: usize = 25;

/// The differences between two trees (compared in canonical order), as readable lines; empty
/// when they are equal.
pub fn tree_diff(left: &Tree, right: &Tree) -> Vec<String> {
    let (l, r) = (left.clone().canonical(), right.clone().canonical());
    let mut out = Vec::new();
    diff_key(&l, &r, &l.name.clone(), &mut out);
    out
}

fn show_data(d: &[u8]) -> String {
    const SHOWN: usize = 24;
    let mut s = String::new();
    for b in d.iter().take(SHOWN) {
        let _ = write!(s, "{b:02x}");
    }
    if d.len() > SHOWN {
        s.push('…');
    }
    format!("{} bytes [{s}]", d.len())
}

fn diff_key(l: &Tree, r: &Tree, path: &str, out: &mut Vec<String>) {
    if out.len() >= DIFF_LIMIT {
        return;
    }
    if l.name != r.name {
        out.push(format!("{path}: key name {:?} vs {:?}", l.name, r.name));
    }
    let mut li = l.values.iter().peekable();
    let mut ri = r.values.iter().peekable();
    loop {
        match (li.peek(), ri.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if a.name == b.name => {
                if a.kind != b.kind {
                    out.push(format!(
                        "{path} value {:?}: type {} vs {}",
                        a.name, a.kind, b.kind
                    ));
                }
                if a.data != b.data {
                    let at = a.data.iter().zip(&b.data).position(|(x, y)| x != y);
                    out.push(format!(
                        "{path} value {:?}: data {} vs {} (first difference at byte {})",
                        a.name,
                        show_data(&a.data),
                        show_data(&b.data),
                        at.map_or("end".to_string(), |i| i.to_string())
                    ));
                }
                li.next();
                ri.next();
            }
            (Some(a), b) if b.map_or(true, |b| a.name < b.name) => {
                out.push(format!(
                    "{path}: value {:?} only on the left ({})",
                    a.name,
                    show_data(&a.data)
                ));
                li.next();
            }
            (_, Some(b)) => {
                out.push(format!(
                    "{path}: value {:?} only on the right ({})",
                    b.name,
                    show_data(&b.data)
                ));
                ri.next();
            }
            (Some(_), None) => unreachable!("handled by the guard above"),
        }
    }
    let mut lk = l.subkeys.iter().peekable();
    let mut rk = r.subkeys.iter().peekable();
    loop {
        if out.len() >= DIFF_LIMIT {
            out.push("… (more differences not shown)".to_string());
            return;
        }
        match (lk.peek(), rk.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if key_order(a, b).is_eq() => {
                diff_key(a, b, &format!("{path}\\{}", a.name), out);
                lk.next();
                rk.next();
            }
            (Some(a), b) if b.map_or(true, |b| key_order(a, b).is_lt()) => {
                out.push(format!(
                    "{path}: key {:?} only on the left ({} keys below it)",
                    a.name,
                    a.key_count()
                ));
                lk.next();
            }
            (_, Some(b)) => {
                out.push(format!(
                    "{path}: key {:?} only on the right ({} keys below it)",
                    b.name,
                    b.key_count()
                ));
                rk.next();
            }
            (Some(_), None) => unreachable!("handled by the guard above"),
        }
    }
}

/// Asserts two trees are equal, listing the differences (not two huge debug dumps) if not.
#[track_caller]
pub fn assert_trees_eq(left: &Tree, right: &Tree, context: &str) {
    let diff = tree_diff(left, right);
    assert!(
        diff.is_empty(),
        "{context}: trees differ:\n  {}",
        diff.join("\n  ")
    );
}

/// Path of a shared sample, e.g. `regf/SAM.gz`.
pub fn sample_path(rel_path: &str) -> PathBuf {
    Path::new(SAMPLES).join(rel_path)
}

/// Puts the sample `rel_path` (e.g. `regf/SAM.gz`, `ese/basic.edb.gz`, `regf/minimal`) into
/// `dir`: a `.gz` is decompressed (to its name without `.gz`), anything else copied; either
/// way the file is writable. Returns the path of the file in `dir`.
pub fn decompress_sample(rel_path: &str, dir: &Path) -> PathBuf {
    let src = sample_path(rel_path);
    let file_name = src
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_else(|| panic!("sample path without a file name: {rel_path}"));
    match file_name.strip_suffix(".gz") {
        Some(stem) => {
            let dst = dir.join(stem);
            let input = std::fs::File::open(&src)
                .unwrap_or_else(|e| panic!("cannot open sample {}: {e}", src.display()));
            let mut decoder = flate2::read::GzDecoder::new(input);
            let mut output = std::fs::File::create(&dst)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dst.display()));
            std::io::copy(&mut decoder, &mut output)
                .unwrap_or_else(|e| panic!("cannot decompress {}: {e}", src.display()));
            dst
        }
        None => {
            let dst = dir.join(file_name);
            std::fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("cannot copy sample {}: {e}", src.display()));
            // The samples are read-only; the copy is for tests to write.
            let mut perms = std::fs::metadata(&dst)
                .unwrap_or_else(|e| panic!("cannot stat {}: {e}", dst.display()))
                .permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&dst, perms)
                .unwrap_or_else(|e| panic!("cannot make {} writable: {e}", dst.display()));
            dst
        }
    }
}

/// The key path, relative to `prefix`, of a `.reg` key path; `None` if it is not below it.
/// `prefix` "" takes hivexregedit's prefix-less paths (`\`, `\Sub`).
fn relative_path<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if !(prefix.is_empty() || rest.is_empty() || rest.starts_with('\\')) {
        return None;
    }
    Some(rest.trim_start_matches('\\').trim_end_matches('\\'))
}

fn subkey_mut<'a>(key: &'a mut Tree, name: &str, create: bool) -> Option<&'a mut Tree> {
    let upper = win_upcase(name);
    let pos = match key
        .subkeys
        .iter()
        .position(|k| win_upcase(&k.name) == upper)
    {
        Some(p) => p,
        None if create => {
            key.subkeys.push(Tree {
                name: name.to_string(),
                values: Vec::new(),
                subkeys: Vec::new(),
            });
            key.subkeys.len() - 1
        }
        None => return None,
    };
    key.subkeys.get_mut(pos)
}

fn key_at<'a>(root: &'a mut Tree, rel: &str) -> &'a mut Tree {
    let mut key = root;
    for part in rel.split('\\').filter(|p| !p.is_empty()) {
        key = subkey_mut(key, part, true).expect("created");
    }
    key
}

/// Applies a parsed `.reg` file to `base` (as Windows' regedit would to a live key), with key
/// paths taken relative to `prefix`. Keys and values are matched case-insensitively. Errors
/// name the line of an op whose key is not below `prefix`. The result is in canonical order.
pub fn apply_regfile(base: &Tree, reg: &RegFile, prefix: &str) -> Result<Tree, String> {
    let mut root = base.clone();
    let mut current: Option<String> = None;
    for op in &reg.ops {
        match op {
            RegOp::Key { path, line } | RegOp::DeleteKey { path, line } => {
                let rel = relative_path(path, prefix)
                    .ok_or_else(|| format!("line {line}: key {path:?} is not below {prefix:?}"))?
                    .to_string();
                if let RegOp::DeleteKey { .. } = op {
                    let (parent, name) = match rel.rsplit_once('\\') {
                        Some((p, n)) => (p.to_string(), n.to_string()),
                        None => (String::new(), rel.clone()),
                    };
                    if name.is_empty() {
                        return Err(format!("line {line}: cannot delete the root key"));
                    }
                    let parent = key_at(&mut root, &parent);
                    let upper = win_upcase(&name);
                    parent.subkeys.retain(|k| win_upcase(&k.name) != upper);
                    current = None;
                } else {
                    key_at(&mut root, &rel);
                    current = Some(rel);
                }
            }
            RegOp::SetValue {
                name,
                kind,
                data,
                line,
            } => {
                let rel = current
                    .as_deref()
                    .ok_or_else(|| format!("line {line}: value outside a key"))?;
                let key = key_at(&mut root, rel);
                let upper = win_upcase(name);
                key.values.retain(|v| win_upcase(&v.name) != upper);
                key.values.push(TreeValue {
                    name: name.clone(),
                    kind: *kind,
                    data: data.clone(),
                });
            }
            RegOp::DeleteValue { name, line } => {
                let rel = current
                    .as_deref()
                    .ok_or_else(|| format!("line {line}: value outside a key"))?;
                let key = key_at(&mut root, rel);
                let upper = win_upcase(name);
                key.values.retain(|v| win_upcase(&v.name) != upper);
            }
        }
    }
    Ok(root.canonical())
}

/// The keys of `tree`, in pre-order, as [`coldpatch::regf::regfile::format_reg`] takes them:
/// the root as `prefix`, the others as `prefix\sub\...`.
pub fn regfile_keys(tree: &Tree, prefix: &str) -> Vec<(String, Vec<ValueSpec>)> {
    fn walk(key: &Tree, path: String, out: &mut Vec<(String, Vec<ValueSpec>)>) {
        let values = key
            .values
            .iter()
            .map(|v| ValueSpec {
                name: v.name.clone(),
                kind: v.kind,
                data: v.data.clone(),
            })
            .collect();
        out.push((path.clone(), values));
        for sub in &key.subkeys {
            walk(sub, format!("{path}\\{}", sub.name), out);
        }
    }
    let mut out = Vec::new();
    walk(tree, prefix.to_string(), &mut out);
    out
}

/// An ESE reader `ese_dump.py` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EseReader {
    /// dissect.esedb, with the Python on PATH.
    Dissect,
    /// libesedb's `pyesedb`, with Debian's `/usr/bin/python3`.
    Pyesedb,
}

impl EseReader {
    pub fn name(self) -> &'static str {
        match self {
            EseReader::Dissect => "dissect",
            EseReader::Pyesedb => "pyesedb",
        }
    }

    fn python(self) -> String {
        match self {
            EseReader::Dissect => python(),
            EseReader::Pyesedb => DEBIAN_PYTHON.to_string(),
        }
    }
}

/// Dumps an ESE database with `reader` (see `tests/support/ese_dump.py` for the JSON shape);
/// the error is the dumper's stderr.
pub fn try_esedb_dump_with(reader: EseReader, path: &Path) -> Result<serde_json::Value, String> {
    try_esedb_dump_args(reader, path, &[])
}

/// As [`try_esedb_dump_with`], with extra `ese_dump.py` arguments (`--no-records`,
/// `--table NAME`).
pub fn try_esedb_dump_args(
    reader: EseReader,
    path: &Path,
    args: &[&str],
) -> Result<serde_json::Value, String> {
    let out = Command::new(reader.python())
        .arg(ESE_DUMP)
        .arg(reader.name())
        .arg(path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {} {ESE_DUMP}: {e}", reader.python()))?;
    if !out.status.success() {
        return Err(format!(
            "{} on {}: {}\n{}",
            reader.name(),
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{} on {}: bad JSON: {e}", reader.name(), path.display()))
}

/// Dumps an ESE database with `reader`; panics with the reader's message if it fails.
pub fn esedb_dump_with(reader: EseReader, path: &Path) -> serde_json::Value {
    try_esedb_dump_with(reader, path).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`esedb_dump_with`], with extra `ese_dump.py` arguments; panics on failure.
pub fn esedb_dump_args(reader: EseReader, path: &Path, args: &[&str]) -> serde_json::Value {
    try_esedb_dump_args(reader, path, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Dumps an ESE database with dissect.esedb.
pub fn esedb_dump(path: &Path) -> serde_json::Value {
    esedb_dump_with(EseReader::Dissect, path)
}

/// Runs `hivexregedit` with Perl's standard streams and file reads in UTF-8
/// (`PERL_UNICODE=SD`). Without it hivexregedit's export is not in any one encoding (Perl prints
/// a line whose characters are all below U+0100 as Latin-1 bytes and any other line as UTF-8),
/// and `--merge` reads a UTF-8 file as Latin-1. Returns stdout; panics with stderr on failure.
pub fn hivexregedit(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new("hivexregedit")
        .env("PERL_UNICODE", "SD")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run hivexregedit: {e}"));
    assert!(
        out.status.success(),
        "hivexregedit {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `hivexregedit --export HIVE KEY` as text (UTF-8). `key` is a path inside the hive, `\` for
/// the root; the exported key paths are `\`-rooted (`[\]`, `[\Sub]`).
pub fn hivexregedit_export(hive: &Path, key: &str) -> String {
    let bytes = hivexregedit(&["--export".as_ref(), hive.as_os_str(), key.as_ref()]);
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("hivexregedit --export: not UTF-8: {e}"))
}

/// `hivexregedit --merge --prefix PREFIX HIVE REGFILE` (the `.reg` file in UTF-8): applies the
/// file to the hive in place with hivex's own `.reg` parser.
pub fn hivexregedit_merge(hive: &Path, prefix: &str, reg_file: &Path) {
    hivexregedit(&[
        "--merge".as_ref(),
        "--prefix".as_ref(),
        prefix.as_ref(),
        hive.as_os_str(),
        reg_file.as_os_str(),
    ]);
}
