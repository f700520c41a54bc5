//! The command-line contract (DESIGN §3). Operators' scripts depend on these flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tenantry_registry::AdminRole;

#[derive(Debug, Parser)]
#[command(name = "tenantry", version, about = "Database-per-tenant SaaS backend")]
pub struct Cli {
    /// Settings file (TOML). Without one, the embedded default applies (SQLite under ./tenantry-data).
    #[arg(long, global = true, env = "TENANTRY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Manage the master registry database.
    #[command(subcommand)]
    Master(MasterCommand),
    /// Manage operators of this installation.
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Manage the database servers that host tenant databases.
    #[command(subcommand)]
    Servers(ServersCommand),
    /// Check configuration, master key, master database and every server; non-zero exit on any failure.
    Doctor(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MasterCommand {
    /// Apply pending master migrations (idempotent). In the embedded default, also creates the master key.
    Migrate(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Create an operator. Without --password-stdin a one-time password is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_enum, default_value_t = RoleArg::Operator)]
        role: RoleArg,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Operator,
    Viewer,
}

impl From<RoleArg> for AdminRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Owner => AdminRole::Owner,
            RoleArg::Operator => AdminRole::Operator,
            RoleArg::Viewer => AdminRole::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// Register a PostgreSQL server. Its admin password is read from stdin and stored encrypted.
    Add {
        /// Name used by `tenants create --server` (a–z, 0–9, '-').
        name: String,
        /// postgres://ADMIN@HOST:PORT[/DB] — without a password.
        #[arg(long)]
        url: String,
        /// Read the admin role's password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// How many tenant databases this server may hold.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
        capacity: i32,
        /// Register without connecting first.
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List registered servers.
    List(JsonFlag),
}
