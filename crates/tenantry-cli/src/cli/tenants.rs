//! `tenants …`: the tenant lifecycle (create, suspend, delete, recover), backups and restores,
//! moves, schema migrations and custom domains.

use clap::{Subcommand, ValueEnum};

use super::JsonFlag;

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
