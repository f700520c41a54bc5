//! The PostgreSQL server under test: admin SQL, `psql` with the schema, template copies, clean-up.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use sqlx::{AssertSqlSafe, Executor as _, PgConnection};
use url::Url;

/// What the run creates on the server beside Tenantry's tenants, dropped at the end whatever
/// happened.
#[derive(Default)]
pub(crate) struct Leftovers {
    pub(crate) databases: Vec<String>,
    pub(crate) templates: Vec<String>,
    pub(crate) roles: Vec<String>,
}

/// The server under test: an admin connection, its URL and `psql`.
pub(crate) struct Server {
    pub(crate) admin: PgConnection,
    pub(crate) url: Url,
    pub(crate) psql: PathBuf,
    /// The real tenant migrations for PostgreSQL, in version order.
    pub(crate) schema: Vec<PathBuf>,
}

impl Server {
    pub(crate) fn url_for(&self, database: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    pub(crate) async fn exec(&mut self, sql: String) -> Result<()> {
        self.admin
            .execute(AssertSqlSafe(sql.clone()))
            .await
            .with_context(|| sql.clone())?;
        Ok(())
    }

    /// `psql -X -q -v ON_ERROR_STOP=1 -d <db> [-c <first>] -f <V1> -f <V2> ...`.
    pub(crate) async fn psql_schema(&self, database: &str, first: Option<&str>) -> Result<()> {
        let mut cmd = tokio::process::Command::new(&self.psql);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url_for(database));
        if let Some(sql) = first {
            cmd.args(["-c", sql]);
        }
        for file in &self.schema {
            cmd.arg("-f").arg(file);
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", self.psql.display()))?;
        ensure!(
            out.status.success(),
            "psql on {database} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// `CREATE DATABASE ... TEMPLATE`, retrying while the template's last session is still
    /// exiting (a session that just closed may linger for a moment).
    pub(crate) async fn create_from_template(&mut self, name: &str, template: &str) -> Result<()> {
        let sql = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
        for attempt in 0.. {
            match self.admin.execute(AssertSqlSafe(sql.clone())).await {
                Ok(_) => return Ok(()),
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                    ensure!(attempt < 100, "{sql}: template still in use: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(e).context(sql),
            }
        }
        unreachable!()
    }
}

pub(crate) async fn clean_up(server: &mut Server, created: &Leftovers) -> Result<()> {
    let mut failures = Vec::new();
    for template in &created.templates {
        if let Err(e) = server
            .exec(format!(
                r#"ALTER DATABASE "{template}" IS_TEMPLATE false ALLOW_CONNECTIONS true"#
            ))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    for database in created.databases.iter().chain(&created.templates) {
        if let Err(e) = server
            .exec(format!(
                r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#
            ))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    for role in &created.roles {
        if let Err(e) = server
            .exec(format!(r#"DROP ROLE IF EXISTS "{role}""#))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "clean-up failed:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}
