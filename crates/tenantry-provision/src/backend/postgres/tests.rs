use tenantry_core::TenantId;

use super::*;

fn backend(url: &str) -> PostgresBackend {
    PostgresBackend::new("pg-1", &SecretString::from(url)).unwrap()
}

#[test]
fn role_statement_carries_a_verifier_never_the_password() {
    let role = DbIdent::derive("acme", TenantId::new());
    let password = SecretString::from("plain-Text-Password-42");
    let sql = role_sql(
        "CREATE",
        &role,
        ROLE_ATTRIBUTES,
        5,
        &ScramVerifier::for_random_password(&password),
    );
    assert!(!sql.contains("plain-Text-Password-42"), "{sql}");
    let expected = format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION \
         NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD 'SCRAM-SHA-256$16:",
        role.quoted()
    );
    assert!(sql.starts_with(&expected), "{sql}");
    assert_eq!(sql.matches('\'').count(), 2, "exactly one literal: {sql}");
}

#[tokio::test]
async fn tenant_url_uses_the_tenant_role_and_escapes_its_password() {
    let pg = backend(
        "postgres://admin:adm%40n@db.internal:6543/postgres?sslmode=require&application_name=x",
    );
    let id = TenantId::new();
    let db = TenantDatabase {
        name: DbIdent::derive("acme", id),
        role: Some(DbIdent::derive("acme", id)),
    };
    let url = pg.tenant_url(&db, Some(&SecretString::from("p@ss/w:rd?#")));
    let url = url.expose_secret();
    assert_eq!(
        url,
        &format!(
            "postgres://{0}:p%40ss%2Fw%3Ard%3F%23@db.internal:6543/{0}?sslmode=require",
            db.name
        )
    );
    assert!(!url.contains("adm"), "{url}");
    let parsed = PgConnectOptions::from_url(&url.parse().unwrap()).unwrap();
    assert_eq!(parsed.get_username(), db.name.as_str());
    assert_eq!(parsed.get_database(), Some(db.name.as_str()));
}

#[tokio::test]
async fn a_url_that_is_not_postgres_is_refused_without_echoing_it() {
    let err =
        PostgresBackend::new("pg-1", &SecretString::from("mysql://root:hunter2@h/db")).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = PostgresBackend::new("pg-1", &SecretString::from("postgres://root:hunter2@[::1"))
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
