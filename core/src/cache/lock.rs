//! Cross-process locks on the cache (`std::fs::File::lock`).
//!
//! A lock is held while a process fetches a token that other processes may
//! need too: they wait, then find the new token in the cache instead of
//! asking Entra again. The kernel drops the lock when a process dies, so a
//! killed helper never leaves a stale lock behind.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// Takes the exclusive lock on `path` (created 0600 when missing),
    /// waiting for another holder to release it.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| Error::io("cannot open the lock file", path, &e))?;
        file.lock()
            .map_err(|e| Error::io("cannot lock", path, &e))?;
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
