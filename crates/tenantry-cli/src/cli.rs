//! The command-line contract (DESIGN §3). Operators' scripts depend on these flags.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tenantry_core::ApiTokenId;
use tenantry_registry::{AdminRole, OperationKind, OperationState};
use uuid::Uuid;

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

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant: database, role, schema, seed data. Prints the admin's one-time password
    /// unless --admin-password-stdin is given.
    Create {
        subdomain: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "standard")]
        plan: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_password_stdin: bool,
        /// A registered server (default: the least loaded one; SQLite when none is registered).
        #[arg(long)]
        server: Option<String>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List live tenants.
    List {
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Show one tenant (by subdomain or id).
    Show {
        tenant: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Suspend a tenant: its users are refused and its database role can no longer log in.
    Suspend {
        tenant: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Lift a suspension.
    Reactivate {
        tenant: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Delete a tenant's database and role; a tombstone row is kept. A final backup is taken
    /// first, so `tenants recover` can bring it back while the backup is kept.
    Delete {
        tenant: String,
        /// Must repeat the tenant's subdomain.
        #[arg(long)]
        confirm: String,
        /// Take no final backup: the data is gone for good.
        #[arg(long)]
        no_backup: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Back up one tenant, or every active one, into the backup store (encrypted as it streams).
    Backup {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every active tenant (and suspended ones with --include-suspended).
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        concurrency: u16,
        #[arg(long, requires = "all")]
        include_suspended: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List a tenant's backups, newest first.
    Backups {
        tenant: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Restore a backup in place of the tenant's database (verified first, loaded into a new
    /// database, then switched in), or with --into clone it into a new tenant.
    Restore {
        tenant: String,
        #[arg(long)]
        backup: uuid::Uuid,
        /// Create a new tenant with this subdomain from the backup instead.
        #[arg(long)]
        into: Option<String>,
        /// The clone's name (default: the source's).
        #[arg(long, requires = "into")]
        name: Option<String>,
        /// The clone's server (default: the least loaded).
        #[arg(long, requires = "into")]
        server: Option<String>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Move a PostgreSQL tenant to another registered server while it serves (logical
    /// replication, then a short write pause that is reported).
    Move {
        tenant: String,
        /// The server to move to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Bring a deleted tenant back from its final backup, while that backup is kept.
    Recover {
        subdomain: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Bring tenant databases to the latest schema.
    Migrate {
        /// One tenant (subdomain or id).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every active tenant.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        #[arg(long)]
        continue_on_error: bool,
        /// Show what would be migrated; connect to nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// A tenant's custom domains: they route once a DNS TXT record proves control of them.
    #[command(subcommand)]
    Domains(DomainsCommand),
}

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// List a tenant's custom domains, verified or pending.
    List {
        /// The tenant (subdomain or id).
        tenant: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Claim a domain for a tenant, pending: prints the TXT record to publish before `verify`.
    Add {
        tenant: String,
        /// A domain outside the base domain, e.g. books.acme.com.
        domain: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Look the domain's TXT record up in DNS; when it matches, the domain routes to the tenant.
    Verify {
        tenant: String,
        domain: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Remove a domain: it stops routing within a second.
    Remove {
        tenant: String,
        domain: String,
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Provisioning,
    Active,
    Suspended,
    Failed,
    Deleted,
}

impl From<StatusArg> for tenantry_registry::TenantStatus {
    fn from(s: StatusArg) -> Self {
        use tenantry_registry::TenantStatus as S;
        match s {
            StatusArg::Provisioning => S::Provisioning,
            StatusArg::Active => S::Active,
            StatusArg::Suspended => S::Suspended,
            StatusArg::Failed => S::Failed,
            StatusArg::Deleted => S::Deleted,
        }
    }
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
    /// Manage API tokens for scripts using the admin API.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token. Its secret is printed once: it is stored hashed only.
    Create {
        /// A unique name, shown in audit rows (`token:<name>`).
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// When it stops working (RFC 3339, e.g. 2030-01-31T00:00:00Z). Default: never.
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339, conflicts_with = "expires_in_days")]
        expires: Option<DateTime<Utc>>,
        /// When it stops working, in days from now.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token: refused by every process from its next request on.
    Revoke {
        id: ApiTokenId,
        #[command(flatten)]
        output: JsonFlag,
    },
}

fn parse_rfc3339(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}), e.g. 2030-01-31T00:00:00Z"))
}

#[derive(Debug, Subcommand)]
pub enum OperationsCommand {
    /// List operations, newest first.
    List {
        /// Only this tenant's: a live tenant's subdomain, or any tenant's id (also deleted ones).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// tenant.create, tenant.delete, tenant.suspend, tenant.reactivate, tenant.migrate,
        /// fleet.migrate, tenant.backup, tenant.restore, tenant.move.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<OperationKind>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Show one operation.
    Show {
        id: Uuid,
        #[command(flatten)]
        output: JsonFlag,
    },
}

fn parse_kind(raw: &str) -> Result<OperationKind, String> {
    raw.parse::<OperationKind>().map_err(|e| {
        let known: Vec<&str> = OperationKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("{e}; one of {}", known.join(", "))
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Running,
    Succeeded,
    Failed,
    #[value(name = "rolled_back", alias = "rolled-back")]
    RolledBack,
}

impl From<StateArg> for OperationState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Running => Self::Running,
            StateArg::Succeeded => Self::Succeeded,
            StateArg::Failed => Self::Failed,
            StateArg::RolledBack => Self::RolledBack,
        }
    }
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
