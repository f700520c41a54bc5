//! The tenant API end to end over HTTP, on real tenant databases of both dialects: ledgers,
//! users, vouchers, invoices, the trial balance, isolation between tenants and pagination.
//!
//! One test binary: the scenarios live in `api/<theme>.rs`, their shared helpers in
//! `api/support.rs`; this root runs each scenario on both dialects.

mod common;
#[path = "api/invoices.rs"]
mod invoices;
#[path = "api/isolation.rs"]
mod isolation;
#[path = "api/ledgers.rs"]
mod ledgers;
#[path = "api/support.rs"]
mod support;
#[path = "api/users.rs"]
mod users;
#[path = "api/vouchers.rs"]
mod vouchers;

use invoices::invoices_are_totalled_by_the_server;
use isolation::other_tenants_ids_do_not_exist_here;
use ledgers::{ledgers_are_read_renamed_moved_and_deleted, pagination_is_bounded_everywhere};
use tenantry_test_utils::Dialect;
use users::users_are_managed_by_admins_only;
use vouchers::{trial_balance_reflects_posted_vouchers, vouchers_post_balanced_or_write_nothing};

/// Runs a scenario as two tests, `<scenario>::sqlite` and `<scenario>::postgres`.
macro_rules! on_both_dialects {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$scenario(Dialect::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$scenario(Dialect::Postgres).await;
            }
        }
    )*};
}

on_both_dialects!(
    ledgers_are_read_renamed_moved_and_deleted,
    users_are_managed_by_admins_only,
    vouchers_post_balanced_or_write_nothing,
    invoices_are_totalled_by_the_server,
    trial_balance_reflects_posted_vouchers,
    other_tenants_ids_do_not_exist_here,
    pagination_is_bounded_everywhere,
);
