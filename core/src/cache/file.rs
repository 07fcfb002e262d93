//! Private files in the cache: atomic writes ([`crate::atomic::replace`],
//! 0600), reads that never follow a symlink, and the trust checks of SPEC.md
//! ("the cache directory and everything under it must belong to the user
//! running the program and be reached without symlinks").

use crate::error::{Error, Result};
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A temporary file older than this is litter from a writer that was killed
/// between creating it and renaming it (a live writer holds one for
/// milliseconds).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// The user this process runs as (the owner every cache entry must have).
#[cfg(unix)]
pub fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a cache path: exit 2, naming it and saying why.
pub fn refuse(path: &Path, why: &str) -> Error {
    Error::Config(format!(
        "refusing to use the token cache at {}: {why} (the cache directory and everything under it must belong to you and be reached without symlinks; see ENTRA_CRED_CACHE_DIR)",
        path.display()
    ))
}

/// Refuses (exit 2) a cache entry that belongs to another user; `meta` is
/// the entry's own metadata (not followed through a symlink).
pub fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != my_uid() {
            return Err(refuse(
                path,
                &format!("it belongs to uid {}, not to uid {}", meta.uid(), my_uid()),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// Checks one entry of the cache without following it: `Ok(false)` when it
/// does not exist; an error (exit 2) when it is a symlink, of the wrong type
/// (`dir` says which is wanted) or owned by another user.
pub fn check_entry(path: &Path, dir: bool) -> Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) if e.raw_os_error() == Some(20) => return Ok(false), // ENOTDIR: an ancestor is a file
        Err(e) => return Err(Error::io("cannot inspect", path, &e)),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(refuse(path, "it is a symbolic link"));
    }
    if dir && !ft.is_dir() {
        return Err(refuse(path, "it is not a directory"));
    }
    if !dir && !ft.is_file() {
        return Err(refuse(path, "it is not a regular file"));
    }
    check_owner(path, &meta)?;
    Ok(true)
}

/// Checks the directories above the cache directory: each must belong to
/// root or to the user (another user could otherwise move the cache away
/// and put a link in its place). A symlink among them is accepted only when
/// it belongs to root or to the user (`/var` -> `/private/var`, a relocated
/// `~/.cache`).
pub fn check_ancestors(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = my_uid();
        for a in dir.ancestors().skip(1) {
            if a.as_os_str().is_empty() {
                continue;
            }
            if let Ok(m) = fs::symlink_metadata(a) {
                if m.uid() != 0 && m.uid() != me {
                    return Err(refuse(
                        dir,
                        &format!("{} belongs to uid {}", a.display(), m.uid()),
                    ));
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700, checks it (not a symlink,
/// owned by the user) and tightens it to 0700 when it is looser.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !check_entry(dir, true)? {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .map_err(|e| Error::io("cannot create the cache directory", dir, &e))?;
        check_entry(dir, true)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::symlink_metadata(dir).map_err(|e| Error::io("cannot read", dir, &e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("cannot restrict the permissions of", dir, &e))?;
        }
    }
    Ok(())
}

/// Opens `path` for reading without following a symlink (and without
/// blocking on a planted FIFO). `Ok(None)` when it does not exist.
pub fn open_nofollow(path: &Path) -> Result<Option<fs::File>> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    match opts.open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(20) => Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            Err(refuse(path, "it is a symbolic link"))
        }
        Err(e) => Err(Error::io("cannot read", path, &e)),
    }
}

/// Reads a cache file: `Ok(None)` when it does not exist; an error (exit 2)
/// when it is a symlink, not a regular file or owned by another user.
pub fn read_checked(path: &Path) -> Result<Option<Vec<u8>>> {
    let Some(mut f) = open_nofollow(path)? else {
        return Ok(None);
    };
    let meta = f
        .metadata()
        .map_err(|e| Error::io("cannot read", path, &e))?;
    if !meta.is_file() {
        return Err(refuse(path, "it is not a regular file"));
    }
    check_owner(path, &meta)?;
    let mut buf = Vec::with_capacity(meta.len().min(1 << 20) as usize);
    f.read_to_end(&mut buf)
        .map_err(|e| Error::io("cannot read", path, &e))?;
    Ok(Some(buf))
}

/// Writes `data` to `path` atomically with mode 0600 (the directory is
/// created 0700 and checked first).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Other(format!("{} has no parent directory", path.display())))?;
    ensure_private_dir(dir)?;
    crate::atomic::replace(path, data, 0o600).map_err(|e| Error::io("cannot write", path, &e))?;
    // Writes are rare (a new token, a rotated refresh token), so this is
    // the place to collect what killed writers left behind.
    sweep_temp_files(dir, "", STALE_TEMP_AGE);
    Ok(())
}

/// Removes the temporary files (`.<name>.<pid>.<nonce>.tmp`) in `dir` whose
/// target name starts with `prefix` and that are at least `older_than` old.
/// A process killed in the middle of [`write_atomic`] leaves one behind: it
/// is never read (readers only open `*.json`), but it may hold a token, so
/// writers sweep stale ones and `logout` sweeps its session's at once.
/// Returns how many were removed.
pub fn sweep_temp_files(dir: &Path, prefix: &str, older_than: Duration) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some(target) = name.strip_prefix('.') else {
            continue;
        };
        if !name.ends_with(".tmp") || !target.starts_with(prefix) {
            continue;
        }
        let old_enough = older_than.is_zero()
            || e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= older_than);
        if old_enough && fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Reads a file; `None` when it does not exist, cannot be read, or may not
/// be trusted (a symlink, another user's file: never read).
pub fn read(path: &Path) -> Option<Vec<u8>> {
    read_checked(path).ok().flatten()
}

/// Reads a JSON file; `None` when missing or corrupt (a corrupt file is
/// treated as absent and replaced by the next write).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    read_json_checked(path).ok().flatten()
}

/// Reads a JSON file: `Ok(None)` when missing or corrupt; an error (exit 2)
/// when it may not be trusted.
pub fn read_json_checked<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let Some(bytes) = read_checked(path)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Some(v)),
        Err(_) => {
            crate::warn!("discarding corrupt cache file {}", path.display());
            Ok(None)
        }
    }
}

/// Writes `value` as JSON, atomically, 0600.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Other(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_private_write() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("sub").join("f.json");
        write_json(&p, &serde_json::json!({"a": 1})).expect("write");
        let v: serde_json::Value = read_json(&p).expect("read");
        assert_eq!(v["a"], 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(m, 0o600);
            let m = fs::metadata(p.parent().expect("parent"))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(m, 0o700);
        }
        fs::write(&p, b"{garbage").expect("write");
        assert!(read_json::<serde_json::Value>(&p).is_none());
        // No temporary files left behind.
        let left: Vec<_> = fs::read_dir(p.parent().expect("parent"))
            .expect("dir")
            .collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn stale_temp_files_are_swept() {
        let d = tempfile::tempdir().expect("tempdir");
        let stale = d.path().join(".a.json.123.abcdef.tmp");
        let other = d.path().join(".b.json.123.abcdef.tmp");
        fs::write(&stale, b"{\"half").expect("write");
        fs::write(&other, b"{\"half").expect("write");
        fs::write(d.path().join("a.json"), b"{}").expect("write");
        // Fresh ones belong to a live writer: kept.
        assert_eq!(sweep_temp_files(d.path(), "", STALE_TEMP_AGE), 0);
        // By prefix, at once (logout, under the session lock).
        assert_eq!(sweep_temp_files(d.path(), "a.json.", Duration::ZERO), 1);
        assert!(!stale.exists() && other.exists());
        assert_eq!(sweep_temp_files(d.path(), "", Duration::ZERO), 1);
        assert!(d.path().join("a.json").exists());
    }
}
