//! The docker protocol (see SPEC.md).
