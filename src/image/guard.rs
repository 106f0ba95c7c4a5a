//! Guards of a run that writes: the image's lock, the check that the files an in-place run
//! will write can be written, and the file size limit turned from a signal into an error.
//!
//! * The lock is `flock(2)` on each volume's directory (and on `apply --out`'s directory):
//!   nothing is created in the image, a read-only volume can be locked too, and the kernel
//!   releases the lock when the process ends however it ends (a crash or SIGKILL leaves no
//!   stale lock to clean up, unlike a lock file with a pid in it). The holder of a lock that
//!   is refused is named from `/proc/locks` (its process id and command line) when it can be.
//!   The runs that write files in place (`apply --in-place`, `reg import --in-place`, `undo`)
//!   also lock the directory of each file they write, so that any two of them on the same
//!   files exclude each other; a directory this process already holds is not locked twice.
//! * A file an in-place run writes must be writable before anything starts: its permission
//!   bits give someone write access (a file marked read-only is refused even for root, who
//!   could write it anyway) and `access(W_OK)` agrees (a read-only mount is `EROFS` for root
//!   too). It must have one name only: a hard link elsewhere (outside the image, where no
//!   symlink check can see it) would be written too.
//! * A process over its file size limit (`RLIMIT_FSIZE`, `ulimit -f`) is killed by `SIGXFSZ`
//!   unless it ignores the signal; ignored, the write fails with `EFBIG`, which the writers
//!   report like a full disk, with the file named and nothing left under a final name.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Where a lock was refused, and who holds it.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: locked by {holder}", path.display())]
    Held { path: PathBuf, holder: String },
}

/// Exclusive locks on directories, held until dropped (or until the process ends).
#[derive(Debug)]
pub struct DirLocks {
    held: Vec<(File, (u64, u64))>,
}

/// The directories (device, inode) this process holds locked: a lock asked for again (a
/// file's directory that is also a volume's root) is already held, not refused by its own
/// first lock.
static HELD: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(u64, u64)>> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for DirLocks {
    fn drop(&mut self) {
        let mut all = held();
        for (f, id) in &self.held {
            // Unlocked before the file is closed: a flock belongs to the open file, which a
            // child process forked meanwhile (by another thread, before its exec closes it)
            // also holds; closing only this descriptor would leave the directory locked
            // until that child execs.
            let _ = rustix::fs::flock(f, rustix::fs::FlockOperation::Unlock);
            if let Some(i) = all.iter().position(|h| h == id) {
                all.swap_remove(i);
            }
        }
    }
}

/// Takes an exclusive lock on each of `dirs`, without waiting: a directory another process
/// holds is [`LockError::Held`] (and every lock taken so far is let go again). A directory
/// this process already holds, or named twice, is skipped.
pub fn lock_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<DirLocks, LockError> {
    use std::os::unix::fs::MetadataExt;
    let mut locks = DirLocks { held: Vec::new() };
    for dir in dirs {
        let io = |source| LockError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let f = File::open(dir).map_err(io)?;
        let m = f.metadata().map_err(io)?;
        let id = (m.dev(), m.ino());
        if held().contains(&id) {
            continue;
        }
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                held().push(id);
                locks.held.push((f, id));
            }
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(LockError::Held {
                    path: dir.to_path_buf(),
                    holder: holder_of(&f),
                })
            }
            Err(e) => return Err(io(e.into())),
        }
    }
    Ok(locks)
}

/// [`lock_dirs`] on the directory of each of `files` (written in place).
pub fn lock_file_dirs<'a>(
    files: impl IntoIterator<Item = &'a Path>,
) -> Result<DirLocks, LockError> {
    let dirs: Vec<&Path> = files
        .into_iter()
        .map(|f| match f.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        })
        .collect();
    lock_dirs(dirs)
}

/// The process holding a flock on `f`'s file, as "process PID (COMMAND LINE)", from
/// `/proc/locks`; "another process" when it cannot be told.
fn holder_of(f: &File) -> String {
    use std::os::unix::fs::MetadataExt;
    let unknown = || "another process".to_string();
    let Ok(m) = f.metadata() else {
        return unknown();
    };
    let want = (
        u64::from(rustix::fs::major(m.dev())),
        u64::from(rustix::fs::minor(m.dev())),
        m.ino(),
    );
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return unknown();
    };
    let pid = locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 4242 08:01:123456 0 EOF"; waiters' lines have "->".
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") || fields.contains(&"->") {
            return None;
        }
        let mut id = fields.get(5)?.split(':');
        let major = u64::from_str_radix(id.next()?, 16).ok()?;
        let minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let ino = id.next()?.parse::<u64>().ok()?;
        ((major, minor, ino) == want).then(|| fields.get(4).map(|p| p.to_string()))?
    });
    let Some(pid) = pid else {
        return unknown();
    };
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if command.is_empty() {
        format!("process {pid}")
    } else {
        format!("process {pid} ({})", crate::text::shown(&command))
    }
}

/// Why `path` cannot be written in place, or `None` when it can: no write permission bit
/// (marked read-only), more than one hard link, or `access(W_OK)` refused (a read-only
/// mount, no permission).
pub fn not_writable(path: &Path) -> Option<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o222 == 0 => {
            return Some(format!(
                "the file is marked read-only (mode {:04o})",
                m.permissions().mode() & 0o7777
            ))
        }
        // Another name of the same file may lie outside the image: a write in place would
        // change it there too.
        Ok(m) if m.nlink() > 1 => {
            return Some(format!(
                "the file has {} (other names, perhaps outside the image, would change too)",
                crate::text::count(m.nlink(), "hard link", "hard links")
            ))
        }
        Ok(_) => {}
        Err(e) => return Some(e.to_string()),
    }
    match rustix::fs::access(path, rustix::fs::Access::WRITE_OK) {
        Ok(()) => None,
        Err(e) if e == rustix::io::Errno::ROFS => {
            Some("it is on a read-only file system".to_string())
        }
        Err(e) => Some(std::io::Error::from(e).to_string()),
    }
}

/// Makes a write past the file size limit fail with `EFBIG` instead of killing the process
/// with `SIGXFSZ`, so that it is reported and cleaned up like any other failed write.
#[allow(unsafe_code)]
pub fn ignore_file_size_signal() {
    // SAFETY: `signal` with `SIG_IGN` installs no handler code; it only asks the kernel to
    // discard SIGXFSZ. It is called once, at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock on the directory's own open file, as another process's would be.
    fn lock_elsewhere(dir: &Path) -> Result<File, rustix::io::Errno> {
        let f = File::open(dir).unwrap();
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).map(|()| f)
    }

    /// A child forked while the lock is held shares its open file: letting go of the lock
    /// frees the directory, whether or not that copy is still open.
    #[test]
    fn a_lock_let_go_is_free_while_a_forked_copy_is_still_open() {
        let t = tempfile::tempdir().unwrap();
        let locks = lock_dirs([t.path()]).unwrap();
        // What a child forked now holds: the same open file.
        let inherited = locks.held[0].0.try_clone().unwrap();
        drop(locks);
        assert!(
            lock_elsewhere(t.path()).is_ok(),
            "the directory is still locked"
        );
        drop(inherited);
    }

    #[test]
    fn a_lock_held_elsewhere_is_refused_and_one_held_here_is_not_taken_twice() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let other = lock_elsewhere(&a).unwrap();
        let e = lock_dirs([b.as_path(), a.as_path()]).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&a.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("process {}", std::process::id())),
            "{text}"
        );
        // `b` was let go when `a` was refused.
        drop(lock_elsewhere(&b).unwrap());
        drop(other);

        let first = lock_dirs([a.as_path()]).unwrap();
        // Asked again by this process (a file's directory that is a volume's root), or named
        // twice: no conflict with itself.
        let again = lock_file_dirs([
            a.join("f").as_path(),
            b.join("g").as_path(),
            b.join("h").as_path(),
        ])
        .unwrap();
        assert!(lock_elsewhere(&a).is_err() && lock_elsewhere(&b).is_err());
        drop(again);
        assert!(lock_elsewhere(&a).is_err(), "still held by the first lock");
        drop(lock_elsewhere(&b).unwrap());
        drop(first);
        drop(lock_elsewhere(&a).unwrap());
    }

    #[test]
    fn a_file_without_write_bits_is_not_writable() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(not_writable(&f), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
        let why = not_writable(&f).unwrap();
        assert!(why.contains("read-only (mode 0444)"), "{why}");
        assert!(not_writable(&t.path().join("missing")).is_some());
        let g = t.path().join("g");
        std::fs::write(&g, b"x").unwrap();
        std::fs::hard_link(&g, t.path().join("h")).unwrap();
        let why = not_writable(&g).unwrap();
        assert!(why.contains("2 hard links"), "{why}");
    }
}
