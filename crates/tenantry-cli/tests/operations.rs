//! `operations list|show`: the operations the operator service records, seen from the CLI.

mod common;

use common::{Master, assert_exit, json, stderr, stdout};
use tenantry_test_utils::Dialect;

async fn migrated(dialect: Dialect) -> Master {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

#[tokio::test]
async fn a_tenant_create_is_listed_and_shown_as_a_succeeded_operation() {
    for dialect in Dialect::ALL {
        let master = migrated(dialect).await;
        let created = master.run(&[
            "tenants",
            "create",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "a@acme.test",
            "--json",
        ]);
        assert_exit(&created, 0);
        let tenant = json(&created)["tenant"]["id"].as_str().unwrap().to_owned();

        let list = master.run(&["operations", "list", "--json"]);
        assert_exit(&list, 0);
        let list = json(&list);
        let ops = list["data"].as_array().unwrap();
        let create = ops
            .iter()
            .find(|op| op["kind"] == "tenant.create" && op["tenant"] == tenant.as_str())
            .unwrap_or_else(|| panic!("{dialect:?}: no tenant.create for {tenant}: {list}"));
        assert_eq!(create["state"], "succeeded", "{create}");
        assert!(create["finished_at"].is_string(), "{create}");
        assert!(create["error"].is_null(), "{create}");
        assert_eq!(list["total"].as_u64(), Some(ops.len() as u64), "{list}");
        let id = create["id"].as_str().unwrap().to_owned();

        // Filters: by tenant (subdomain or id), kind and state.
        for by in ["acme", tenant.as_str()] {
            let filtered = json(&master.run(&[
                "operations",
                "list",
                "--tenant",
                by,
                "--kind",
                "tenant.create",
                "--state",
                "succeeded",
                "--json",
            ]));
            assert_eq!(filtered["total"], 1, "{by}: {filtered}");
            assert_eq!(filtered["data"][0]["id"], id.as_str(), "{filtered}");
        }
        let none = json(&master.run(&["operations", "list", "--kind", "tenant.delete", "--json"]));
        assert_eq!(none["total"], 0, "{none}");
        let table = master.run(&["operations", "list"]);
        assert_exit(&table, 0);
        assert!(stdout(&table).contains(&id), "{}", stdout(&table));
        assert!(
            stdout(&table).contains("tenant.create"),
            "{}",
            stdout(&table)
        );

        let shown = master.run(&["operations", "show", &id, "--json"]);
        assert_exit(&shown, 0);
        let shown = json(&shown);
        assert_eq!(shown["id"], id.as_str());
        assert_eq!(shown["kind"], "tenant.create");
        assert_eq!(shown["state"], "succeeded");
        assert_eq!(shown["tenant"], tenant.as_str());
        let plain = master.run(&["operations", "show", &id]);
        assert_exit(&plain, 0);
        assert!(
            stdout(&plain).contains("state      succeeded"),
            "{}",
            stdout(&plain)
        );

        // Unknown or malformed: non-zero, and said so.
        let unknown = uuid::Uuid::new_v4().to_string();
        let missing = master.run(&["operations", "show", &unknown]);
        assert_exit(&missing, 4);
        assert!(
            stderr(&missing).contains(&format!("operation {unknown} not found")),
            "{}",
            stderr(&missing)
        );
        let malformed = master.run(&["operations", "show", "not-an-id"]);
        assert_exit(&malformed, 2);
        assert!(stderr(&malformed).contains("ID"), "{}", stderr(&malformed));
        let bad_kind = master.run(&["operations", "list", "--kind", "tenant.explode"]);
        assert_exit(&bad_kind, 2);
        assert!(
            stderr(&bad_kind).contains("tenant.create"),
            "lists the kinds: {}",
            stderr(&bad_kind)
        );
        let no_tenant = master.run(&["operations", "list", "--tenant", "nobody"]);
        assert_exit(&no_tenant, 4);
    }
}
