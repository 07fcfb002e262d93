//! Continuous access evaluation (CAE): the `cp1` client capability every
//! token request declares, claims challenges (`WWW-Authenticate: Bearer
//! error="insufficient_claims", claims="<base64 JSON>"`) and the JSON merge of
//! the two into the `claims` parameter sent to Entra.
//!
//! - [`request_claims`] is what [`crate::entra::EntraClient`] sends as
//!   `claims` with every request: `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
//!   (unless `ENTRA_CRED_CAE=0`), merged with a challenge's claims.
//! - [`merge`] is a deep JSON merge: objects merge key by key, arrays are
//!   unioned (order kept, no duplicates), any other value is replaced by the
//!   challenge's (the resource knows what it demands).
//! - [`claims_challenge`] reads the CAE challenge among a server's
//!   `WWW-Authenticate` values (as git hands them over in `wwwauth[]`).
//!
//! Everything that reads server input here is total: any input gives a value
//! or an error, never a panic (fuzzed by `fuzz/fuzz_targets/cae_challenge.rs`).

use crate::broker::TokenRequest;
use crate::cache::{file, Cache};
use crate::error::{one_line, Error, Result};
use crate::protocol::git::GitRequest;
use crate::{debug, warn};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The variable that turns the `cp1` declaration off (`0`).
pub const CAE_VAR: &str = "ENTRA_CRED_CAE";

/// The claims that declare the `cp1` client capability.
pub const CP1_CLAIMS: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

/// Largest claims JSON accepted (its base64 may be twice as long), from a server or a flag.
pub const MAX_CLAIMS: usize = 16 * 1024;

/// A claims request: a JSON object such as
/// `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`.
/// Not a secret (it names policy, not credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims(Map<String, Value>);

fn lenient(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

impl Claims {
    /// Reads claims given as JSON, or as base64 (standard or URL-safe,
    /// padded or not) of JSON, exactly as they appear in a `WWW-Authenticate`
    /// header. The JSON must be an object.
    pub fn parse(input: &str) -> std::result::Result<Claims, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("the claims are empty".into());
        }
        // Base64 is a third longer than the JSON it carries.
        if s.len() > 2 * MAX_CLAIMS {
            return Err(format!(
                "the claims are longer than {} KiB",
                MAX_CLAIMS / 1024
            ));
        }
        let json: String = if s.starts_with('{') {
            s.to_string()
        } else {
            let engine = if s.contains(['-', '_']) {
                lenient(&alphabet::URL_SAFE)
            } else {
                lenient(&alphabet::STANDARD)
            };
            let bytes = engine
                .decode(s)
                .map_err(|_| "the claims are neither JSON nor base64".to_string())?;
            String::from_utf8(bytes)
                .map_err(|_| "the claims' base64 does not hold UTF-8 text".to_string())?
        };
        if json.len() > MAX_CLAIMS {
            return Err(format!(
                "the claims are longer than {} KiB",
                MAX_CLAIMS / 1024
            ));
        }
        match serde_json::from_str::<Value>(&json) {
            Ok(Value::Object(m)) => Ok(Claims(m)),
            Ok(_) => Err("the claims are not a JSON object".into()),
            Err(_) => Err("the claims are not valid JSON".into()),
        }
    }

    /// The `cp1` declaration alone.
    pub fn cp1() -> Claims {
        match serde_json::from_str::<Value>(CP1_CLAIMS) {
            Ok(Value::Object(m)) => Claims(m),
            _ => Claims(Map::new()),
        }
    }

    /// Compact JSON (keys sorted).
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// Base64 (standard, padded) of the compact JSON: the header's form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_json())
    }

    /// Whether there is no claim at all (`{}`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `self` merged with `other` (see [`merge`]); `other` wins on conflicts.
    pub fn merged(&self, other: &Claims) -> Claims {
        let mut v = Value::Object(self.0.clone());
        merge(&mut v, &Value::Object(other.0.clone()));
        match v {
            Value::Object(m) => Claims(m),
            _ => self.clone(),
        }
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// Deep JSON merge of `from` into `into`: objects merge key by key
/// (recursively), arrays are unioned (order kept, no duplicates), and any
/// other pair is settled by taking `from`'s value.
pub fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for v in b {
                if !a.contains(v) {
                    a.push(v.clone());
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Whether `cp1` is declared: `ENTRA_CRED_CAE` unset, empty, `1`, `true`,
/// `yes` or `on` declare it; `0`, `false`, `no` or `off` do not (case and
/// surrounding blanks ignored). Any other value, or one that is not UTF-8,
/// is a configuration error (exit 2) naming the variable, read whenever a
/// token is asked of Entra.
pub fn declared() -> Result<bool> {
    match std::env::var_os(CAE_VAR) {
        None => Ok(true),
        Some(raw) => {
            let v = raw.to_str().ok_or_else(|| {
                Error::Config(format!("{CAE_VAR} is not UTF-8 text; set it to 0 or 1"))
            })?;
            declared_value(v)
        }
    }
}

/// [`declared`] for a given value.
pub fn declared_value(v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(Error::Config(format!(
            "{CAE_VAR}='{}' is not understood: 0 stops declaring the CAE capability (cp1), 1 (the default) declares it",
            one_line(&other.chars().take(40).collect::<String>())
        ))),
    }
}

/// The `claims` parameter of a token request: `cp1` (when `declare_cp1`)
/// merged with the challenge's claims. `None` when there is nothing to send.
pub fn request_claims(challenge: Option<&Claims>, declare_cp1: bool) -> Option<String> {
    let base = if declare_cp1 {
        Claims::cp1()
    } else {
        Claims(Map::new())
    };
    let all = match challenge {
        Some(c) => base.merged(c),
        None => base,
    };
    (!all.is_empty()).then(|| all.to_json())
}

/// One challenge of a `WWW-Authenticate` value: the scheme and its
/// parameters (names lower-cased, quoted values unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `Bearer`, `Basic`, ... as sent.
    pub scheme: String,
    /// `name=value` parameters in order (a token68 is left out).
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses one `WWW-Authenticate` value (RFC 9110 section 11.6.1): one or more
/// challenges separated by commas, each a scheme followed by a token68 or
/// `name=value` parameters (token or quoted-string). Whatever does not fit is
/// skipped; never fails.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let n = chars.len();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < n && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < n && is_tchar(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    while i < n {
        skip_ws(&mut i);
        if i < n && chars[i] == ',' {
            i += 1;
            continue;
        }
        let t = token(&mut i);
        if t.is_empty() {
            // Not a token where one must start: skip the character.
            i += 1;
            continue;
        }
        // `t` is a parameter name when `=` follows (and not `==...`, a token68's
        // padding); else it starts a new challenge.
        let mut j = i;
        skip_ws(&mut j);
        let is_param =
            j < n && chars[j] == '=' && !(j + 1 < n && chars[j + 1] == '=') && !out.is_empty();
        if !is_param {
            out.push(Challenge {
                scheme: t,
                params: Vec::new(),
            });
            // A token68 (`Basic dXNlcg==`) alone after the scheme: skip it.
            let mut k = i;
            skip_ws(&mut k);
            let start = k;
            while k < n && (is_tchar(chars[k]) || chars[k] == '/') {
                k += 1;
            }
            while k < n && chars[k] == '=' {
                k += 1;
            }
            let mut e = k;
            skip_ws(&mut e);
            if k > start && (e >= n || chars[e] == ',') {
                i = e;
            }
            continue;
        }
        i = j + 1;
        skip_ws(&mut i);
        let value = if i < n && chars[i] == '"' {
            i += 1;
            let mut v = String::new();
            while i < n && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < n {
                    i += 1;
                }
                v.push(chars[i]);
                i += 1;
            }
            i += 1; // the closing quote (or the end)
            v
        } else {
            let start = i;
            while i < n && chars[i] != ',' && chars[i] != ' ' && chars[i] != '\t' {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        if let Some(last) = out.last_mut() {
            last.params.push((t.to_ascii_lowercase(), value));
        }
    }
    out
}

/// The CAE claims challenge among `WWW-Authenticate` values: a `Bearer`
/// challenge with `error="insufficient_claims"` and `claims=`. `None` when
/// there is none; `Some(Err)` when there is one whose claims cannot be read.
pub fn claims_challenge(headers: &[String]) -> Option<std::result::Result<Claims, String>> {
    let mut unreadable: Option<String> = None;
    for h in headers {
        for c in parse_challenges(h) {
            if !c.scheme.eq_ignore_ascii_case("bearer")
                || !c
                    .param("error")
                    .is_some_and(|e| e.eq_ignore_ascii_case("insufficient_claims"))
            {
                continue;
            }
            match c.param("claims").map(Claims::parse) {
                Some(Ok(claims)) => return Some(Ok(claims)),
                Some(Err(m)) => unreadable = Some(m),
                None => unreadable = Some("the challenge has no claims".into()),
            }
        }
    }
    unreadable.map(Err)
}

/// Makes `req` answer the CAE challenge among `headers`, if any: it then
/// carries the challenge's claims (which bypasses the cache). A challenge
/// whose claims cannot be read still bypasses the cache (the resource
/// rejected the cached token), with one warning line.
pub fn apply_challenge(req: &mut TokenRequest, headers: &[String]) {
    match claims_challenge(headers) {
        None => {}
        Some(Ok(c)) => req.claims = Some(c),
        Some(Err(m)) => {
            warn!("the server's claims challenge cannot be read ({m}); fetching a new token without it");
            req.force_refresh = true;
        }
    }
}

/// The error for a refresh that could not satisfy `claims`: Entra's
/// `interaction_required` (a stronger or newer sign-in is needed) becomes
/// exit 3 with a hint that carries the claims; anything else is unchanged.
pub fn unsatisfied(e: Error, claims: Option<&Claims>, scope: &str, profile: &str) -> Error {
    match (e, claims) {
        (Error::LoginExpired { context, entra }, Some(c))
            if entra.error == "interaction_required" =>
        {
            let p = if profile == crate::config::DEFAULT_PROFILE {
                String::new()
            } else {
                format!(" -p {profile}")
            };
            Error::InteractionRequired(format!(
                "{context}: {entra}; the resource's claims challenge needs a new sign-in, and no one can answer here: run `entra-cred token{p} --scope {scope} --claims {} > /dev/null` in a terminal",
                c.to_base64()
            ))
        }
        (e, _) => e,
    }
}

// ----- git: a challenge seen by `erase`, answered by the next `get` -------------------------

/// The state kind under which a git challenge waits for the next `get`.
pub const GIT_KIND: &str = "cae";
/// A remembered challenge older than this is dropped.
pub const GIT_MAX_AGE: i64 = 12 * 3600;

/// A claims challenge git handed to `erase` (git 2.47 passes the rejected request's
/// `WWW-Authenticate` headers there, then fails the command without another `get`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingChallenge {
    host: String,
    org: String,
    claims: String,
    seen_at: i64,
}

/// The state file of `git`'s host and organisation.
fn git_memo(cache: &Cache, git: &GitRequest) -> Option<(std::path::PathBuf, String, String)> {
    let host = git.host.as_deref()?.to_ascii_lowercase();
    let org = crate::azure_repos::organisation(&host, git.path.as_deref(), git.username.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = cache.state_path(GIT_KIND, &format!("{host}/{org}"));
    Some((path, host, org))
}

/// git `erase` with a CAE challenge in `wwwauth[]`: keep its claims for the next `get` of the
/// same host and organisation (whose request will carry only the plain challenge of an
/// unauthenticated request). Best effort: a failure to write is a debug line.
pub fn remember_git_challenge(cache: &Cache, git: &GitRequest) {
    let Some(Ok(claims)) = claims_challenge(&git.wwwauth) else {
        return;
    };
    let Some((path, host, org)) = git_memo(cache, git) else {
        return;
    };
    let memo = PendingChallenge {
        host,
        org,
        claims: claims.to_json(),
        seen_at: crate::timefmt::now(),
    };
    let written =
        file::ensure_private_dir(cache.dir()).and_then(|_| file::write_json(&path, &memo));
    match written {
        Ok(()) => debug!("erase: kept the server's claims challenge for the next get"),
        Err(e) => debug!("erase: cannot keep the claims challenge: {e}"),
    }
}

/// git `get`: the CAE challenge in `wwwauth[]` (see [`apply_challenge`]), else one that `erase`
/// kept for this host and organisation. Returns whether a kept one was used (then call
/// [`forget_git_challenge`] once the new token is in hand).
pub fn apply_git_challenge(req: &mut TokenRequest, cache: &Cache, git: &GitRequest) -> bool {
    apply_challenge(req, &git.wwwauth);
    if req.claims.is_some() {
        return false;
    }
    let Some((path, host, org)) = git_memo(cache, git) else {
        return false;
    };
    let Some(memo) = file::read_json::<PendingChallenge>(&path) else {
        return false;
    };
    let age = crate::timefmt::now() - memo.seen_at;
    let usable = memo.host == host && memo.org == org && (0..GIT_MAX_AGE).contains(&age);
    match Claims::parse(&memo.claims) {
        Ok(c) if usable => {
            debug!("answering the claims challenge that erase kept");
            req.claims = Some(c);
            true
        }
        _ => {
            let _ = std::fs::remove_file(&path);
            false
        }
    }
}

/// Drops the challenge kept for `git`'s host and organisation (it has been answered).
pub fn forget_git_challenge(cache: &Cache, git: &GitRequest) {
    if let Some((path, _, _)) = git_memo(cache, git) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        Claims::parse(&v.to_string()).expect("claims")
    }

    #[test]
    fn cp1_alone_and_off() {
        assert_eq!(request_claims(None, true).as_deref(), Some(CP1_CLAIMS));
        assert_eq!(request_claims(None, false), None);
        let c = claims(json!({"access_token":{"acrs":{"essential":true,"value":"c1"}}}));
        assert_eq!(
            request_claims(Some(&c), false).as_deref(),
            Some(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        );
    }

    #[test]
    fn merge_is_deep() {
        let c = claims(json!({
            "access_token": {"nbf": {"essential": true, "value": "1700000000"},
                             "xms_cc": {"values": ["cp1", "cp2"]}},
            "id_token": {"auth_time": {"essential": true}}
        }));
        let got: Value =
            serde_json::from_str(&request_claims(Some(&c), true).expect("some")).expect("json");
        assert_eq!(
            got,
            json!({
                "access_token": {"nbf": {"essential": true, "value": "1700000000"},
                                 "xms_cc": {"values": ["cp1", "cp2"]}},
                "id_token": {"auth_time": {"essential": true}}
            })
        );
        // Arrays union in order; scalars: the challenge wins; a new key is added.
        let mut a = json!({"x": [1, 2], "s": "old", "o": {"k": 1}});
        merge(
            &mut a,
            &json!({"x": [2, 3], "s": "new", "o": {"j": 2}, "n": null}),
        );
        assert_eq!(
            a,
            json!({"x": [1, 2, 3], "s": "new", "o": {"k": 1, "j": 2}, "n": null})
        );
        // A challenge that replaces an object with a scalar wins too.
        let mut a = json!({"access_token": {"xms_cc": {"values": ["cp1"]}}});
        merge(&mut a, &json!({"access_token": {"xms_cc": null}}));
        assert_eq!(a, json!({"access_token": {"xms_cc": null}}));
        // Merging the same claims twice changes nothing.
        let once = Claims::cp1().merged(&c);
        assert_eq!(once.merged(&c), once);
    }

    #[test]
    fn parses_json_and_base64_forms() {
        let json_text = r#"{"access_token":{"nbf":{"essential":true, "value":"1700000000"}}}"#;
        let want = Claims::parse(json_text).expect("json");
        let b64 = STANDARD.encode(json_text);
        assert_eq!(Claims::parse(&b64).expect("padded"), want);
        assert_eq!(
            Claims::parse(b64.trim_end_matches('=')).expect("unpadded"),
            want
        );
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            // `?` and `>` make `/` and `+` in standard base64: `_` and `-` here.
            r#"{"access_token":{"acrs":{"essential":true,"value":"??>>c1"}}}"#,
        );
        assert!(url.contains(['-', '_']), "{url}");
        assert!(Claims::parse(&url).is_ok());
        assert_eq!(Claims::parse(&want.to_base64()).expect("round trip"), want);
        for bad in [
            "",
            "  ",
            "not base64!",
            "W10=",        // []
            "bnVsbA==",    // null
            "{",           // bad JSON
            "//79",        // not UTF-8
            r#""string""#, // not an object
        ] {
            assert!(Claims::parse(bad).is_err(), "{bad}");
        }
        assert!(Claims::parse(&format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_CLAIMS))).is_err());
    }

    /// The fuzz target's properties (fuzz/fuzz_targets/cae_challenge.rs) on the odd cases.
    #[test]
    fn round_trips_and_merges_odd_claims() {
        for text in [
            r#"{"access_token":5}"#,
            r#"{"access_token":{"xms_cc":[1]},"x":[1,1]}"#,
            r#"{"id_token":null}"#,
            r#"{}"#,
            r#"{"a":1e5,"b":"\u00e9\/"}"#,
        ] {
            let c = Claims::parse(text).expect(text);
            assert_eq!(Claims::parse(&c.to_json()).as_ref(), Ok(&c), "{text}");
            assert_eq!(Claims::parse(&c.to_base64()).as_ref(), Ok(&c), "{text}");
            let sent: Value =
                serde_json::from_str(&request_claims(Some(&c), true).expect("cp1")).expect("j");
            if !c.as_map().contains_key("access_token") {
                assert_eq!(sent["access_token"]["xms_cc"]["values"][0], "cp1");
            }
            for (k, v) in c.as_map() {
                if !v.is_object() {
                    assert_eq!(&sent[k.as_str()], v, "{text}");
                }
            }
            match request_claims(Some(&c), false) {
                Some(s) => assert_eq!(Claims::parse(&s).as_ref(), Ok(&c)),
                None => assert!(c.is_empty()),
            }
        }
        // Base64 of claims near the limit is accepted (it is a third longer than the JSON).
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_CLAIMS - 10));
        let c = Claims::parse(&big).expect("at the limit");
        assert_eq!(Claims::parse(&c.to_base64()).expect("base64"), c);
    }

    /// Pseudo-random header values built from the pieces that matter (a cheap stand-in for the
    /// fuzz target where nightly is missing): the parser is total and the claims it finds
    /// read back. `CAE_STRESS=N` runs N rounds instead of 20 000.
    #[test]
    fn challenge_parser_stress() {
        const PIECES: [&str; 22] = [
            "Bearer",
            "Basic",
            " ",
            ",",
            "=",
            "==",
            "\"",
            "\\",
            "error",
            "insufficient_claims",
            "claims",
            "e30=",
            "eyJhIjpbMV19",
            "realm",
            "\t",
            "é",
            "{",
            "}",
            "a",
            "-_",
            "/+",
            "\r",
        ];
        let rounds: u64 = std::env::var("CAE_STRESS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..rounds {
            let len = (next() % 24) as usize;
            let h: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            for c in parse_challenges(&h) {
                assert!(!c.scheme.is_empty(), "{h:?}");
            }
            if let Some(Ok(c)) = claims_challenge(std::slice::from_ref(&h)) {
                assert_eq!(Claims::parse(&c.to_base64()).as_ref(), Ok(&c), "{h:?}");
            }
            if let Ok(c) = Claims::parse(&h) {
                assert_eq!(Claims::parse(&c.to_json()).as_ref(), Ok(&c), "{h:?}");
            }
        }
    }

    #[test]
    fn cae_values() {
        for on in ["", " ", "1", "true", "YES", "on"] {
            assert!(declared_value(on).expect(on), "{on}");
        }
        for off in ["0", " 0 ", "false", "No", "off"] {
            assert!(!declared_value(off).expect(off), "{off}");
        }
        let e = declared_value("disable").expect_err("unknown");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(CAE_VAR));
    }

    /// The shape Azure DevOps, ARM and Graph send.
    const CAE_HEADER: &str = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTcwMDAwMDAwMCJ9fX0=""#;

    #[test]
    fn reads_a_real_challenge() {
        let c = parse_challenges(CAE_HEADER);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(c[0].param("error"), Some("insufficient_claims"));
        assert_eq!(c[0].param("REALM"), Some(""));
        let got = claims_challenge(&[CAE_HEADER.to_string()])
            .expect("challenge")
            .expect("claims");
        assert_eq!(
            got.to_json(),
            r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#
        );
        // Among other headers, after another challenge in the same value, unquoted.
        let h = vec![
            "Basic realm=\"https://x/\"".to_string(),
            "TFS-Federated".to_string(),
            format!(
                "Basic realm=\"a, b\", Bearer error=insufficient_claims, claims={}",
                got.to_base64()
            ),
        ];
        assert_eq!(claims_challenge(&h).expect("c").expect("ok"), got);
    }

    #[test]
    fn plain_challenges_are_not_cae() {
        for h in [
            "Bearer authorization_uri=https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47",
            "Bearer error=\"invalid_token\", claims=\"e30=\"",
            "Basic error=\"insufficient_claims\", claims=\"e30=\"",
            "Basic dXNlcjpwYXNz==, TFS-Federated",
            "",
        ] {
            assert!(claims_challenge(&[h.to_string()]).is_none(), "{h}");
        }
        let no_claims = "Bearer error=\"insufficient_claims\"".to_string();
        assert!(claims_challenge(&[no_claims]).expect("cae").is_err());
        let bad = "Bearer error=\"insufficient_claims\", claims=\"%%%\"".to_string();
        assert!(claims_challenge(&[bad]).expect("cae").is_err());
    }

    #[test]
    fn challenge_parser_details() {
        let c = parse_challenges(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(c[0].param("type"), Some("1"));
        assert_eq!(c[1].scheme, "Basic");
        let c = parse_challenges("Negotiate abc==, Bearer x=y");
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].param("x"), Some("y"));
        let c = parse_challenges("Negotiate token68value, Bearer a = \"b\"");
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[1].param("a"), Some("b"));
        for s in [
            "\"",
            "=",
            "a=\"unterminated",
            ",,,",
            "Bearer ===",
            "é ü=\"",
            "\\",
        ] {
            let _ = parse_challenges(s);
        }
    }

    #[test]
    fn unsatisfied_claims_are_exit_3() {
        // A refresh that Entra refused with `error`.
        let refused = |error: &str| {
            Error::from_entra(
                "refreshing the token",
                crate::error::EntraError {
                    error: error.into(),
                    code: Some(50076),
                    description: "AADSTS50076: MFA".into(),
                    status: 400,
                },
            )
        };
        let c = Claims::cp1();
        let e = unsatisfied(
            refused("interaction_required"),
            Some(&c),
            "s/.default",
            "work",
        );
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("AADSTS50076"));
        assert!(e.to_string().contains(&c.to_base64()));
        assert!(e
            .to_string()
            .contains("entra-cred token -p work --scope s/.default"));
        let e = unsatisfied(refused("invalid_grant"), Some(&c), "s", "default");
        assert_eq!(e.exit_code(), 4);
        let e = unsatisfied(refused("interaction_required"), None, "s", "default");
        assert_eq!(e.exit_code(), 4);
    }
}
