//! `protocol::git`: `parse` of git's request, the answers rendered from it,
//! `git_bool`, `parse_config_parameters` and `prompting_forbidden` with an
//! environment made of the input. Input: git's request, then after a NUL
//! `KEY=VALUE` lines as the environment.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::protocol::git::{
    git_bool, parse, parse_config_parameters, prompting_forbidden, read_request, render_bearer,
    render_password,
};
use entra_cred_core::secret::Secret;
use libfuzzer_sys::fuzz_target;

/// git's `sq_quote`: `'...'` with `'` written as `'\''`.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fuzz_target!(|data: &[u8]| {
    // Reading stops at the blank line: what is read is a prefix of the input, ends at the
    // first blank line (or the end), and parses like the whole input.
    let mut cursor = std::io::Cursor::new(data);
    match read_request(&mut cursor, 4096) {
        Ok(req) => {
            assert!(data.starts_with(req.as_bytes()));
            let blank =
                req.ends_with("\n\n") || req.ends_with("\n\r\n") || req == "\n" || req == "\r\n";
            assert!(blank || req.len() == data.len(), "stopped early: {req:?}");
            if let (Ok(a), Ok(b)) = (parse(&req), parse(&String::from_utf8_lossy(data))) {
                assert_eq!(a, b);
            }
        }
        Err(e) => common::assert_error(&e),
    }
    let text = String::from_utf8_lossy(data);
    let (request, env) = common::split_nul(&text);
    match parse(request) {
        Ok(r) => {
            for v in [&r.protocol, &r.host, &r.path, &r.username, &r.authtype]
                .into_iter()
                .flatten()
            {
                assert!(!v.is_empty() && !v.contains('\n'), "{v:?}");
            }
            for v in r.wwwauth.iter().chain(&r.capabilities) {
                assert!(!v.is_empty() && !v.contains('\n'), "{v:?}");
            }
            if let Some(h) = &r.host {
                assert_eq!(h, &h.to_ascii_lowercase());
            }
            if let Some(p) = &r.path {
                assert!(!p.starts_with('/'));
            }
            // Debug output does not depend on the secrets' values.
            let mut blank = r.clone();
            blank.password = r.password.as_ref().map(|_| Secret::new("x".into()));
            blank.credential = r.credential.as_ref().map(|_| Secret::new("x".into()));
            assert_eq!(format!("{r:?}"), format!("{blank:?}"));
            // Answers: a value that can be written is read back as written
            // (no key injection through a value).
            let user = r.username.clone().unwrap_or_else(|| "u".into());
            let token = r
                .presented_token()
                .map(str::to_string)
                .or_else(|| r.path.clone())
                .unwrap_or_else(|| "tok".into());
            let secret = Secret::new(token.clone());
            if let Ok(a) = render_password(&user, &secret, common::NOW) {
                let back = parse(&a).expect("our own answer parses");
                assert_eq!(back.username.as_deref(), Some(user.as_str()));
                assert_eq!(back.presented_token(), Some(token.as_str()));
                assert_eq!(a.lines().count(), 3, "{a:?}");
            } else {
                assert!(user.contains(['\r', '\0']) || token.contains(['\r', '\0']));
            }
            match render_bearer(&secret, common::NOW) {
                Ok(a) => {
                    let back = parse(&a).expect("our own answer parses");
                    assert_eq!(back.presented_token(), Some(token.as_str()));
                    assert_eq!(back.authtype.as_deref(), Some("Bearer"));
                    assert_eq!(a.lines().count(), 5, "{a:?}");
                }
                Err(e) => {
                    common::assert_error(&e);
                    common::assert_hidden(&e.to_string(), &token);
                }
            }
        }
        Err(e) => common::assert_error(&e),
    }

    // git -c: quoted pairs read back as given (when the key has no `=`).
    let pairs: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let quoted: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", sq(k), sq(v)))
        .collect();
    let back = parse_config_parameters(&quoted.join(" "));
    assert_eq!(back, pairs, "{quoted:?}");
    let _ = parse_config_parameters(env);
    for l in env.lines() {
        let _ = git_bool(l);
    }

    let lookup = common::env_from(env);
    let forbidden = prompting_forbidden(&lookup);
    if lookup("GIT_TERMINAL_PROMPT").is_some_and(|v| git_bool(&v) == Some(false)) {
        assert!(forbidden);
    }
});
