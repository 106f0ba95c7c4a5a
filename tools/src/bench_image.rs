//! The benchmark image the drivers share (`bench`, `faults`): an ESE97 cluster image of about
//! a given size, three quarters in `PRIV.EDB`, 20 % foreign rows, 1 KB bodies, the message
//! counts worked out from two small calibration images.

use std::path::{Path, PathBuf};

pub const GIB: f64 = (1u64 << 30) as f64;
/// Calibration images (messages per store).
pub const CALIBRATE: [u64; 2] = [2_000, 22_000];
pub const FOLDERS: u64 = 500;
pub const BODY_BYTES: u32 = 1024;
/// The databases of the image, relative to it.
pub const DBS: [&str; 2] = ["E/exchsrvr/MDBDATA/PRIV.EDB", "E/exchsrvr/MDBDATA/PUB.EDB"];

/// A program beside the running one (the drivers run `coldpatch` and `mkimage` built with
/// them), or found on PATH.
pub fn beside(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A file's size, the error naming it.
pub fn size_of(p: &Path) -> Result<u64, String> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// `mkimage`'s arguments for the image at `out`.
pub fn image_args(out: &Path, messages: u64, pub_messages: u64) -> Vec<String> {
    [
        out.display().to_string(),
        "--format".into(),
        "ese97".into(),
        "--seed".into(),
        "bench".into(),
        "--folders".into(),
        FOLDERS.to_string(),
        "--messages".into(),
        messages.to_string(),
        "--pub-messages".into(),
        pub_messages.to_string(),
        "--body-bytes".into(),
        BODY_BYTES.to_string(),
        "--foreign".into(),
        "20".into(),
    ]
    .into()
}

/// (messages, pub messages) for an image of about `gib` GiB, 3/4 in PRIV.EDB: two calibration
/// images made under `work` with `mkimage` (which runs it on the arguments) and removed.
pub fn calibrate(
    work: &Path,
    gib: f64,
    mut mkimage: impl FnMut(&[String]) -> Result<(), String>,
) -> Result<(u64, u64), String> {
    let mut sizes = Vec::new();
    for (i, n) in CALIBRATE.iter().enumerate() {
        let out = work.join(format!("calibrate{i}"));
        let _ = std::fs::remove_dir_all(&out);
        mkimage(&image_args(&out, *n, *n))?;
        sizes.push((size_of(&out.join(DBS[0]))?, size_of(&out.join(DBS[1]))?));
        let _ = std::fs::remove_dir_all(&out);
    }
    let dn = (CALIBRATE[1] - CALIBRATE[0]) as f64;
    let per = |a: u64, b: u64| (b - a) as f64 / dn;
    let for_size = |want: f64, base: u64, per: f64| {
        CALIBRATE[0] + ((want * GIB - base as f64) / per).max(0.0) as u64
    };
    Ok((
        for_size(gib * 0.75, sizes[0].0, per(sizes[0].0, sizes[1].0)),
        for_size(gib * 0.25, sizes[0].1, per(sizes[0].1, sizes[1].1)),
    ))
}
