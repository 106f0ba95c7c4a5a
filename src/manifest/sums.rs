//! SHA-256 manifests in the form `sha256sum -c` reads: `<64 hex>  <path>` per line.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;

/// One file's size and SHA-256, its path relative to the manifest's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// `/`-separated, relative.
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `bytes` as lower-case hex.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    for (pair, &b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// Each byte's two hex digits (the audit log writes millions of hex strings).
static HEX_PAIRS: [[u8; 2]; 256] = hex_pairs();

const fn hex_pairs() -> [[u8; 2]; 256] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
        b += 1;
    }
    pairs
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Streams a file through SHA-256 (the page cache left as it is); returns its size and digest.
pub fn hash_file_raw(path: &Path) -> std::io::Result<(u64, [u8; 32])> {
    crate::image::write::sha256_file(path, crate::image::write::Cache::Keep)
}

/// [`hash_file_raw`] with the digest in lower-case hex.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    hash_file_raw(path).map(|(n, d)| (n, hex(&d)))
}

/// The manifest text: one line per file, sorted by path. A path holding a backslash or a
/// newline is written as GNU `sha256sum` does (a leading `\` and those characters escaped).
pub fn manifest(files: &[FileDigest]) -> String {
    let mut sorted: Vec<&FileDigest> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    for f in sorted {
        if f.path.contains(['\\', '\n']) {
            let escaped = f.path.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "\\{}  {escaped}", f.sha256);
        } else {
            let _ = writeln!(out, "{}  {}", f.sha256, f.path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_manifest_lines() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let files = vec![
            FileDigest {
                path: "E/x.EDB".into(),
                size: 3,
                sha256: sha256_hex(b"abc"),
            },
            FileDigest {
                path: "C/a\\b".into(),
                size: 0,
                sha256: sha256_hex(b""),
            },
        ];
        let m = manifest(&files);
        let lines: Vec<&str> = m.lines().collect();
        assert!(lines[0].starts_with("\\e3b0c442"));
        assert!(lines[0].ends_with("  C/a\\\\b"));
        assert_eq!(
            lines[1],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  E/x.EDB"
        );
    }
}
