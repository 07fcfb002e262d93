//! Small HTTP helpers shared by every service: a fully read request ([`Req`]) and a response
//! builder ([`Resp`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;

/// Largest request body the emulator reads (git pushes can be a few MiB).
pub const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A request read completely into memory.
#[derive(Debug, Clone, Default)]
pub struct Req {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent, e.g. `/common/oauth2/v2.0/authorize?client_id=...`.
    pub url: String,
    /// The path part of `url`, percent-decoding NOT applied.
    pub path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query_string: String,
    /// Decoded query parameters (last value wins for duplicates).
    pub query: BTreeMap<String, String>,
    /// Decoded form parameters when the body is `application/x-www-form-urlencoded`.
    pub form: BTreeMap<String, String>,
    /// Headers with lower-cased names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// Peer address, when known.
    pub remote_addr: Option<std::net::SocketAddr>,
}

impl Req {
    /// Read a tiny_http request's head and body. Errors (e.g. body too large) are strings fit for
    /// a 400 answer.
    pub fn read(rq: &mut tiny_http::Request) -> Result<Req, String> {
        let url = rq.url().to_string();
        let (path, query_string) = match url.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (url.clone(), String::new()),
        };
        let headers: Vec<(String, String)> = rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        let mut body = Vec::new();
        rq.as_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read request body: {e}"))?;
        if body.len() as u64 > MAX_BODY {
            return Err("request body too large".into());
        }
        let mut req = Req {
            method: rq.method().as_str().to_ascii_uppercase(),
            query: parse_form(query_string.as_bytes()),
            url,
            path,
            query_string,
            form: BTreeMap::new(),
            headers,
            body,
            remote_addr: rq.remote_addr().copied(),
        };
        if req
            .header("content-type")
            .map(|c| {
                c.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
            .unwrap_or(false)
        {
            req.form = parse_form(&req.body);
        }
        Ok(req)
    }

    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A form parameter, else a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .get(name)
            .or_else(|| self.query.get(name))
            .map(String::as_str)
    }

    /// Form and query parameters merged (form wins).
    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = self.query.clone();
        m.extend(self.form.clone());
        m
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|t| !t.is_empty())
    }

    /// `(user, password)` of an `Authorization: Basic ...` header.
    pub fn basic(&self) -> Option<(String, String)> {
        let v = self.header("authorization")?;
        let (scheme, rest) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = STANDARD.decode(rest.trim()).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    /// Path segments, e.g. `/a/b/` -> `["a", "b"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// Parse `application/x-www-form-urlencoded` data (also query strings).
pub fn parse_form(data: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(data).into_owned().collect()
}

/// Encode pairs as `application/x-www-form-urlencoded`.
pub fn encode_form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A response to be sent.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// JSON answer with `Cache-Control: no-store` (as token endpoints send).
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp::new(status, "application/json; charset=utf-8", v.to_string())
            .with_header("Cache-Control", "no-store, no-cache")
            .with_header("Pragma", "no-cache")
    }

    pub fn text(status: u16, body: &str) -> Resp {
        Resp::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Resp {
        Resp::empty(302).with_header("Location", location)
    }

    /// JSON 404 for unknown paths.
    pub fn not_found(path: &str) -> Resp {
        Resp::json(
            404,
            &serde_json::json!({"error": "not_found", "error_description": format!("no such endpoint: {path}")}),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Resp {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Send it; I/O errors (client went away) are ignored.
    pub fn send(self, rq: tiny_http::Request) {
        let mut r = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        for (k, v) in &self.headers {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                r.add_header(h);
            }
        }
        let _ = rq.respond(r);
    }
}
