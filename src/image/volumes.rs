//! The image's volumes and Windows paths resolved inside them (product.md, "The image").
//!
//! A volume is a host directory standing for one drive letter: the single-letter
//! subdirectories of `IMAGE_DIR` (either case), with `--volume X:=PATH` on top or alone.
//! A Windows path found in the registry (`E:\exchsrvr\MDBDATA\PRIV.EDB`) is resolved in its
//! volume component by component, case-insensitively, and never leaves the volume: `.`/`..`
//! components, relative, UNC and device paths are refused, and so is any symlink whose target
//! lies outside the volume's directory.

use crate::text::shown;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// The longest name of one path component a host file system takes (Linux `NAME_MAX`, in
/// bytes); NTFS takes 255 UTF-16 units, which a longer UTF-8 name may still be, but no host
/// directory can hold it.
const NAME_MOST: usize = 255;
/// The longest Windows path accepted (the `\\?\` limit of the Win32 API, in characters).
const PATH_MOST: usize = 32_767;

/// Names of the directory that holds Windows (`<SystemRoot>`), as NT4/2000 and later call it.
const SYSTEM_ROOT_NAMES: [&str; 2] = ["WINNT", "WINDOWS"];

/// `--volume X:=PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeArg {
    pub drive: char,
    pub path: PathBuf,
}

impl FromStr for VolumeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<VolumeArg, String> {
        let bad = || {
            format!(
                "{}: expected X:=PATH (a drive letter, `:=`, a directory)",
                crate::text::quoted(s)
            )
        };
        let (drive, path) = s.split_once('=').ok_or_else(bad)?;
        let drive = drive.strip_suffix(':').unwrap_or(drive);
        let mut chars = drive.chars();
        let (Some(d), None) = (chars.next(), chars.next()) else {
            return Err(bad());
        };
        if !d.is_ascii_alphabetic() || path.is_empty() {
            return Err(bad());
        }
        Ok(VolumeArg {
            drive: d.to_ascii_uppercase(),
            path: PathBuf::from(path),
        })
    }
}

/// A Windows path resolved inside its volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub drive: char,
    /// The host path.
    pub host: PathBuf,
    /// The path inside the volume, with the names as they are on disk.
    pub relative: PathBuf,
    /// `E:\exchsrvr\MDBDATA\PRIV.EDB`, with the names as they are on disk.
    pub windows: String,
}

/// The volume and name of `<SystemRoot>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemRoot {
    pub drive: char,
    /// `WINNT` or `WINDOWS`, as it is on disk.
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a directory (a volume must be a directory)")]
    NotADirectory { path: PathBuf },
    #[error("the image has no volumes: IMAGE_DIR needs single-letter subdirectories (C, E, ...) or give --volume X:=PATH")]
    NoVolumes,
    #[error(
        "{} (from {named_by}): drive {drive}: is not mapped; give --volume {drive}:=PATH",
        shown(path)
    )]
    Unmapped {
        path: String,
        named_by: String,
        drive: char,
    },
    #[error(
        "{} (from {named_by}): {why}; refusing to follow it: correct the value so that it names \
         a file inside a mapped volume",
        shown(path)
    )]
    Refused {
        path: String,
        named_by: String,
        why: String,
    },
    #[error("{} (from {named_by}): {} not found in {}", shown(path), shown(component), dir.display())]
    NotFound {
        path: String,
        named_by: String,
        component: String,
        dir: PathBuf,
    },
    #[error("no volume holds <SystemRoot>\\system32\\config\\SYSTEM (WINNT or WINDOWS); map the system volume with --volume C:=PATH")]
    NoSystemRoot,
    #[error("more than one system volume: {0}; map only the node's own system volume")]
    SeveralSystemRoots(String),
}

/// The image: drive letter → host directory.
#[derive(Clone, Debug)]
pub struct Image {
    volumes: BTreeMap<char, PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Image {
    /// Volumes from `dir`'s single-letter subdirectories, then `volumes` on top.
    pub fn open(dir: Option<&Path>, volumes: &[VolumeArg]) -> Result<Image, ImageError> {
        let mut map = BTreeMap::new();
        if let Some(dir) = dir {
            if !dir.is_dir() {
                return Err(ImageError::NotADirectory {
                    path: dir.to_path_buf(),
                });
            }
            for e in std::fs::read_dir(dir).map_err(io(dir))? {
                let e = e.map_err(io(dir))?;
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let mut chars = name.chars();
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    if c.is_ascii_alphabetic() && e.path().is_dir() {
                        let upper = c.to_ascii_uppercase();
                        // `C` and `c` both present: the upper-case one wins, as documented.
                        if c.is_ascii_uppercase() || !map.contains_key(&upper) {
                            map.insert(upper, e.path());
                        }
                    }
                }
            }
        }
        for v in volumes {
            if !v.path.is_dir() {
                return Err(ImageError::NotADirectory {
                    path: v.path.clone(),
                });
            }
            map.insert(v.drive, v.path.clone());
        }
        if map.is_empty() {
            return Err(ImageError::NoVolumes);
        }
        let volumes = map
            .into_iter()
            .map(|(d, p)| Ok((d, std::fs::canonicalize(&p).map_err(io(&p))?)))
            .collect::<Result<_, ImageError>>()?;
        Ok(Image { volumes })
    }

    pub fn volumes(&self) -> impl Iterator<Item = (char, &Path)> {
        self.volumes.iter().map(|(d, p)| (*d, p.as_path()))
    }

    /// The volume that `path` (which need not exist yet) is inside of, if any: its existing
    /// part with symlinks resolved, the rest taken as named.
    pub fn volume_holding(&self, path: &Path) -> Option<(char, &Path)> {
        let abs = std::path::absolute(path).ok()?;
        let mut real = PathBuf::new();
        for c in abs.components() {
            match c {
                Component::ParentDir => {
                    real.pop();
                }
                Component::CurDir => {}
                other => {
                    real.push(other);
                    if let Ok(r) = std::fs::canonicalize(&real) {
                        real = r;
                    }
                }
            }
        }
        self.volumes
            .iter()
            .find(|(_, root)| real.starts_with(root))
            .map(|(d, p)| (*d, p.as_path()))
    }

    /// Resolves `windows` (from `named_by`) inside its volume.
    pub fn resolve(&self, windows: &str, named_by: &str) -> Result<Resolved, ImageError> {
        let refused = |why: &str| ImageError::Refused {
            path: windows.to_string(),
            named_by: named_by.to_string(),
            why: why.to_string(),
        };
        if windows.chars().any(char::is_control) {
            return Err(refused("a NUL or control character in the path"));
        }
        if windows.chars().count() > PATH_MOST {
            return Err(refused(&format!(
                "longer than Windows allows ({})",
                crate::text::count(PATH_MOST as u64, "character", "characters")
            )));
        }
        if windows.starts_with("\\\\") || windows.starts_with("//") {
            return Err(refused("a UNC or device path is not inside the image"));
        }
        let mut chars = windows.chars();
        let drive = match (chars.next(), chars.next()) {
            (Some(d), Some(':')) if d.is_ascii_alphabetic() => d.to_ascii_uppercase(),
            _ => return Err(refused("not an absolute path with a drive letter")),
        };
        let rest = &windows[2..];
        if !rest.starts_with(['\\', '/']) && !rest.is_empty() {
            return Err(refused("a drive-relative path"));
        }
        let root = self
            .volumes
            .get(&drive)
            .ok_or_else(|| ImageError::Unmapped {
                path: windows.to_string(),
                named_by: named_by.to_string(),
                drive,
            })?;
        let mut host = root.clone();
        let mut relative = PathBuf::new();
        let mut shown = format!("{drive}:");
        for part in rest.split(['\\', '/']).filter(|p| !p.is_empty()) {
            if part == "." || part == ".." {
                return Err(refused("a `.` or `..` component"));
            }
            if part.len() > NAME_MOST {
                return Err(refused(&format!(
                    "a name longer than a host directory takes ({} bytes, at most {NAME_MOST})",
                    part.len()
                )));
            }
            let name = find_entry(&host, part).map_err(io(&host))?.ok_or_else(|| {
                ImageError::NotFound {
                    path: windows.to_string(),
                    named_by: named_by.to_string(),
                    component: part.to_string(),
                    dir: host.clone(),
                }
            })?;
            host.push(&name);
            relative.push(&name);
            shown.push('\\');
            shown.push_str(&name);
            let real = std::fs::canonicalize(&host).map_err(io(&host))?;
            if !real.starts_with(root) {
                return Err(refused(&format!(
                    "{} leads outside the volume ({})",
                    host.display(),
                    real.display()
                )));
            }
        }
        if relative.as_os_str().is_empty() {
            shown.push('\\');
        }
        Ok(Resolved {
            drive,
            host,
            relative,
            windows: shown,
        })
    }

    /// [`Image::resolve`], with a missing file or directory as `None`.
    pub fn resolve_optional(
        &self,
        windows: &str,
        named_by: &str,
    ) -> Result<Option<Resolved>, ImageError> {
        match self.resolve(windows, named_by) {
            Ok(r) => Ok(Some(r)),
            Err(ImageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The volume and `<SystemRoot>` that hold `system32\config\SYSTEM`.
    pub fn system_root(&self) -> Result<SystemRoot, ImageError> {
        let mut found = Vec::new();
        for &drive in self.volumes.keys() {
            for name in SYSTEM_ROOT_NAMES {
                let path = format!("{drive}:\\{name}\\system32\\config\\SYSTEM");
                if let Some(r) = self.resolve_optional(&path, "the search for the system volume")? {
                    if r.host.is_file() {
                        let on_disk = r
                            .relative
                            .components()
                            .next()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .unwrap_or_else(|| name.to_string());
                        found.push(SystemRoot {
                            drive,
                            name: on_disk,
                        });
                    }
                }
            }
        }
        match found.len() {
            0 => Err(ImageError::NoSystemRoot),
            1 => Ok(found.remove(0)),
            _ => Err(ImageError::SeveralSystemRoots(
                found
                    .iter()
                    .map(|r| format!("{}:\\{}", r.drive, r.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }
}

/// The entry of `dir` named `want` ignoring ASCII case (an exact match first).
fn find_entry(dir: &Path, want: &str) -> std::io::Result<Option<String>> {
    if dir.join(want).symlink_metadata().is_ok() && Path::new(want).components().count() == 1 {
        if let Some(Component::Normal(_)) = Path::new(want).components().next() {
            return Ok(Some(want.to_string()));
        }
    }
    let mut found = None;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Some(name) = e.file_name().to_str() {
            if name.eq_ignore_ascii_case(want) || name.to_lowercase() == want.to_lowercase() {
                found = Some(name.to_string());
                break;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_parse_and_refuse() {
        let v: VolumeArg = "e:=/mnt/x".parse().unwrap();
        assert_eq!((v.drive, v.path), ('E', PathBuf::from("/mnt/x")));
        assert_eq!("Q=/q".parse::<VolumeArg>().unwrap().drive, 'Q');
        for bad in ["", "E", "EE:=/x", "1:=/x", "E:=", ":=/x"] {
            assert!(bad.parse::<VolumeArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_case_insensitively_and_refuses_escapes() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join("c");
        std::fs::create_dir_all(c.join("winnt/System32/CONFIG")).unwrap();
        std::fs::write(c.join("winnt/System32/CONFIG/system"), b"x").unwrap();
        std::fs::create_dir_all(t.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(t.path().join("outside"), c.join("out")).unwrap();
        std::os::unix::fs::symlink(c.join("winnt"), c.join("inside")).unwrap();
        let img = Image::open(Some(t.path()), &[]).unwrap();
        let r = img
            .resolve("C:\\WINNT\\system32\\config\\SYSTEM", "test")
            .unwrap();
        assert_eq!(r.relative, PathBuf::from("winnt/System32/CONFIG/system"));
        assert_eq!(r.windows, "C:\\winnt\\System32\\CONFIG\\system");
        assert_eq!(
            img.system_root().unwrap(),
            SystemRoot {
                drive: 'C',
                name: "winnt".into()
            }
        );
        assert!(img.resolve("C:\\inside\\system32", "test").is_ok());
        let long_name = format!("C:\\winnt\\{}", "n".repeat(NAME_MOST + 1));
        let long_path = format!("C:{}", "\\n".repeat(PATH_MOST));
        for bad in [
            "C:\\out",
            "C:\\winnt\\..\\..",
            "\\\\server\\share\\x",
            "winnt\\x",
            "C:winnt",
            "C:\\win\0nt",
            "C:\\winnt\u{1b}[2J",
            &long_name,
            &long_path,
        ] {
            let e = img.resolve(bad, "the test value").unwrap_err();
            assert!(!e.to_string().contains('\u{1b}'), "{e}");
            assert!(e.to_string().len() < 600, "{e}");
            assert!(matches!(e, ImageError::Refused { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("the test value"), "{e}");
        }
        let e = img.resolve("E:\\exchsrvr", "DB Path").unwrap_err();
        assert!(e.to_string().contains("--volume E:=PATH"), "{e}");
        assert!(img.resolve_optional("C:\\nothing", "t").unwrap().is_none());
    }

    #[test]
    fn volume_flags_alone_and_on_top() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("C"), t.path().join("elsewhere"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let v = VolumeArg {
            drive: 'C',
            path: b.clone(),
        };
        let img = Image::open(Some(t.path()), std::slice::from_ref(&v)).unwrap();
        // Inside a volume, through a symlink or `..`, and not.
        std::os::unix::fs::symlink(&b, t.path().join("link")).unwrap();
        for inside in ["link/new/x", "elsewhere/a/../b", "C/../elsewhere"] {
            let p = t.path().join(inside);
            assert_eq!(img.volume_holding(&p).map(|v| v.0), Some('C'), "{inside}");
        }
        for outside in ["C", "elsewhere/../C/x", "other"] {
            let p = t.path().join(outside);
            assert_eq!(img.volume_holding(&p), None, "{outside}");
        }
        let vols: Vec<(char, PathBuf)> = img.volumes().map(|(d, p)| (d, p.to_path_buf())).collect();
        assert_eq!(vols, vec![('C', std::fs::canonicalize(&b).unwrap())]);
        assert!(Image::open(None, &[v]).is_ok());
        assert!(matches!(
            Image::open(Some(&b), &[]),
            Err(ImageError::NoVolumes)
        ));
    }
}
