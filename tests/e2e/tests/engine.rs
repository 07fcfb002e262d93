//! The credential engine with real processes (issue 12): tokens never cross identities,
//! short-lived tokens and dead refresh tokens are fetched once for many processes, every
//! call ends within its budget, clock skew does not poison the cache, and an untrusted cache
//! directory is refused (as root and as an ordinary user).

use e2e::{bin, run, spawn_many, Endpoint, Fault, Options, RunOutput, TestEnv};
use entra_emulator::DEFAULT_TENANT;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const ARM: &str = "https://management.azure.com/.default";
const APP: &str = "7c2e0c55-3f0a-4e5b-a1d2-7c9e8f0000aa";
const APP_SECRET: &str = "engine-e2e-client-secret-value";

fn token(env: &TestEnv, profile: Option<&str>) -> RunOutput {
    let mut c = env.cmd("entra-cred");
    if let Some(p) = profile {
        c.args(["-p", p]);
    }
    c.args(["token", "--scope", ARM]);
    let out = run(&mut c, None, T);
    env.assert_clean_stderr(&out);
    out
}

fn claims(env: &TestEnv, out: &RunOutput) -> serde_json::Value {
    env.state()
        .verify_jwt(out.stdout.trim())
        .expect("an emulator token")
}

/// Two profiles with one tenant and client id: a person's sign-in and the application's secret.
fn two_profiles() -> TestEnv {
    let mut opts = Options::default();
    opts.clients.push((APP.into(), APP_SECRET.into()));
    let env = TestEnv::with_options(opts);
    env.write_config(&format!(
        "[profiles.person]\ntenant = \"{DEFAULT_TENANT}\"\nclient_id = \"{APP}\"\nflow = \"device-code\"\n\n\
         [profiles.app]\ntenant = \"{DEFAULT_TENANT}\"\nclient_id = \"{APP}\"\nflow = \"client-secret\"\nclient_secret = \"{APP_SECRET}\"\n"
    ));
    env
}

fn login(env: &TestEnv, profile: &str) {
    let out = run(
        env.cmd("entra-cred").args(["-p", profile, "login"]),
        None,
        T,
    );
    assert_eq!(out.code, 0, "login: {}", out.stderr);
}

#[test]
fn a_person_never_gets_the_applications_token_and_back() {
    // The application first, then the person.
    let env = two_profiles();
    login(&env, "person");
    let app = token(&env, Some("app")).ok();
    let person = token(&env, Some("person")).ok();
    assert_ne!(app.stdout, person.stdout);
    assert!(claims(&env, &person)["upn"].is_string(), "a person's token");
    assert!(
        claims(&env, &app)["upn"].is_null(),
        "an application's token"
    );
    // Cached now, each its own.
    assert_eq!(token(&env, Some("app")).ok().stdout, app.stdout);
    assert_eq!(token(&env, Some("person")).ok().stdout, person.stdout);
    assert_eq!(env.state().count_grant("client_credentials"), 1);

    // The person first, then the application.
    let env = two_profiles();
    login(&env, "person");
    let person = token(&env, Some("person")).ok();
    let app = token(&env, Some("app")).ok();
    assert_ne!(app.stdout, person.stdout);
    assert!(
        claims(&env, &app)["upn"].is_null(),
        "an application's token"
    );
    assert_eq!(env.state().count_grant("client_credentials"), 1);
    assert_eq!(token(&env, Some("person")).ok().stdout, person.stdout);
}

#[test]
fn forty_parallel_git_gets_with_200_second_tokens_make_at_most_two_requests() {
    let mut env = TestEnv::with_options(Options {
        token_lifetime: 200,
        ..Options::default()
    });
    let repos = env.emu().url("repos").expect("repos service");
    let host = repos.trim_start_matches("http://").to_string();
    env.set_env("ENTRA_CRED_GIT_HOSTS", &host);
    env.set_env("AZURE_TENANT_ID", DEFAULT_TENANT);
    login(&env, "default");
    let before = env.state().count_grant("refresh_token");
    let input = format!("protocol=http\nhost={host}\npath=org1/proj/_git/repo\n\n");
    let outs = spawn_many(
        40,
        |_| {
            let mut c = env.cmd("git-credential-entra");
            c.arg("get");
            c
        },
        Some(input.as_bytes()),
        T,
    );
    let mut passwords = Vec::new();
    for o in &outs {
        assert_eq!(o.code, 0, "{}", o.stderr);
        env.assert_clean_stderr(o);
        let p = o
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("password="))
            .expect("a password")
            .to_string();
        passwords.push(p);
    }
    let made = env.state().count_grant("refresh_token") - before;
    eprintln!("40 parallel git gets, 200-second tokens: {made} token requests");
    assert!((1..=2).contains(&made), "{made} requests");
}

/// Twenty `entra-cred token --scope ARM` started at once.
fn twenty_tokens(env: &TestEnv) -> Vec<RunOutput> {
    spawn_many(
        20,
        |_| {
            let mut c = env.cmd("entra-cred");
            c.args(["token", "--scope", ARM]);
            c
        },
        None,
        T,
    )
}

#[test]
fn twenty_callers_behind_a_hanging_endpoint_all_end_within_the_budget() {
    let mut env = TestEnv::with_app(APP, APP_SECRET);
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "4");
    env.emu()
        .inject(Fault::delay(Endpoint::Token, Duration::from_secs(60)).times(1000));
    let outs = twenty_tokens(&env);
    let slowest = outs.iter().map(|o| o.elapsed).max().unwrap_or_default();
    eprintln!("20 callers, hanging token endpoint, 4 s budget: slowest {slowest:?}");
    for o in &outs {
        assert_eq!(o.code, 5, "{}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
        env.assert_clean_stderr(o);
    }
    assert!(slowest < Duration::from_secs(7), "{slowest:?}");
    let asked = env.state().count(Endpoint::Token);
    assert!(asked <= 2, "{asked} requests");
}

#[test]
fn twenty_callers_behind_one_revoked_refresh_token_make_at_most_two_requests() {
    let env = TestEnv::with_options(Options {
        token_lifetime: 290,
        ..Options::default()
    });
    login(&env, "default");
    token(&env, None).ok();
    // Every cached token is due, and the sign-in was revoked.
    e2e::age_cache(&env.cache_dir(), 60);
    env.state().revoke_refresh_tokens();
    let before = env.state().count_grant("refresh_token");
    let outs = twenty_tokens(&env);
    for o in &outs {
        assert_eq!(o.code, 4, "{}", o.stderr);
        assert!(o.stderr.contains("AADSTS"), "{}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    }
    let made = env.state().count_grant("refresh_token") - before;
    eprintln!("20 callers, one revoked refresh token: {made} requests");
    assert!((1..=2).contains(&made), "{made} requests");
}

/// Rewrites every cached access token of the sessions with `f(token JSON, now)`.
fn edit_tokens(env: &TestEnv, f: impl Fn(&mut serde_json::Value, i64)) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for p in e2e::walk(&env.cache_dir().join("sessions")) {
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("session");
        if let Some(ts) = v["tokens"].as_object_mut() {
            for t in ts.values_mut() {
                f(t, now);
            }
        }
        std::fs::write(&p, v.to_string()).expect("write");
    }
}

#[test]
fn clock_skew_does_not_poison_the_cache() {
    let env = TestEnv::new();
    login(&env, "default");
    let first = token(&env, None).ok();
    // A run under a clock two days ahead wrote this entry: obtained in the future.
    edit_tokens(&env, |t, now| {
        t["obtained_at"] = serde_json::json!(now + 2 * 86400);
        t["expires_on"] = serde_json::json!(now + 2 * 86400 + 3600);
    });
    let before = env.state().count_grant("refresh_token");
    let second = token(&env, None).ok();
    assert_ne!(first.stdout, second.stdout, "the skewed entry is stale");
    assert_eq!(env.state().count_grant("refresh_token"), before + 1);
    // A cached expiry far beyond the token's own exp is capped to it: a token whose JWT
    // expires in 2 minutes is not served although the entry claims a day.
    let now = claims(&env, &second)["iat"].as_i64().unwrap_or(0).max(1);
    let short = env.state().sign(&serde_json::json!({
        "aud": "https://management.azure.com",
        "exp": now + 120,
        "tid": DEFAULT_TENANT,
    }));
    edit_tokens(&env, |t, now| {
        t["obtained_at"] = serde_json::json!(now - 3600);
        t["expires_on"] = serde_json::json!(now + 86400);
        t["access_token"] = serde_json::json!(short);
    });
    let third = token(&env, None).ok();
    assert_ne!(third.stdout.trim(), short, "capped at its exp: not served");
    assert_eq!(env.state().count_grant("refresh_token"), before + 2);
    // An answer that is already expired is an error, never success.
    env.emu().inject(
        Fault::status(Endpoint::Token, 200)
            .body(
                r#"{"token_type":"Bearer","expires_in":0,"access_token":"already-expired-token"}"#,
            )
            .content_type("application/json"),
    );
    let out = run(
        env.cmd("entra-cred").args(["refresh", "--scope", ARM]),
        None,
        T,
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(!out.stdout.contains("already-expired-token"));
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
}

// ----- the cache directory ---------------------------------------------------------------

/// The ordinary user the cache-directory cases also run as (created when missing).
fn ordinary_user() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, "entra-e2e"]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let _ = Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin", "entra-e2e"])
            .output();
    }
    Some((id("-u")?, id("-g")?))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Who runs the binary in a cache-directory case.
#[derive(Clone, Copy, Debug)]
enum Who {
    Root,
    User(u32, u32),
}

struct Case {
    env: TestEnv,
    who: Who,
    other: Who,
}

impl Case {
    fn new(who: Who, other: Who) -> Case {
        let env = TestEnv::with_app(APP, APP_SECRET);
        // The ordinary user must reach the test's directory.
        set_mode(env.root(), 0o755);
        set_mode(&env.home(), 0o755);
        Case { env, who, other }
    }

    fn dir(&self, name: &str, owner: Who) -> PathBuf {
        let p = self.env.root().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        set_mode(&p, 0o700);
        chown(&p, owner);
        p
    }

    /// `entra-cred token` as `self.who` with this cache directory.
    fn token(&self, cache: &Path) -> RunOutput {
        let mut c = match self.who {
            Who::Root => self.env.cmd("entra-cred"),
            Who::User(u, g) => {
                let mut c = self.env.tool("setpriv");
                c.args([
                    &format!("--reuid={u}"),
                    &format!("--regid={g}"),
                    "--clear-groups",
                    "--",
                ])
                .arg(bin("entra-cred"));
                c
            }
        };
        c.env("ENTRA_CRED_CACHE_DIR", cache)
            .args(["token", "--scope", ARM]);
        let out = run(&mut c, None, T);
        self.env.assert_clean_stderr(&out);
        out
    }

    #[track_caller]
    fn refused(&self, cache: &Path, names: &Path, why: &str) {
        let out = self.token(cache);
        assert_eq!(out.code, 2, "{:?}: {}", self.who, out.stderr);
        assert_eq!(out.stdout, "");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains(&names.display().to_string()) && out.stderr.contains(why),
            "{:?}: {}",
            self.who,
            out.stderr
        );
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p)
        .expect("meta")
        .permissions()
        .mode()
        & 0o7777
}

fn chown(p: &Path, who: Who) {
    let (u, g) = match who {
        Who::Root => (0, 0),
        Who::User(u, g) => (u, g),
    };
    std::os::unix::fs::lchown(p, Some(u), Some(g)).expect("chown");
}

fn cache_dir_cases(who: Who, other: Who) {
    let c = Case::new(who, other);
    eprintln!("cache directory cases as {who:?}");

    // A relative ENTRA_CRED_CACHE_DIR.
    let out = c.token(Path::new("relative/cache"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("relative"), "{}", out.stderr);

    // The cache directory is a symlink (to a directory of the same user).
    let target = c.dir("link-target", who);
    let link = c.env.root().join("link-cache");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    chown(&link, who);
    c.refused(&link, &link, "symbolic link");
    assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 0);

    // A planted `sessions` symlink to another user's directory.
    let cache = c.dir("cache-sessions", who);
    let victim = c.dir("victim", c.other);
    set_mode(&victim, 0o755);
    std::os::unix::fs::symlink(&victim, cache.join("sessions")).expect("symlink");
    c.refused(&cache, &cache.join("sessions"), "symbolic link");
    assert_eq!(mode(&victim), 0o755, "not chmod-ed");
    assert_eq!(std::fs::read_dir(&victim).expect("dir").count(), 0);

    // A cache directory that belongs to the other user.
    let foreign = c.dir("cache-foreign", c.other);
    c.refused(&foreign, &foreign, "belongs to uid");

    // A planted lock symlink: a lock file at a path of the attacker's choosing.
    let cache = c.dir("cache-lock", who);
    c.token(&cache).ok();
    let planted = c.env.root().join("planted-by-attacker");
    let mut n = 0;
    for f in e2e::walk(&cache) {
        if f.extension().is_some_and(|x| x == "lock") {
            std::fs::remove_file(&f).expect("rm");
            std::os::unix::fs::symlink(&planted, &f).expect("symlink");
            chown(&f, who);
            n += 1;
        }
        if f.extension().is_some_and(|x| x == "json") && f.starts_with(cache.join("sessions")) {
            std::fs::remove_file(&f).expect("rm"); // so that the next call must lock
        }
    }
    assert!(n > 0, "a lock file was made");
    let out = c.token(&cache);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(".lock"), "{}", out.stderr);
    assert!(!planted.exists(), "nothing created where the link points");

    // A cache that cannot be written still serves a new token, with one warning.
    let file = c.env.root().join("a-file");
    std::fs::write(&file, "x").expect("write");
    chown(&file, who);
    let out = c.token(&file.join("cache"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.trim().split('.').count() == 3, "{}", out.stdout);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot be written"), "{}", out.stderr);
    if let Who::User(..) = who {
        // Read-only for its owner (root would write anyway).
        let ro = c.dir("cache-read-only", who);
        set_mode(&ro, 0o500);
        let out = c.token(&ro);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        set_mode(&ro, 0o700);
    }
}

/// Runs the cache directory cases as root (`as_root`) or as an ordinary user made for the test,
/// with the other one owning "someone else's" files; says SKIPPED where it cannot.
fn cache_dir_cases_run(as_root: bool) {
    if !is_root() {
        eprintln!("SKIPPED: the cases need root (for setpriv and the other user's files)");
        return;
    }
    let Some((u, g)) = ordinary_user() else {
        eprintln!("SKIPPED: no ordinary user (useradd failed)");
        return;
    };
    if as_root {
        cache_dir_cases(Who::Root, Who::User(u, g));
    } else {
        cache_dir_cases(Who::User(u, g), Who::Root);
    }
}

#[test]
fn cache_directory_cases_as_root() {
    cache_dir_cases_run(true);
}

#[test]
fn cache_directory_cases_as_an_ordinary_user() {
    cache_dir_cases_run(false);
}
