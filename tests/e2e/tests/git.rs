//! `git-credential-entra` driven by real git (clone, push, ls-remote) against the emulator's
//! Azure Repos (git http-backend behind Entra token checks).

use base64::Engine;
use e2e::emulator::services::repos::{self, DEVOPS_AUDIENCE, REPOS_TENANT, ZERO_TENANT};
use e2e::emulator::{LoggedRequest, DEFAULT_TENANT};
use e2e::{run, Endpoint, RunOutput, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const APP: &str = "6b1e0c55-3f0a-4e5b-a1d2-7c9e8f000001";
const APP_SECRET: &str = "git-e2e-client-secret-value";
const ORG: &str = "org1";

/// A test environment with a bare repository `org1/proj/repo` (one commit on `main`), a
/// global git config that uses the helper with `useHttpPath`, and the repos host listed in
/// `ENTRA_CRED_GIT_HOSTS`.
struct Git {
    env: TestEnv,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// `127.0.0.1:PORT`
    host: String,
}

impl Git {
    fn new() -> Git {
        Git::with_helper("entra")
    }

    fn with_helper(helper: &str) -> Git {
        let mut env = TestEnv::new();
        let base = env.emu().url("repos").expect("repos service");
        let host = base.trim_start_matches("http://").to_string();
        env.set_env("ENTRA_CRED_GIT_HOSTS", &host);
        env.set_env("GIT_TERMINAL_PROMPT", "0");
        let g = Git { env, base, host };
        e2e::serve_azure_repo(&g.env, ORG, helper);
        g
    }

    fn url(&self) -> String {
        format!("{}/{ORG}/proj/_git/repo", self.base)
    }

    fn bare(&self) -> PathBuf {
        self.env
            .root()
            .join("repos")
            .join(ORG)
            .join("proj")
            .join("repo.git")
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = self.env.cmd("git");
        c.current_dir(dir).args(args);
        c
    }

    #[track_caller]
    fn git_run(&self, dir: &Path, args: &[&str]) -> RunOutput {
        let out = run(&mut self.git(dir, args), None, T);
        self.env.assert_clean_stderr(&out);
        out
    }

    #[track_caller]
    fn git_ok(&self, dir: &Path, args: &[&str], git_dir: Option<&Path>) -> RunOutput {
        let mut c = self.git(dir, args);
        if let Some(d) = git_dir {
            c.env("GIT_DIR", d);
        }
        run(&mut c, None, T).ok()
    }

    /// Runs the helper directly with `input` on stdin.
    fn helper(&self, action: &str, input: &str) -> RunOutput {
        let mut c = self.env.cmd("git-credential-entra");
        c.arg(action);
        let out = run(&mut c, Some(input.as_bytes()), T);
        self.env.assert_clean_stderr(&out);
        out
    }

    fn use_client_secret(&mut self) {
        self.env.state().add_client(APP, APP_SECRET);
        self.env.set_env("AZURE_CLIENT_ID", APP);
        self.env.set_env("AZURE_CLIENT_SECRET", APP_SECRET);
    }

    fn login(&self) {
        let out = run(self.env.cmd("entra-cred").arg("login"), None, T).ok();
        self.env.assert_clean_stderr(&out);
        assert_eq!(
            self.env.state().count_grant("device_code"),
            2,
            "one pending poll, one success"
        );
    }

    /// Authenticated requests the repos service saw.
    fn authorized(&self) -> Vec<LoggedRequest> {
        self.env
            .state()
            .requests_for(Endpoint::ReposGit)
            .into_iter()
            .filter(|r| r.header("authorization").is_some())
            .collect()
    }

    fn token_requests(&self) -> u64 {
        self.env.state().count(Endpoint::Token)
    }

    /// Clone, commit, push; checks the server has the commit. Returns the clone's directory.
    fn clone_commit_push(&self, name: &str) -> PathBuf {
        let url = self.url();
        let out = self.git_run(self.env.root(), &["clone", "-q", &url, name]);
        assert_eq!(out.code, 0, "clone failed:\n{}", out.stderr);
        let work = self.env.root().join(name);
        assert_eq!(
            std::fs::read_to_string(work.join("README")).expect("cloned"),
            "hello\n"
        );
        std::fs::write(work.join(format!("{name}.txt")), "change\n").expect("write");
        self.git_ok(&work, &["add", "."], None);
        self.git_ok(&work, &["commit", "-qm", name], None);
        let out = self.git_run(&work, &["push", "-q", "origin", "HEAD:main"]);
        assert_eq!(out.code, 0, "push failed:\n{}", out.stderr);
        let local = self.git_ok(&work, &["rev-parse", "HEAD"], None).stdout;
        let bare = self.bare();
        let remote = self
            .git_ok(self.env.root(), &["rev-parse", "main"], Some(&bare))
            .stdout;
        assert_eq!(
            local.trim(),
            remote.trim(),
            "the server has the pushed commit"
        );
        work
    }
}

/// Asserts a token is for Azure DevOps in the organisation's tenant and returns its claims.
fn devops_claims(g: &Git, token: &str) -> e2e::emulator::Claims {
    g.env
        .state()
        .verify_access_token(token, DEVOPS_AUDIENCE, Some(REPOS_TENANT))
        .expect("a DevOps token from the organisation's tenant")
}

fn scheme_of(r: &LoggedRequest) -> String {
    r.header("authorization")
        .and_then(|h| h.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

/// The answer's `key=value` lines.
fn answer(out: &RunOutput) -> Vec<(String, String)> {
    out.stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn clone_and_push_with_client_secret_and_discovered_tenant() {
    let mut g = Git::new();
    g.use_client_secret();
    // Debug logging on: every stderr line is still checked for secrets.
    g.env.set_env("ENTRA_CRED_LOG", "debug");
    g.clone_commit_push("work");

    // One token, asked at the organisation's tenant (from the 401's WWW-Authenticate).
    assert_eq!(g.env.state().count_grant("client_credentials"), 1);
    let tok = g.env.state().requests_for(Endpoint::Token);
    assert!(
        tok[0].path.starts_with(&format!("/{REPOS_TENANT}/")),
        "{}",
        tok[0].path
    );
    assert_eq!(g.env.state().count(Endpoint::ReposDiscovery), 0);
    // git announced capability[]=authtype: the Bearer path, never Basic.
    let auth = g.authorized();
    assert!(auth.len() >= 2, "clone and push were authenticated");
    assert!(
        auth.iter().all(|r| scheme_of(r) == "Bearer"),
        "{:?}",
        auth.iter().map(scheme_of).collect::<Vec<_>>()
    );
    let bearer = auth[0].header("authorization").expect("auth")[7..].to_string();
    let claims = devops_claims(&g, &bearer);
    assert_eq!(claims.appid, APP);
    g.env.assert_no_secret_in_files();
}

#[test]
fn clone_and_push_after_device_code_login() {
    let g = Git::new();
    g.login();
    let before = g.token_requests();
    g.clone_commit_push("work");
    // The refresh token served the DevOps token at the organisation's tenant: one request.
    assert_eq!(g.token_requests(), before + 1);
    assert_eq!(g.env.state().count_grant("refresh_token"), 1);
    let rt = g.env.state().requests_for(Endpoint::Token);
    let last = rt.last().expect("token request");
    assert!(
        last.path.starts_with(&format!("/{REPOS_TENANT}/")),
        "{}",
        last.path
    );
    let auth = g.authorized();
    let bearer = auth[0].header("authorization").expect("auth")[7..].to_string();
    let claims = devops_claims(&g, &bearer);
    assert_eq!(claims.upn.as_deref(), Some("alice@contoso.example"));
    assert_ne!(
        REPOS_TENANT, DEFAULT_TENANT,
        "a guest in another tenant than home"
    );
    g.env.assert_no_secret_in_files();
}

#[test]
fn second_ls_remote_uses_the_cache() {
    let mut g = Git::new();
    g.use_client_secret();
    let url = g.url();
    let root = g.env.root().to_path_buf();
    let first = g.git_run(&root, &["ls-remote", &url, "main"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("refs/heads/main"));
    assert_eq!(g.token_requests(), 1);
    let authorized_once = g.authorized().len();
    assert!(authorized_once >= 1);
    let second = g.git_run(&root, &["ls-remote", &url, "main"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(
        g.token_requests(),
        1,
        "the second ls-remote made no token request"
    );
    assert_eq!(
        g.authorized().len(),
        2 * authorized_once,
        "the cached token was used"
    );
}

/// A token the server rejects: git's `erase` drops it, the next `get` fetches a new one.
fn rejected_token_roundtrip(g: &Git, scheme: &str) {
    let url = g.url();
    let root = g.env.root().to_path_buf();
    g.git_run(&root, &["ls-remote", &url]).ok();
    let first = g.token_requests();
    assert!(first >= 1);
    assert!(repos::reject_issued_tokens(g.env.state()) > 0);

    // git tries the cached token, gets a 401, calls `erase` and fails the command.
    let failed = g.git_run(&root, &["ls-remote", &url]);
    assert_ne!(failed.code, 0, "a rejected token must fail this command");
    assert!(
        failed.stderr.contains("Authentication failed"),
        "{}",
        failed.stderr
    );
    assert_eq!(g.token_requests(), first, "erase made no request");

    // The next command gets a new token.
    g.git_run(&root, &["ls-remote", &url]).ok();
    assert_eq!(g.token_requests(), first + 1, "a new token after erase");
    let auth = g.authorized();
    assert!(auth.iter().all(|r| scheme_of(r) == scheme));
    let last = auth.last().expect("request");
    let tok = match scheme {
        "Bearer" => last.header("authorization").expect("h")[7..].to_string(),
        _ => basic_password(last),
    };
    devops_claims(g, &tok);
}

fn basic_password(r: &LoggedRequest) -> String {
    let h = r.header("authorization").expect("auth");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h["Basic ".len()..].trim())
        .expect("base64");
    let s = String::from_utf8(raw).expect("utf8");
    s.split_once(':').expect("user:password").1.to_string()
}

fn basic_user(r: &LoggedRequest) -> String {
    let h = r.header("authorization").expect("auth");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h["Basic ".len()..].trim())
        .expect("base64");
    let s = String::from_utf8(raw).expect("utf8");
    s.split_once(':').expect("user:password").0.to_string()
}

#[test]
fn rejected_token_is_erased_and_replaced_bearer() {
    let mut g = Git::new();
    g.use_client_secret();
    rejected_token_roundtrip(&g, "Bearer");
}

/// Older git (no `capability[]=authtype`): emulated by filtering the capability lines out.
const NO_CAPABILITY_HELPER: &str =
    "!f() { grep -v '^capability' | git-credential-entra \"$@\"; }; f";

#[test]
fn rejected_token_is_erased_and_replaced_basic() {
    let mut g = Git::with_helper(NO_CAPABILITY_HELPER);
    g.use_client_secret();
    rejected_token_roundtrip(&g, "Basic");
}

#[test]
fn basic_path_without_capability() {
    let g = Git::with_helper(NO_CAPABILITY_HELPER);
    g.login();
    g.clone_commit_push("work");
    let auth = g.authorized();
    assert!(!auth.is_empty());
    assert!(auth.iter().all(|r| scheme_of(r) == "Basic"));
    assert_eq!(basic_user(&auth[0]), "alice@contoso.example");
    devops_claims(&g, &basic_password(&auth[0]));
}

#[test]
fn other_hosts_and_http_get_no_answer() {
    let g = Git::new();
    for input in [
        "capability[]=authtype\nprotocol=https\nhost=github.com\npath=o/r.git\n\n",
        "protocol=https\nhost=dev.azure.com.evil.example\n",
        // Plain http is for loopback hosts only.
        "protocol=http\nhost=dev.azure.com\npath=org/p/_git/r\n",
        "protocol=http\nhost=contoso.visualstudio.com\n",
        "host=dev.azure.com\n",
        "",
    ] {
        for action in ["get", "erase", "store"] {
            let out = g.helper(action, input);
            assert_eq!(out.code, 0, "{action} {input:?}: {}", out.stderr);
            assert_eq!(out.stdout, "", "{action} {input:?}");
            assert_eq!(out.stderr, "", "{action} {input:?}");
        }
    }
    // Unknown actions are ignored, as git expects of helpers.
    let out = g.helper("frobnicate", "protocol=https\nhost=dev.azure.com\n");
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    // Nothing was asked of anyone and nothing was written.
    assert_eq!(g.env.state().count(Endpoint::Any), 0);
    assert!(e2e::walk(&g.env.cache_dir()).is_empty(), "no cache access");
}

#[test]
fn helper_discovers_tenant_with_head_and_remembers_it() {
    let mut g = Git::new();
    g.use_client_secret();
    repos::set_org_tenant(g.env.state(), "msa-org", ZERO_TENANT);
    let input = format!(
        "protocol=http\nhost={}\npath={ORG}/proj/_git/repo\n\n",
        g.host
    );
    let out = g.helper("get", &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(g.env.state().count(Endpoint::ReposDiscovery), 1);
    let a = answer(&out);
    assert_eq!(get(&a, "username"), Some("entra"));
    let password = get(&a, "password").expect("password");
    let claims = devops_claims(&g, password);
    let expiry: i64 = get(&a, "password_expiry_utc")
        .expect("expiry")
        .parse()
        .expect("number");
    let exp = claims.exp as i64;
    assert!(
        expiry < exp && expiry >= exp - 300,
        "expiry {expiry} vs exp {exp}"
    );
    assert!(get(&a, "authtype").is_none());

    // Remembered: no second HEAD, no second token; the Bearer form on request.
    let out = g.helper("get", &format!("capability[]=authtype\n{input}"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(g.env.state().count(Endpoint::ReposDiscovery), 1);
    assert_eq!(g.token_requests(), 1);
    let b = answer(&out);
    assert_eq!(get(&b, "capability[]"), Some("authtype"));
    assert_eq!(get(&b, "authtype"), Some("Bearer"));
    assert_eq!(get(&b, "credential"), Some(password));
    assert_eq!(get(&b, "ephemeral"), Some("true"));
    assert!(get(&b, "password").is_none());

    // erase forgets the token (and the memo): the next get discovers and fetches again.
    let out = g.helper(
        "erase",
        &format!("{input}username=entra\npassword={password}\n"),
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
    assert_eq!(g.token_requests(), 1);
    let out = g.helper("get", &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(g.token_requests(), 2);
    assert_eq!(g.env.state().count(Endpoint::ReposDiscovery), 2);

    // An organisation not backed by Entra ID (all-zero tenant): the profile's tenant.
    let msa = format!("protocol=http\nhost={}\npath=msa-org/p/_git/r\n", g.host);
    let out = g.helper("get", &msa);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let last = g.env.state().requests_for(Endpoint::Token);
    assert!(last
        .last()
        .expect("req")
        .path
        .starts_with("/organizations/"));
}

#[test]
fn no_prompt_without_login() {
    let g = Git::new();
    let url = g.url();
    let root = g.env.root().to_path_buf();
    // git (GIT_TERMINAL_PROMPT=0 is set for every command) fails cleanly with the hint.
    let out = g.git_run(&root, &["ls-remote", &url]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    // The helper itself: exit 3, one line, nothing on stdout.
    let input = format!(
        "protocol=http\nhost={}\npath={ORG}/proj/_git/repo\n",
        g.host
    );
    let out = g.helper("get", &input);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);

    // Same through `git -c credential.interactive=false` (GIT_CONFIG_PARAMETERS).
    let mut c = g.env.cmd("git-credential-entra");
    c.arg("get")
        .env_remove("GIT_TERMINAL_PROMPT")
        .env("GIT_CONFIG_PARAMETERS", "'credential.interactive'='false'");
    let out = run(&mut c, Some(input.as_bytes()), T);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(g.env.state().count(Endpoint::DeviceCode), 0);
    assert_eq!(g.token_requests(), 0);
}
