//! Hostname resolution at apply time: every hostname of the rules, concurrently, each within
//! [`RESOLVE_TIMEOUT`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use warden_firewall::ResolvedHosts;

/// How long one hostname may take to resolve at apply time.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves hostnames concurrently, each within [`RESOLVE_TIMEOUT`]. Names that do not resolve are
/// left out, so rendering fails naming them.
pub(super) async fn resolve_hostnames(names: Vec<String>) -> ResolvedHosts {
    let lookups = names.into_iter().map(|name| async move {
        let found =
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.clone(), 0))).await;
        let addrs: BTreeSet<IpAddr> = match found {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip().to_canonical()).collect(),
            Ok(Err(e)) => {
                tracing::warn!(host = %name, error = %e, "a firewall hostname does not resolve");
                BTreeSet::new()
            }
            Err(_) => {
                tracing::warn!(host = %name, "resolving a firewall hostname timed out");
                BTreeSet::new()
            }
        };
        (name, addrs.into_iter().collect::<Vec<_>>())
    });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .filter(|(_, addrs)| !addrs.is_empty())
        .collect()
}
