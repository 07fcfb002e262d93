//! Azure Arc managed identity (Arc-enabled servers): `IDENTITY_ENDPOINT` and
//! `IMDS_ENDPOINT` set, `IDENTITY_HEADER` not.
//!
//! `GET $IDENTITY_ENDPOINT?api-version=2019-11-01&resource=R` with
//! `Metadata: true` answers 401 with `WWW-Authenticate: Basic realm=<path>`:
//! the Arc agent has just written a key to `<path>`, readable only by root and
//! the `himds` group. The same request, repeated with
//! `Authorization: Basic <the file's content>`, answers the token.
//!
//! The path comes from whatever answers on the endpoint's port, so it is
//! trusted only when it names a regular file directly in the tokens directory
//! (`ENTRA_CRED_ARC_TOKENS_DIR`, default `/var/opt/azcmagent/tokens`), called
//! `*.key`, of at most 4096 bytes. The file is opened without following a
//! symlink (and without blocking on a FIFO) and checked again on the open
//! descriptor (`fstat`), so a file swapped after the check is not read
//! either. Anything else is an error naming the path, and nothing of the
//! file is sent anywhere.

use super::{endpoint_url, failure, parse_response, Host};
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::http::{redact_url, Request, RetryPolicy};
use crate::secret::Secret;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Arc's API version.
pub const API_VERSION: &str = "2019-11-01";
/// Where the Arc agent writes its challenge files (Linux).
pub const DEFAULT_TOKENS_DIR: &str = "/var/opt/azcmagent/tokens";
/// The variable that moves the tokens directory.
pub const TOKENS_DIR_VAR: &str = "ENTRA_CRED_ARC_TOKENS_DIR";
/// Largest challenge file read.
pub const MAX_KEY_LEN: u64 = 4096;

/// Whether the environment is Azure Arc's.
pub fn present() -> bool {
    let env = crate::config::env_var;
    env("IDENTITY_ENDPOINT").is_some()
        && env("IMDS_ENDPOINT").is_some()
        && env("IDENTITY_HEADER").is_none()
}

/// The tokens directory: `ENTRA_CRED_ARC_TOKENS_DIR`, else the platform's.
pub fn tokens_dir() -> Result<PathBuf> {
    let dir = match crate::config::env_var(TOKENS_DIR_VAR) {
        Some(d) => PathBuf::from(d.trim()),
        None => default_tokens_dir(),
    };
    if !dir.is_absolute() {
        return Err(Error::Config(format!(
            "{TOKENS_DIR_VAR} must be an absolute path, not '{}'",
            dir.display()
        )));
    }
    Ok(dir)
}

#[cfg(windows)]
fn default_tokens_dir() -> PathBuf {
    let base = crate::config::env_var("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
    PathBuf::from(base)
        .join("AzureConnectedMachineAgent")
        .join("Tokens")
}

#[cfg(not(windows))]
fn default_tokens_dir() -> PathBuf {
    PathBuf::from(DEFAULT_TOKENS_DIR)
}

/// The path of a `WWW-Authenticate: Basic realm=<path>` challenge (the realm
/// may be quoted). `None` for anything else.
pub fn parse_challenge(header: &str) -> Option<String> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let rest = rest.trim_start();
    let (key, value) = rest.split_once('=')?;
    if !key.trim().eq_ignore_ascii_case("realm") {
        return None;
    }
    let value = value.trim();
    let path = match value.strip_prefix('"') {
        Some(q) => &q[..q.find('"')?],
        None => value,
    };
    let ok = !path.is_empty() && path.len() <= 4096 && !path.chars().any(char::is_control);
    ok.then(|| path.to_string())
}

/// Whether `path` may be a challenge file of `dir` (by its name only): an
/// absolute path without `.` or `..`, directly in `dir`, named `<something>.key`.
pub fn check_location(path: &Path, dir: &Path) -> std::result::Result<(), String> {
    if !path.is_absolute() {
        return Err("it is not an absolute path".into());
    }
    // `components()` drops a `.` inside a path: look at the text as well.
    let dotted = path.to_str().is_none_or(|t| {
        t.split(['/', std::path::MAIN_SEPARATOR])
            .any(|s| s == "." || s == "..")
    });
    if dotted
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err("it contains '.' or '..'".into());
    }
    if path.parent() != Some(dir) {
        return Err(format!("it is not directly in {}", dir.display()));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("it has no file name")?;
    match name.strip_suffix(".key") {
        Some(stem) if !stem.is_empty() => {}
        _ => return Err("its name does not end in .key".into()),
    }
    // Written exactly as <dir>/<name> (no `//` or other spelling of the same place).
    if dir.join(name).as_os_str() != path.as_os_str() {
        return Err(format!("it is not written as {}", dir.join(name).display()));
    }
    Ok(())
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: a symlink fails (ELOOP) instead of being followed;
    // O_NONBLOCK: a FIFO planted there does not hang the open.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other("it is a symbolic link"));
    }
    std::fs::File::open(path)
}

/// Reads the key of the challenge file `path`, checked as the module says.
pub fn read_key(path: &Path, dir: &Path) -> Result<Secret<String>> {
    let refuse = |why: &str| {
        Error::Other(format!(
            "Azure Arc's challenge names {}, which is not a file entra-cred may read: {why} (challenge files must be regular files named *.key of at most {MAX_KEY_LEN} bytes directly in {}, set by {TOKENS_DIR_VAR}); nothing was sent",
            path.display(),
            dir.display()
        ))
    };
    check_location(path, dir).map_err(|w| refuse(&w))?;
    let file = open_no_follow(path).map_err(|e| {
        if e.raw_os_error() == Some(eloop()) {
            refuse("it is a symbolic link")
        } else if e.kind() == std::io::ErrorKind::PermissionDenied {
            refuse("permission denied: the user must be in the himds group")
        } else {
            refuse(&format!("cannot open it ({e})"))
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(&format!("cannot stat it ({e})")))?;
    if !meta.is_file() {
        return Err(refuse("it is not a regular file"));
    }
    if meta.len() > MAX_KEY_LEN {
        return Err(refuse(&format!("it has {} bytes", meta.len())));
    }
    let mut buf = Vec::new();
    file.take(MAX_KEY_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(|e| refuse(&format!("cannot read it ({e})")))?;
    if buf.len() as u64 > MAX_KEY_LEN {
        return Err(refuse("it grew past the limit while being read"));
    }
    let text = String::from_utf8(buf).map_err(|_| refuse("it is not text"))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(refuse("it is empty"));
    }
    if key.chars().any(char::is_control) {
        return Err(refuse("it holds control characters"));
    }
    Ok(Secret::new(key.to_string()))
}

#[cfg(unix)]
fn eloop() -> i32 {
    libc::ELOOP
}

#[cfg(not(unix))]
fn eloop() -> i32 {
    -1
}

fn request(u: &url::Url, key: Option<&Secret<String>>) -> Request {
    let mut r = Request::get(u.to_string()).header("Metadata", "true");
    if let Some(k) = key {
        r = r.header("Authorization", &format!("Basic {}", k.expose()));
    }
    r.allow_plain_http = true;
    r
}

/// A token for `resource` through Arc's challenge.
pub fn acquire(
    http: &crate::http::Http,
    profile: &crate::config::Profile,
    resource: &str,
) -> Result<TokenResponse> {
    if profile.managed_identity_client_id.is_some() {
        return Err(Error::Config(
            "Azure Arc has only the machine's system-assigned identity: remove managed_identity_client_id (or AZURE_CLIENT_ID) for this profile".into(),
        ));
    }
    let dir = tokens_dir()?;
    let mut u = endpoint_url("IDENTITY_ENDPOINT")?;
    u.query_pairs_mut()
        .append_pair("api-version", API_VERSION)
        .append_pair("resource", resource);
    let shown = redact_url(&u);
    let policy = RetryPolicy::default();
    let first = http.send(&request(&u, None), &policy)?;
    let resp = if first.status == 401 {
        let challenge = first.header("www-authenticate").unwrap_or("");
        let path = parse_challenge(challenge).ok_or_else(|| {
            Error::Other(format!(
                "managed identity (Azure Arc) at {shown} answered HTTP 401 without a `WWW-Authenticate: Basic realm=<path>` challenge (got '{}')",
                one_line(&challenge.chars().take(200).collect::<String>())
            ))
        })?;
        let key = read_key(Path::new(&path), &dir)?;
        crate::debug!("Azure Arc: answering the challenge with {path}");
        http.send(&request(&u, Some(&key)), &policy)?
    } else {
        first
    };
    if !resp.ok() {
        return Err(failure(&Host::Arc, &shown, &resp));
    }
    parse_response(&resp.body, crate::timefmt::now()).map_err(|m| {
        Error::Other(format!(
            "managed identity (Azure Arc) at {shown}: {m} (HTTP {})",
            resp.status
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let p = "/var/opt/azcmagent/tokens/0b5e.key";
        assert_eq!(
            parse_challenge(&format!("Basic realm={p}")).as_deref(),
            Some(p)
        );
        assert_eq!(
            parse_challenge(&format!("basic  realm=\"{p}\"")).as_deref(),
            Some(p)
        );
        assert_eq!(
            parse_challenge(&format!(" BASIC Realm = {p} ")).as_deref(),
            Some(p)
        );
        for bad in [
            "",
            "Basic",
            "Basic realm=",
            "Basic realm=\"",
            "Basic realm=\"\"",
            "Bearer realm=/x.key",
            "Basic charset=/x.key",
            "Basic realm=/a\n.key",
            "Basicrealm=/x.key",
        ] {
            assert_eq!(parse_challenge(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn locations() {
        let dir = Path::new("/var/opt/azcmagent/tokens");
        assert!(check_location(Path::new("/var/opt/azcmagent/tokens/a.key"), dir).is_ok());
        assert!(check_location(
            Path::new("/var/opt/azcmagent/tokens/a.key"),
            Path::new("/var/opt/azcmagent/tokens/")
        )
        .is_ok());
        for bad in [
            "/etc/shadow",
            "/var/opt/azcmagent/tokens/a.txt",
            "/var/opt/azcmagent/tokens/.key",
            "/var/opt/azcmagent/tokens/sub/a.key",
            "/var/opt/azcmagent/tokens/../a.key",
            "/var/opt/azcmagent/tokens/./a.key",
            "/var/opt/azcmagent/a.key",
            "var/opt/azcmagent/tokens/a.key",
            "/var/opt/azcmagent/tokens",
            "/var/opt/azcmagent//tokens/a.key",
            "/var/opt/azcmagent/tokens//a.key",
        ] {
            assert!(check_location(Path::new(bad), dir).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files() {
        let d = tempfile::tempdir().expect("tmp");
        let dir = d.path();
        let good = dir.join("good.key");
        std::fs::write(&good, "secret-key-value\n").expect("write");
        assert_eq!(
            read_key(&good, dir).expect("read").expose(),
            "secret-key-value"
        );

        let big = dir.join("big.key");
        std::fs::write(&big, "k".repeat(4097)).expect("write");
        let e = read_key(&big, dir).expect_err("too big").to_string();
        assert!(e.contains("4097 bytes") && e.contains("big.key"), "{e}");
        std::fs::write(&big, "k".repeat(4096)).expect("write");
        assert!(read_key(&big, dir).is_ok());

        let outside = tempfile::tempdir().expect("tmp");
        let target = outside.path().join("t.key");
        std::fs::write(&target, "outside-secret").expect("write");
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = read_key(&link, dir).expect_err("symlink").to_string();
        assert!(
            e.contains("symbolic link") && !e.contains("outside-secret"),
            "{e}"
        );
        let e = read_key(&target, dir).expect_err("outside").to_string();
        assert!(e.contains("not directly in"), "{e}");

        let sub = dir.join("sub.key");
        std::fs::create_dir(&sub).expect("mkdir");
        assert!(read_key(&sub, dir)
            .expect_err("dir")
            .to_string()
            .contains("regular file"));
        let fifo = dir.join("fifo.key");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.expect("mkfifo").success());
        assert!(read_key(&fifo, dir)
            .expect_err("fifo")
            .to_string()
            .contains("regular file"));
        std::fs::write(dir.join("empty.key"), "\n").expect("write");
        assert!(read_key(&dir.join("empty.key"), dir).is_err());
        assert!(read_key(&dir.join("missing.key"), dir).is_err());
    }
}
