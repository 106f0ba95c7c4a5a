//! Creates a new hive (version 1.3 or 1.5) from a key tree (issue: registry build).
//!
//! The key tree it writes is the hive model ([`super::model`], re-exported here); the builder
//! itself (`build_hive`) is implemented in this module's children.

pub use super::model::*;

/// Hive-wide facts of the hive being written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HiveOptions {
    /// 3 (NT4/2000) or 5 (XP/2003).
    pub minor_version: u32,
    /// Base-block and first-bin timestamp, FILETIME (100 ns since 1601-01-01 UTC).
    pub timestamp: u64,
    /// The sequence number written to both base-block slots.
    pub sequence: u32,
    /// The debug file name in the base block (e.g. `\SystemRoot\System32\Config\SYSTEM`).
    pub file_name: String,
    /// Self-relative security descriptor given to every key.
    pub security_descriptor: Vec<u8>,
}

use super::base_block::{
    self, BASE_BLOCK_SIZE, FILE_FORMAT_DIRECT, FILE_NAME_LEN, FILE_TYPE_PRIMARY, OFF_BINS_SIZE,
    OFF_CLUSTERING, OFF_FILE_FORMAT, OFF_FILE_NAME, OFF_FILE_TYPE, OFF_MAJOR, OFF_MINOR, OFF_SEQ1,
    OFF_SEQ2, OFF_TIMESTAMP,
};
use super::edit::Editor;
use super::error::RegfError;
use super::hive::{CellOffset, BIN_ALIGN, BIN_HEADER_SIZE};
use super::name;

/// Why a hive could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("minor version {0} is not one this tool writes (3 = NT4/2000, 4, 5 = XP/2003, 6)")]
    Version(u32),
    #[error("an empty security descriptor (every key needs one)")]
    NoSecurity,
    #[error("key {path}: {source}")]
    Key {
        path: String,
        #[source]
        source: RegfError,
    },
}

/// An empty hive: base block and one bin whose whole space is one free cell.
fn empty_hive(opts: &HiveOptions) -> Vec<u8> {
    let mut d = vec![0u8; BASE_BLOCK_SIZE + BIN_ALIGN as usize];
    let put = |d: &mut Vec<u8>, at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    d[0..4].copy_from_slice(base_block::SIGNATURE);
    put(&mut d, OFF_SEQ1, opts.sequence);
    put(&mut d, OFF_SEQ2, opts.sequence);
    d[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].copy_from_slice(&opts.timestamp.to_le_bytes());
    put(&mut d, OFF_MAJOR, 1);
    put(&mut d, OFF_MINOR, opts.minor_version);
    put(&mut d, OFF_FILE_TYPE, FILE_TYPE_PRIMARY);
    put(&mut d, OFF_FILE_FORMAT, FILE_FORMAT_DIRECT);
    put(&mut d, OFF_BINS_SIZE, BIN_ALIGN);
    put(&mut d, OFF_CLUSTERING, 1);
    // File name: the last 31 characters, NUL-terminated, UTF-16LE.
    let units: Vec<u16> = opts.file_name.encode_utf16().collect();
    let keep = &units[units.len().saturating_sub(FILE_NAME_LEN / 2 - 1)..];
    for (i, u) in keep.iter().enumerate() {
        let at = OFF_FILE_NAME + i * 2;
        d[at..at + 2].copy_from_slice(&u.to_le_bytes());
    }
    let bin = BASE_BLOCK_SIZE;
    d[bin..bin + 4].copy_from_slice(b"hbin");
    put(&mut d, bin + 8, BIN_ALIGN);
    d[bin + 20..bin + 28].copy_from_slice(&opts.timestamp.to_le_bytes());
    put(
        &mut d,
        bin + BIN_HEADER_SIZE as usize,
        BIN_ALIGN - BIN_HEADER_SIZE,
    );
    d
}

/// Builds a new hive holding `root` (its name becomes the root key's name).
///
/// Built with the editor's own operations, so building and editing share one code path:
/// lists, big data and counters come out as the editor writes them for that version.
pub fn build_hive(root: &KeySpec, opts: &HiveOptions) -> Result<Vec<u8>, BuildError> {
    build_hive_with_security(root, opts, &[])
}

/// [`build_hive`], then gives the keys at the listed paths (relative to the root) their own
/// self-relative security descriptors; keys with equal descriptors share one sk cell.
pub fn build_hive_with_security(
    root: &KeySpec,
    opts: &HiveOptions,
    descriptors: &[(&str, &[u8])],
) -> Result<Vec<u8>, BuildError> {
    if !(3..=6).contains(&opts.minor_version) {
        return Err(BuildError::Version(opts.minor_version));
    }
    if opts.security_descriptor.is_empty() {
        return Err(BuildError::NoSecurity);
    }
    let at = |path: &str| {
        let path = path.to_string();
        move |source| BuildError::Key { path, source }
    };
    let mut ed = Editor::open_unchecked(empty_hive(opts), opts.timestamp).map_err(at(""))?;
    let root_off = ed
        .create_root(&name::from_str(&root.name), &opts.security_descriptor)
        .map_err(at(""))?;
    fill(&mut ed, root_off, root, &root.name).map_err(|(p, e)| at(&p)(e))?;
    for (path, sd) in descriptors {
        if sd.is_empty() {
            return Err(BuildError::NoSecurity);
        }
        ed.set_security(path, sd).map_err(at(path))?;
    }
    Ok(ed.finish_with(opts.sequence, opts.timestamp))
}

fn fill(
    ed: &mut Editor,
    off: CellOffset,
    spec: &KeySpec,
    path: &str,
) -> Result<(), (String, RegfError)> {
    let fail = |e| (path.to_string(), e);
    if let Some(c) = &spec.class {
        let bytes: Vec<u8> = c.encode_utf16().flat_map(u16::to_le_bytes).collect();
        ed.set_class_at(off, &bytes).map_err(fail)?;
    }
    for v in &spec.values {
        ed.set_value_at(off, &v.name, v.kind, &v.data)
            .map_err(fail)?;
    }
    for child in &spec.subkeys {
        let child_path = format!("{path}\\{}", child.name);
        let c = ed
            .create_child(off, &name::from_str(&child.name), None)
            .map_err(|e| (child_path.clone(), e))?;
        fill(ed, c, child, &child_path)?;
    }
    Ok(())
}
