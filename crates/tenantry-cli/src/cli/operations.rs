//! `operations …`: inspecting long operations and filtering them by tenant, state and kind.

use clap::{Subcommand, ValueEnum};
use tenantry_registry::{OperationKind, OperationState};
use uuid::Uuid;

use super::JsonFlag;

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
