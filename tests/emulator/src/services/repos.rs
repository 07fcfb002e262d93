//! Azure Repos: tenant discovery and git smart HTTP through git http-backend. (To be built with the git issue.)

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "repos";

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn handle(state: &State, req: &Req) -> Resp {
    if let Some(r) = state.arrive(Endpoint::ReposGit, req) {
        return r;
    }
    Resp::not_found(&req.path)
}
