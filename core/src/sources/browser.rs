//! Browser sign-in: authorization code with PKCE (S256) on a loopback
//! redirect `http://localhost:<port>`.
//!
//! The URL is always printed on stderr; it is also opened with `$BROWSER`
//! when set (a `:`-separated list of commands, `%s` standing for the URL), else
//! with the desktop's opener when there is a desktop. The wait is bounded by
//! `ENTRA_CRED_BROWSER_TIMEOUT` seconds (default 300). [`can_open_browser`] is how
//! `entra-cred login` chooses this flow by default; [`set_redirect_port`] fixes the port
//! (`login --redirect-port N`, for SSH port forwarding).

use super::{Auto, Source};
use crate::entra::{EntraClient, TokenResponse};
use crate::error::{one_line, EntraError, Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `flow = "browser"`: a person (never picked by `auto`, whose sign-in is the device code).
pub const SOURCE: Source = Source::person("browser", Auto::Never, sign_in);

/// Random URL-safe text of `n` bytes of entropy.
pub fn random_token(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b)
        .map_err(|e| Error::Other(format!("no randomness available: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The loopback port of the redirect (0: any free port).
static REDIRECT_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Fixes the loopback port of this process's browser sign-ins (`login --redirect-port N`).
pub fn set_redirect_port(port: u16) {
    REDIRECT_PORT.store(port, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a browser can be opened here: `$BROWSER` is set, or there is a desktop session
/// (`DISPLAY` or `WAYLAND_DISPLAY` on Linux and other Unixes; always on macOS and Windows).
pub fn can_open_browser() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("BROWSER")
        || cfg!(target_os = "macos")
        || cfg!(windows)
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
}

fn timeout() -> Duration {
    let secs = std::env::var("ENTRA_CRED_BROWSER_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Signs a person in through the browser.
pub fn sign_in(
    entra: &EntraClient<'_>,
    tenant: &str,
    client_id: &str,
    scope: &str,
) -> Result<TokenResponse> {
    let fixed = REDIRECT_PORT.load(std::sync::atomic::Ordering::Relaxed);
    let v4 = TcpListener::bind(("127.0.0.1", fixed)).map_err(|e| {
        if fixed == 0 {
            Error::Other(format!(
                "cannot listen on localhost for the sign-in redirect: {e}"
            ))
        } else {
            Error::Other(format!(
                "cannot listen on localhost:{fixed} for the sign-in redirect: {e} (choose another --redirect-port)"
            ))
        }
    })?;
    let port = v4
        .local_addr()
        .map_err(|e| Error::Other(format!("cannot listen on localhost: {e}")))?
        .port();
    // Browsers may resolve `localhost` to ::1: listen there too when possible.
    let v6 = TcpListener::bind(("::1", port)).ok();
    let mut listeners = vec![v4];
    listeners.extend(v6);
    for l in &listeners {
        l.set_nonblocking(true)
            .map_err(|e| Error::Other(format!("cannot listen on localhost: {e}")))?;
    }

    let redirect_uri = format!("http://localhost:{port}");
    let verifier = random_token(32)?;
    let state = random_token(16)?;
    let full_scope = super::refresh_token::with_user_scopes(scope);
    let mut url = url::Url::parse(&entra.authorize_url(tenant))
        .map_err(|e| Error::Config(format!("invalid authority: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &full_scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    if let Some(claims) = entra.claims_param()? {
        url.query_pairs_mut().append_pair("claims", &claims);
    }
    let url = url.to_string();

    eprintln!("To sign in, open this page in a browser: {url}");
    open_browser(&url);
    eprintln!(
        "Waiting up to {} s for the sign-in to come back to http://localhost:{port} (no browser here? `entra-cred login --flow device-code` works without one).",
        timeout().as_secs()
    );

    let deadline = Instant::now() + timeout();
    let code = loop {
        if Instant::now() >= deadline {
            return Err(Error::InteractionRequired(format!(
                "the browser sign-in was not completed within {} s (ENTRA_CRED_BROWSER_TIMEOUT); try `entra-cred login --flow device-code`",
                timeout().as_secs()
            )));
        }
        let accepted = listeners.iter().find_map(|l| l.accept().ok());
        let Some((stream, _)) = accepted else {
            std::thread::sleep(Duration::from_millis(25));
            continue;
        };
        match handle_redirect(stream, &state) {
            Redirect::Code(c) => break c,
            Redirect::Error(e) => return Err(Error::from_entra("browser sign-in", e)),
            Redirect::Ignore => continue,
        }
    };

    let form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("client_id".into(), client_id.to_string()),
        ("code".into(), code),
        ("redirect_uri".into(), redirect_uri),
        ("code_verifier".into(), verifier),
        ("scope".into(), full_scope),
    ];
    entra.token(tenant, form, "browser sign-in")
}

enum Redirect {
    Code(String),
    Error(EntraError),
    Ignore,
}

fn respond(mut stream: TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn handle_redirect(stream: TcpStream, state: &str) -> Redirect {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return Redirect::Ignore,
    });
    if reader.read_line(&mut line).is_err() {
        return Redirect::Ignore;
    }
    // Drain the headers so the browser sees a clean answer.
    let mut h = String::new();
    while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
        h.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let Ok(u) = url::Url::parse(&format!("http://localhost{target}")) else {
        respond(stream, "400 Bad Request", "bad request");
        return Redirect::Ignore;
    };
    let get = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if u.path() != "/" {
        respond(stream, "404 Not Found", "not found");
        return Redirect::Ignore;
    }
    if get("state").as_deref() != Some(state) {
        respond(stream, "400 Bad Request", "<h1>Sign-in failed</h1><p>The answer did not match this sign-in (state). Close this window and try again.</p>");
        return Redirect::Ignore;
    }
    if let Some(err) = get("error") {
        let desc = get("error_description").unwrap_or_default();
        respond(
            stream,
            "200 OK",
            "<h1>Sign-in failed</h1><p>Return to the terminal for details.</p>",
        );
        return Redirect::Error(EntraError {
            code: crate::azure_error::parse_error(
                &serde_json::json!({"error": err, "error_description": desc}).to_string(),
                0,
            )
            .and_then(|e| e.code),
            error: one_line(&err),
            description: one_line(&desc),
            status: 0,
        });
    }
    match get("code") {
        Some(c) => {
            respond(
                stream,
                "200 OK",
                "<h1>Signed in</h1><p>entra-cred has your sign-in. You may close this window.</p>",
            );
            Redirect::Code(c)
        }
        None => {
            respond(stream, "400 Bad Request", "missing code");
            Redirect::Ignore
        }
    }
}

/// Opens `url` with `$BROWSER`, else the desktop's opener. Failing to open is
/// not an error: the URL is on stderr.
pub fn open_browser(url: &str) {
    if let Ok(browsers) = std::env::var("BROWSER") {
        for b in browsers.split(':').filter(|b| !b.trim().is_empty()) {
            let mut parts: Vec<String> = b.split_whitespace().map(str::to_string).collect();
            if parts.iter().any(|p| p.contains("%s")) {
                for p in parts.iter_mut() {
                    *p = p.replace("%s", url);
                }
            } else {
                parts.push(url.to_string());
            }
            if spawn_detached(&parts) {
                return;
            }
        }
        return;
    }
    let opener: Option<Vec<String>> = if cfg!(target_os = "macos") {
        Some(vec!["open".into(), url.into()])
    } else if cfg!(windows) {
        Some(vec![
            "rundll32".into(),
            "url.dll,FileProtocolHandler".into(),
            url.into(),
        ])
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some(vec!["xdg-open".into(), url.into()])
    } else {
        None
    };
    if let Some(o) = opener {
        spawn_detached(&o);
    }
}

fn spawn_detached(argv: &[String]) -> bool {
    let Some((cmd, args)) = argv.split_first() else {
        return false;
    };
    // The browser must not write to our stdout: it carries a protocol answer.
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token(32).expect("rand");
        let b = random_token(32).expect("rand");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
