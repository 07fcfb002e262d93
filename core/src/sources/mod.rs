//! Token sources: where a token comes from when the cache has none.
//!
//! Each source is one file that declares it: `pub const SOURCE: Source` (its
//! `flow` name, whose identity its tokens are cached under, whether and when
//! `flow = auto` picks it, how it gets a token) next to the code that does it,
//! in the style of kubelogin's one file per login method. [`REGISTRY`] lists
//! them, one line each; everything that enumerates sources reads it: `flow`
//! names ([`crate::config::Flow`]), `auto`'s order ([`resolve`]), session keys
//! ([`session_keys`]), the broker's dispatch, `status` and `doctor`.
//!
//! [`resolve`] picks the source of a profile (its `flow`, or for `auto` the
//! SPEC.md order: client secret or certificate, workload identity, GitHub
//! Actions OIDC, Azure Pipelines OIDC, managed identity, a cached user login,
//! then an interactive sign-in). Resolution is
//! cheap (environment, configuration, one small cache file), because it runs
//! before the cache is asked; anything slow happens in the source itself.
//!
//! Adding a source: its file here declaring `SOURCE`, and its line in
//! `registry!` below (which declares the module and lists it in [`REGISTRY`];
//! where it stands is its place in `auto`'s order).

pub mod ci_oidc;
pub mod refresh_token;
pub mod refusal;

use crate::cache::{Cache, SessionKey};
use crate::config::{Origin, Profile};
use crate::entra::{EntraClient, TokenResponse};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;

/// Declares each source's module (`sources/<name>.rs`) and lists its `SOURCE` in [`REGISTRY`].
macro_rules! registry {
    ($($source:ident,)*) => {
        $(pub mod $source;)*

        /// Every token source, one line each in `registry!`. The order is
        /// `flow = auto`'s (among the sources it may pick; see [`Auto`]) and
        /// that of the `flow` names in messages.
        pub const REGISTRY: &[&Source] = &[$(&$source::SOURCE),*];
    };
}

registry! {
    device_code,
    browser,
    client_secret,
    client_certificate,
    workload_identity,
    github_actions,
    azure_pipelines,
    managed_identity,
    azure_cli,
}

/// A token source, as its file declares it (`pub const SOURCE`; only files
/// under `sources/` can).
pub struct Source {
    /// Its `flow` value, also the `source` a session file records and the
    /// prefix of an application's session key.
    name: &'static str,
    /// Whose tokens these are: how the cache keys them ([`Source::session_client_id`]).
    identity: Identity,
    /// Whether `flow = auto` picks it.
    auto: Auto,
    /// For `flow = <name>`: what it uses on this machine, added to the reason
    /// `status` and `doctor` show (managed identity: which host).
    detail: Option<fn() -> String>,
    /// How it gets a token.
    acquire: Acquire,
}

/// Whose tokens a source obtains, which names its sessions (SPEC.md "Token
/// cache": a token is served only to the kind of identity that obtained it).
pub enum Identity {
    /// A person: the bare client id. Every way a person signs in is one identity.
    Person,
    /// An application credential: `<source name>:<client id>`.
    Application,
    /// `<source name>:<what this gives>` (managed identity: its id, or `system`).
    Own(fn(&Profile) -> String),
    /// `<source name>` alone: one identity on the machine whatever the profile (the Azure CLI's).
    Machine,
}

/// Whether `flow = auto` picks a source.
pub enum Auto {
    /// Never: only by name.
    Never,
    /// When this says that it applies here, with why; tried in [`REGISTRY`] order.
    /// Must stay cheap (it runs before every cache lookup).
    When(fn(&Profile, &Cache) -> Option<String>),
    /// When no `When` source applies, with this reason (the one last resort).
    Otherwise(&'static str),
}

/// How a source gets a token.
pub enum Acquire {
    /// Without a person and without a refresh token: a new access token per call.
    App(&'static dyn AppSource),
    /// A person signs in (a refresh token is kept, see [`refresh_token`]).
    Person(SignIn),
}

/// A person's sign-in: `(entra, tenant, client id, scope)`; waits for the person.
pub type SignIn = fn(&EntraClient<'_>, &str, &str, &str) -> Result<TokenResponse>;

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.name)
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Source) -> bool {
        self.name == other.name
    }
}

impl Eq for Source {}

impl Source {
    /// An application source: `<name>:<client id>` sessions, no detail.
    pub const fn application(
        name: &'static str,
        auto: Auto,
        app: &'static dyn AppSource,
    ) -> Source {
        Source {
            name,
            identity: Identity::Application,
            auto,
            detail: None,
            acquire: Acquire::App(app),
        }
    }

    /// A person's sign-in: bare client id sessions, a refresh token kept.
    pub const fn person(name: &'static str, auto: Auto, sign_in: SignIn) -> Source {
        Source {
            name,
            identity: Identity::Person,
            auto,
            detail: None,
            acquire: Acquire::Person(sign_in),
        }
    }

    /// This source with its tokens cached under `identity`.
    pub const fn keyed(self, identity: Identity) -> Source {
        Source { identity, ..self }
    }

    /// This source with what `flow = <name>` uses here added to its reason.
    pub const fn detailed(self, detail: fn() -> String) -> Source {
        Source {
            detail: Some(detail),
            ..self
        }
    }

    /// Its `flow` value (`client-secret`, ...), also the `source` a session file records.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The registered source named `name` (a `flow` value, or a session file's `source`).
    pub fn named(name: &str) -> Option<&'static Source> {
        REGISTRY.iter().copied().find(|s| s.name == name)
    }

    /// `auto`'s last resort (the person's default sign-in).
    pub fn fallback() -> &'static Source {
        REGISTRY
            .iter()
            .copied()
            .find(|s| matches!(s.auto, Auto::Otherwise(_)))
            .unwrap_or(&device_code::SOURCE)
    }

    /// Whether a person signs in (and a refresh token is kept).
    pub fn is_person(&self) -> bool {
        matches!(self.acquire, Acquire::Person(_))
    }

    /// The implementation of an application source (`None` for a person).
    pub fn app(&self) -> Option<&'static dyn AppSource> {
        match self.acquire {
            Acquire::App(a) => Some(a),
            Acquire::Person(_) => None,
        }
    }

    /// How a person signs in for this source: its own sign-in, or for an
    /// application source `auto`'s last resort's (the device code).
    pub fn person_sign_in(&self) -> SignIn {
        match (&self.acquire, &Source::fallback().acquire) {
            (Acquire::Person(f), _) | (_, Acquire::Person(f)) => *f,
            _ => device_code::sign_in,
        }
    }

    /// The client id this source's tokens are cached under. It names the
    /// identity that obtains them, so that no other kind of credential is
    /// ever served them (SPEC.md "Token cache"): a person's sign-in keeps the
    /// bare client id; every application credential kind is prefixed with
    /// its name (`client-secret:<id>`, ...).
    pub fn session_client_id(&self, profile: &Profile) -> String {
        match self.identity {
            Identity::Person => profile.client_id.clone(),
            Identity::Application => format!("{}:{}", self.name, profile.client_id),
            Identity::Own(id) => format!("{}:{}", self.name, id(profile)),
            Identity::Machine => self.name.to_string(),
        }
    }

    /// The session key of this source for `profile`.
    pub fn session_key(&self, profile: &Profile) -> SessionKey {
        SessionKey {
            authority: profile.authority.clone(),
            tenant: profile.tenant.clone(),
            client_id: self.session_client_id(profile),
        }
    }

    /// The name for an account when the token names none: the profile's client
    /// id, or for an identity that is not the profile's client, its session name.
    pub fn account_fallback(&self, profile: &Profile) -> String {
        match self.identity {
            Identity::Person | Identity::Application => profile.client_id.clone(),
            Identity::Own(_) | Identity::Machine => self.session_client_id(profile),
        }
    }

    /// The kind of identity a session file's `source` stands for: `user` for
    /// every way a person signs in; each application or managed credential
    /// is its own.
    pub fn identity_class(name: &str) -> &str {
        match Source::named(name) {
            Some(s) if s.is_person() => "user",
            _ => name,
        }
    }
}

/// The session keys a profile may have tokens under: one per identity in
/// [`REGISTRY`] (a person's first; a person's sign-ins share one).
pub fn session_keys(profile: &Profile) -> Vec<SessionKey> {
    let mut keys: Vec<SessionKey> = Vec::with_capacity(REGISTRY.len());
    for s in REGISTRY {
        let k = s.session_key(profile);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// Everything a source needs to make a request.
pub struct Ctx<'a> {
    /// The lazily built HTTP client.
    pub http: &'a Http,
    /// The resolved profile.
    pub profile: &'a Profile,
    /// The cache (for sources that keep state, e.g. the IMDS probe result).
    pub cache: &'a Cache,
    /// A CAE claims challenge the token must satisfy (sources that ask Entra
    /// pass it on through [`Ctx::entra`]; managed identity and the Azure CLI
    /// cannot, and fetch a new token without it).
    pub claims: Option<&'a crate::cae::Claims>,
}

impl<'a> Ctx<'a> {
    /// An Entra client for the profile's authority that carries the claims challenge.
    pub fn entra(&self) -> crate::entra::EntraClient<'a> {
        crate::entra::EntraClient::new(self.http, &self.profile.authority).with_claims(self.claims)
    }
}

/// A source that obtains tokens without a person and without a refresh
/// token: each call gets a new access token for `scope` at `tenant`.
pub trait AppSource {
    /// Fetches an access token.
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse>;
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How an application proves itself in a `client_credentials` request.
pub enum ClientAuth<'a> {
    /// Its client secret.
    Secret(&'a Secret<String>),
    /// A signed JWT ([`JWT_BEARER`]): the certificate's, or a federated token.
    Assertion(&'a str),
}

/// The form of an application's `client_credentials` token request.
pub fn client_credentials(
    client_id: &str,
    auth: ClientAuth<'_>,
    scope: &str,
) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), client_id.to_string()),
    ];
    match auth {
        ClientAuth::Secret(s) => form.push(("client_secret".into(), s.expose().clone())),
        ClientAuth::Assertion(a) => {
            form.push(("client_assertion_type".into(), JWT_BEARER.into()));
            form.push(("client_assertion".into(), a.to_string()));
        }
    }
    form.push(("scope".into(), scope.to_string()));
    form
}

/// A setting `flow` needs: its value, or exit 2 naming where to set it.
pub fn required<'a, T: ?Sized>(
    value: Option<&'a T>,
    profile: &Profile,
    flow: &str,
    what: &str,
    set_in: &str,
) -> Result<&'a T> {
    value.ok_or_else(|| {
        Error::Config(format!(
            "profile '{}' uses {flow} but no {what} is set ({set_in})",
            profile.name
        ))
    })
}

/// The application's client id for `flow` (a secret or a certificate belongs
/// to an application, never to the default public client): exit 2 without one.
pub fn application_client_id<'p>(profile: &'p Profile, flow: &str) -> Result<&'p str> {
    if profile.client_id == crate::config::DEFAULT_CLIENT_ID {
        return Err(Error::Config(format!(
            "the {flow} flow needs the application's client id (AZURE_CLIENT_ID or client_id)"
        )));
    }
    Ok(&profile.client_id)
}

/// Picks the source of `profile`, with the reason (for `entra-cred status`).
pub fn resolve(profile: &Profile, cache: &Cache) -> Result<(&'static Source, String)> {
    if let Some(s) = profile.flow.source() {
        let why = match s.detail {
            Some(detail) => format!("flow = {} ({})", s.name, detail()),
            None => format!("flow = {}", s.name),
        };
        return Ok((s, why));
    }
    for s in REGISTRY {
        if let Auto::When(applies) = s.auto {
            if let Some(why) = applies(profile, cache) {
                return Ok((s, format!("auto: {why}")));
            }
        }
    }
    // No file read here: this runs on every cache hit.
    let s = Source::fallback();
    match s.auto {
        Auto::Otherwise(why) => Ok((s, format!("auto: {why}"))),
        _ => Err(Error::Config(format!(
            "profile '{}': no token source applies",
            profile.name
        ))),
    }
}

/// `auto`'s condition shared by the CI federation sources: an application
/// whose client id is configured (a job that may ask for OIDC tokens for
/// another purpose, such as npm provenance, is not taken for one that signs in
/// to Entra with them).
pub fn client_id_configured(profile: &Profile) -> bool {
    profile.client_id_origin != Origin::Default
}

/// Whether a person can answer a sign-in prompt for a request made with `interaction`.
pub fn person_can_answer(interaction: crate::broker::Interaction) -> bool {
    use crate::broker::Interaction;
    use std::io::IsTerminal;
    match interaction {
        Interaction::Never => false,
        Interaction::Always => true,
        Interaction::IfPossible => std::io::stderr().is_terminal(),
    }
}

/// Whether `profile` can get a token without a person: an application source,
/// or a cached sign-in (its own, or the same person's for the same authority
/// and client at another tenant). No request, except `auto`'s bounded
/// managed identity probe; reads the cache only when the source is a person.
pub fn can_sign_in_without_person(profile: &Profile, cache: &Cache) -> Result<bool> {
    let (source, _) = resolve(profile, cache)?;
    if source.app().is_some() {
        return Ok(true);
    }
    let key = source.session_key(profile);
    if cache
        .load_session(&key)
        .is_some_and(|s| s.refresh_token.is_some())
    {
        return Ok(true);
    }
    Ok(cache.sessions().into_iter().any(|s| {
        s.refresh_token.is_some()
            && s.authority.eq_ignore_ascii_case(&key.authority)
            && s.client_id.eq_ignore_ascii_case(&key.client_id)
    }))
}

/// Exit 3 (with the `entra-cred login` hint) when nothing can sign in without
/// a person and no person can answer: called before a request that would only
/// serve a sign-in (such as Azure Repos tenant discovery), so that none is made.
pub fn require_sign_in_possible(
    profile: &Profile,
    cache: &Cache,
    interaction: crate::broker::Interaction,
) -> Result<()> {
    if person_can_answer(interaction) || can_sign_in_without_person(profile, cache)? {
        return Ok(());
    }
    Err(crate::error::Error::InteractionRequired(
        crate::broker::login_hint(profile),
    ))
}

/// What `entra-cred login` may promise after a sign-in: `None` when the
/// profile's tokens will now come from that sign-in, else why not (`auto`
/// picks another source on this machine first), so that `login` never claims
/// what it cannot back.
pub fn after_sign_in(profile: &Profile, cache: &Cache) -> Result<Option<String>> {
    let (source, why) = resolve(profile, cache)?;
    if source.is_person() {
        return Ok(None);
    }
    Ok(Some(format!(
        "profile '{}' takes its tokens from {} on this machine ({why}), not from this sign-in: set flow = \"device-code\" in the profile to use the sign-in",
        profile.name, source.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Flow, Overrides};

    fn profile(toml: &str) -> Profile {
        Config::from_toml(toml)
            .expect("config")
            .profile_with_env(&Overrides::default(), &|_| None)
            .expect("profile")
    }

    #[test]
    fn registry_names_are_unique_and_every_flow_round_trips() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|s| s.name()).collect();
        names.push(Flow::Auto.name());
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate names: {names:?}");
        for s in REGISTRY {
            let flow = Flow::parse(s.name()).expect("registered name parses");
            assert_eq!(flow.name(), s.name());
            assert_eq!(flow.source(), Some(*s));
            assert_eq!(Flow::parse(&s.name().replace('-', "_")).ok(), Some(flow));
            assert_eq!(Source::named(s.name()), Some(*s));
        }
        assert_eq!(Flow::parse("auto").ok(), Some(Flow::Auto));
        assert_eq!(Flow::Auto.source(), None);
        assert_eq!(Flow::default(), Flow::Auto);
        // The named constants are registered flows.
        for f in [
            Flow::DeviceCode,
            Flow::Browser,
            Flow::ClientSecret,
            Flow::ClientCertificate,
            Flow::WorkloadIdentity,
            Flow::GithubActions,
            Flow::AzurePipelines,
            Flow::ManagedIdentity,
            Flow::AzureCli,
        ] {
            assert!(f.source().is_some(), "{f:?}");
        }
        assert!(Flow::DeviceCode.is_user() && Flow::Browser.is_user());
        assert!(!Flow::ClientSecret.is_user() && !Flow::Auto.is_user());
    }

    #[test]
    fn flow_names_and_the_unknown_flow_message_are_unchanged() {
        // SPEC.md's names, in the order the message has always listed them (a source added
        // later comes after them).
        let spec = "auto, device-code, browser, client-secret, client-certificate, workload-identity, github-actions, azure-pipelines, managed-identity, azure-cli";
        let names: Vec<&str> = Flow::all().map(Flow::name).collect();
        assert!(names.join(", ").starts_with(spec), "{names:?}");
        let e = Flow::parse("nope").expect_err("unknown");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            format!(
                "configuration error: unknown flow 'nope' (expected one of: {})",
                names.join(", ")
            )
        );
        assert_eq!(names.len(), REGISTRY.len() + 1);
    }

    #[test]
    fn auto_order_is_the_spec_order_with_one_last_resort() {
        let order: Vec<&str> = REGISTRY
            .iter()
            .filter(|s| matches!(s.auto, Auto::When(_)))
            .map(|s| s.name())
            .collect();
        assert_eq!(
            order,
            [
                "client-secret",
                "client-certificate",
                "workload-identity",
                "github-actions",
                "azure-pipelines",
                "managed-identity"
            ]
        );
        let last: Vec<_> = REGISTRY
            .iter()
            .filter(|s| matches!(s.auto, Auto::Otherwise(_)))
            .collect();
        assert_eq!(last.len(), 1);
        assert!(
            last[0].is_person(),
            "auto's last resort is a person's sign-in"
        );
        assert_eq!(Source::fallback().name(), "device-code");
        // Every source either gets tokens by itself or signs a person in.
        for s in REGISTRY {
            assert_eq!(s.app().is_some(), !s.is_person(), "{}", s.name());
            assert_eq!(
                matches!(s.identity, Identity::Person),
                s.is_person(),
                "{}",
                s.name()
            );
        }
    }

    #[test]
    fn session_keys_are_unique_per_identity_and_unchanged() {
        let p = profile("[profiles.default]\ntenant = \"t1\"\nclient_id = \"c1\"\n");
        let ids: Vec<String> = REGISTRY.iter().map(|s| s.session_client_id(&p)).collect();
        // Each application identity's key is its own; the person's ways of signing in share one.
        for (i, a) in REGISTRY.iter().enumerate() {
            for (j, b) in REGISTRY.iter().enumerate() {
                if i != j {
                    assert_eq!(
                        ids[i] == ids[j],
                        a.is_person() && b.is_person(),
                        "{} and {}",
                        a.name(),
                        b.name()
                    );
                }
            }
        }
        // The prefix before ':' (the whole name for the Azure CLI) names one source only.
        let mut prefixes: Vec<&str> = REGISTRY
            .iter()
            .zip(&ids)
            .filter(|(s, _)| !s.is_person())
            .map(|(_, id)| id.split(':').next().unwrap_or(id))
            .collect();
        let n = prefixes.len();
        prefixes.sort_unstable();
        prefixes.dedup();
        assert_eq!(prefixes.len(), n);
        // The keys that caches written by earlier versions use are all still looked at, the
        // person's first (a source added later adds its own).
        let keys: Vec<String> = session_keys(&p).into_iter().map(|k| k.client_id).collect();
        let apps = REGISTRY.iter().filter(|s| !s.is_person()).count();
        assert_eq!(keys.len(), apps + 1, "{keys:?}");
        assert_eq!(keys[0], "c1");
        for k in [
            "client-secret:c1",
            "client-certificate:c1",
            "workload-identity:c1",
            "github-actions:c1",
            "azure-pipelines:c1",
            "managed-identity:system",
            "azure-cli",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
        }
        let mi = profile(
            "[profiles.default]\nclient_id = \"c1\"\nmanaged_identity_client_id = \"m1\"\n",
        );
        assert_eq!(
            managed_identity::SOURCE.session_client_id(&mi),
            "managed-identity:m1"
        );
        assert_eq!(
            managed_identity::SOURCE.account_fallback(&mi),
            "managed-identity:m1"
        );
        assert_eq!(azure_cli::SOURCE.account_fallback(&mi), "azure-cli");
        assert_eq!(client_secret::SOURCE.account_fallback(&mi), "c1");
        assert_eq!(Source::identity_class("browser"), "user");
        assert_eq!(Source::identity_class("device-code"), "user");
        assert_eq!(Source::identity_class("client-secret"), "client-secret");
    }

    #[test]
    fn forced_flows_and_auto_resolve_through_the_registry() {
        let d = tempfile::tempdir().expect("tempdir");
        let cache = Cache::at(d.path().join("cache"));
        let p = profile(
            "[profiles.default]\ntenant = \"t1\"\nclient_id = \"c1\"\nclient_secret = \"s\"\n",
        );
        let (s, why) = resolve(&p, &cache).expect("resolve");
        assert_eq!(s.name(), "client-secret");
        assert_eq!(
            why,
            "auto: a client secret is configured (client id from config file)"
        );
        let p = profile("[profiles.default]\nflow = \"azure-cli\"\n");
        let (s, why) = resolve(&p, &cache).expect("resolve");
        assert_eq!((s.name(), why.as_str()), ("azure-cli", "flow = azure-cli"));
        let p = profile("[profiles.default]\nflow = \"browser\"\n");
        assert_eq!(resolve(&p, &cache).expect("resolve").0.name(), "browser");
    }
}
