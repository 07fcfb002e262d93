//! The exec_credential protocol (see SPEC.md).
