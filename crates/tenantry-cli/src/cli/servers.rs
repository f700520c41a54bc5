//! `master …` and `servers …`: the databases the installation runs on, the master registry
//! and the servers that host tenant databases.

use clap::Subcommand;

use super::JsonFlag;

#[derive(Debug, Subcommand)]
pub enum MasterCommand {
    /// Apply pending master migrations (idempotent). In the embedded default, also creates the master key.
    Migrate(JsonFlag),
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
    /// Stop placing tenants on a server and move every active tenant off it (each to the
    /// server with the most free capacity) while they serve. Exit 1 if any tenant stayed.
    Drain {
        name: String,
        /// Tenants moved at once.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        concurrency: u16,
        #[command(flatten)]
        output: JsonFlag,
    },
}
