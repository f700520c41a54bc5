//! Settings: layering, validation naming the key, secrets kept out of output.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn invalid_key(result: Result<Settings, SettingsError>) -> &'static str {
    match result {
        Err(SettingsError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-key error, got {other:?}"),
    }
}

#[test]
fn embedded_default_is_sqlite_under_data_dir() {
    let s = Settings::embedded_default();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.server.base_domain, "localhost");
    assert!(!s.server.tenant_header);
    assert!(
        matches!(&s.master.url, DatabaseUrl::Sqlite(p) if p == Path::new("./tenantry-data/master.db"))
    );
    assert!(
        matches!(s.key_source().unwrap(), KeySource::Generated(p) if p == Path::new("./tenantry-data/master.key"))
    );
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert_eq!(s.provision.spares, 0, "no warm spares unless asked for");
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(s.server.workers, cpus, "one HTTP worker per CPU");
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenantry.toml");
    std::fs::write(&file, "data_dir = \"/srv/t\"\n[server]\nlisten = \"0.0.0.0:9000\"\n[pool]\nacquire_timeout_ms = 50\n").unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("TENANTRY__SERVER__LISTEN", "127.0.0.1:9001"),
            ("TENANTRY__POOL__SERVER_CONNECTION_BUDGET", "7"),
            ("TENANTRY__SERVER__WORKERS", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:9001");
    assert_eq!(s.pool.acquire_timeout_ms, 50);
    assert_eq!(s.pool.server_connection_budget, 7);
    assert_eq!(s.server.workers, 3);
    let lists = Settings::load_from(
        None,
        env(&[("TENANTRY__TENANTS__RESERVED_SUBDOMAINS", "billing, Shop")]),
    )
    .unwrap();
    assert_eq!(lists.tenants.reserved_subdomains, ["billing", "shop"]);
    assert!(matches!(&s.master.url, DatabaseUrl::Sqlite(p) if p == Path::new("/srv/t/master.db")));
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("TENANTRY__SERVER__LISTEN", "nonsense", "server.listen"),
        (
            "TENANTRY__SERVER__BASE_DOMAIN",
            "exa mple.com",
            "server.base_domain",
        ),
        ("TENANTRY__MASTER__URL", "mysql://x@y/z", "master.url"),
        ("TENANTRY__MASTER__URL", "not a url", "master.url"),
        ("TENANTRY__LOG__FORMAT", "xml", "log.format"),
        ("TENANTRY__LOG__LEVEL", "info,[", "log.level"),
        (
            "TENANTRY__POOL__SERVER_CONNECTION_BUDGET",
            "0",
            "pool.server_connection_budget",
        ),
        (
            "TENANTRY__SERVER__TRUSTED_PROXIES",
            "10.0.0.1,proxy.local",
            "server.trusted_proxies",
        ),
        (
            "TENANTRY__POOL__QUERY_TIMEOUT_MS",
            "0",
            "pool.query_timeout_ms",
        ),
        (
            "TENANTRY__REGISTRY__MAX_STALE_SECS",
            "0",
            "registry.max_stale_secs",
        ),
        (
            "TENANTRY__TENANTS__STORAGE_CHECK_EVERY_SECS",
            "5",
            "tenants.storage_check_every_secs",
        ),
        (
            "TENANTRY__DOMAINS__LOOKUP_TIMEOUT_MS",
            "0",
            "domains.lookup_timeout_ms",
        ),
        ("TENANTRY__PROVISION__SPARES", "101", "provision.spares"),
        ("TENANTRY__SERVER__WORKERS", "257", "server.workers"),
        (
            "TENANTRY__PROVISION__SPARE_CONCURRENCY",
            "0",
            "provision.spare_concurrency",
        ),
        (
            "TENANTRY__PROVISION__SPARE_CHECK_EVERY_SECS",
            "0",
            "provision.spare_check_every_secs",
        ),
        (
            "TENANTRY__DOMAINS__NAMESERVERS",
            "10.0.0.2:53,dns.local",
            "domains.nameservers",
        ),
        (
            "TENANTRY__DOMAINS__MAX_PER_TENANT",
            "0",
            "domains.max_per_tenant",
        ),
    ];
    for (var, value, key) in cases {
        assert_eq!(
            invalid_key(Settings::load_from(None, env(&[(var, value)]))),
            key,
            "{var}={value}"
        );
    }
}

#[test]
fn wrong_types_and_unknown_keys_are_named() {
    let err =
        Settings::load_from(None, env(&[("TENANTRY__POOL__IDLE_TTL_SECS", "soon")])).unwrap_err();
    assert!(err.to_string().contains("pool.idle_ttl_secs"), "{err}");
    let err = Settings::load_from(None, env(&[("TENANTRY__POOL__SIZE", "3")])).unwrap_err();
    assert!(err.to_string().contains("size"), "{err}");
}

#[test]
fn master_url_password_never_shown() {
    let url = DatabaseUrl::parse("postgres://admin:hunter2@db:5432/master").unwrap();
    assert!(!format!("{url:?}").contains("hunter2"));
    assert_eq!(url.redacted(), "postgres://admin:***@db:5432/master");
    let err = Settings::load_from(
        None,
        env(&[("TENANTRY__MASTER__URL", "postgres://admin:hunter2@/x")]),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn postgres_master_requires_a_configured_key() {
    let s =
        Settings::load_from(None, env(&[("TENANTRY__MASTER__URL", "postgres://a@db/m")])).unwrap();
    assert!(
        matches!(
            s.key_source(),
            Err(SettingsError::Invalid {
                key: "security.master_key_file",
                ..
            })
        ),
        "{:?}",
        s.key_source()
    );
    let s = Settings::load_from(
        None,
        env(&[
            ("TENANTRY__MASTER__URL", "postgres://a@db/m"),
            (MASTER_KEY_ENV, "c2VjcmV0LWtleQ=="),
        ]),
    )
    .unwrap();
    assert!(matches!(s.key_source().unwrap(), KeySource::Env(_)));
    assert!(!format!("{s:?}").contains("c2VjcmV0LWtleQ=="));
}

#[test]
fn missing_file_is_an_error() {
    let err = Settings::load_from(Some(Path::new("/nonexistent/t.toml")), env(&[])).unwrap_err();
    assert!(matches!(err, SettingsError::File { .. }), "{err}");
}

#[test]
fn domain_nameservers_take_a_port_or_default_to_53() {
    let s = Settings::embedded_default();
    assert!(
        s.domains.nameservers.is_empty(),
        "the system's resolvers by default"
    );
    assert_eq!(s.domains.lookup_timeout_ms, 3000);
    assert_eq!(s.domains.max_per_tenant, 20);
    let s = Settings::load_from(
        None,
        env(&[(
            "TENANTRY__DOMAINS__NAMESERVERS",
            "127.0.0.1:5353, 10.0.0.2,[::1]:53",
        )]),
    )
    .unwrap();
    let got: Vec<String> = s
        .domains
        .nameservers
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(got, ["127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"]);
}
