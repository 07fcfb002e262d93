//! The credential_process protocol (see SPEC.md).
