//! A malformed setting fails at start with exit code 2, names the key, and prints no secret.

mod common;

use base64::Engine;
use common::{assert_exit, run_in, stderr, stdout};

#[test]
fn malformed_settings_exit_2_naming_the_key_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let short_key = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
    let long_key = base64::engine::general_purpose::STANDARD.encode([7u8; 33]);
    // (variable, value, key the error must name, secret that must not be printed)
    let cases = [
        (
            "TENANTRY__MASTER__URL",
            "postgres://u:Hunter2Secret@/db",
            "master.url",
            "Hunter2Secret",
        ),
        (
            "TENANTRY__MASTER__URL",
            "mysql://u:Hunter2Secret@h/db",
            "master.url",
            "Hunter2Secret",
        ),
        ("TENANTRY__SERVER__LISTEN", "localhost", "server.listen", ""),
        ("TENANTRY__LOG__FORMAT", "xml", "log.format", ""),
        (
            "TENANTRY__POOL__ACQUIRE_TIMEOUT_MS",
            "soon",
            "pool.acquire_timeout_ms",
            "",
        ),
        (
            "TENANTRY_MASTER_KEY",
            &short_key,
            "TENANTRY_MASTER_KEY",
            &short_key,
        ),
        (
            "TENANTRY_MASTER_KEY",
            &long_key,
            "TENANTRY_MASTER_KEY",
            &long_key,
        ),
        (
            "TENANTRY_MASTER_KEY",
            "not base64 at all!",
            "TENANTRY_MASTER_KEY",
            "not base64 at all!",
        ),
        (
            "TENANTRY__SECURITY__MASTER_KEY_FILE",
            "/nonexistent/key",
            "security.master_key_file",
            "",
        ),
    ];
    for (var, value, key, secret) in cases {
        for command in [&["doctor"][..], &["master", "migrate"]] {
            let out = run_in(dir.path(), command, &[(var, value)], None);
            assert_exit(&out, 2);
            let err = stderr(&out);
            assert!(
                err.contains(key),
                "{var}={value}: stderr does not name {key}: {err}"
            );
            if !secret.is_empty() {
                assert!(
                    !err.contains(secret) && !stdout(&out).contains(secret),
                    "{var}: secret printed: {err}"
                );
            }
        }
    }
    assert!(
        !dir.path().join("tenantry-data").exists(),
        "nothing is created on a configuration error"
    );
}

#[test]
fn config_file_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenantry.toml");
    std::fs::write(&file, "[server]\nlisten = \"nope\"\n").unwrap();
    let out = run_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "doctor"],
        &[],
        None,
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("server.listen"), "{}", stderr(&out));

    std::fs::write(&file, "[server\nlisten = 1").unwrap();
    let out = run_in(
        dir.path(),
        &["doctor"],
        &[("TENANTRY_CONFIG", file.to_str().unwrap())],
        None,
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("tenantry.toml"), "{}", stderr(&out));

    let out = run_in(
        dir.path(),
        &["--config", "/nonexistent.toml", "doctor"],
        &[],
        None,
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("/nonexistent.toml"),
        "{}",
        stderr(&out)
    );
}
