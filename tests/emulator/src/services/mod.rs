//! One module per emulated service, each on its own loopback listener (like distinct hosts).
//!
//! # Adding a service
//!
//! 1. Create `services/NAME.rs` with a handler and a `start`:
//!    ```ignore
//!    use crate::{faults::Endpoint, http::{Req, Resp}, state::{Options, State}};
//!    pub const NAME: &str = "imds";
//!    pub fn start(state: &std::sync::Arc<State>, opts: &Options) -> std::io::Result<Service> {
//!        super::serve(NAME, opts.port(NAME), state, handle)
//!    }
//!    fn handle(state: &State, req: &Req) -> Resp {
//!        if let Some(r) = state.arrive(Endpoint::Imds, req) { return r; } // count, log, faults
//!        // ... real answer; use state.mint_access_token(...), state.verify_access_token(...),
//!        // state.with_ext(|my: &mut MyData| ...) for private data, state.add_secret(...)
//!        Resp::text(200, "ok")
//!    }
//!    ```
//!    For TLS (Kubernetes API) build a `tiny_http::Server::https(...)` yourself and call
//!    [`serve_server`].
//! 2. Add `pub mod NAME;` below and one line in [`start_all`].
//! 3. Add an `Endpoint` variant in `faults.rs` if none fits.
//!
//! Planned: `imds` (IMDS / App Service / Cloud Shell managed identity), `repos` (Azure Repos with
//! git http-backend), `acr` (registry), `kube` (Kubernetes API over TLS), `sts` (AWS STS).

pub mod acr;
pub mod admin;
pub mod arc;
pub mod artifacts;
pub mod cae;
pub mod certs;
pub mod ci;
pub mod entra;
pub mod imds;
pub mod kube;
pub mod repos;
pub mod sts;

use crate::http::{Req, Resp};
use crate::state::{Options, State};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A request handler: gets the shared state and a fully read request, returns the answer.
/// It runs on its own thread, so it may sleep. A panic becomes a 500, never a dead listener.
pub type Handler = fn(&State, &Req) -> Resp;

/// A running listener. Dropping it stops accepting (requests in flight finish on their own).
pub struct Service {
    pub name: &'static str,
    /// `http://127.0.0.1:PORT` (or `https://...` for TLS servers).
    pub url: String,
    pub port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start every service. Adding a service = one line here.
pub fn start_all(state: &Arc<State>, opts: &Options) -> io::Result<Vec<Service>> {
    // Entra ID (+ the admin API under /_emulator/ on the same listener).
    let services = vec![
        entra::start(state, opts)?,
        imds::start(state, opts)?,
        repos::start(state, opts)?,
        acr::start(state, opts)?,
        kube::start(state, opts)?,
        sts::start(state, opts)?,
        ci::start(state, opts)?,
        arc::start(state, opts)?,
        artifacts::start(state, opts)?,
    ];
    for s in &services {
        state.set_url(s.name, &s.url);
    }
    Ok(services)
}

/// Listen on `127.0.0.1:port` (0 = OS-chosen) over plain HTTP and serve with `handler`.
pub fn serve(
    name: &'static str,
    port: u16,
    state: &Arc<State>,
    handler: Handler,
) -> io::Result<Service> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| io::Error::other(format!("{name}: cannot listen on port {port}: {e}")))?;
    serve_server(name, server, "http", state, handler)
}

/// Serve an already built tiny_http server (e.g. an HTTPS one). `scheme` is used for the URL.
pub fn serve_server(
    name: &'static str,
    server: tiny_http::Server,
    scheme: &str,
    state: &Arc<State>,
    handler: Handler,
) -> io::Result<Service> {
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other(format!("{name}: not an IP listener")))?;
    let server = Arc::new(server);
    let srv = Arc::clone(&server);
    let st = Arc::clone(state);
    let thread = std::thread::Builder::new()
        .name(format!("emu-{name}"))
        .spawn(move || {
            for rq in srv.incoming_requests() {
                let st = Arc::clone(&st);
                let _ = std::thread::Builder::new()
                    .name(format!("emu-{name}-req"))
                    .spawn(move || handle_one(&st, rq, handler));
            }
        })?;
    Ok(Service {
        name,
        url: format!("{scheme}://127.0.0.1:{port}"),
        port,
        server,
        thread: Some(thread),
    })
}

fn handle_one(state: &State, mut rq: tiny_http::Request, handler: Handler) {
    let resp = match Req::read(&mut rq) {
        Ok(req) => {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(state, &req))) {
                Ok(r) => r,
                Err(_) => Resp::json(
                    500,
                    &serde_json::json!({"error": "server_error", "error_description": "emulator handler panicked"}),
                ),
            }
        }
        Err(e) => Resp::json(
            400,
            &serde_json::json!({"error": "invalid_request", "error_description": e}),
        ),
    };
    let offset = state.clock_offset();
    let resp = if offset != 0
        && !resp
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("date"))
    {
        let now = std::time::SystemTime::now();
        let shifted = if offset > 0 {
            now + std::time::Duration::from_secs(offset.unsigned_abs())
        } else {
            now - std::time::Duration::from_secs(offset.unsigned_abs())
        };
        resp.with_header("Date", &httpdate::fmt_http_date(shifted))
    } else {
        resp
    };
    resp.send(rq);
}
