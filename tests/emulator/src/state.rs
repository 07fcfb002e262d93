//! Shared emulator state: configuration, registered clients, issued tokens and codes, the fault
//! queue, counters and the request log. One `Arc<State>` is shared by every service; all data
//! sits behind one mutex held only briefly (never while sleeping or doing I/O).

use crate::faults::{Endpoint, Fault};
use crate::http::{Req, Resp};
use crate::jwt;
use crate::util::{is_guid, now_millis, now_secs, random_bytes, uuid};
use serde::Serialize;
use serde_json::{json, Value};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// The signed-in user every user flow authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub upn: String,
    pub name: String,
    pub oid: String,
    pub home_tenant: String,
}

impl Default for User {
    fn default() -> Self {
        User {
            upn: "alice@contoso.example".into(),
            name: "Alice Example".into(),
            oid: DEFAULT_USER_OID.into(),
            home_tenant: DEFAULT_TENANT.into(),
        }
    }
}

/// The default user's home tenant.
pub const DEFAULT_TENANT: &str = "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f";
/// The default user's object id.
pub const DEFAULT_USER_OID: &str = "8e1d6a3b-2f4c-4b7e-9a05-6c3d2e1f0a9b";

/// What happens when a client polls the token endpoint with a device code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeviceApproval {
    /// The first `n` polls answer `authorization_pending`, the next one succeeds (default n=1).
    AfterPolls(u32),
    /// Always `authorization_pending` (until `State::approve_all_device_codes`).
    Never,
    /// `authorization_declined` (AADSTS70000).
    Decline,
    /// `expired_token` (AADSTS70020).
    Expire,
    /// First poll `slow_down`, the next one succeeds.
    SlowDownThenApprove,
}

impl Default for DeviceApproval {
    fn default() -> Self {
        DeviceApproval::AfterPolls(1)
    }
}

impl std::str::FromStr for DeviceApproval {
    type Err = String;
    /// `after:N`, `never`, `decline`, `expire`, `slow-down`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        Ok(match s.as_str() {
            "never" => DeviceApproval::Never,
            "decline" => DeviceApproval::Decline,
            "expire" => DeviceApproval::Expire,
            "slow-down" | "slow_down" | "slowdown" => DeviceApproval::SlowDownThenApprove,
            _ => match s.strip_prefix("after:") {
                Some(n) => DeviceApproval::AfterPolls(
                    n.parse().map_err(|_| format!("bad poll count in {s:?}"))?,
                ),
                None => return Err(format!("unknown device approval {s:?}")),
            },
        })
    }
}

/// Emulator start-up options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Access-token lifetime in seconds (`expires_in`), default 3600.
    pub token_lifetime: u64,
    /// Device-code polling `interval` in seconds, default 1 (Entra uses 5).
    pub device_interval: u64,
    /// Device-code lifetime in seconds (`expires_in`), default 900.
    pub device_code_lifetime: u64,
    /// Device-code approval policy, default `AfterPolls(1)`.
    pub device_approval: DeviceApproval,
    /// Confidential clients `(client_id, client_secret)` registered at start.
    pub clients: Vec<(String, String)>,
    /// The user of every user flow.
    pub user: User,
    /// Fixed ports per service name (`"entra"`, ...); absent or 0 = OS-chosen.
    pub ports: BTreeMap<String, u16>,
    /// Seconds a rotated refresh token keeps working after its successor was issued.
    /// 0 (default) = strict single use: the old one fails at once (AADSTS700082). Real Entra
    /// does not revoke old refresh tokens on rotation at all (`u64::MAX` models that).
    pub refresh_token_grace: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_lifetime: 3600,
            device_interval: 1,
            device_code_lifetime: 900,
            device_approval: DeviceApproval::default(),
            clients: Vec::new(),
            user: User::default(),
            ports: BTreeMap::new(),
            refresh_token_grace: 0,
        }
    }
}

impl Options {
    /// Port asked for service `name` (0 = any).
    pub fn port(&self, name: &str) -> u16 {
        self.ports.get(name).copied().unwrap_or(0)
    }
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub endpoint: Endpoint,
    pub method: String,
    pub path: String,
    /// Query and form parameters merged (form wins).
    pub params: BTreeMap<String, String>,
    /// All headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whether an injected fault answered it.
    pub faulted: bool,
}

impl LoggedRequest {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        let k = k.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Verified claims of an access token the emulator issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub aud: String,
    pub tid: String,
    pub oid: String,
    /// `appid` (= `azp`): the client the token was issued to.
    pub appid: String,
    /// The user's UPN for user tokens.
    pub upn: Option<String>,
    /// `user` or `app`.
    pub idtyp: String,
    pub exp: u64,
    /// Every claim.
    pub raw: Value,
}

/// Who a token is issued to.
#[derive(Debug, Clone)]
pub enum Principal {
    User(User),
    /// An application (client credentials, workload identity) or managed identity.
    App {
        client_id: String,
        oid: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub secret: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct FederatedCredential {
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RtStatus {
    Active,
    Rotated,
    Revoked,
    Expired,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub client_id: String,
    pub user: User,
    pub status: RtStatus,
    /// When it was rotated (seconds), for `refresh_token_grace`.
    pub rotated_at: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct DeviceCodeEntry {
    pub client_id: String,
    pub scope: String,
    pub policy: DeviceApproval,
    pub polls: u32,
    pub approved: bool,
    pub redeemed: bool,
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub redeemed: bool,
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub token_lifetime: u64,
    pub device_interval: u64,
    pub device_code_lifetime: u64,
    pub device_approval: DeviceApproval,
    pub user: User,
    pub refresh_token_grace: u64,
    /// Seconds added to the clock shown in every answer's `Date` header (0 = the real time).
    pub clock_offset: i64,
}

pub(crate) struct Inner {
    pub cfg: Config,
    pub clients: HashMap<String, Client>,
    pub federated: Vec<FederatedCredential>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub device_codes: HashMap<String, DeviceCodeEntry>,
    pub auth_codes: HashMap<String, AuthCode>,
    pub faults: VecDeque<Fault>,
    pub counts: HashMap<Endpoint, u64>,
    pub grants: HashMap<String, u64>,
    pub log: Vec<LoggedRequest>,
    pub secrets: Vec<String>,
    pub urls: BTreeMap<String, String>,
    pub ext: HashMap<TypeId, Box<dyn Any + Send>>,
}

/// The shared state (see module docs).
pub struct State {
    key: Vec<u8>,
    initial: Options,
    inner: Mutex<Inner>,
}

impl State {
    pub fn new(opts: &Options) -> State {
        let st = State {
            key: random_bytes(32),
            initial: opts.clone(),
            inner: Mutex::new(Self::fresh_inner(opts)),
        };
        for (id, secret) in &opts.clients {
            st.add_client(id, secret);
        }
        st
    }

    fn fresh_inner(opts: &Options) -> Inner {
        Inner {
            cfg: Config {
                token_lifetime: opts.token_lifetime,
                device_interval: opts.device_interval,
                device_code_lifetime: opts.device_code_lifetime,
                device_approval: opts.device_approval,
                user: opts.user.clone(),
                refresh_token_grace: opts.refresh_token_grace,
                clock_offset: 0,
            },
            clients: HashMap::new(),
            federated: Vec::new(),
            refresh_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            auth_codes: HashMap::new(),
            faults: VecDeque::new(),
            counts: HashMap::new(),
            grants: HashMap::new(),
            log: Vec::new(),
            secrets: Vec::new(),
            urls: BTreeMap::new(),
            ext: HashMap::new(),
        }
    }

    /// Lock the data (a poisoned lock is recovered: a panicking handler must not wedge the rest).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the start-up state: forgets tokens, codes, faults, counters, the log, clients
    /// added later and configuration changes; keeps the service URLs and the signing key.
    pub fn reset(&self) {
        let urls = self.lock().urls.clone();
        {
            let mut g = self.lock();
            *g = Self::fresh_inner(&self.initial);
            g.urls = urls;
        }
        for (id, secret) in &self.initial.clients {
            self.add_client(id, secret);
        }
    }

    // ----- configuration -------------------------------------------------------------------

    pub fn token_lifetime(&self) -> u64 {
        self.lock().cfg.token_lifetime
    }
    /// Lifetime (seconds) of access tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.lock().cfg.token_lifetime = secs;
    }
    /// See [`Options::refresh_token_grace`].
    pub fn set_refresh_token_grace(&self, secs: u64) {
        self.lock().cfg.refresh_token_grace = secs;
    }
    /// Seconds the `Date` header of every answer is off from the real clock (a server whose clock
    /// differs from the client's: `entra-cred doctor --network` measures it). Tokens keep the real
    /// time. 0 (default) = no `Date` header of our own.
    pub fn set_clock_offset(&self, secs: i64) {
        self.lock().cfg.clock_offset = secs;
    }
    /// See [`State::set_clock_offset`].
    pub fn clock_offset(&self) -> i64 {
        self.lock().cfg.clock_offset
    }
    pub fn device_interval(&self) -> u64 {
        self.lock().cfg.device_interval
    }
    pub fn set_device_interval(&self, secs: u64) {
        self.lock().cfg.device_interval = secs;
    }
    /// Policy for device codes issued from now on.
    pub fn set_device_approval(&self, p: DeviceApproval) {
        self.lock().cfg.device_approval = p;
    }
    pub fn user(&self) -> User {
        self.lock().cfg.user.clone()
    }

    /// Register a confidential client with a secret (secret also counts as an issued secret).
    pub fn add_client(&self, client_id: &str, secret: &str) {
        let mut g = self.lock();
        g.clients.insert(
            client_id.to_string(),
            Client {
                secret: Some(secret.to_string()),
            },
        );
        g.secrets.push(secret.to_string());
    }

    /// Register a client that authenticates with client assertions only (certificate).
    pub fn add_assertion_client(&self, client_id: &str) {
        self.lock()
            .clients
            .insert(client_id.to_string(), Client { secret: None });
    }

    /// Trust assertions with this `iss`/`sub` (and `aud` `api://AzureADTokenExchange`) for
    /// `client_id`: workload identity federation.
    pub fn add_federated_credential(&self, client_id: &str, issuer: &str, subject: &str) {
        self.lock().federated.push(FederatedCredential {
            client_id: client_id.into(),
            issuer: issuer.into(),
            subject: subject.into(),
        });
    }

    /// URL of a running service (`"entra"`, ...).
    pub fn url(&self, service: &str) -> Option<String> {
        self.lock().urls.get(service).cloned()
    }
    pub fn urls(&self) -> BTreeMap<String, String> {
        self.lock().urls.clone()
    }
    pub(crate) fn set_url(&self, service: &str, url: &str) {
        self.lock().urls.insert(service.into(), url.into());
    }

    /// Per-service private data, created with `Default` on first use. Lets a service module keep
    /// its own state without adding fields here. Cleared by `reset`.
    pub fn with_ext<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.lock();
        let entry = g
            .ext
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match entry.downcast_mut::<T>() {
            Some(t) => f(t),
            None => {
                // Unreachable (keyed by TypeId); recover by replacing.
                let mut t = T::default();
                let r = f(&mut t);
                g.ext.insert(TypeId::of::<T>(), Box::new(t));
                r
            }
        }
    }

    // ----- faults, counters, log -----------------------------------------------------------

    /// Queue a fault (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().faults.push_back(fault);
        }
    }
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }
    /// Faults not yet consumed.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.lock().faults.iter().cloned().collect()
    }

    /// Every service calls this first for each request: counts it (and its `grant_type` on the
    /// token endpoint), logs it, and consumes a matching fault. Sleeps for the fault's delay.
    /// Returns the fault's answer, or None to answer normally.
    pub fn arrive(&self, endpoint: Endpoint, req: &Req) -> Option<Resp> {
        let fault = {
            let mut g = self.lock();
            *g.counts.entry(endpoint).or_insert(0) += 1;
            if endpoint == Endpoint::Token {
                if let Some(gt) = req.param("grant_type") {
                    *g.grants.entry(gt.to_string()).or_insert(0) += 1;
                }
            }
            let idx = g.faults.iter().position(|f| f.endpoint.matches(endpoint));
            let fault = idx.and_then(|i| {
                let f = g.faults.get_mut(i)?;
                f.times = f.times.saturating_sub(1);
                let out = f.clone();
                if f.times == 0 {
                    g.faults.remove(i);
                }
                Some(out)
            });
            g.log.push(LoggedRequest {
                endpoint,
                method: req.method.clone(),
                path: req.path.clone(),
                params: req.params(),
                headers: req.headers.clone(),
                at_ms: now_millis(),
                faulted: fault.as_ref().map(|f| f.status != 0).unwrap_or(false),
            });
            fault
        };
        let fault = fault?;
        if let Some(d) = fault.delay {
            std::thread::sleep(d);
        }
        fault.response()
    }

    /// Requests received at `endpoint` (faulted ones included); `Endpoint::Any` = all.
    pub fn count(&self, endpoint: Endpoint) -> u64 {
        let g = self.lock();
        if endpoint == Endpoint::Any {
            g.counts.values().sum()
        } else {
            g.counts.get(&endpoint).copied().unwrap_or(0)
        }
    }

    /// Token requests with this `grant_type` (e.g. `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:device_code`; `device_code` also matches the latter).
    pub fn count_grant(&self, grant_type: &str) -> u64 {
        let g = self.lock();
        g.grants
            .iter()
            .filter(|(k, _)| k.as_str() == grant_type || k.rsplit(':').next() == Some(grant_type))
            .map(|(_, v)| *v)
            .sum()
    }

    /// All counters: endpoint name -> count.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock()
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }
    pub fn grant_counts(&self) -> BTreeMap<String, u64> {
        self.lock()
            .grants
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }
    /// The request log for one endpoint.
    pub fn requests_for(&self, endpoint: Endpoint) -> Vec<LoggedRequest> {
        self.lock()
            .log
            .iter()
            .filter(|r| endpoint.matches(r.endpoint))
            .cloned()
            .collect()
    }

    // ----- tokens ----------------------------------------------------------------------------

    /// Every secret issued or registered: access, refresh and id tokens, client secrets, and
    /// whatever other services added with [`State::add_secret`].
    pub fn issued_secrets(&self) -> Vec<String> {
        self.lock().secrets.clone()
    }
    /// Record a secret another service issued (ACR refresh token, STS keys, ...).
    pub fn add_secret(&self, s: &str) {
        self.lock().secrets.push(s.to_string());
    }

    /// Sign arbitrary claims with the emulator key (HS256).
    pub fn sign(&self, claims: &Value) -> String {
        jwt::sign(&self.key, claims)
    }
    /// Verify a JWT signed with the emulator key (signature, exp, nbf).
    pub fn verify_jwt(&self, token: &str) -> Result<Value, String> {
        jwt::verify(&self.key, token)
    }

    /// The tenant a request for `path_tenant` lands in: a GUID as is, else the home tenant.
    pub fn resolve_tenant(&self, path_tenant: &str) -> String {
        if is_guid(path_tenant) {
            path_tenant.to_ascii_lowercase()
        } else {
            self.lock().cfg.user.home_tenant.clone()
        }
    }

    /// Issue an access token for `aud` in tenant `tid`; `scp` for user tokens (default
    /// `user_impersonation`). Returns `(token, expires_in)`.
    pub fn mint_access_token(
        &self,
        who: &Principal,
        client_id: &str,
        aud: &str,
        tid: &str,
        scp: Option<&str>,
    ) -> (String, u64) {
        self.mint_access_token_with(who, client_id, aud, tid, scp, &Value::Null, None)
    }

    /// [`State::mint_access_token`] with `extra` claims (an object: `xms_cc`, `acrs`, ...) and
    /// a lifetime other than the configured one.
    #[allow(clippy::too_many_arguments)]
    pub fn mint_access_token_with(
        &self,
        who: &Principal,
        client_id: &str,
        aud: &str,
        tid: &str,
        scp: Option<&str>,
        extra: &Value,
        lifetime: Option<u64>,
    ) -> (String, u64) {
        let lifetime = lifetime.unwrap_or_else(|| self.token_lifetime());
        let now = now_secs();
        let mut claims = json!({
            "aud": aud,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tid,
            "appid": client_id,
            "azp": client_id,
            "appidacr": "0",
            "ver": "1.0",
            "jti": uuid(),
            "uti": uuid(),
        });
        match who {
            Principal::User(u) => {
                claims["oid"] = json!(u.oid);
                claims["sub"] = json!(u.oid);
                claims["upn"] = json!(u.upn);
                claims["unique_name"] = json!(u.upn);
                claims["name"] = json!(u.name);
                claims["scp"] = json!(scp.unwrap_or("user_impersonation"));
                claims["idtyp"] = json!("user");
            }
            Principal::App { oid, .. } => {
                claims["oid"] = json!(oid);
                claims["sub"] = json!(oid);
                claims["roles"] = json!(["Emulator.Default"]);
                claims["idtyp"] = json!("app");
                claims["appidacr"] = json!("1");
            }
        }
        if let Value::Object(m) = extra {
            for (k, v) in m {
                claims[k.as_str()] = v.clone();
            }
        }
        let token = self.sign(&claims);
        self.add_secret(&token);
        (token, lifetime)
    }

    /// Issue an OpenID Connect ID token for `user` and `client_id`.
    pub fn mint_id_token(&self, user: &User, client_id: &str, tid: &str) -> String {
        let now = now_secs();
        let lifetime = self.token_lifetime();
        let t = self.sign(&json!({
            "aud": client_id,
            "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tid,
            "oid": user.oid,
            "sub": user.oid,
            "preferred_username": user.upn,
            "name": user.name,
            "ver": "2.0",
        }));
        self.add_secret(&t);
        t
    }

    /// Issue a refresh token for `user` bound to `client_id`.
    pub fn mint_refresh_token(&self, user: &User, client_id: &str) -> String {
        let rt = format!("1.AXoA{}", crate::util::random_token(96));
        let mut g = self.lock();
        g.refresh_tokens.insert(
            rt.clone(),
            RefreshToken {
                client_id: client_id.into(),
                user: user.clone(),
                status: RtStatus::Active,
                rotated_at: 0,
            },
        );
        g.secrets.push(rt.clone());
        rt
    }

    /// Every refresh token issued so far becomes revoked (`invalid_grant`, AADSTS50173).
    pub fn revoke_refresh_tokens(&self) {
        let mut g = self.lock();
        // Rotated tokens still inside their grace period end too.
        let grace = g.cfg.refresh_token_grace > 0;
        for rt in g.refresh_tokens.values_mut() {
            if rt.status == RtStatus::Active || (grace && rt.status == RtStatus::Rotated) {
                rt.status = RtStatus::Revoked;
            }
        }
    }

    /// Every refresh token issued so far expires (`invalid_grant`, AADSTS700082).
    pub fn expire_refresh_tokens(&self) {
        let mut g = self.lock();
        // Rotated tokens still inside their grace period end too.
        let grace = g.cfg.refresh_token_grace > 0;
        for rt in g.refresh_tokens.values_mut() {
            if rt.status == RtStatus::Active || (grace && rt.status == RtStatus::Rotated) {
                rt.status = RtStatus::Expired;
            }
        }
    }

    /// Number of refresh tokens still usable.
    pub fn active_refresh_tokens(&self) -> usize {
        self.lock()
            .refresh_tokens
            .values()
            .filter(|r| r.status == RtStatus::Active)
            .count()
    }

    /// Approve every device code issued so far (the next poll succeeds).
    pub fn approve_all_device_codes(&self) {
        for d in self.lock().device_codes.values_mut() {
            d.approved = true;
        }
    }

    /// Check an access token the emulator issued: signature, `exp`/`nbf`, `aud` (a trailing `/`
    /// is ignored on both sides) and, when given, `tid`.
    pub fn verify_access_token(
        &self,
        token: &str,
        expected_aud: &str,
        expected_tid: Option<&str>,
    ) -> Result<Claims, String> {
        let raw = self.verify_jwt(token)?;
        let s = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let aud = s("aud");
        if aud.trim_end_matches('/') != expected_aud.trim_end_matches('/') {
            return Err(format!(
                "wrong audience: token is for {aud:?}, expected {expected_aud:?}"
            ));
        }
        let tid = s("tid");
        if let Some(t) = expected_tid {
            if !t.eq_ignore_ascii_case(&tid) {
                return Err(format!(
                    "wrong tenant: token is for {tid:?}, expected {t:?}"
                ));
            }
        }
        if raw.get("idtyp").is_none() {
            return Err("not an access token".into());
        }
        Ok(Claims {
            aud,
            tid,
            oid: s("oid"),
            appid: s("appid"),
            upn: raw.get("upn").and_then(Value::as_str).map(str::to_string),
            idtyp: s("idtyp"),
            exp: raw.get("exp").and_then(Value::as_u64).unwrap_or(0),
            raw,
        })
    }
}

/// The audience of a v2 scope string: the first resource scope with `/.default` (or the
/// permission name) removed, e.g. `https://management.azure.com/.default` ->
/// `https://management.azure.com`; only OIDC scopes -> Microsoft Graph.
pub fn audience_of_scope(scope: &str) -> String {
    const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&s) {
            continue;
        }
        if let Some(r) = s.strip_suffix("/.default") {
            return r.to_string();
        }
        return match s.rsplit_once('/') {
            Some((r, _)) if !r.ends_with(':') && !r.ends_with('/') => r.to_string(),
            _ => GRAPH.to_string(),
        };
    }
    GRAPH.to_string()
}

/// The `scp` claim for a v2 scope string (`user_impersonation` for `.default`).
pub fn scp_of_scope(scope: &str) -> String {
    let perms: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .filter(|p| *p != ".default")
        .collect();
    if perms.is_empty() {
        "user_impersonation".into()
    } else {
        perms.join(" ")
    }
}

/// Scopes that ask for sign-in artefacts, not a resource.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences() {
        assert_eq!(
            audience_of_scope("499b84ac-1321-427f-aa17-267ca6975798/.default offline_access"),
            "499b84ac-1321-427f-aa17-267ca6975798"
        );
        assert_eq!(
            audience_of_scope("openid https://management.azure.com/.default"),
            "https://management.azure.com"
        );
        assert_eq!(audience_of_scope("api://app/Read"), "api://app");
        assert_eq!(
            audience_of_scope("User.Read"),
            "00000003-0000-0000-c000-000000000000"
        );
        assert_eq!(scp_of_scope("x/.default openid"), "user_impersonation");
        assert_eq!(scp_of_scope("api://app/Read api://app/Write"), "Read Write");
    }

    #[test]
    fn fault_queue_consumption() {
        let st = State::new(&Options::default());
        st.inject(Fault::status(Endpoint::Token, 503).times(2));
        st.inject(Fault::status(Endpoint::Any, 500));
        let req = Req::default();
        assert_eq!(st.arrive(Endpoint::DeviceCode, &req).unwrap().status, 500);
        assert_eq!(st.arrive(Endpoint::Token, &req).unwrap().status, 503);
        assert_eq!(st.arrive(Endpoint::Token, &req).unwrap().status, 503);
        assert!(st.arrive(Endpoint::Token, &req).is_none());
        assert!(st.pending_faults().is_empty());
        assert_eq!(st.count(Endpoint::Token), 3);
        assert_eq!(st.count(Endpoint::Any), 4);
        assert_eq!(st.requests().iter().filter(|r| r.faulted).count(), 3);
        // delay-only fault: answered normally, late
        st.inject(Fault::delay(
            Endpoint::Token,
            std::time::Duration::from_millis(50),
        ));
        let t = std::time::Instant::now();
        assert!(st.arrive(Endpoint::Token, &req).is_none());
        assert!(t.elapsed() >= std::time::Duration::from_millis(50));
        st.reset();
        assert_eq!(st.count(Endpoint::Any), 0);
    }

    #[test]
    fn access_token_verification() {
        let st = State::new(&Options::default());
        let u = st.user();
        let (t, exp) =
            st.mint_access_token(&Principal::User(u.clone()), "c1", "aud1", "tid1", None);
        assert_eq!(exp, 3600);
        let c = st.verify_access_token(&t, "aud1", Some("tid1")).unwrap();
        assert_eq!(c.upn.as_deref(), Some(u.upn.as_str()));
        assert_eq!(c.idtyp, "user");
        assert!(st.verify_access_token(&t, "aud2", None).is_err());
        assert!(st.verify_access_token(&t, "aud1", Some("tid2")).is_err());
        let other = State::new(&Options::default());
        assert!(other.verify_access_token(&t, "aud1", None).is_err());
        assert!(st.issued_secrets().contains(&t));
    }

    #[test]
    fn ext_data() {
        let st = State::new(&Options::default());
        st.with_ext(|v: &mut Vec<u32>| v.push(1));
        assert_eq!(st.with_ext(|v: &mut Vec<u32>| v.len()), 1);
    }
}
