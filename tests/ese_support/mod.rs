//! Shared by the ESE integration tests: the real samples, decompressed into a temp dir, and
//! the independent readers (dissect.esedb via `python3`, libesedb's `esedbexport`).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/ese");

/// Every `.edb.gz` sample, in name order.
pub fn sample_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(SAMPLES)
        .expect("../shared/samples/ese beside the checkout")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".edb.gz"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 7,
        "expected the 7 ESE samples, found {names:?}"
    );
    names
}

/// The decompressed bytes of sample `name` (`basic.edb.gz`).
pub fn sample_bytes(name: &str) -> Vec<u8> {
    let gz = std::fs::read(Path::new(SAMPLES).join(name)).expect("read sample");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .expect("gunzip sample");
    out
}

/// Decompresses every sample into `dir`; returns the paths.
pub fn decompress_all(dir: &Path) -> Vec<PathBuf> {
    sample_names()
        .iter()
        .map(|n| {
            let path = dir.join(n.trim_end_matches(".gz"));
            std::fs::write(&path, sample_bytes(n)).expect("write sample copy");
            path
        })
        .collect()
}

/// Runs `python3 -c SCRIPT ARGS...` and returns stdout parsed as JSON.
pub fn python_json(script: &str, args: &[&Path]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 on PATH (with dissect.esedb)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

/// dissect.esedb's view of a database: `{table: {"rows": n, "columns": [...], "indexes":
/// {name: [col...]}, "values": [[value per column]...]}}`; values are hex strings of the
/// stored bytes (long values: the value itself, text encoded back in its code page), lists of hex strings for multi-values, `null` for NULL, and
/// `"?"` for values not comparable as bytes (numbers inside multi-values, values dissect
/// cannot decode).
pub const DISSECT_DUMP: &str = r#"
import json, sys
from dissect.esedb import EseDB
def enc(c, v):
    if v is None: return None
    if isinstance(v, bytes): return v.hex()
    if isinstance(v, str) and c.is_text:
        e = 'utf-16-le' if 'UNICODE' in str(c.encoding) else 'cp1252'
        try:
            return v.encode(e, 'surrogatepass').hex()
        except UnicodeError:
            return "?"
    return "?"
out = {}
with open(sys.argv[1], 'rb') as fh:
    db = EseDB(fh)
    for t in db.tables():
        rows = []
        for r in t.records():
            vals = []
            for c in t.columns:
                try:
                    v = r.get(c.name)
                except Exception:
                    vals.append("?")
                    continue
                if isinstance(v, list):
                    vals.append([enc(c, x) for x in v])
                elif v is None:
                    vals.append(None)
                elif int(c.type) in (11, 12) and (isinstance(v, bytes) or (isinstance(v, str) and c.is_text)):
                    # Long values: raw would be the LID; compare the value.
                    vals.append(enc(c, v))
                else:
                    raw = r.get(c.name, raw=True)
                    vals.append(raw.hex() if isinstance(raw, bytes) else "?")
            rows.append(vals)
        out[t.name] = {
            "rows": len(rows),
            "columns": [c.name for c in t.columns],
            "indexes": {i.name: [c.name for c in i.columns] for i in t.indexes},
            "values": rows,
        }
print(json.dumps(out))
"#;

pub fn dissect_dump(path: &Path) -> serde_json::Value {
    python_json(DISSECT_DUMP, &[path])
}
