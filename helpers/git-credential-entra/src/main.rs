//! `git-credential-entra`: a git credential helper that answers with Microsoft
//! Entra ID access tokens for Azure Repos (`dev.azure.com`,
//! `*.visualstudio.com`, and the hosts in `git_hosts` / `ENTRA_CRED_GIT_HOSTS`).

use clap::Parser;
use entra_cred_core::azure_repos::{self, Discovery, DEVOPS_SCOPE};
use entra_cred_core::broker::{Interaction, TokenRequest};
use entra_cred_core::cae;
use entra_cred_core::config::{env_var, Profile};
use entra_cred_core::helper::{self, Helper, Reply, Step, Target};
use entra_cred_core::hosts::Service;
use entra_cred_core::protocol::git::{self, GitRequest};
use entra_cred_core::timefmt::now;
use entra_cred_core::{debug, Broker, Result};
use std::process::ExitCode;

const BIN: &str = "git-credential-entra";

/// git credential helper: Microsoft Entra ID tokens for Azure Repos.
///
/// Set it up with `git config --global credential.https://dev.azure.com.helper entra`
/// and `git config --global credential.https://dev.azure.com.useHttpPath true`
/// (or `entra-cred setup git`). git runs it as `git-credential-entra get|store|erase`
/// with the request on stdin.
#[derive(Parser)]
#[command(name = BIN, version)]
struct Args {
    /// Profile to use (default: the profile whose git_hosts lists the host, else
    /// ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, value_name = "NAME")]
    profile: Option<String>,
    /// What git asks: get, store or erase (anything else is ignored).
    action: Option<String>,
}

/// Largest request read from git.
const MAX_INPUT: usize = 1 << 20;
/// `password_expiry_utc` is this many seconds before the token really expires.
const EXPIRY_MARGIN: i64 = 180;

fn main() -> ExitCode {
    helper::main::<Git>()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Get,
    Erase,
}

/// The git credential helper protocol.
struct Git;

impl Helper for Git {
    const BIN: &'static str = BIN;
    type Args = Args;
    type Request = (Action, GitRequest);
    type Answer = Reply;

    fn read(args: &Args) -> Result<Step<(Action, GitRequest)>> {
        let action = match args.action.as_deref() {
            Some("get") => Action::Get,
            Some("erase") => Action::Erase,
            Some("store") => {
                git::read_request(&mut std::io::stdin().lock(), MAX_INPUT)?;
                // Tokens are kept in entra-cred's cache, never from git.
                return Ok(Step::Done(Reply::empty()));
            }
            // git's contract: helpers ignore actions they do not know.
            _ => return Ok(Step::Done(Reply::empty())),
        };
        // The request ends at its blank line: answer then, even if stdin stays open.
        let input = git::read_request(&mut std::io::stdin().lock(), MAX_INPUT)?;
        Ok(Step::Request((action, git::parse(&input)?)))
    }

    /// The host, or nothing when the request (or its protocol) is not ours: then git hears
    /// nothing and asks its next helper.
    fn target(_: &Args, (_, req): &(Action, GitRequest)) -> Target {
        let (Some(host), Some(protocol)) = (req.host.as_deref(), req.protocol.as_deref()) else {
            return Target::NotServed;
        };
        if !azure_repos::protocol_allowed(protocol, host) {
            debug!("not answering for {protocol}://{host}: only https (http on loopback)");
            return Target::NotServed;
        }
        Target::Host(Service::AzureRepos, host.to_string())
    }

    fn profile(args: &Args) -> Option<&str> {
        args.profile.as_deref()
    }

    fn answer(
        _: &Args,
        (action, req): &(Action, GitRequest),
        profile: &Profile,
        broker: &Broker,
    ) -> Result<Reply> {
        match action {
            Action::Get => get(broker, profile, req).map(Reply::text),
            Action::Erase => erase(broker, profile, req).map(|()| Reply::empty()),
        }
    }

    fn not_served(_: &Args, _: &(Action, GitRequest)) -> Result<Reply> {
        Ok(Reply::empty())
    }
}

fn get(broker: &Broker, profile: &Profile, req: &GitRequest) -> Result<String> {
    let interaction = if git::prompting_forbidden(&env_var) {
        Interaction::Never
    } else {
        Interaction::IfPossible
    };
    // No tenant discovery when no token could follow it (exit 3 at once).
    let tenant = azure_repos::tenant_for(
        profile,
        req,
        broker.cache(),
        broker.http(),
        Discovery::IfSignInPossible(interaction),
    )?;
    let mut treq = TokenRequest::new(DEVOPS_SCOPE);
    treq.tenant = tenant;
    treq.interaction = interaction;
    let kept = cae::apply_git_challenge(&mut treq, broker.cache(), req);
    let token = broker.token(profile, &treq)?;
    if kept {
        cae::forget_git_challenge(broker.cache(), req);
    }
    let left = token.expires_on - now();
    let expiry = token.expires_on - EXPIRY_MARGIN.min(left / 2).max(0);
    let answer = if req.has_capability("authtype") {
        git::render_bearer(&token.access_token, expiry)?
    } else {
        let username = token
            .account
            .as_ref()
            .and_then(|a| a.username.as_deref())
            .filter(|u| *u != profile.client_id && !u.contains(['\n', '\r', '\0']))
            .unwrap_or("entra");
        git::render_password(username, &token.access_token, expiry)?
    };
    Ok(answer)
}

/// git says the server rejected the credential: forget that access token (at
/// the tenant it was issued for, and at the tenant a `get` would ask now), and
/// the organisation's remembered tenant. No network.
fn erase(broker: &Broker, profile: &Profile, req: &GitRequest) -> Result<()> {
    let mut tenants: Vec<Option<String>> = Vec::new();
    if let Some(tid) = req
        .presented_token()
        .and_then(entra_cred_core::jwt::decode)
        .and_then(|d| d.str("tid").map(str::to_ascii_lowercase))
    {
        tenants.push(Some(tid));
    }
    tenants.push(azure_repos::tenant_for(
        profile,
        req,
        broker.cache(),
        broker.http(),
        Discovery::Offline,
    )?);
    tenants.dedup();
    cae::remember_git_challenge(broker.cache(), req);
    let mut forgot = false;
    for t in &tenants {
        forgot |= broker.forget_token(profile, t.as_deref(), DEVOPS_SCOPE)?;
    }
    if let (Some(host), Some(org)) = (
        req.host.as_deref(),
        req.host.as_deref().and_then(|h| {
            azure_repos::organisation(h, req.path.as_deref(), req.username.as_deref())
        }),
    ) {
        azure_repos::forget_tenant(broker.cache(), host, &org);
    }
    debug!(
        "erase: {}",
        if forgot {
            "dropped the cached token"
        } else {
            "no cached token to drop"
        }
    );
    Ok(())
}

// Keeps man/man1/git-credential-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
