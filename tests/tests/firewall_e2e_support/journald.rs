//! A real `systemd-journald` (Debian's `systemd` package) of the test's own, for the jails' journal
//! source: [`with_private_journal`] runs a closure on a thread in a new mount namespace of its own
//! (propagation private, so nothing it mounts reaches the host) with empty tmpfs over `/run/systemd`,
//! `/run/log` and `/var/log/journal` and a journald started there; processes spawned from that thread
//! (Warden and its `journalctl`, `systemd-cat`) see that journal only. The host's journal, if any, is
//! never touched. Directories this creates on the host (mount points that were missing) are removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use warden_tests::wait_for;

const JOURNALD: &str = "/lib/systemd/systemd-journald";
/// Where journald listens (native protocol, and stdout streams for `systemd-cat`).
const SOCKETS: [&str; 2] = ["/run/systemd/journal/socket", "/run/systemd/journal/stdout"];
/// Our journald's settings: nothing read from or forwarded to the kernel, the console or terminals.
const CONF: &str =
    "[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\n\
                    ForwardToConsole=no\nForwardToWall=no\nRateLimitBurst=0\n";

/// Whether the programs are here (journald, journalctl, systemd-cat, mount, unshare support).
pub fn available() -> Result<(), String> {
    for (path, package) in [
        (JOURNALD, "systemd"),
        ("/usr/bin/journalctl", "systemd"),
        ("/usr/bin/systemd-cat", "systemd"),
        ("/bin/mount", "mount"),
    ] {
        if !Path::new(path).exists() {
            return Err(format!(
                "{path} is missing ({package}; .ci/setup test installs it)"
            ));
        }
    }
    let id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    if id.trim().len() != 32 {
        return Err("/etc/machine-id is missing or empty (journald needs it)".into());
    }
    Ok(())
}

/// The private journald; killed on drop.
pub struct Journal {
    child: Child,
}

impl Journal {
    /// Logs `message` under syslog identifier `ident` through `systemd-cat` (a stdout stream).
    pub fn log(&self, ident: &str, message: &str) {
        let mut cat = Command::new("systemd-cat")
            .args(["-t", ident])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        cat.stdin
            .take()
            .unwrap()
            .write_all(format!("{message}\n").as_bytes())
            .unwrap();
        assert!(cat.wait().unwrap().success(), "systemd-cat failed");
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` with a private journald (see the module doc); `f` runs on a thread of its own, and
/// whatever it spawns shares that thread's mount namespace.
pub fn with_private_journal<T: Send>(f: impl FnOnce(&Journal) -> T + Send) -> T {
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("journald.conf");
    std::fs::write(&conf, CONF).unwrap();
    let mut created: Vec<PathBuf> = Vec::new();
    for dir in ["/run/systemd", "/run/log"] {
        if !Path::new(dir).exists() {
            std::fs::create_dir(dir).unwrap();
            created.push(dir.into());
        }
    }
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // This thread only: a mount namespace of its own, nothing propagating back.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
                run("mount", &["--make-rprivate", "/"]);
                for dir in ["/run/systemd", "/run/log", "/var/log/journal"] {
                    if Path::new(dir).is_dir() {
                        run(
                            "mount",
                            &["-t", "tmpfs", "-o", "mode=0755", "wdn-journal", dir],
                        );
                    }
                }
                if Path::new("/etc/systemd/journald.conf").is_file() {
                    let conf = conf.to_str().unwrap();
                    run("mount", &["--bind", conf, "/etc/systemd/journald.conf"]);
                }
                let child = Command::new(JOURNALD)
                    .env("SYSTEMD_LOG_TARGET", "console")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let journal = Journal { child };
                wait_for("journald's sockets", Duration::from_secs(10), || {
                    SOCKETS.iter().all(|s| Path::new(s).exists()).then_some(())
                });
                f(&journal)
            })
            .join()
    });
    for dir in created {
        let _ = std::fs::remove_dir(dir);
    }
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
