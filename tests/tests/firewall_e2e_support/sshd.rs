//! A real OpenSSH `sshd` (Debian's openssh-server) for the firewall end-to-end tests: started in a
//! namespace on one port with a throwaway host key, its log lines kept in a file; killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use warden_testkit::Netns;

/// A real OpenSSH server in a namespace, logging to a file (`-e`: its log lines on stderr); killed on
/// drop.
pub struct Sshd {
    child: Child,
    /// The file sshd logs to.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
    made_privsep_dir: bool,
}

/// sshd refuses to start without its privilege separation directory.
const PRIVSEP_DIR: &str = "/run/sshd";

impl Sshd {
    pub fn start(ns: &Netns, port: u16) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("host_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap();
        assert!(keygen.success(), "ssh-keygen failed");
        let made_privsep_dir = !Path::new(PRIVSEP_DIR).exists();
        if made_privsep_dir {
            std::fs::create_dir(PRIVSEP_DIR).unwrap();
        }
        let log = dir.path().join("sshd.log");
        let log_file = std::fs::File::create(&log).unwrap();
        // sshd re-executes itself, so it wants its absolute path; -D: foreground, -e: log to stderr.
        let child = ns
            .command("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", "/dev/null", "-p", &port.to_string()])
            .arg("-h")
            .arg(&key)
            .args(["-o", "PidFile=none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Sshd {
            child,
            log,
            _dir: dir,
            made_privsep_dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.made_privsep_dir {
            let _ = std::fs::remove_dir(PRIVSEP_DIR);
        }
    }
}
