//! cgroup v2 containment: every service runs in its own cgroup under a subtree Warden owns
//! (`<cgroup2 mount>/<Warden's own cgroup>/<subtree name>/svc-<id>`), so a child that leaves the process
//! group (`setsid`, a double fork) is still listed, and stop ends it (`cgroup.kill`, then `populated 0`
//! in `cgroup.events`).
//!
//! The parsers ([`cgroup2_mount`], [`own_cgroup`], [`parse_populated`], [`parse_usage_usec`],
//! [`parse_pids`]) are pure; [`CgroupTree`] and [`ServiceCgroup`] are the thin file-system shell. Where no
//! writable cgroup2 exists, [`CgroupTree::open`] fails and the supervisor keeps process groups.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

/// How often a cgroup being emptied is checked.
const POLL: Duration = Duration::from_millis(20);

/// Why the cgroup subtree is not usable (then services are contained by process groups only).
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup2 file system is mounted (see /proc/self/mountinfo)")]
    NoMount,
    #[error("invalid cgroup name {0:?}")]
    BadName(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Undoes the octal escapes of `/proc/self/mountinfo` (`\040` for a space, ...).
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            let value = std::str::from_utf8(digits)
                .ok()
                .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                .and_then(|d| u8::from_str_radix(d, 8).ok());
            if let Some(value) = value {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount point of the (first) cgroup2 file system in a `/proc/self/mountinfo` text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fstype = after.split_whitespace().next()?;
        if fstype != "cgroup2" {
            return None;
        }
        let mount_point = before.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mount_path(mount_point)))
    })
}

/// The cgroup v2 path of the process in a `/proc/self/cgroup` text (the `0::<path>` line).
pub fn own_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim().to_string())
}

/// `populated` of a `cgroup.events` text.
pub fn parse_populated(events: &str) -> Option<bool> {
    events.lines().find_map(|line| match line.split_once(' ')? {
        ("populated", value) => Some(value.trim() == "1"),
        _ => None,
    })
}

/// `usage_usec` of a `cpu.stat` text: the CPU time of every process the cgroup ever held.
pub fn parse_usage_usec(cpu_stat: &str) -> Option<u64> {
    cpu_stat
        .lines()
        .find_map(|line| match line.split_once(' ')? {
            ("usage_usec", value) => value.trim().parse().ok(),
            _ => None,
        })
}

/// The pids of a `cgroup.procs` text.
pub fn parse_pids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// A cgroup name Warden creates: letters, digits, `-`, `_`, `.`, not starting with a dot.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The controllers a service limit needs: `memory` (memory.max), `pids` (pids.max), `cpu` (cpu.max).
pub const LIMIT_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// The subtree Warden owns: one directory holding one cgroup per service.
#[derive(Debug, Clone)]
pub struct CgroupTree {
    root: PathBuf,
    /// The controllers enabled for the service cgroups (of [`LIMIT_CONTROLLERS`]).
    controllers: BTreeSet<String>,
}

impl CgroupTree {
    /// Finds the cgroup2 mount and Warden's own cgroup, and creates (or reuses) the subtree `name`
    /// below it. Fails where there is no cgroup2 or it is not writable (no root, no delegation).
    pub fn open(name: &str) -> Result<CgroupTree, CgroupError> {
        if !valid_name(name) {
            return Err(CgroupError::BadName(name.to_string()));
        }
        let mountinfo = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(mountinfo).map_err(io_error(mountinfo))?;
        let mount = cgroup2_mount(&text).ok_or(CgroupError::NoMount)?;
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|t| own_cgroup(&t))
            .unwrap_or_default();
        let base = mount.join(own.trim_start_matches('/'));
        CgroupTree::open_at(&base, name)
    }

    /// [`CgroupTree::open`] below an explicit parent cgroup directory.
    pub fn open_at(parent: &Path, name: &str) -> Result<CgroupTree, CgroupError> {
        if !valid_name(name) {
            return Err(CgroupError::BadName(name.to_string()));
        }
        let root = parent.join(name);
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(&root)(e)),
        }
        let procs = root.join("cgroup.procs");
        nix::unistd::access(&procs, nix::unistd::AccessFlags::W_OK)
            .map_err(|e| io_error(&procs)(io::Error::from(e)))?;
        let controllers = enable_controllers(&root);
        Ok(CgroupTree { root, controllers })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The controllers service cgroups have here (those of [`LIMIT_CONTROLLERS`] delegated to Warden).
    pub fn controllers(&self) -> &BTreeSet<String> {
        &self.controllers
    }

    /// The cgroup of the service `id` (not created yet).
    pub fn service(&self, id: &str) -> Result<ServiceCgroup, CgroupError> {
        let name = format!("svc-{id}");
        if !valid_name(&name) {
            return Err(CgroupError::BadName(name));
        }
        Ok(ServiceCgroup {
            path: self.root.join(name),
        })
    }

    /// The service cgroups that exist now (at start: those a previous run left).
    pub fn existing(&self) -> Vec<ServiceCgroup> {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| ServiceCgroup { path: e.path() })
            .collect()
    }

    /// Ends and removes every service cgroup, then the subtree itself (Warden's shutdown).
    pub async fn remove(&self, limit: Duration) -> Result<(), CgroupError> {
        for cgroup in self.existing() {
            cgroup.end(limit).await;
            cgroup.remove()?;
        }
        match std::fs::remove_dir(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&self.root)(e)),
        }
    }
}

/// Enables for the service cgroups each of [`LIMIT_CONTROLLERS`] the subtree has (its
/// `cgroup.controllers`, which the delegation of Warden's own cgroup decides); returns those enabled.
fn enable_controllers(root: &Path) -> BTreeSet<String> {
    let available = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let control = root.join("cgroup.subtree_control");
    available
        .split_whitespace()
        .filter(|c| LIMIT_CONTROLLERS.contains(c))
        .filter(|c| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&control)
                .and_then(|mut f| f.write_all(format!("+{c}").as_bytes()))
                .is_ok()
        })
        .map(str::to_string)
        .collect()
}

/// The `cpu.max` value for `percent` of one core: quota and period in microseconds.
pub fn cpu_max_value(percent: u32) -> String {
    const PERIOD: u64 = 100_000;
    format!("{} {PERIOD}", u64::from(percent) * PERIOD / 100)
}

/// The cgroup of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCgroup {
    path: PathBuf,
}

impl ServiceCgroup {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.file(name)).ok()
    }

    fn write(&self, name: &str, value: &str) -> Result<(), CgroupError> {
        let path = self.file(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.write_all(value.as_bytes()).map_err(io_error(&path))
    }

    /// Writes the limits the enabled `controllers` can enforce (`memory.max`, `pids.max`, `cpu.max`;
    /// `max` where a limit is unset).
    pub fn apply_limits(
        &self,
        limits: &app::model::service::ServiceLimits,
        controllers: &BTreeSet<String>,
    ) -> Result<(), CgroupError> {
        let max = |v: Option<u64>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
        if controllers.contains("memory") {
            self.write("memory.max", &max(limits.memory_max_bytes))?;
        }
        if controllers.contains("pids") {
            self.write("pids.max", &max(limits.tasks_max))?;
        }
        if controllers.contains("cpu") {
            let value = limits
                .cpu_max_percent
                .map_or_else(|| "max 100000".to_string(), cpu_max_value);
            self.write("cpu.max", &value)?;
        }
        Ok(())
    }

    /// Creates the cgroup (an existing one is reused).
    pub fn create(&self) -> Result<(), CgroupError> {
        match std::fs::create_dir(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_error(&self.path)(e)),
        }
    }

    /// `cgroup.procs` opened for writing (close-on-exec): a child writes `0` to it before exec to
    /// enter the cgroup.
    pub fn procs_file(&self) -> Result<std::fs::File, CgroupError> {
        let path = self.file("cgroup.procs");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))
    }

    /// The pids in the cgroup (zombies are not listed).
    pub fn pids(&self) -> Vec<u32> {
        self.read("cgroup.procs")
            .map(|t| parse_pids(&t))
            .unwrap_or_default()
    }

    /// Whether any live process is in the cgroup (a missing cgroup is empty).
    pub fn populated(&self) -> bool {
        match self.read("cgroup.events") {
            Some(events) => parse_populated(&events).unwrap_or(true),
            None => self.path.exists() && !self.pids().is_empty(),
        }
    }

    /// The CPU time all processes of the cgroup used, in microseconds.
    pub fn cpu_usage_usec(&self) -> Option<u64> {
        self.read("cpu.stat").and_then(|t| parse_usage_usec(&t))
    }

    /// `memory.current`, where the memory controller is enabled.
    pub fn memory_current(&self) -> Option<u64> {
        self.read("memory.current")?.trim().parse().ok()
    }

    /// Sends `signal` to every process in the cgroup; returns how many were signalled.
    pub fn signal(&self, signal: Signal) -> usize {
        self.pids()
            .into_iter()
            .filter_map(|pid| i32::try_from(pid).ok().filter(|p| *p > 1))
            .filter(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), signal).is_ok())
            .count()
    }

    /// SIGKILL to every process of the cgroup at once (`cgroup.kill`; SIGKILL to each pid on kernels
    /// before 5.14, which lack it).
    pub fn kill(&self) {
        if self.write("cgroup.kill", "1").is_err() {
            self.signal(Signal::SIGKILL);
        }
    }

    /// Waits up to `limit` for `populated 0`.
    pub async fn wait_empty(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if !self.populated() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills everything in the cgroup and waits (up to `limit`) until it is empty. Without
    /// `cgroup.kill`, the processes are killed one by one, again each time round (a dying process may
    /// still have forked).
    pub async fn end(&self, limit: Duration) -> bool {
        if !self.populated() {
            return true;
        }
        let has_kill = self.file("cgroup.kill").exists();
        self.kill();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if !self.populated() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            if !has_kill {
                self.signal(Signal::SIGKILL);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends `first` to every process, waits `grace` for the cgroup to empty, then kills what is left.
    /// Returns whether the kill was needed.
    pub async fn terminate(&self, first: Signal, grace: Duration, kill_wait: Duration) -> bool {
        self.signal(first);
        if self.wait_empty(grace).await {
            return false;
        }
        self.end(kill_wait).await;
        true
    }

    /// Removes the (empty) cgroup; a missing one is fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match std::fs::remove_dir(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&self.path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified =
            "29 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let escaped = "29 22 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount(escaped), Some(PathBuf::from("/mnt/my cg")));
        assert_eq!(cgroup2_mount(hybrid.lines().next().unwrap_or("")), None);
    }

    #[test]
    fn parses_the_cgroup_files() {
        assert_eq!(
            own_cgroup("1:cpu:/\n0::/system.slice/warden.service\n").as_deref(),
            Some("/system.slice/warden.service")
        );
        assert_eq!(own_cgroup("1:cpu:/\n"), None);
        assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(parse_populated("frozen 0\n"), None);
        assert_eq!(
            parse_usage_usec("usage_usec 1234\nuser_usec 1000\n"),
            Some(1234)
        );
        assert_eq!(parse_pids("12\n34\n\n"), vec![12, 34]);
        assert_eq!(cpu_max_value(50), "50000 100000");
        assert_eq!(cpu_max_value(250), "250000 100000");
    }

    #[test]
    fn names_are_checked() {
        for good in ["warden", "warden-0123abcd", "warden_test.1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", ".hidden"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
