//! Runs the real `tenantry` binary against a throwaway master.

#![allow(dead_code)] // each test file uses a different part of this harness

pub mod fleet;
pub mod serve;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use tenantry_test_utils::{Dialect, TestDb};

/// A throwaway master plus the environment that points `tenantry` at it.
pub struct Master {
    pub db: TestDb,
    pub key: String,
}

impl Master {
    pub async fn new(dialect: Dialect) -> Self {
        Self::with_key(dialect, random_key()).await
    }

    pub async fn with_key(dialect: Dialect, key: String) -> Self {
        Self {
            db: TestDb::new(dialect).await,
            key,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with(args, &[], Some(stdin))
    }

    /// Runs `tenantry ARGS` in the test's own directory with this master and key.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut vars = vec![
            ("TENANTRY__MASTER__URL", self.db.url()),
            ("TENANTRY__DATA_DIR", self.db.dir().to_str().unwrap()),
            ("TENANTRY_MASTER_KEY", self.key.as_str()),
        ];
        vars.extend_from_slice(env);
        run_in(self.db.dir(), args, &vars, stdin)
    }
}

pub fn random_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Runs the binary with a clean Tenantry environment plus `env`.
pub fn run_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("TENANTRY_") && k != "TENANTRY_TEST_PG_URL")
    {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tenantry binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
    assert!(!stderr(out).contains("panicked"), "panic: {}", stderr(out));
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}
