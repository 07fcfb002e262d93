//! The one atomic file replacement: the cache, the kubeconfig and the tool
//! configurations that `setup` edits are all written through [`replace`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary file [`replace`] writes before renaming it over `target`:
/// `.<name>.<pid>.<random>.tmp` in the same directory (`cache::file` sweeps
/// ones left behind by killed writers by that shape).
pub fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let dir = target.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no parent directory",
        )
    })?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    if getrandom::getrandom(&mut nonce).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        nonce[..4].copy_from_slice(&nanos.to_le_bytes());
    }
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(format!(".{name}.{}.{hex}.tmp", std::process::id())))
}

/// Replaces `target` with `data` atomically: a new temporary file in the same
/// directory (created exclusively, so never through a planted symlink) with
/// permissions `mode` (exactly: the umask does not apply), flushed to disk,
/// then renamed over `target`. A reader sees the old file or the new one,
/// never half of one. On failure the temporary file is removed.
pub fn replace(target: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_path(target)?;
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_mode_and_leaves_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        replace(&p, b"one", 0o600).expect("write");
        replace(&p, b"two", 0o640).expect("rewrite");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(m, 0o640);
        }
        assert_eq!(fs::read_dir(d.path()).expect("dir").count(), 1);
        // A missing directory: an error, and nothing left behind.
        assert!(replace(&d.path().join("no/f"), b"x", 0o600).is_err());
    }
}
