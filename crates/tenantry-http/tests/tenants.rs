//! End to end over HTTP: tenant routing by Host, status gating, isolation, JSON errors.
//!
//! One test binary: the tests live in `tenants/<theme>.rs`, their shared helpers in
//! `tenants/support.rs`.

#[path = "tenants/availability.rs"]
mod availability;
mod common;
#[path = "tenants/domains.rs"]
mod domains;
#[path = "tenants/gating.rs"]
mod gating;
#[path = "tenants/isolation.rs"]
mod isolation;
#[path = "tenants/json_errors.rs"]
mod json_errors;
#[path = "tenants/support.rs"]
mod support;
