//! The one atomic file replacement: the cache, the kubeconfig and the tool
//! configurations that `setup` edits are all written through [`replace`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file to write in place of a user's configuration file `path`: a symlink
/// is followed to its target, so that a dotfile manager's link stays a link.
pub fn write_target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or(path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// The permission bits of an existing file (`None` when there is none, or off Unix).
pub fn existing_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Creates the missing parent directory of `path` (mode 0700 for the directories created).
pub fn ensure_parent(path: &Path) -> crate::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir)
                .map_err(|e| crate::Error::io("cannot create the directory", dir, &e))?;
        }
    }
    Ok(())
}

/// Replaces a user's configuration file (a kubeconfig, git's, docker's, AWS's or
/// Cargo's configuration) with `data`: through [`write_target`] (a symlink's
/// target is written), keeping the existing file's permission bits (`new_mode`
/// for a new file), creating a missing parent directory 0700, with [`replace`].
pub fn replace_config(path: &Path, data: &[u8], new_mode: u32) -> crate::Result<()> {
    let target = write_target(path);
    ensure_parent(&target)?;
    let mode = existing_mode(&target).unwrap_or(new_mode);
    replace(&target, data, mode).map_err(|e| crate::Error::io("cannot write", &target, &e))
}

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

    #[cfg(unix)]
    #[test]
    fn a_config_file_keeps_its_link_and_mode_and_a_new_one_its_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let real = d.path().join("dotfiles").join("config");
        fs::create_dir_all(real.parent().expect("parent")).expect("mkdir");
        fs::write(&real, "old").expect("write");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = d.path().join("config");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        replace_config(&link, b"new", 0o600).expect("replace");
        assert!(fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).expect("read"), b"new");
        assert_eq!(existing_mode(&real), Some(0o644));
        let fresh = d.path().join("made").join("config");
        replace_config(&fresh, b"x", 0o600).expect("new file");
        assert_eq!(existing_mode(&fresh), Some(0o600));
        assert_eq!(existing_mode(fresh.parent().expect("parent")), Some(0o700));
    }

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
