//! `tenantry servers ...`: registering and listing database servers through the operator service.

use tenantry_ops::{Caller, NewServerRequest, ServerView};

use crate::cli::ServersCommand;
use crate::context::Context;
use crate::error::{self, CliError};
use crate::output;

/// The arguments that set each field the operator service may refuse.
const ADD_FLAGS: &[(&str, &str)] = &[
    ("name", "NAME"),
    ("url", "--url"),
    ("capacity", "--capacity"),
];

pub async fn run(ctx: &Context, cmd: ServersCommand) -> Result<(), CliError> {
    let caller = Caller::cli();
    match cmd {
        ServersCommand::Add {
            name,
            url,
            password_stdin,
            capacity,
            no_check,
            output: flags,
        } => {
            let admin_password = password_stdin
                .then(|| output::secret_from_stdin("--password-stdin"))
                .transpose()?;
            let request = NewServerRequest {
                name,
                url,
                admin_password,
                capacity,
                // Checked below, so that a failed check is told apart from invalid input.
                skip_check: true,
            };
            let ops = ctx.operator().await?;
            if !no_check
                && let Err(cause) = ops
                    .check_new_server(&caller, &request)
                    .await
                    .map_err(error::ops(ADD_FLAGS))?
            {
                return Err(CliError::Failed(format!(
                    "server {}: {cause} (use --no-check to register it anyway)",
                    request.name
                )));
            }
            let server = ops
                .add_server(&caller, request)
                .await
                .map_err(error::ops(ADD_FLAGS))?;
            if flags.json {
                output::json(&server);
            } else {
                println!("registered server {} ({})", server.name, server.url);
            }
            Ok(())
        }
        ServersCommand::Drain {
            name,
            concurrency,
            output: flags,
        } => {
            let ops = ctx.operator().await?;
            let outcomes = ops
                .drain_server(&caller, &name, usize::from(concurrency))
                .await?;
            let stayed = outcomes.iter().filter(|o| o.error.is_some()).count();
            if flags.json {
                output::json(&outcomes);
            } else {
                for o in &outcomes {
                    match (&o.to, o.write_pause_ms, &o.error) {
                        (Some(to), Some(pause), _) => {
                            println!("moved {} to {to} (writes paused {pause} ms)", o.tenant)
                        }
                        (_, _, error) => eprintln!(
                            "{}: not moved: {}",
                            o.tenant,
                            error.as_deref().unwrap_or("unknown")
                        ),
                    }
                }
                println!(
                    "server {name} is draining: {} moved, {stayed} left",
                    outcomes.len() - stayed
                );
            }
            if stayed > 0 {
                return Err(CliError::Failed(format!(
                    "{stayed} tenant(s) are still on server {name}"
                )));
            }
            Ok(())
        }
        ServersCommand::List(flags) => {
            let servers: Vec<ServerView> = ctx.operator().await?.list_servers(&caller).await?;
            if flags.json {
                output::json(&servers);
            } else {
                let rows: Vec<Vec<String>> = servers
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.url.clone(),
                            s.capacity.to_string(),
                            output::label(&s.state),
                            output::or_dash(s.secret_key_id.as_deref()),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "URL", "CAPACITY", "STATE", "SECRET KEY"], &rows);
            }
            Ok(())
        }
    }
}
