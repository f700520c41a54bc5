//! The commented production example in `deploy/` is a valid settings file: every key it shows
//! exists (unknown keys are errors) and every value validates.

use std::path::Path;

use tenantry_core::Settings;

#[test]
fn the_deploy_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/tenantry.example.toml");
    let settings = Settings::load_from(Some(&path), std::iter::empty())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(settings.server.base_domain, "example.com");
    assert_eq!(settings.server.trusted_proxies.len(), 1);
    assert_eq!(settings.registry.max_stale_secs, 900);
    assert_eq!(settings.pool.query_timeout_ms, 10_000);
}
