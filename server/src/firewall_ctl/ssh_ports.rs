//! The TCP ports of SSH that anti-lockout keeps open: the `ssh_ports` setting when it names some, else
//! the ports the running sshd listens on in Warden's network namespace (its sockets, found through
//! `/proc/<pid>/fd`, matched to the LISTEN entries of `/proc/net/tcp{,6}`), else 22. The choice is
//! pure ([`choose`]); [`sshd_listening_ports`] is the `/proc` scan.

use std::collections::{BTreeSet, HashSet};

use app::model::firewall::SshPortsSource;
use warden_firewall::SSH_PORT;

/// The SSH ports in force and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPorts {
    /// Sorted, without repeats, never empty.
    pub ports: Vec<u16>,
    pub source: SshPortsSource,
}

/// The ports from the setting, else the detected ones, else 22.
pub fn choose(setting: &[u16], detected: &[u16]) -> SshPorts {
    let (ports, source) = if !setting.is_empty() {
        (setting, SshPortsSource::Setting)
    } else if !detected.is_empty() {
        (detected, SshPortsSource::Sshd)
    } else {
        (&[SSH_PORT][..], SshPortsSource::Default)
    };
    let ports: BTreeSet<u16> = ports.iter().copied().filter(|p| *p != 0).collect();
    SshPorts {
        ports: ports.into_iter().collect(),
        source,
    }
}

/// The ports of the LISTEN sockets (`(port, inode)`) whose inode one of sshd's processes holds.
fn ports_held(listening: &[(u16, u64)], sshd_sockets: &HashSet<u64>) -> Vec<u16> {
    let ports: BTreeSet<u16> = listening
        .iter()
        .filter(|(_, inode)| sshd_sockets.contains(inode))
        .map(|(port, _)| *port)
        .collect();
    ports.into_iter().collect()
}

/// Whether a process name is the SSH daemon's listener (`sshd`; OpenSSH ≥ 9.8 runs sessions as
/// `sshd-session`, which holds no listening socket).
fn is_sshd(comm: &str) -> bool {
    comm == "sshd"
}

/// The TCP ports sshd listens on here; empty when there is no sshd, or `/proc` does not let Warden
/// see its sockets (another user's process without root). Blocking: reads `/proc`.
pub fn sshd_listening_ports() -> Vec<u16> {
    let Ok(processes) = procfs::process::all_processes() else {
        return Vec::new();
    };
    let mut sshd_sockets = HashSet::new();
    for process in processes.flatten() {
        let Ok(stat) = process.stat() else { continue };
        if !is_sshd(&stat.comm) {
            continue;
        }
        let Ok(fds) = process.fd() else { continue };
        for fd in fds.flatten() {
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                sshd_sockets.insert(inode);
            }
        }
    }
    if sshd_sockets.is_empty() {
        return Vec::new();
    }
    let tables = [procfs::net::tcp(), procfs::net::tcp6()];
    let listening: Vec<(u16, u64)> = tables
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.state == procfs::net::TcpState::Listen)
        .map(|entry| (entry.local_address.port(), entry.inode))
        .collect();
    ports_held(&listening, &sshd_sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_wins_then_sshd_then_22() {
        assert_eq!(
            choose(&[2222, 22, 2222], &[2200]),
            SshPorts {
                ports: vec![22, 2222],
                source: SshPortsSource::Setting
            }
        );
        assert_eq!(
            choose(&[], &[2200, 22]),
            SshPorts {
                ports: vec![22, 2200],
                source: SshPortsSource::Sshd
            }
        );
        assert_eq!(
            choose(&[], &[]),
            SshPorts {
                ports: vec![22],
                source: SshPortsSource::Default
            }
        );
    }

    #[test]
    fn only_sockets_sshd_holds_count() {
        // sshd listening on 2222 over IPv4 and IPv6 (two sockets); another program on 8080.
        let listening = [(2222, 101), (2222, 102), (8080, 103)];
        let sshd: HashSet<u64> = [101, 102, 555].into();
        assert_eq!(ports_held(&listening, &sshd), vec![2222]);
        assert_eq!(ports_held(&listening, &HashSet::new()), Vec::<u16>::new());
        assert!(is_sshd("sshd"));
        assert!(!is_sshd("sshd-session"));
    }
}
