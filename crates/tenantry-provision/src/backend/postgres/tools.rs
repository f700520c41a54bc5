//! `pg_dump` and `pg_restore`, run as child processes with the admin's credentials.
//!
//! The credentials reach the child in its environment (`PGPASSWORD`, readable only by our own
//! user), never on its command line, which every user of the host can read. The client must be
//! at least the server's major version (an older `pg_dump` refuses a newer server, and an older
//! `pg_restore` may not read its archives): it is looked up as `<pg_bin>/<tool>` when
//! `backups.pg_bin` is set, else in Debian's `/usr/lib/postgresql/<major>/bin`, else on `PATH`,
//! and refused with what to install when it does not fit.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use secrecy::{ExposeSecret as _, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::process::Command;
use url::Url;

use crate::backend::{BackendError, DbIdent};

/// How much of a tool's standard error an operator is shown when it fails (its last bytes).
const STDERR_TAIL: usize = 2048;
/// Where Debian installs each PostgreSQL major version's programs.
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";

/// How to run the PostgreSQL client programs against one server.
pub(in crate::backend) struct PgTools {
    /// `backups.pg_bin`: when set, the only place tools are taken from.
    bin: Option<PathBuf>,
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, ... from the admin URL.
    env: Vec<(&'static str, SecretString)>,
}

impl PgTools {
    pub(in crate::backend) fn from_url(admin: &Url, bin: Option<PathBuf>) -> Self {
        let mut env: Vec<(&'static str, SecretString)> = Vec::new();
        let mut set = |key: &'static str, value: &str| {
            if !value.is_empty() {
                env.push((key, SecretString::from(value.to_owned())));
            }
        };
        if let Some(host) = admin.host_str() {
            set("PGHOST", host.trim_start_matches('[').trim_end_matches(']'));
        }
        if let Some(port) = admin.port() {
            set("PGPORT", &port.to_string());
        }
        let user = percent_decoded(admin.username());
        set("PGUSER", &user);
        if let Some(password) = admin.password() {
            set("PGPASSWORD", &percent_decoded(password));
        }
        for (key, value) in admin.query_pairs() {
            let var = match key.as_ref() {
                "host" => "PGHOST",
                "hostaddr" => "PGHOSTADDR",
                "port" => "PGPORT",
                "user" => "PGUSER",
                "password" => "PGPASSWORD",
                "sslmode" | "ssl-mode" => "PGSSLMODE",
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => "PGSSLROOTCERT",
                _ => continue,
            };
            set(var, &value);
        }
        set("PGAPPNAME", "tenantry-backup");
        set("PGCONNECT_TIMEOUT", "5");
        Self { bin, env }
    }

    /// Streams `pg_dump --format=custom` of `database` into `out`; with `schema_only`, its
    /// objects without their rows (and without publications and subscriptions).
    pub(in crate::backend) async fn dump(
        &self,
        server_major: u32,
        database: &DbIdent,
        schema_only: bool,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(), BackendError> {
        let program = self.program("pg_dump", server_major).await?;
        let mut command = self.command(&program);
        if schema_only {
            command.args(["--schema-only", "--no-publications", "--no-subscriptions"]);
        }
        command
            .args(["--format=custom", "--no-password", "--dbname"])
            .arg(database.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = spawn(&mut command, "pg_dump")?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let copy = async {
            tokio::io::copy(&mut stdout, out)
                .await
                .map_err(|e| failed("pg_dump", format!("writing the dump: {e}")))
        };
        let (copied, tail, status) = tokio::join!(copy, read_tail(stderr), child.wait());
        check_exit("pg_dump", status, &tail)?;
        copied.map(drop)
    }

    /// Feeds a custom-format archive from `input` to `pg_restore` into the (new, empty)
    /// `database`, in one transaction, every object owned by `role`.
    pub(in crate::backend) async fn restore(
        &self,
        server_major: u32,
        database: &DbIdent,
        role: &DbIdent,
        input: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), BackendError> {
        let program = self.program("pg_restore", server_major).await?;
        let mut command = self.command(&program);
        command
            .args([
                "--no-password",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
            ])
            .arg(format!("--role={}", role.as_str()))
            .arg("--dbname")
            .arg(database.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = spawn(&mut command, "pg_restore")?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let feed = async move {
            let copied = tokio::io::copy(input, &mut stdin).await;
            // Closing stdin is what tells pg_restore the archive has ended.
            drop(stdin);
            copied
        };
        let (fed, tail, status) = tokio::join!(feed, read_tail(stderr), child.wait());
        // pg_restore's own complaint explains a broken pipe better than the pipe does.
        check_exit("pg_restore", status, &tail)?;
        fed.map(drop)
            .map_err(|e| failed("pg_restore", format!("feeding the archive: {e}")))
    }

    /// A libpq connection string reaching `database` with the admin's credentials, for a
    /// subscription on another server. Holds the admin password.
    pub(in crate::backend) fn conninfo(&self, database: &DbIdent) -> SecretString {
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let mut parts = vec![format!("dbname={}", quote(database.as_str()))];
        for (var, value) in &self.env {
            let key = match *var {
                "PGHOST" => "host",
                "PGHOSTADDR" => "hostaddr",
                "PGPORT" => "port",
                "PGUSER" => "user",
                "PGPASSWORD" => "password",
                "PGSSLMODE" => "sslmode",
                "PGSSLROOTCERT" => "sslrootcert",
                "PGCONNECT_TIMEOUT" => "connect_timeout",
                _ => continue,
            };
            parts.push(format!("{key}={}", quote(value.expose_secret())));
        }
        SecretString::from(parts.join(" "))
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        // Only our variables: a PGSERVICE or PGOPTIONS of the caller's must not redirect us.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                command.env_remove(key);
            }
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v.expose_secret())))
            .env("LC_ALL", "C")
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// The tool to run for a server of `server_major`, checked to be new enough.
    async fn program(
        &self,
        tool: &'static str,
        server_major: u32,
    ) -> Result<PathBuf, BackendError> {
        let candidates: Vec<PathBuf> = match &self.bin {
            Some(dir) => vec![dir.join(tool)],
            None => {
                let mut found = debian_candidates(tool, server_major);
                found.push(PathBuf::from(tool));
                found
            }
        };
        let mut seen = None;
        for program in candidates {
            let Some(major) = client_major(&program).await else {
                continue;
            };
            if major >= server_major {
                return Ok(program);
            }
            seen.get_or_insert((program, major));
        }
        let install = format!(
            "install PostgreSQL {server_major}'s client programs (Debian: postgresql-client-{server_major}) \
             or point backups.pg_bin at them"
        );
        Err(failed(
            tool,
            match seen {
                Some((program, major)) => format!(
                    "{} is PostgreSQL {major}, older than the server's {server_major}: {install}",
                    program.display()
                ),
                None => format!("{tool} was not found: {install}"),
            },
        ))
    }
}

/// `/usr/lib/postgresql/<server major>/bin/<tool>` first, then newer majors, newest first.
fn debian_candidates(tool: &str, server_major: u32) -> Vec<PathBuf> {
    let mut majors: Vec<u32> = std::fs::read_dir(DEBIAN_PG_LIB)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
                .filter(|major| *major >= server_major)
                .collect()
        })
        .unwrap_or_default();
    majors.sort_by_key(|major| (*major != server_major, std::cmp::Reverse(*major)));
    majors
        .into_iter()
        .map(|major| Path::new(DEBIAN_PG_LIB).join(format!("{major}/bin/{tool}")))
        .filter(|path| path.is_file())
        .collect()
}

/// The major version `program --version` reports ("pg_dump (PostgreSQL) 15.14 (Debian ...)"),
/// or `None` if it cannot be run.
async fn client_major(program: &Path) -> Option<u32> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().nth(2)?;
    version.split(['.', ' ']).next()?.parse().ok()
}

fn spawn(command: &mut Command, tool: &'static str) -> Result<tokio::process::Child, BackendError> {
    command
        .spawn()
        .map_err(|e| failed(tool, format!("cannot start it: {e}")))
}

/// The last [`STDERR_TAIL`] bytes of a child's standard error (all of it is read, so the child
/// never blocks on a full pipe).
async fn read_tail(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    let start = tail.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&tail[start..]).trim().to_owned()
}

fn check_exit(
    tool: &'static str,
    status: std::io::Result<std::process::ExitStatus>,
    stderr: &str,
) -> Result<(), BackendError> {
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(failed(
            tool,
            if stderr.is_empty() {
                format!("exited with {status}")
            } else {
                format!("exited with {status}: {stderr}")
            },
        )),
        Err(e) => Err(failed(tool, format!("waiting for it: {e}"))),
    }
}

fn failed(action: &'static str, message: String) -> BackendError {
    BackendError::Failed { action, message }
}

fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(url: &str) -> Vec<(&'static str, String)> {
        PgTools::from_url(&Url::parse(url).unwrap(), None)
            .env
            .into_iter()
            .map(|(k, v)| (k, v.expose_secret().to_owned()))
            .collect()
    }

    #[test]
    fn credentials_and_tls_options_travel_in_the_environment() {
        let env = env_of("postgres://ad%40min:p%2Fss@db.example:6543/postgres?sslmode=verify-full");
        assert!(env.contains(&("PGHOST", "db.example".into())));
        assert!(env.contains(&("PGPORT", "6543".into())));
        assert!(env.contains(&("PGUSER", "ad@min".into())));
        assert!(env.contains(&("PGPASSWORD", "p/ss".into())));
        assert!(env.contains(&("PGSSLMODE", "verify-full".into())));
    }

    #[test]
    fn a_conninfo_quotes_every_value() {
        let tools = PgTools::from_url(
            &Url::parse("postgres://ad%27min:p%5Cs%27s@db.example:6543/postgres").unwrap(),
            None,
        );
        let info = tools.conninfo(&DbIdent::parse("t_acme_0123abcd").unwrap());
        let info = info.expose_secret();
        assert!(
            info.starts_with("dbname='t_acme_0123abcd' host='db.example' port='6543'"),
            "{info}"
        );
        assert!(info.contains(r"user='ad\'min'"), "{info}");
        assert!(info.contains(r"password='p\\s\'s'"), "{info}");
    }

    /// A directory holding a `pg_dump` that reports PostgreSQL `version`.
    fn fake_bin(version: &str) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("pg_dump");
        let script = format!("#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n");
        std::fs::write(&tool, script).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_client_older_than_the_server_is_refused_and_says_what_to_install() {
        let url = Url::parse("postgres://admin@db.example/postgres").unwrap();
        let old = fake_bin("14.11 (Debian 14.11-1)");
        let tools = PgTools::from_url(&url, Some(old.path().to_owned()));
        let refused = tools.program("pg_dump", 15).await.unwrap_err().to_string();
        assert!(
            refused.contains("is PostgreSQL 14, older than the server's 15"),
            "{refused}"
        );
        assert!(refused.contains("postgresql-client-15"), "{refused}");
        let newer = fake_bin("16.2");
        let tools = PgTools::from_url(&url, Some(newer.path().to_owned()));
        assert_eq!(
            tools.program("pg_dump", 15).await.unwrap(),
            newer.path().join("pg_dump")
        );
        let none = tempfile::tempdir().unwrap();
        let tools = PgTools::from_url(&url, Some(none.path().to_owned()));
        let missing = tools.program("pg_dump", 15).await.unwrap_err().to_string();
        assert!(missing.contains("pg_dump was not found"), "{missing}");
    }

    #[test]
    fn a_socket_directory_in_the_query_is_the_host() {
        // The query's host comes after the authority's, so the tools see the socket directory.
        let env = env_of("postgres://postgres@localhost/postgres?host=/run/postgresql");
        let hosts: Vec<_> = env.iter().filter(|(k, _)| *k == "PGHOST").collect();
        assert_eq!(hosts.last().unwrap().1, "/run/postgresql", "{hosts:?}");
        assert!(!env.iter().any(|(k, _)| *k == "PGPASSWORD"));
    }
}
