//! `tenantry doctor`: every check printed, exit 1 if any failed.

use serde::Serialize;

use crate::cli::JsonFlag;
use crate::context::{Context, KeyPolicy};
use crate::error::CliError;
use crate::output;
use tenantry_ops::check_server;

#[derive(Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

pub async fn run(ctx: &Context, flags: JsonFlag) -> Result<(), CliError> {
    let checks = checks(ctx).await;
    if flags.json {
        output::json(&checks);
    } else {
        for c in &checks {
            println!(
                "{:<4}  {:<20}  {}",
                if c.ok { "ok" } else { "FAIL" },
                c.check,
                c.detail
            );
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} check(s) failed")));
    }
    Ok(())
}

async fn checks(ctx: &Context) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |check: &str, result: Result<String, String>| {
        let ok = result.is_ok();
        out.push(Check {
            check: check.to_owned(),
            ok,
            detail: result.unwrap_or_else(|e| e),
        });
        ok
    };
    let s = &ctx.settings;
    push(
        "config",
        Ok(match &s.file {
            Some(file) => format!("{} (master {})", file.display(), s.master.url.redacted()),
            None => format!("embedded default (master {})", s.master.url.redacted()),
        }),
    );

    let ring = ctx
        .key_ring(KeyPolicy::MustExist)
        .map_err(|e| e.to_string());
    if !push(
        "master key",
        ring.as_ref()
            .map(|r| {
                format!(
                    "current key id {} ({} key(s) in the ring)",
                    r.current().id(),
                    r.key_ids().count()
                )
            })
            .map_err(Clone::clone),
    ) {
        return out;
    }

    let registry = match ctx.connect_registry(KeyPolicy::MustExist).await {
        Ok(r) => r,
        Err(e) => {
            push("master reachable", Err(e.to_string()));
            return out;
        }
    };
    if !push(
        "master reachable",
        registry
            .ping()
            .await
            .map(|()| "yes".into())
            .map_err(|e| e.to_string()),
    ) {
        return out;
    }
    let migrated = match registry.migration_status().await {
        Ok(st) if st.pending.is_empty() => Ok(format!(
            "at version {}",
            st.applied.last().copied().unwrap_or(0)
        )),
        Ok(st) => Err(format!(
            "pending versions {:?}: run `tenantry master migrate`",
            st.pending
        )),
        Err(e) => Err(e.to_string()),
    };
    if !push("master migrated", migrated) {
        return out;
    }

    let servers = match registry.list_servers().await {
        Ok(servers) => servers,
        Err(e) => {
            push("servers", Err(e.to_string()));
            return out;
        }
    };
    if servers.is_empty() {
        push("servers", Ok("none registered".into()));
    }
    for server in &servers {
        let result = match registry.server_connect_url(server) {
            Ok(url) => check_server(server.name.as_str(), &url).await,
            Err(e) => Err(e.to_string()),
        };
        push(&format!("server {}", server.name), result);
    }
    out
}
