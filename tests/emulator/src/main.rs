//! `entra-emulator [--token-lifetime SECS] [--device-interval SECS] [--device-approval POLICY]
//! [--client ID:SECRET]... [--port SERVICE=PORT]... [--refresh-token-grace SECS] [--repos-root DIR]`
//!
//! Starts every service, prints one JSON line with their URLs on stdout, and serves until killed.

use entra_emulator::{DeviceApproval, Emulator, Options};
use std::io::Write;

const USAGE: &str = "usage: entra-emulator [--token-lifetime SECS] [--device-interval SECS] [--device-approval after:N|never|decline|expire|slow-down] [--client ID:SECRET]... [--port SERVICE=PORT]... [--refresh-token-grace SECS] [--repos-root DIR (bare repos as DIR/<org>/<project>/<repo>.git)]";

fn parse_args(args: &[String]) -> Result<(Options, Option<std::path::PathBuf>), String> {
    let mut o = Options::default();
    let mut repos_root = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let secs = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number of seconds: {v:?}"))
        };
        match flag {
            "--token-lifetime" => o.token_lifetime = secs(value()?)?,
            "--device-interval" => o.device_interval = secs(value()?)?,
            "--refresh-token-grace" => o.refresh_token_grace = secs(value()?)?,
            "--device-approval" => o.device_approval = value()?.parse::<DeviceApproval>()?,
            "--client" => {
                let v = value()?;
                let (id, secret) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--client expects ID:SECRET, got {v:?}"))?;
                o.clients.push((id.to_string(), secret.to_string()));
            }
            "--port" => {
                let v = value()?;
                let (name, port) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--port expects SERVICE=PORT, got {v:?}"))?;
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("--port: bad port {port:?}"))?;
                o.ports.insert(name.to_string(), port);
            }
            "--repos-root" => repos_root = Some(std::path::PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok((o, repos_root))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, repos_root) = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("entra-emulator: {e}");
            std::process::exit(1);
        }
    };
    let emu = match Emulator::start(opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("entra-emulator: {e}");
            std::process::exit(1);
        }
    };
    if let Some(root) = repos_root {
        emu.set_repos_root(&root);
    }
    let line = serde_json::json!(emu.urls()).to_string();
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(1);
    }
    drop(out);
    // Serve until killed (SIGTERM/SIGINT end the process with the default disposition).
    loop {
        std::thread::park();
    }
}
