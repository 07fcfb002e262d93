//! # entra-cred-core
//!
//! The library behind every entra-cred binary: profiles and configuration
//! ([`config`]), the Microsoft Entra ID v2.0 client ([`entra`]), the token
//! sources ([`sources`]), the cross-process token cache ([`cache`]) and the
//! broker that ties them together ([`broker`]). The protocol helpers
//! (`git-credential-entra`, `docker-credential-entra`, `kubectl-entra`,
//! `entra-credential-process`) are thin adapters over [`broker::Broker`] and the
//! wire formats in [`protocol`].
//!
//! Design rules kept throughout:
//! - a cache hit touches no HTTP client, no TLS and no keyring;
//! - every failure is an [`Error`] with one line of text and one exit code;
//! - secrets live in [`Secret`], whose `Debug` prints `REDACTED` and which has no `Display`.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod acr;
pub mod artifacts;
pub mod atomic;
pub mod azure_error;
pub mod azure_repos;
pub mod broker;
pub mod cache;
pub mod cae;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod engine;
pub mod entra;
pub mod error;
pub mod helper;
pub mod hostport;
pub mod hosts;
pub mod http;
pub mod json;
pub mod jwt;
pub mod kubeconfig;
pub mod log;
pub mod net;
pub mod outage;
pub mod paths;
pub mod protocol;
pub mod proxy;
pub mod secret;
pub mod sources;
pub mod sts;
pub mod timefmt;
pub mod variables;

pub use broker::{Broker, Interaction, Token, TokenRequest};
pub use config::{Flow, Overrides, Profile};
pub use error::{Error, Result};
pub use secret::Secret;
