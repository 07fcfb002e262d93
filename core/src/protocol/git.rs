//! The git protocol (see SPEC.md).
