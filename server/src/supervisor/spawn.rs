//! Process effects: resolving the Unix user a service runs as, building its environment, spawning
//! `/bin/sh -c <command>` in a new session (own process group) as that user, signalling and ending whole
//! process groups, and running a monitoring command with a timeout.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::CString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::accounts::{self, Account, FileLookup};
use super::procfs;

/// How often a terminating group is checked for survivors.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// How long to wait for a SIGKILLed group to disappear before giving up.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Output lines of a monitoring command kept for the log.
const CHECK_OUTPUT_LINES: usize = 10;

/// The Unix identity a service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub home: PathBuf,
    /// Whether the child must switch identity (Warden is root).
    pub switch: bool,
}

/// Looks `name` up: in `/etc/passwd` and `/etc/group` when nsswitch.conf makes them the whole answer
/// (see [`accounts`]), else through glibc's NSS. When Warden is not root, only its own user is possible.
pub fn resolve_user(name: &str) -> Result<RunAs, String> {
    let me = nix::unistd::geteuid();
    let switch = me.is_root();
    let (account, groups) = match account_from_files(name, switch) {
        Some(found) => found,
        None => account_from_nss(name, switch)?,
    };
    if !switch && account.uid != me.as_raw() {
        return Err(format!(
            "Warden is not running as root, so services can only run as its own user (uid {me}), not {name}"
        ));
    }
    Ok(RunAs {
        name: account.name,
        uid: Uid::from_raw(account.uid),
        gid: Gid::from_raw(account.gid),
        groups,
        home: account.home,
        switch,
    })
}

/// The account `name` (and, `with_groups`, its groups) from the local files, when they give the
/// answer NSS would; `None` sends the lookup to NSS.
fn account_from_files(name: &str, with_groups: bool) -> Option<(Account, Vec<Gid>)> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    if !accounts::files_answer_for_users(&read("/etc/nsswitch.conf")?) {
        return None;
    }
    let FileLookup::Found(account) = accounts::find_account(&read("/etc/passwd")?, name) else {
        return None;
    };
    let groups = if with_groups {
        let FileLookup::Found(gids) = accounts::groups_of(&read("/etc/group")?, name, account.gid)
        else {
            return None;
        };
        gids.into_iter().map(Gid::from_raw).collect()
    } else {
        Vec::new()
    };
    Some((account, groups))
}

/// The account `name` (and, `with_groups`, its groups) through glibc's NSS.
fn account_from_nss(name: &str, with_groups: bool) -> Result<(Account, Vec<Gid>), String> {
    let user = User::from_name(name)
        .map_err(|e| format!("cannot look up user {name}: {e}"))?
        .ok_or_else(|| format!("no such user: {name}"))?;
    let groups = if with_groups {
        let c_name = CString::new(name).map_err(|_| format!("invalid user name: {name}"))?;
        nix::unistd::getgrouplist(&c_name, user.gid)
            .map_err(|e| format!("cannot read the groups of {name}: {e}"))?
    } else {
        Vec::new()
    };
    let account = Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir,
    };
    Ok((account, groups))
}

/// Everything needed to start a command like a service.
#[derive(Debug, Clone)]
pub struct Launch {
    pub command: String,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub run_as: RunAs,
    /// RLIMIT_NOFILE (soft and hard) to set, if any.
    pub nofile: Option<u64>,
}

/// The environment of a service: HOME/USER/LOGNAME of its user, then the global environment, then the
/// service's own variables (which override), then `PORT` = the first reserved port unless the service
/// sets `PORT` itself.
pub fn build_environment(
    run_as: &RunAs,
    global: &BTreeMap<String, String>,
    service: &BTreeMap<String, String>,
    ports: &[u16],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), run_as.home.display().to_string());
    env.insert("USER".to_string(), run_as.name.clone());
    env.insert("LOGNAME".to_string(), run_as.name.clone());
    env.extend(global.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(port) = ports.first() {
        if !service.contains_key("PORT") {
            env.insert("PORT".to_string(), port.to_string());
        }
    }
    env.extend(service.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The working directory: the configured one, else the user's home if it exists, else `/`.
pub fn working_directory(configured: Option<&str>, run_as: &RunAs) -> PathBuf {
    match configured {
        Some(dir) => PathBuf::from(dir),
        None if run_as.home.is_dir() => run_as.home.clone(),
        None => PathBuf::from("/"),
    }
}

/// Starts `/bin/sh -c <command>` as the leader of a new session and process group, as the launch's
/// user, with every signal at its default action, umask [`SERVICE_UMASK`], stdin from /dev/null,
/// stdout and stderr piped.
///
/// Default actions: an ignored signal stays ignored across fork and exec, and a shell cannot even
/// trap a signal that was ignored when it started. Started under `nohup` (or by anything else that
/// ignores SIGHUP), Warden would otherwise hand that on to every service, and a restart's SIGHUP
/// would do nothing until the SIGKILL after the grace.
/// The umask services (and monitoring commands) start with: the usual 022, not Warden's own 077
/// (`crate::file_modes`), so a service creates files as it would when started from a shell.
pub const SERVICE_UMASK: u32 = 0o022;

/// `cgroup_procs`: the `cgroup.procs` file of the service's cgroup, which the child enters (writing `0`)
/// before anything else, so that everything it starts is contained from the first instruction.
pub fn spawn_in_new_group(
    launch: &Launch,
    cgroup_procs: Option<&std::fs::File>,
) -> io::Result<Child> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(&launch.command)
        .env_clear()
        .envs(&launch.env)
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let run_as = launch.run_as.clone();
    let cgroup_fd = cgroup_procs.map(std::os::fd::AsRawFd::as_raw_fd);
    let nofile = launch.nofile;
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe system
    // calls (write, sigaction, umask, setsid, setgroups, setgid, setuid) on data prepared before the
    // fork; it allocates nothing. The cgroup fd stays open in the parent until `spawn` returns.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = cgroup_fd {
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
            }
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(SERVICE_UMASK));
            for signal in Signal::iterator() {
                if !matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
                    nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)
                        .map_err(io::Error::from)?;
                }
            }
            nix::unistd::setsid().map_err(io::Error::from)?;
            if let Some(n) = nofile {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                    .map_err(io::Error::from)?;
            }
            if run_as.switch {
                nix::unistd::setgroups(&run_as.groups).map_err(io::Error::from)?;
                nix::unistd::setgid(run_as.gid).map_err(io::Error::from)?;
                nix::unistd::setuid(run_as.uid).map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Sends `signal` to the process group `pgid`; false when the group no longer exists.
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    if raw <= 1 {
        // Never signal "every process" or init by accident.
        return false;
    }
    killpg(Pid::from_raw(raw), signal).is_ok()
}

/// Whether any process (a zombie included) is in group `pgid`: `kill(-pgid, 0)`, no /proc scan.
fn group_exists(pgid: u32) -> bool {
    match i32::try_from(pgid) {
        Ok(raw) if raw > 1 => !matches!(
            killpg(Pid::from_raw(raw), None),
            Err(nix::errno::Errno::ESRCH)
        ),
        _ => true,
    }
}

async fn group_is_empty(pgid: u32) -> bool {
    // The cheap check first: scanning /proc for every polling group costs O(processes) each time, which
    // adds up when hundreds of services stop at once (Warden's shutdown).
    if !group_exists(pgid) {
        return true;
    }
    // Only zombies may be left (e.g. orphans of an init that does not reap): ask /proc.
    tokio::task::spawn_blocking(move || procfs::group_members(pgid).is_empty())
        .await
        .unwrap_or(false)
}

/// Waits up to `limit` for the group to have no live process.
pub async fn wait_group_empty(pgid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if group_is_empty(pgid).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Ends a whole process group: `first` (SIGTERM or SIGHUP), then SIGKILL to every survivor once
/// `grace` has passed. Returns whether SIGKILL was needed.
pub async fn terminate_group(pgid: u32, first: Signal, grace: Duration) -> bool {
    signal_group(pgid, first);
    if wait_group_empty(pgid, grace).await {
        return false;
    }
    signal_group(pgid, Signal::SIGKILL);
    wait_group_empty(pgid, KILL_WAIT).await;
    true
}

/// Exit code and signal of an exit status.
pub fn exit_parts(status: &ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}

/// A human description of an exit: `code 1` or `signal 9 (SIGKILL)`.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(named) => format!("signal {sig} ({})", named.as_str()),
            Err(_) => format!("signal {sig}"),
        },
        (None, None) => "an unknown status".to_string(),
    }
}

/// The result of one monitoring check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub passed: bool,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The last lines of its combined output.
    pub last_lines: Vec<String>,
}

impl CheckOutcome {
    /// One line for the log: what failed and the command's last output.
    pub fn describe(&self, timeout: Duration) -> String {
        let what = if self.timed_out {
            format!("timed out after {} s", timeout.as_secs_f64())
        } else {
            format!("failed with {}", describe_exit(self.code, self.signal))
        };
        if self.last_lines.is_empty() {
            format!("monitoring command {what} (no output)")
        } else {
            format!(
                "monitoring command {what}; last output: {}",
                self.last_lines.join(" | ")
            )
        }
    }
}

async fn collect_lines<R: AsyncRead + Unpin>(pipe: R, sink: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
        if sink.len() == CHECK_OUTPUT_LINES {
            sink.pop_front();
        }
        sink.push_back(line);
    }
}

/// Runs a monitoring command like the service (user, env, cwd, own process group); a check running
/// longer than `timeout` is killed with its whole group and fails.
pub async fn run_check(launch: &Launch, timeout: Duration) -> io::Result<CheckOutcome> {
    let mut child = spawn_in_new_group(launch, None)?;
    let pgid = child.id().unwrap_or(0);
    let output = Arc::new(Mutex::new(VecDeque::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(collect_lines(out, output.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(collect_lines(err, output.clone())));
    }
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    // Whatever the check left behind goes too (this also closes its pipes).
    signal_group(pgid, Signal::SIGKILL);
    let (status, timed_out) = match waited {
        Ok(status) => (Some(status?), false),
        Err(_) => (child.wait().await.ok(), true),
    };
    for reader in readers {
        if tokio::time::timeout(Duration::from_millis(500), reader)
            .await
            .is_err()
        {
            tracing::debug!("a monitoring command's output did not close");
        }
    }
    let (code, signal) = status.as_ref().map(exit_parts).unwrap_or((None, None));
    let last_lines = output
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    Ok(CheckOutcome {
        passed: !timed_out && code == Some(0),
        code,
        signal,
        timed_out,
        last_lines,
    })
}

/// Does `dir` exist as a directory?
pub fn is_directory(dir: &str) -> bool {
    Path::new(dir).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> RunAs {
        let name = User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap()
            .name;
        resolve_user(&name).unwrap()
    }

    #[test]
    fn the_files_and_nss_agree_on_local_users() {
        for name in ["root", "nobody"] {
            let Some((account, mut groups)) = account_from_files(name, true) else {
                eprintln!("skipped for {name}: the files are not the whole answer on this machine");
                continue;
            };
            let (nss_account, mut nss_groups) = account_from_nss(name, true).unwrap();
            assert_eq!(account, nss_account, "{name}");
            groups.sort_by_key(|g| g.as_raw());
            nss_groups.sort_by_key(|g| g.as_raw());
            assert_eq!(groups, nss_groups, "{name}");
        }
        assert!(resolve_user("no-such-user-xyz").is_err());
    }

    #[test]
    fn environment_is_merged_in_order() {
        let run_as = RunAs {
            name: "svc".into(),
            uid: Uid::from_raw(1000),
            gid: Gid::from_raw(1000),
            groups: vec![],
            home: "/home/svc".into(),
            switch: false,
        };
        let global = BTreeMap::from([
            ("PATH".to_string(), "/global".to_string()),
            ("A".to_string(), "global".to_string()),
        ]);
        let service = BTreeMap::from([("A".to_string(), "service".to_string())]);
        let env = build_environment(&run_as, &global, &service, &[8300, 8301]);
        assert_eq!(env["PATH"], "/global");
        assert_eq!(env["A"], "service");
        assert_eq!(env["PORT"], "8300");
        assert_eq!(env["HOME"], "/home/svc");
        assert_eq!(env["USER"], "svc");
        let own_port = BTreeMap::from([("PORT".to_string(), "9".to_string())]);
        assert_eq!(
            build_environment(&run_as, &global, &own_port, &[8300])["PORT"],
            "9"
        );
        assert!(!build_environment(&run_as, &global, &service, &[]).contains_key("PORT"));
    }

    #[test]
    fn unknown_user_is_an_error() {
        assert!(resolve_user("no-such-user-warden-test").is_err());
    }

    #[test]
    fn exits_are_described() {
        assert_eq!(describe_exit(Some(3), None), "exit code 3");
        assert_eq!(describe_exit(None, Some(9)), "signal 9 (SIGKILL)");
    }

    #[test]
    fn never_signals_everyone() {
        assert!(!signal_group(0, Signal::SIGTERM));
        assert!(!signal_group(1, Signal::SIGTERM));
    }

    #[tokio::test]
    async fn checks_pass_fail_and_time_out() {
        let launch = |command: &str| Launch {
            command: command.to_string(),
            cwd: "/".into(),
            env: BTreeMap::new(),
            run_as: me(),
            nofile: None,
        };
        let long = Duration::from_secs(10);
        let ok = run_check(&launch("echo fine"), long).await.unwrap();
        assert!(ok.passed);
        assert_eq!(ok.last_lines, vec!["fine"]);
        let bad = run_check(&launch("echo nope >&2; exit 3"), long)
            .await
            .unwrap();
        assert!(!bad.passed);
        assert_eq!(bad.code, Some(3));
        assert!(bad.describe(long).contains("exit code 3"));
        assert!(bad.describe(long).contains("nope"));
        let started = std::time::Instant::now();
        let slow = run_check(&launch("sleep 30"), Duration::from_millis(200))
            .await
            .unwrap();
        assert!(slow.timed_out && !slow.passed);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
