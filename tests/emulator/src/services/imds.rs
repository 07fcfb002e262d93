//! Managed identity endpoints: IMDS, App Service (IDENTITY_ENDPOINT), Cloud Shell (MSI_ENDPOINT). (To be built with the non-interactive sources issue.)

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "imds";

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn handle(state: &State, req: &Req) -> Resp {
    if let Some(r) = state.arrive(Endpoint::Imds, req) {
        return r;
    }
    Resp::not_found(&req.path)
}
