//! The command-line contract (DESIGN §3). Operators' scripts depend on these flags.
//!
//! The top-level [`Cli`] and [`Command`] live here; each command group's subcommands live in a
//! submodule, their enums re-exported, so callers keep using `crate::cli::…`.

mod admins;
mod operations;
mod servers;
mod tenants;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use admins::{AdminsCommand, TokensCommand};
pub use operations::OperationsCommand;
pub use servers::{MasterCommand, ServersCommand};
pub use tenants::{DomainsCommand, TenantsCommand};

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
    /// Create, inspect, suspend, reactivate, delete and migrate tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Inspect long operations (create, delete, migrate, ...) started here or over the admin API.
    #[command(subcommand)]
    Operations(OperationsCommand),
    /// Finish or roll back interrupted operations, then report drift between registry and servers.
    Reconcile {
        /// Only operations idle for this long are considered abandoned (a live one advances at every step).
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        stale_after: u64,
        /// Skip opening each active tenant's database to compare its schema version (one
        /// connection per tenant); check server catalogs and files only.
        #[arg(long)]
        catalog_only: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Check configuration, master key, master database and every server; non-zero exit on any failure.
    Doctor(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}
