//! Azure Container Registry: /oauth2/exchange, /oauth2/token, /v2/. (To be built with the docker issue.)

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "acr";

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn handle(state: &State, req: &Req) -> Resp {
    if let Some(r) = state.arrive(Endpoint::Registry, req) {
        return r;
    }
    Resp::not_found(&req.path)
}
