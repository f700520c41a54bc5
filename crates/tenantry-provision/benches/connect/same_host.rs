//! What only a server on this host allows: its Unix socket, with the role's password still
//! checked, and its postmaster's CPU.
//!
//! `scripts/with-pg` trusts every local (Unix-socket) login, so a socket connect as it stands
//! would skip SCRAM and win for the wrong reason. For the run, [`ScramOverSocket::require`] puts
//! a rule for the bench's own tenant role above that one in the server's `pg_hba.conf` and
//! reloads; [`ScramOverSocket::restore`] puts the file back as it was. No other login changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use sqlx::PgConnection;
use url::Url;

use crate::sample::{Postmaster, client_addr, refused_for_password};

/// How long a reload may take to reach the postmaster (`pg_reload_conf` only signals it).
const RELOAD_WAIT: Duration = Duration::from_secs(3);

/// The rule for one role, while the run lasts.
pub struct ScramOverSocket {
    hba_file: PathBuf,
    original: String,
    /// The directory of the server's socket.
    pub dir: String,
}

async fn setting(admin: &mut PgConnection, name: &str) -> Result<String> {
    let value = sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(admin)
        .await;
    value.with_context(|| format!("reading the setting {name}"))
}

impl ScramOverSocket {
    /// Makes the server ask `role` for its SCRAM password over the Unix socket too.
    pub async fn require(admin: &mut PgConnection, role: &str) -> Result<Self> {
        let plain = role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ensure!(plain, "role {role:?} is not a plain identifier");
        let dirs = setting(admin, "unix_socket_directories").await?;
        let dir = first_socket_dir(&dirs).context("the server has no Unix socket directory")?;
        let hba_file = PathBuf::from(setting(admin, "hba_file").await?);
        let original = std::fs::read_to_string(&hba_file).with_context(|| {
            format!(
                "reading {} (the bench must run on the server's host, as its user or root)",
                hba_file.display()
            )
        })?;
        write(&hba_file, &with_rule(&original, role))?;
        let this = Self {
            hba_file,
            original,
            dir: dir.to_owned(),
        };
        let bad: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
                .fetch_one(&mut *admin)
                .await?;
        if bad > 0 {
            this.restore(admin).await?;
            anyhow::bail!("pg_hba.conf with the bench's rule has {bad} bad lines");
        }
        reload(admin).await?;
        Ok(this)
    }

    /// `tcp` (a tenant role's URL) on the server's socket instead: the same URL with
    /// `host=<dir>`, which sqlx reads as the socket's directory (the port names the socket).
    pub fn url(&self, tcp: &Url) -> Url {
        let mut url = tcp.clone();
        url.query_pairs_mut().append_pair("host", &self.dir);
        url
    }

    /// Waits until the rule is live (a wrong password over the socket is refused), then checks
    /// that `socket` really arrives over the socket and `tcp` over 127.0.0.1.
    pub async fn check(&self, tcp: &Url, socket: &Url) -> Result<()> {
        let mut wrong = socket.clone();
        let no_host = |()| anyhow::anyhow!("the tenant URL has no host");
        wrong
            .set_password(Some("not-the-password"))
            .map_err(no_host)?;
        let started = std::time::Instant::now();
        while !refused_for_password(wrong.as_str()).await? {
            let waited = started.elapsed();
            ensure!(
                waited < RELOAD_WAIT,
                "a wrong password is still accepted over the socket after {waited:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let over_socket = client_addr(socket.as_str()).await?;
        ensure!(
            over_socket.is_none(),
            "{over_socket:?}: not the Unix socket"
        );
        let over_tcp = client_addr(tcp.as_str()).await?;
        ensure!(
            over_tcp.as_deref() == Some("127.0.0.1"),
            "{over_tcp:?}: not TCP on 127.0.0.1"
        );
        Ok(())
    }

    /// Puts `pg_hba.conf` back as it was and reloads.
    pub async fn restore(self, admin: &mut PgConnection) -> Result<()> {
        write(&self.hba_file, &self.original)?;
        reload(admin).await
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    // In place, so that the file keeps its owner and mode.
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn reload(admin: &mut PgConnection) -> Result<()> {
    let signalled: bool = sqlx::query_scalar("SELECT pg_reload_conf()")
        .fetch_one(admin)
        .await?;
    ensure!(signalled, "pg_reload_conf() failed");
    Ok(())
}

/// `hba` with a first rule that asks `role` for its SCRAM password on the Unix socket.
pub fn with_rule(hba: &str, role: &str) -> String {
    format!(
        "# scripts/bench connect, for one run: this role's password is checked on the socket \
         too\nlocal all \"{role}\" scram-sha-256\n{hba}"
    )
}

/// The first directory (not an abstract `@name`) of `unix_socket_directories`.
pub fn first_socket_dir(setting: &str) -> Option<&str> {
    let mut dirs = setting.split(',').map(|d| d.trim().trim_matches('"'));
    dirs.find(|d| d.starts_with('/'))
}

/// The server's postmaster, from `postmaster.pid` in its data directory (none when this
/// process cannot read it).
pub async fn postmaster(admin: &mut PgConnection) -> Result<Option<Postmaster>> {
    let data = setting(admin, "data_directory").await?;
    let pid_file = std::fs::read_to_string(Path::new(&data).join("postmaster.pid")).ok();
    Ok(pid_file.as_deref().and_then(Postmaster::from_pid_file))
}
