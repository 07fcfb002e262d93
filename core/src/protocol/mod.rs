//! The wire formats of the programs entra-cred serves, as pure functions
//! (parse the caller's input, render the answer), so they can be unit tested
//! and fuzzed without a process.

pub mod credential_process;
pub mod docker;
pub mod exec_credential;
pub mod git;
pub mod sts_xml;
