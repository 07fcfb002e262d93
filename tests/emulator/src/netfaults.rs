//! Faults below HTTP, for the failure tests: a host name that does not exist, a TLS server
//! nobody trusts, a Unix socket that accepts and never answers (a hung D-Bus / Secret Service),
//! and a recording HTTP proxy. Everything listens on loopback only; the proxy refuses to
//! forward anywhere but loopback.
//!
//! ```no_run
//! use entra_emulator::netfaults::{RecordingProxy, UntrustedTls, SilentUnixSocket, NXDOMAIN_HOST};
//! let proxy = RecordingProxy::start().unwrap();      // HTTPS_PROXY=proxy.url()
//! let tls = UntrustedTls::start().unwrap();           // AZURE_AUTHORITY_HOST=tls.url()
//! let bus = SilentUnixSocket::start(std::path::Path::new("/tmp/x/bus")).unwrap();
//! // DBUS_SESSION_BUS_ADDRESS=bus.dbus_address()
//! let nx = format!("https://{NXDOMAIN_HOST}");       // DNS: no such name (RFC 6761 .invalid)
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A host name that does not exist: `.invalid` is reserved for that (RFC 6761), so every
/// resolver answers "no such name" without asking the internet.
pub const NXDOMAIN_HOST: &str = "login.entra-emulator.invalid";

// ----- TLS nobody trusts ----------------------------------------------------------------------

/// An HTTPS listener on `127.0.0.1` whose certificate is self-signed (no trust store has it).
/// Any request that gets through the handshake is counted and answered `200 {}`.
pub struct UntrustedTls {
    url: String,
    served: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl UntrustedTls {
    /// Starts the listener on an OS-chosen port.
    pub fn start() -> io::Result<UntrustedTls> {
        let ck = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .map_err(|e| io::Error::other(format!("untrusted-tls: cannot make a certificate: {e}")))?;
        let server = tiny_http::Server::https(
            ("127.0.0.1", 0),
            tiny_http::SslConfig {
                certificate: ck.cert.pem().into_bytes(),
                private_key: ck.signing_key.serialize_pem().into_bytes(),
            },
        )
        .map_err(|e| io::Error::other(format!("untrusted-tls: cannot listen: {e}")))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("untrusted-tls: not an IP listener"))?;
        let server = Arc::new(server);
        let served = Arc::new(AtomicUsize::new(0));
        let (srv, count) = (Arc::clone(&server), Arc::clone(&served));
        std::thread::Builder::new()
            .name("emu-untrusted-tls".into())
            .spawn(move || {
                for rq in srv.incoming_requests() {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = rq.respond(tiny_http::Response::from_string("{}"));
                }
            })?;
        Ok(UntrustedTls {
            url: format!("https://127.0.0.1:{port}"),
            served,
            server,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// How many requests completed the handshake and were answered.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

// ----- a Unix socket that never answers -------------------------------------------------------

/// A Unix socket that accepts every connection and never writes a byte: a D-Bus session bus
/// (and so a Secret Service) that hangs, as a locked keyring over SSH does.
pub struct SilentUnixSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl SilentUnixSocket {
    /// Listens at `path` (which must not exist).
    pub fn start(path: &Path) -> io::Result<SilentUnixSocket> {
        let l = std::os::unix::net::UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (st, acc) = (Arc::clone(&stop), Arc::clone(&accepted));
        std::thread::Builder::new()
            .name("emu-silent-socket".into())
            .spawn(move || {
                let mut held = Vec::new();
                while !st.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            acc.fetch_add(1, Ordering::SeqCst);
                            held.push(s); // kept open, never answered
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })?;
        Ok(SilentUnixSocket {
            path: path.to_path_buf(),
            stop,
            accepted,
        })
    }

    /// `unix:path=<path>`, for `DBUS_SESSION_BUS_ADDRESS`.
    pub fn dbus_address(&self) -> String {
        format!("unix:path={}", self.path.display())
    }

    /// How many connections it accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentUnixSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
    }
}

// ----- a recording proxy ----------------------------------------------------------------------

/// An HTTP proxy on `127.0.0.1` that records the first line of every request (`CONNECT
/// host:port HTTP/1.1`, `GET http://host/path HTTP/1.1`) and forwards it, to loopback targets
/// only (anything else: 502).
pub struct RecordingProxy {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl RecordingProxy {
    /// Starts it on an OS-chosen port.
    pub fn start() -> io::Result<RecordingProxy> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        l.set_nonblocking(true)?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (lg, st) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("emu-proxy".into())
            .spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            let lg = Arc::clone(&lg);
                            let _ = std::thread::Builder::new()
                                .name("emu-proxy-conn".into())
                                .spawn(move || {
                                    let _ = s.set_nonblocking(false);
                                    let _ = proxy_one(s, &lg);
                                });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(RecordingProxy {
            url: format!("http://127.0.0.1:{port}"),
            log,
            stop,
        })
    }

    /// `http://127.0.0.1:PORT`, for `HTTP_PROXY` / `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The first line of every request seen, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn loopback_target(hostport: &str) -> Option<SocketAddr> {
    let addr = hostport.to_socket_addrs().ok()?.next()?;
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    ip.is_loopback().then(|| SocketAddr::new(ip, addr.port()))
}

fn proxy_one(client: TcpStream, log: &Mutex<Vec<String>>) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end || head.len() > 200 {
            break;
        }
    }
    let first = head[0].trim_end().to_string();
    if let Ok(mut l) = log.lock() {
        l.push(first.clone());
    }
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client_w = client;
    let bad_gateway = |w: &mut TcpStream| {
        w.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some(addr) = loopback_target(target) else {
            return bad_gateway(&mut client_w);
        };
        let Ok(upstream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            return bad_gateway(&mut client_w);
        };
        client_w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        return pipe(reader, client_w, upstream);
    }
    // Absolute form: `GET http://host:port/path HTTP/1.1`.
    let Ok(u) = url::Url::parse(target) else {
        return bad_gateway(&mut client_w);
    };
    let hostport = format!(
        "{}:{}",
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(80)
    );
    let Some(addr) = loopback_target(&hostport) else {
        return bad_gateway(&mut client_w);
    };
    let Ok(mut upstream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return bad_gateway(&mut client_w);
    };
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in &head[1..] {
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("proxy-") || lower.starts_with("connection:") || h.trim().is_empty() {
            continue;
        }
        out.push_str(h);
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes())?;
    pipe(reader, client_w, upstream)
}

/// Copies both ways until either side closes.
fn pipe(
    mut from_client: BufReader<TcpStream>,
    mut to_client: TcpStream,
    upstream: TcpStream,
) -> io::Result<()> {
    let mut up_w = upstream.try_clone()?;
    let mut up_r = upstream;
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut up_w);
        let _ = up_w.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut up_r, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = t.join();
    Ok(())
}
