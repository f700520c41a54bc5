//! `admins tokens create|list|revoke`: the secret is printed once, never listed, stored hashed
//! only; a revoked token is listed with `revoked_at`. (That a revoked token is refused by the
//! admin API is tested there.)

mod common;

use common::{Master, assert_exit, json, stderr, stdout};
use sea_orm::{ConnectionTrait, Statement};
use tenantry_test_utils::Dialect;

async fn migrated(dialect: Dialect) -> Master {
    let master = Master::new(dialect).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    master
}

/// Every `api_tokens` and `audit_log` row, as text.
async fn stored_rows(master: &Master) -> String {
    let conn = master.db.connect().await;
    let mut text = String::new();
    for sql in [
        "SELECT name, token_hash, created_by FROM api_tokens",
        "SELECT action, actor, detail FROM audit_log",
    ] {
        let rows = conn
            .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap();
        for row in rows {
            for i in 0..3 {
                let cell = row
                    .try_get_by_index::<Option<String>>(i)
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get_by_index::<serde_json::Value>(i)
                            .ok()
                            .map(|v| v.to_string())
                    })
                    .unwrap_or_default();
                text.push_str(&cell);
                text.push('\n');
            }
        }
    }
    conn.close().await.unwrap();
    text
}

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked() {
    for dialect in Dialect::ALL {
        let master = migrated(dialect).await;
        let created = master.run(&[
            "admins",
            "tokens",
            "create",
            "--name",
            "deploy bot",
            "--role",
            "operator",
            "--expires-in-days",
            "30",
            "--json",
        ]);
        assert_exit(&created, 0);
        let token = json(&created);
        let secret = token["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("tnty_"), "{dialect:?}: {secret}");
        assert!(secret.len() >= 40, "{dialect:?}: {secret}");
        assert_eq!(token["name"], "deploy bot");
        assert_eq!(token["role"], "operator");
        assert!(token["expires_at"].is_string(), "{token}");
        assert!(token["revoked_at"].is_null(), "{token}");
        assert!(
            token["created_by"].as_str().unwrap().starts_with("cli:"),
            "{token}"
        );
        let id = token["id"].as_str().unwrap().to_owned();

        // The plain form prints the secret once too.
        let plain = master.run(&[
            "admins", "tokens", "create", "--name", "ci", "--role", "viewer",
        ]);
        assert_exit(&plain, 0);
        let plain_out = stdout(&plain);
        assert_eq!(plain_out.matches("tnty_").count(), 1, "{plain_out}");
        assert!(plain_out.contains("shown once"), "{plain_out}");

        // Listed, never with a secret.
        let list = master.run(&["admins", "tokens", "list", "--json"]);
        assert_exit(&list, 0);
        assert!(!stdout(&list).contains("tnty_"), "{}", stdout(&list));
        let listed = json(&list);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|t| t.get("secret").is_none()));
        let table = master.run(&["admins", "tokens", "list"]);
        assert_exit(&table, 0);
        assert!(stdout(&table).contains("deploy bot"), "{}", stdout(&table));
        assert!(!stdout(&table).contains("tnty_"), "{}", stdout(&table));

        // Stored hashed: neither the token table nor the audit trail holds the secret.
        let rows = stored_rows(&master).await;
        assert!(
            rows.contains("deploy bot"),
            "{dialect:?}: the scan saw no token"
        );
        assert!(!rows.contains(&secret), "{dialect:?}: the secret is stored");

        // Revoked: listed with `revoked_at`, the other one untouched.
        let revoked = master.run(&["admins", "tokens", "revoke", &id]);
        assert_exit(&revoked, 0);
        assert!(stdout(&revoked).contains(&id), "{}", stdout(&revoked));
        let listed = json(&master.run(&["admins", "tokens", "list", "--json"]));
        let by_name = |name: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .cloned()
                .unwrap()
        };
        assert!(by_name("deploy bot")["revoked_at"].is_string(), "{listed}");
        assert!(by_name("ci")["revoked_at"].is_null(), "{listed}");
        let actions = stored_rows(&master).await;
        assert!(actions.contains("token.create"), "{actions}");
        assert!(actions.contains("token.revoke"), "{actions}");

        // Refused clearly.
        let dup = master.run(&[
            "admins", "tokens", "create", "--name", "ci", "--role", "viewer",
        ]);
        assert_exit(&dup, 3);
        assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
        let past = master.run(&[
            "admins",
            "tokens",
            "create",
            "--name",
            "old",
            "--role",
            "viewer",
            "--expires",
            "2001-01-01T00:00:00Z",
        ]);
        assert_exit(&past, 2);
        assert!(stderr(&past).contains("--expires"), "{}", stderr(&past));
        let bad_name = master.run(&[
            "admins", "tokens", "create", "--name", "a/b", "--role", "viewer",
        ]);
        assert_exit(&bad_name, 2);
        assert!(
            stderr(&bad_name).contains("--name"),
            "{}",
            stderr(&bad_name)
        );
        let unknown = uuid::Uuid::new_v4().to_string();
        let missing = master.run(&["admins", "tokens", "revoke", &unknown]);
        assert_exit(&missing, 4);
        assert!(
            stderr(&missing).contains("not found"),
            "{}",
            stderr(&missing)
        );
        assert_exit(&master.run(&["admins", "tokens", "revoke", "nope"]), 2);
    }
}
