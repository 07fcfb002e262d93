//! Atomic, private files: written to a temporary file in the same directory,
//! flushed, then renamed over the old one, so no reader ever sees half a file.

use crate::error::{Error, Result};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A temporary file older than this is litter from a writer that was killed
/// between creating it and renaming it (a live writer holds one for
/// milliseconds).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Creates `dir` (and parents) with mode 0700, and tightens it if it exists.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io("cannot create the cache directory", dir, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir).map_err(|e| Error::io("cannot read", dir, &e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("cannot restrict the permissions of", dir, &e))?;
        }
    }
    Ok(())
}

/// Writes `data` to `path` atomically with mode 0600.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Other(format!("{} has no parent directory", path.display())))?;
    ensure_private_dir(dir)?;
    let mut nonce = [0u8; 6];
    let _ = getrandom::getrandom(&mut nonce);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| Error::io("cannot write", &tmp, &e))?;
        f.write_all(data)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io("cannot write", &tmp, &e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, &e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        // Writes are rare (a new token, a rotated refresh token), so this is
        // the place to collect what killed writers left behind.
        sweep_temp_files(dir, "", STALE_TEMP_AGE);
    }
    result
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

/// Reads a file; `None` when it does not exist or cannot be read.
pub fn read(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}

/// Reads a JSON file; `None` when missing or corrupt (a corrupt file is
/// treated as absent and replaced by the next write).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = read(path)?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(_) => {
            crate::warn!("discarding corrupt cache file {}", path.display());
            None
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
