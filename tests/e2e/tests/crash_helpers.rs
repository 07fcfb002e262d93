//! Crash safety of the helpers with state of their own: `docker-credential-entra get` (Entra
//! token -> ACR exchange -> `acr/` state + secret) and `entra-credential-process` in federation
//! mode (Entra token -> STS -> `sts/` state + secret), killed with SIGKILL at random moments
//! while they refresh. Every lifetime is set inside the helpers' refresh windows, so every
//! process that is not killed refreshes and writes: the kills land in start-up, lock waits,
//! the Entra refresh, the exchange / STS call and the writes.
//!
//! Afterwards: no reader ever saw a half-written file, every state file and its secret parse,
//! and a final `get` of each helper succeeds without a prompt and returns a credential the
//! emulator accepts (the registry turns the ACR refresh token into an access token; STS issued
//! the keys); the state it writes is then served from the cache.
//! `CRASH_SECONDS` (default 15) and `CRASH_SEED` as in `crash.rs`.

use e2e::emulator::services::{acr as emu_acr, sts};
use e2e::{run, walk, Endpoint, Options, RunOutput, TestEnv};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const T: Duration = Duration::from_secs(60);
const FED: &str = "api://aws-federation/.default";

/// xorshift; the seed is printed so a run can be repeated with `CRASH_SEED=<n>`.
struct Rng(u64);

impl Rng {
    fn seed() -> u64 {
        std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
    }
    fn seeded(seed: u64, salt: u64) -> Rng {
        Rng((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Helper {
    Docker,
    Aws,
}

struct Env {
    env: TestEnv,
    /// `127.0.0.1:<port>` of the registry.
    reg: String,
}

impl Env {
    fn command(&self, h: Helper) -> (Command, Option<Vec<u8>>) {
        match h {
            Helper::Docker => {
                let mut c = self.env.cmd("docker-credential-entra");
                c.arg("get");
                (c, Some(self.reg.clone().into_bytes()))
            }
            Helper::Aws => {
                let mut c = self.env.cmd("entra-credential-process");
                c.args(["--role-arn", sts::DEFAULT_ROLE, "--scope", FED]);
                (c, None)
            }
        }
    }

    fn run(&self, h: Helper) -> RunOutput {
        let (mut c, stdin) = self.command(h);
        let out = run(&mut c, stdin.as_deref(), T);
        self.env.assert_clean_stderr(&out);
        out
    }
}

fn setup() -> Env {
    let mut env = TestEnv::with_options(Options {
        // Entra tokens inside the 5-minute refresh window: every helper run refreshes one.
        token_lifetime: 290,
        // A rotated refresh token stays valid for a while, as with real Entra (see crash.rs).
        refresh_token_grace: 3600,
        ..Options::default()
    });
    let reg = env
        .emu()
        .url(emu_acr::NAME)
        .expect("acr")
        .trim_start_matches("http://")
        .to_string();
    let sts_url = env.emu().url(sts::NAME).expect("sts");
    env.set_env("ENTRA_CRED_ACR_HOSTS", &reg);
    env.set_env("AWS_ENDPOINT_URL_STS", &sts_url);
    env.set_env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    env.set_env("AWS_EC2_METADATA_DISABLED", "true");
    // ACR refresh tokens and STS credentials inside the helpers' refresh windows (5 and 15
    // minutes): every run exchanges / assumes the role again and writes its state.
    emu_acr::set_lifetimes(env.state(), 290, 290);
    sts::configure(env.state(), |c| c.default_duration = 600);
    Env { env, reg }
}

/// Every `*.json` under the cache parses (a file replaced between listing and reading is
/// skipped). Returns how many were read.
fn check_cache_readable(cache: &Path) -> Result<usize, String> {
    let mut n = 0;
    for f in walk(cache) {
        if f.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", f.display())),
        };
        serde_json::from_slice::<Value>(&bytes).map_err(|e| {
            format!(
                "{} does not parse ({e}): {} bytes",
                f.display(),
                bytes.len()
            )
        })?;
        n += 1;
    }
    Ok(n)
}

fn read_json(p: &Path) -> Value {
    let b = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{} does not parse: {e}", p.display()))
}

/// The helpers' state files (`acr/*.json`, `sts/*.json`) and their secrets
/// (`secrets/<kind>-<stem>.json`, file store): each state has its secret, and STS state and
/// secret name the same key, or the secret is one step ahead (a kill between the two writes,
/// which the reader detects and refetches). Returns (states, STS secrets one step ahead).
fn check_states_and_secrets(cache: &Path) -> (usize, usize) {
    let (mut states, mut ahead) = (0, 0);
    for kind in ["acr", "sts"] {
        let Ok(rd) = std::fs::read_dir(cache.join(kind)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let st = read_json(&p);
            assert_eq!(st["store"], "file", "{}: {st}", p.display());
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let sp = cache.join("secrets").join(format!("{kind}-{stem}.json"));
            let secret = read_json(&sp);
            let value = secret["value"].as_str().expect("secret value");
            assert!(!value.is_empty());
            if kind == "sts" {
                let inner: Value = serde_json::from_str(value).expect("STS secret is JSON");
                if inner["access_key_id"] != st["access_key_id"] {
                    ahead += 1;
                }
            }
            states += 1;
        }
    }
    (states, ahead)
}

fn temp_files(cache: &Path) -> usize {
    walk(cache)
        .iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".tmp"))
        })
        .count()
}

/// Median wall time of an unkilled run (the kill delays are spread over a process's life).
fn calibrate(e: &Env, h: Helper) -> Duration {
    let mut v: Vec<Duration> = (0..5).map(|_| e.run(h).ok().elapsed).collect();
    v.sort();
    v[2]
}

#[derive(Default)]
struct Tally {
    killed: [AtomicU64; 2],
    finished: [AtomicU64; 2],
    checks: AtomicU64,
}

/// The ACR refresh token works: the registry's `/oauth2/token` turns it into an access token.
fn registry_accepts(e: &Env, refresh_token: &str) {
    let body = format!(
        "grant_type=refresh_token&service={}&scope=repository:{}:pull&refresh_token={refresh_token}",
        e.reg,
        emu_acr::REPO
    );
    let mut c = e.env.tool("curl");
    c.args([
        "-sS",
        "--max-time",
        "10",
        "-X",
        "POST",
        "--data-binary",
        "@-",
    ])
    .arg(format!("http://{}/oauth2/token", e.reg));
    let out = run(&mut c, Some(body.as_bytes()), T).ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("registry answer not JSON ({err}): {}", out.stdout));
    assert!(
        v["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "the registry refused the ACR refresh token: {v}"
    );
}

/// STS issued these credentials and they are not expired.
fn sts_issued(e: &Env, out: &str) -> String {
    let v: Value = serde_json::from_str(out.trim()).expect("credential_process JSON");
    let key = v["AccessKeyId"].as_str().expect("AccessKeyId");
    let issued = sts::issued(e.env.state());
    let k = issued
        .iter()
        .find(|i| i.access_key_id == key)
        .unwrap_or_else(|| panic!("STS never issued {key}"));
    assert_eq!(v["SecretAccessKey"], k.secret_access_key.as_str());
    assert_eq!(v["SessionToken"], k.session_token.as_str());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(k.expiration > now, "expired credentials");
    key.to_string()
}

#[test]
fn sigkill_of_docker_and_aws_helpers_mid_refresh_leaves_consistent_state() {
    let e = Arc::new(setup());
    let login = run(e.env.cmd("entra-cred").arg("login"), None, T).ok();
    e.env.assert_clean_stderr(&login);
    let typical = [calibrate(&e, Helper::Docker), calibrate(&e, Helper::Aws)];
    let budget = Duration::from_secs(
        std::env::var("CRASH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    );
    let seed = Rng::seed();
    let deadline = Instant::now() + budget;
    let tally = Arc::new(Tally::default());
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let exchanges_before = e.env.state().count(Endpoint::AcrExchange);
    let sts_before = sts::count_action(e.env.state(), "AssumeRoleWithWebIdentity");

    let reader = {
        let (cache, tally, stop) = (e.env.cache_dir(), Arc::clone(&tally), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<(), String> {
            while !stop.load(Ordering::Relaxed) {
                check_cache_readable(&cache)?;
                tally.checks.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    };

    // Two workers per helper; each starts a helper, SIGKILLs it after a uniform random delay
    // (the bound adapts so that about a quarter finish), and records what happened.
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (e, tally, failures) = (Arc::clone(&e), Arc::clone(&tally), Arc::clone(&failures));
            let h = if w % 2 == 0 {
                Helper::Docker
            } else {
                Helper::Aws
            };
            let hi = (w % 2) as usize;
            let mut max = (typical[hi].as_micros() as f64 * 2.0).max(1000.0);
            std::thread::spawn(move || {
                let mut rng = Rng::seeded(seed, w);
                while Instant::now() < deadline {
                    let (mut c, stdin) = e.command(h);
                    let mut child = c
                        .stdin(if stdin.is_some() {
                            Stdio::piped()
                        } else {
                            Stdio::null()
                        })
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn helper");
                    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
                        // A helper killed before reading gives EPIPE here: ignore it.
                        let _ = pipe.write_all(&data);
                    }
                    std::thread::sleep(Duration::from_micros(rng.below(max as u64)));
                    let _ = child.kill(); // SIGKILL
                    let out = child.wait_with_output().expect("wait");
                    use std::os::unix::process::ExitStatusExt;
                    match (out.status.signal(), out.status.code()) {
                        (Some(9), _) => {
                            tally.killed[hi].fetch_add(1, Ordering::Relaxed);
                            max *= 1.05;
                        }
                        (_, Some(0)) => {
                            tally.finished[hi].fetch_add(1, Ordering::Relaxed);
                            max = (max * 0.85).max(1000.0);
                        }
                        _ => failures.lock().expect("lock").push(format!(
                            "{h:?}: {:?}: {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr)
                        )),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Relaxed);
    let reader_result = reader.join().expect("reader");

    let k = |a: &[AtomicU64; 2], i: usize| a[i].load(Ordering::Relaxed);
    let (states, ahead) = check_states_and_secrets(&e.env.cache_dir());
    eprintln!(
        "crash_helpers (seed {seed}): docker {} killed / {} finished (typical {:?}), \
         credential_process {} killed / {} finished (typical {:?}); {} concurrent cache checks; \
         {} ACR exchanges, {} STS calls; {states} helper states, {ahead} STS secret(s) a step \
         ahead of their state; {} temp files left",
        k(&tally.killed, 0),
        k(&tally.finished, 0),
        typical[0],
        k(&tally.killed, 1),
        k(&tally.finished, 1),
        typical[1],
        tally.checks.load(Ordering::Relaxed),
        e.env.state().count(Endpoint::AcrExchange) - exchanges_before,
        sts::count_action(e.env.state(), "AssumeRoleWithWebIdentity") - sts_before,
        temp_files(&e.env.cache_dir()),
    );
    reader_result.expect("a reader saw a half-written or corrupt cache file");
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "helpers that were not killed failed:\n{}",
        failures.join("\n")
    );
    for i in 0..2 {
        assert!(
            k(&tally.killed, i) >= 30 && k(&tally.finished, i) >= 5,
            "helper {i}: {} killed, {} finished: the kills did not cover the processes' lives",
            k(&tally.killed, i),
            k(&tally.finished, i)
        );
    }
    assert!(states >= 2, "both helpers left a state");

    // Final gets, nothing killed, normal lifetimes: no prompt, credentials the emulator
    // accepts; the state they write is then served from the cache.
    emu_acr::set_lifetimes(e.env.state(), 3 * 3600, 75 * 60);
    sts::configure(e.env.state(), |c| c.default_duration = 3600);
    e.env.state().set_token_lifetime(3600);
    let prompts = e.env.state().count(Endpoint::DeviceCode);
    let d1 = e.run(Helper::Docker).ok();
    let a1 = e.run(Helper::Aws).ok();
    let secret = serde_json::from_str::<Value>(d1.stdout.trim()).expect("docker JSON")["Secret"]
        .as_str()
        .expect("Secret")
        .to_string();
    registry_accepts(&e, &secret);
    let key = sts_issued(&e, &a1.stdout);
    let (exchanges, assumes) = (
        e.env.state().count(Endpoint::AcrExchange),
        sts::count_action(e.env.state(), "AssumeRoleWithWebIdentity"),
    );
    let d2 = e.run(Helper::Docker).ok();
    let a2 = e.run(Helper::Aws).ok();
    assert_eq!(
        d2.stdout, d1.stdout,
        "docker served its state from the cache"
    );
    assert_eq!(
        sts_issued(&e, &a2.stdout),
        key,
        "AWS served its state from the cache"
    );
    assert_eq!(e.env.state().count(Endpoint::AcrExchange), exchanges);
    assert_eq!(
        sts::count_action(e.env.state(), "AssumeRoleWithWebIdentity"),
        assumes
    );
    assert_eq!(
        e.env.state().count(Endpoint::DeviceCode),
        prompts,
        "no prompt"
    );
    let (_, ahead) = check_states_and_secrets(&e.env.cache_dir());
    assert_eq!(
        ahead, 0,
        "after a clean run every STS state names its secret"
    );
    e.env.assert_no_secret_in_files();
}
