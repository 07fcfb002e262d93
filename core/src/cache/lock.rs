//! Cross-process locks on the cache (`std::fs::File::lock`), and the ledger
//! kept in each lock file.
//!
//! A lock is held while a process fetches a credential that other processes
//! may need too: they wait (never past their call's deadline), then use what
//! the holder left: the new credential in the cache, or the failure it wrote
//! in the lock file's ledger. The kernel drops the lock when a process dies,
//! so a killed helper never leaves a stale lock behind.

use crate::cache::file;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

fn open(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(file::refuse(path, "it is a symbolic link"))
        }
        Err(e) => return Err(Error::io("cannot open the lock file", path, &e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot open the lock file", path, &e))?;
    if !meta.is_file() {
        return Err(file::refuse(path, "it is not a regular file"));
    }
    file::check_owner(path, &meta)?;
    Ok(file)
}

impl Lock {
    /// Takes the exclusive lock on `path` (created 0600 when missing, never
    /// through a symlink), waiting as long as another holder keeps it.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let file = open(path)?;
        file.lock()
            .map_err(|e| Error::io("cannot lock", path, &e))?;
        Ok(Lock { file })
    }

    /// Takes the lock on `path`, waiting at most until `deadline`
    /// (`Ok(None)`: another process still holds it then). Without a
    /// deadline, waits as long as it takes.
    pub fn acquire_until(path: &Path, deadline: Option<Instant>) -> Result<Option<Lock>> {
        let Some(deadline) = deadline else {
            return Lock::acquire(path).map(Some);
        };
        let file = open(path)?;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(Lock { file })),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", path, &e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The ledger the last holders left in the lock file (empty when none).
    pub fn read_ledger(&mut self) -> String {
        let mut s = String::new();
        if self.file.seek(SeekFrom::Start(0)).is_ok() {
            let _ = (&self.file).take(64 * 1024).read_to_string(&mut s);
        }
        s
    }

    /// Replaces the ledger (only the holder writes it, so no reader sees
    /// half of it).
    pub fn write_ledger(&mut self, text: &str) {
        let ok = self.file.set_len(0).is_ok()
            && self.file.seek(SeekFrom::Start(0)).is_ok()
            && self.file.write_all(text.as_bytes()).is_ok();
        if !ok {
            crate::debug!("could not record the outcome in the lock file");
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_wait_and_ledger() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x.lock");
        let mut held = Lock::acquire(&p).expect("lock");
        held.write_ledger("{\"a\":1}");
        let t = Instant::now();
        let other = Lock::acquire_until(&p, Some(Instant::now() + Duration::from_millis(200)))
            .expect("no error");
        assert!(other.is_none(), "the lock is held");
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(held);
        let mut l = Lock::acquire_until(&p, Some(Instant::now() + Duration::from_secs(2)))
            .expect("no error")
            .expect("free now");
        assert_eq!(l.read_ledger(), "{\"a\":1}");
        l.write_ledger("");
        assert_eq!(l.read_ledger(), "");
    }

    #[cfg(unix)]
    #[test]
    fn never_through_a_symlink() {
        let d = tempfile::tempdir().expect("tempdir");
        let target = d.path().join("elsewhere");
        let p = d.path().join("x.lock");
        std::os::unix::fs::symlink(&target, &p).expect("symlink");
        let e = Lock::acquire(&p).expect_err("refused");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("x.lock"), "{e}");
        assert!(!target.exists(), "nothing created where the link points");
    }
}
