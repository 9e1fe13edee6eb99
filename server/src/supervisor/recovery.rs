//! Restart safety: finding and ending the processes a previous Warden run left behind. Every service
//! process carries [`INSTANCE_VAR`] (a digest of the data dir) in its environment, and the store holds the
//! process group and leader start time of every running service; [`end_stale_group`] checks that start
//! time so a recycled pid is never killed, [`end_marked_groups`] finds the groups a crash left unrecorded,
//! [`end_stale_cgroups`] empties and removes the service cgroups of a previous run.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::cgroup::CgroupTree;
use super::logs::ServiceLog;
use super::record::RunRecord;
use super::{procfs, spawn};

/// The environment variable Warden sets in every service process: a digest of the data dir, so that the
/// processes of this Warden's services (and everything they start) can be found after a crash even when
/// their pid was never saved.
pub const INSTANCE_VAR: &str = "WARDEN_INSTANCE";

/// The [`INSTANCE_VAR`] value of the Warden using `data_dir` (16 hex digits of the SHA-256 of its
/// canonical path).
pub(crate) fn instance_mark(data_dir: &Path) -> String {
    use sha2::Digest;
    let path = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Ends every process group (other than Warden's own) with a process marked as this Warden's service:
/// at start, nothing of a previous run may keep running next to the services started anew.
pub(crate) async fn end_marked_groups(mark: &str, grace: Duration) {
    let own = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
    let entry = format!("{INSTANCE_VAR}={mark}");
    let groups = tokio::task::spawn_blocking(move || procfs::groups_with_environment(&entry, own))
        .await
        .unwrap_or_default();
    if groups.is_empty() {
        return;
    }
    tracing::warn!(
        ?groups,
        "ending process groups of services left from a previous run"
    );
    futures::future::join_all(
        groups
            .into_iter()
            .map(|pgid| spawn::terminate_group(pgid, Signal::SIGTERM, grace)),
    )
    .await;
}

/// Ends a process group a previous Warden run left behind, if it is still that group.
pub(crate) async fn end_stale_group(run: RunRecord, log: &ServiceLog, grace: Duration) {
    let members =
        tokio::task::spawn_blocking(move || procfs::stale_group_members(run.pgid, run.start_ticks))
            .await
            .unwrap_or_default();
    if members.is_empty() {
        return;
    }
    log.warden(format!(
        "found {} process(es) of process group {} left from a previous Warden run; ending them",
        members.len(),
        run.pgid
    ))
    .await;
    tracing::info!(
        pgid = run.pgid,
        "ending a process group left from a previous run"
    );
    spawn::terminate_group(run.pgid, Signal::SIGTERM, grace).await;
}

/// Ends what a previous Warden run left in the service cgroups of `tree` (SIGTERM, then `cgroup.kill`
/// after `grace`) and removes those cgroups: nothing of that run keeps running, setsid or not.
pub(crate) async fn end_stale_cgroups(tree: &CgroupTree, grace: Duration) {
    let stale = tree.existing();
    let populated: Vec<_> = stale.iter().filter(|c| c.populated()).collect();
    if !populated.is_empty() {
        tracing::warn!(
            count = populated.len(),
            "ending the processes left in service cgroups by a previous run"
        );
    }
    futures::future::join_all(
        populated
            .iter()
            .map(|cgroup| cgroup.terminate(Signal::SIGTERM, grace, grace)),
    )
    .await;
    for cgroup in stale {
        if let Err(e) = cgroup.remove() {
            tracing::warn!("cannot remove a stale service cgroup: {e}");
        }
    }
}
