//! The one DNS question Tenantry asks: the TXT values at a domain's challenge name, within a
//! deadline. A resolver is built for each question (verifications are rare), so nothing is
//! cached between them: an operator who just fixed a record and retries sees it at once, not a
//! remembered "no such name".

use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use tenantry_core::settings::DomainSettings;

use crate::OpsError;

/// The TXT values published at `name` (a fully qualified name, trailing dot included), each
/// with its character-strings joined as RFC 7208 §3.3 joins them. No such name, or no TXT
/// record at it → empty. A lookup past `domains.lookup_timeout_ms` → `DnsTimeout`; a resolver
/// that answers with an error (SERVFAIL, REFUSED) or cannot be reached → `DnsFailed`.
pub(crate) async fn txt_values(
    name: &str,
    settings: &DomainSettings,
) -> Result<Vec<String>, OpsError> {
    let deadline = Duration::from_millis(settings.lookup_timeout_ms);
    let failed = |reason: String| OpsError::DnsFailed {
        name: name.trim_end_matches('.').to_owned(),
        reason,
    };
    let timed_out = || OpsError::DnsTimeout {
        name: name.trim_end_matches('.').to_owned(),
        after_ms: settings.lookup_timeout_ms,
    };
    let mut builder = if settings.nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| {
            failed(format!(
                "cannot read the system's resolver configuration ({e})"
            ))
        })?
    } else {
        let servers = settings
            .nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    options.timeout = deadline;
    options.attempts = 1;
    options.use_hosts_file = ResolveHosts::Never;
    let resolver = builder
        .build()
        .map_err(|e| failed(format!("cannot start a resolver ({e})")))?;
    // The resolver's own timeout is per server and attempt; this one bounds the whole question.
    let answer = match tokio::time::timeout(deadline, resolver.txt_lookup(name)).await {
        Err(_) | Ok(Err(NetError::Timeout)) => return Err(timed_out()),
        Ok(Err(e)) if e.is_no_records_found() => return Ok(Vec::new()),
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Ok(Ok(answer)) => answer,
    };
    Ok(answer
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}
