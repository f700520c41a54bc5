//! The admin API's registry queries: tenant search (substring, case-insensitive, wildcards taken
//! literally, filters, page totals, keyset cursor), audit and operation listings, tenant edits.
//! Both dialects.
//!
//! One test binary: the tests live in `queries/<theme>.rs`, their shared helpers in
//! `queries/support.rs`.

#[path = "queries/audit.rs"]
mod audit;
#[path = "queries/operations.rs"]
mod operations;
#[path = "queries/pages.rs"]
mod pages;
#[path = "queries/search.rs"]
mod search;
#[path = "queries/support.rs"]
mod support;
#[path = "queries/tenants.rs"]
mod tenants;
