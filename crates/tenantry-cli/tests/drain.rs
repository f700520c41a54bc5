//! `servers drain` through the real binary, between two PostgreSQL clusters: every active tenant
//! moves off the server, a suspended one stays and is reported (exit 1), and new tenants no
//! longer go there.

mod common;

use common::{Master, assert_exit, json, stderr, stdout};
use serde_json::Value;
use tenantry_test_utils::{Dialect, pg_admin_url, pg2_admin_url};

#[tokio::test]
async fn draining_a_server_moves_its_active_tenants_and_reports_the_rest() {
    let master = Master::new(Dialect::Postgres).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    let cli = |line: &str| master.run(&line.split(' ').collect::<Vec<_>>());
    let base = |url: String| url.rsplit_once('/').unwrap().0.to_owned();
    for (name, url) in [
        ("pg-main", base(pg_admin_url())),
        ("pg-two", base(pg2_admin_url())),
    ] {
        let add = ["servers", "add", name, "--url", &url, "--password-stdin"];
        assert_exit(&master.run_stdin(&add, "unused-under-trust"), 0);
    }
    for sub in ["dra", "drb", "drc", "drd"] {
        let line = format!(
            "tenants create {sub} --name N --admin-email a@{sub}.test --server pg-main --json"
        );
        assert_exit(&cli(&line), 0);
    }
    assert_exit(&cli("tenants suspend drd --reason unpaid"), 0);

    let out = cli("servers drain pg-main --concurrency 2");
    assert_exit(&out, 1);
    let said = stdout(&out);
    for sub in ["dra", "drb", "drc"] {
        assert!(said.contains(&format!("moved {sub} to pg-two")), "{said}");
    }
    assert!(
        said.contains("server pg-main is draining: 3 moved, 1 left"),
        "{said}"
    );
    assert!(stderr(&out).contains("drd: not moved"), "{}", stderr(&out));

    let server_of = |sub: &str| -> Value {
        let show = cli(&format!("tenants show {sub} --json"));
        assert_exit(&show, 0);
        json(&show)["server"].clone()
    };
    for sub in ["dra", "drb", "drc"] {
        assert_eq!(server_of(sub), "pg-two", "{sub}");
    }
    assert_eq!(server_of("drd"), "pg-main");
    let servers = json(&cli("servers list --json"));
    let main = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "pg-main")
        .unwrap();
    assert_eq!(main["state"], "draining", "{servers}");
    // New tenants go elsewhere.
    assert_exit(
        &cli("tenants create dre --name N --admin-email a@dre.test --json"),
        0,
    );
    assert_eq!(server_of("dre"), "pg-two");
}
