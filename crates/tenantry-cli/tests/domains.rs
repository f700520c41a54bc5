//! `tenants domains list|add|verify|remove` through the real binary, verified against a real DNS
//! server (dnsmasq) named by `TENANTRY__DOMAINS__NAMESERVERS`: exit codes, the record to publish,
//! and the messages that say what is wrong. (Routing and audit rows are tested over HTTP.)

mod common;

use common::{Master, assert_exit, json, stderr, stdout};
use tenantry_test_utils::Dialect;
use tenantry_test_utils::dns::DnsServer;

const RECORD: &str = "_tenantry-challenge.books.acme.test";

#[tokio::test]
async fn domains_are_added_verified_by_dns_and_removed() {
    let master = Master::new(Dialect::Sqlite).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    let created = master.run(&[
        "tenants",
        "create",
        "acme",
        "--name",
        "Acme",
        "--admin-email",
        "boss@acme.example",
    ]);
    assert_exit(&created, 0);
    let mut dns = DnsServer::start("acme.test", &[]);
    let nameserver = dns.addr().to_string();
    let run = |args: &[&str]| {
        let env = [("TENANTRY__DOMAINS__NAMESERVERS", nameserver.as_str())];
        master.run_with(args, &env, None)
    };

    let added = run(&["tenants", "domains", "add", "acme", "Books.Acme.Test"]);
    assert_exit(&added, 0);
    let text = stdout(&added);
    assert!(text.contains(RECORD), "{text}");
    assert!(
        text.contains("tenants domains verify acme books.acme.test"),
        "{text}"
    );
    let listed = run(&["tenants", "domains", "list", "acme", "--json"]);
    assert_exit(&listed, 0);
    let listed = json(&listed);
    assert_eq!(listed[0]["domain"], "books.acme.test");
    assert_eq!(listed[0]["verified"], false);
    let value = listed[0]["verification"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&value),
        "the record's value is printed: {text}"
    );

    // Refusals name the argument, with the usage exit code; a taken domain is a conflict.
    let under_base = run(&["tenants", "domains", "add", "acme", "shop.acme.localhost"]);
    assert_exit(&under_base, 2);
    assert!(
        stderr(&under_base).contains("DOMAIN:"),
        "{}",
        stderr(&under_base)
    );
    assert_exit(
        &run(&["tenants", "domains", "add", "acme", "books.acme.test"]),
        3,
    );

    // Not in DNS yet: exit 1, and the message says which record to publish.
    let pending = run(&["tenants", "domains", "verify", "acme", "books.acme.test"]);
    assert_exit(&pending, 1);
    let message = stderr(&pending);
    assert!(
        message.contains(RECORD) && message.contains(&value),
        "{message}"
    );

    dns.restart(&[(RECORD, value.as_str())]);
    let verified = run(&[
        "tenants",
        "domains",
        "verify",
        "acme",
        "books.acme.test",
        "--json",
    ]);
    assert_exit(&verified, 0);
    assert_eq!(json(&verified)["verified"], true);

    let removed = run(&["tenants", "domains", "remove", "acme", "books.acme.test"]);
    assert_exit(&removed, 0);
    assert_exit(
        &run(&["tenants", "domains", "remove", "acme", "books.acme.test"]),
        4,
    );
    assert_exit(&run(&["tenants", "domains", "list", "nobody"]), 4);
}
