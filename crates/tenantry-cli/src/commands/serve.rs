use crate::context::Context;
use crate::error::CliError;

/// Placeholder until the HTTP issue lands: says so plainly instead of pretending to serve.
pub async fn run(_ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`tenantry serve` is not built yet: the HTTP server arrives with its own issue".into(),
    ))
}
