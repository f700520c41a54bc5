//! `PostgresBackend` against the real test server (`scripts/test`): least privilege, isolation
//! between tenants, suspension, deletion, and failure reporting. Every tenant gets fresh random
//! names and is dropped by a guard, even when the test fails.
//!
//! One test binary: the tests live in `backend_postgres/<theme>.rs`, their shared helpers in
//! `backend_postgres/support.rs`.

#[path = "backend_postgres/failures.rs"]
mod failures;
#[path = "backend_postgres/lifecycle.rs"]
mod lifecycle;
#[path = "backend_postgres/provisioning.rs"]
mod provisioning;
#[path = "backend_postgres/support.rs"]
mod support;
