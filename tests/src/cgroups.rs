//! The cgroup v2 subtree of a Warden under test: each [`crate::Warden`] gets its own
//! (`WARDEN_CGROUP_NAME` = the name of its data dir), and [`remove_subtree`] ends and removes what a
//! test's Warden left there (after a `kill -9`), so no test leaves a cgroup behind in the host.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directory Warden creates its subtrees in: the cgroup2 mount plus this process's own cgroup
/// (Warden runs as a child of the tests, in the same cgroup). `None` without a cgroup2.
pub fn cgroup_parent() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split_whitespace().next()? == "cgroup2")
            .then(|| before.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    Some(mount.join(own.trim_start_matches('/')))
}

/// The subtree `name`, if it exists.
pub fn subtree(name: &str) -> Option<PathBuf> {
    let path = cgroup_parent()?.join(name);
    path.is_dir().then_some(path)
}

/// The pids in a cgroup and its descendants.
pub fn pids_in(cgroup: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for child in child_dirs(cgroup) {
        pids.extend(pids_in(&child));
    }
    pids
}

fn child_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills everything in the subtree `name` (`cgroup.kill`) and removes its cgroups, deepest first.
pub fn remove_subtree(name: &str) {
    if let Some(root) = subtree(name) {
        remove_cgroup(&root);
    }
}

fn remove_cgroup(dir: &Path) {
    for child in child_dirs(dir) {
        remove_cgroup(&child);
    }
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether Warden can contain services in cgroups here: root and a writable cgroup2.
pub fn available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root: no writable cgroup2".into());
    }
    let parent = cgroup_parent().ok_or("no cgroup2 file system is mounted")?;
    nix::unistd::access(&parent.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
        .map_err(|e| format!("{} is not writable: {e}", parent.display()))
}
