use tenantry_registry::{Dialect, MIGRATIONS};

#[test]
fn master_migrations_have_the_same_versions_in_both_dialects() {
    let postgres = MIGRATIONS.versions(Dialect::Postgres).unwrap();
    let sqlite = MIGRATIONS.versions(Dialect::Sqlite).unwrap();
    assert!(!postgres.is_empty());
    assert_eq!(postgres, sqlite);
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let names: Vec<String> = MIGRATIONS
            .migrations(dialect)
            .unwrap()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(names.len(), postgres.len(), "{dialect}");
    }
}
