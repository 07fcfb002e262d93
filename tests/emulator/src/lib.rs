//! A loopback emulator of Microsoft Entra ID (and, as other modules are added, the Azure and AWS
//! endpoints entra-cred talks to), for end-to-end tests.
//!
//! ```no_run
//! use entra_emulator::{Emulator, Options, Fault, Endpoint};
//! let emu = Emulator::start(Options::default()).unwrap();
//! let authority = emu.entra_url(); // http://127.0.0.1:PORT
//! emu.inject(Fault::status(Endpoint::Token, 503).retry_after("1"));
//! assert_eq!(emu.state().count(Endpoint::Token), 0);
//! ```
//!
//! Layout: [`state`] (shared data, counters, faults, log), [`jwt`], [`http`] (request/response
//! helpers), [`faults`], and one module per service under [`services`], each on its own
//! listener. See [`services`] for how to add one.

pub mod faults;
pub mod http;
pub mod jwt;
pub mod netfaults;
pub mod services;
pub mod state;
pub mod util;

pub use faults::{Endpoint, Fault};
pub use services::entra::{pkce_s256, DEVICE_CODE_GRANT, JWT_BEARER, TOKEN_EXCHANGE_AUD};
pub use state::{
    audience_of_scope, Claims, DeviceApproval, LoggedRequest, Options, Principal, State, User,
    DEFAULT_TENANT, DEFAULT_USER_OID,
};

use std::collections::BTreeMap;
use std::sync::Arc;

/// A running emulator: every service on its own `127.0.0.1` port. Dropping it stops the
/// listeners.
pub struct Emulator {
    state: Arc<State>,
    services: Vec<services::Service>,
}

impl Emulator {
    /// Start every service.
    pub fn start(opts: Options) -> std::io::Result<Emulator> {
        let state = Arc::new(State::new(&opts));
        let services = services::start_all(&state, &opts)?;
        Ok(Emulator { state, services })
    }

    /// The shared state (counters, log, faults, tokens).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Base URL of a service by name (`"entra"`, ...).
    pub fn url(&self, service: &str) -> Option<String> {
        self.services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.url.clone())
    }

    /// Every service's base URL by name.
    pub fn urls(&self) -> BTreeMap<String, String> {
        self.services
            .iter()
            .map(|s| (s.name.to_string(), s.url.clone()))
            .collect()
    }

    /// `http://127.0.0.1:PORT` of Entra ID: use as `AZURE_AUTHORITY_HOST`.
    pub fn entra_url(&self) -> String {
        self.url(services::entra::NAME).unwrap_or_default()
    }

    /// The token URL for a tenant, e.g. `http://127.0.0.1:PORT/organizations/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.entra_url())
    }

    /// Queue a fault (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.state.inject(fault)
    }

    /// Azure Repos: serve the bare repositories under `root`
    /// (`<root>/{org}/{project}/{repo}.git` for `/{org}/{project}/_git/{repo}`).
    pub fn set_repos_root(&self, root: &std::path::Path) {
        services::repos::set_root(&self.state, root)
    }
}
