//! Reading `/proc`: the processes of a process group (pid, ppid, command line, CPU %, RSS, start time),
//! process start times (to tell a live process from a recycled pid), and the listening TCP sockets of
//! `/proc/net/tcp{,6}` (for the port warnings). Parsers are pure and tested on sample text; the
//! readers are blocking and small (call them from `spawn_blocking` when they scan all of `/proc`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use app::model::service::ProcessInfo;
use time::OffsetDateTime;

/// Linux reports process times in USER_HZ, which the kernel ABI fixes at 100 on every architecture
/// Warden targets.
pub const USER_HZ: u64 = 100;

/// The fields of `/proc/<pid>/stat` the supervisor uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    /// User + system CPU time, in USER_HZ ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in USER_HZ ticks (field 22).
    pub start_ticks: u64,
}

impl ProcStat {
    /// A zombie or dead entry is no longer a running process.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`. The command name may contain spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid: u32 = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field k is rest[k - 3].
    let field = |k: usize| rest.get(k - 3).copied();
    let number = |k: usize| field(k).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        comm,
        state: field(3)?.chars().next()?,
        ppid: u32::try_from(number(4)?).ok()?,
        pgrp: u32::try_from(number(5)?).ok()?,
        cpu_ticks: number(14)?.saturating_add(number(15)?),
        start_ticks: number(22)?,
    })
}

/// `/proc/<pid>/stat` of one process, if it exists.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|text| parse_stat(&text))
}

/// The start time (field 22) of a live process.
pub fn start_ticks(pid: u32) -> Option<u64> {
    read_stat(pid)
        .filter(ProcStat::is_live)
        .map(|s| s.start_ticks)
}

/// Every process on the host.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// The process groups (other than `except_pgid`) of live processes whose environment holds `entry`
/// (`NAME=value`), read from `/proc/<pid>/environ` (the environment the process was started with).
pub fn groups_with_environment(entry: &str, except_pgid: u32) -> Vec<u32> {
    let mut groups: Vec<u32> = all_processes()
        .into_iter()
        .filter(|p| p.is_live() && p.pgrp != except_pgid && p.pgrp != 0)
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .map(|environ| {
                    environ
                        .split(|b| *b == 0)
                        .any(|var| var == entry.as_bytes())
                })
                .unwrap_or(false)
        })
        .map(|p| p.pgrp)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// The live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<ProcStat> {
    all_processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid && p.is_live())
        .collect()
}

/// The live members of the group a previous Warden run recorded as (`pgid`, leader start time): the
/// members, if the leader is that very process, or if the leader is gone and every member started no
/// earlier than it (a pgid cannot be reused while its group exists). Empty when the pid was recycled.
pub fn stale_group_members(pgid: u32, leader_start_ticks: u64) -> Vec<ProcStat> {
    let members = group_members(pgid);
    match read_stat(pgid) {
        Some(leader) if leader.is_live() && leader.start_ticks != leader_start_ticks => Vec::new(),
        Some(leader) if leader.is_live() => members,
        _ if members.iter().all(|p| p.start_ticks >= leader_start_ticks) => members,
        _ => Vec::new(),
    }
}

/// The command line of a process (`[comm]` when it has none, e.g. a kernel thread).
pub fn command_line(pid: u32, comm: &str) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    if parts.is_empty() {
        format!("[{comm}]")
    } else {
        parts.join(" ")
    }
}

/// Resident memory in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    parse_vm_rss(&text).unwrap_or(0)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The boot time (seconds since the epoch) from `/proc/stat`.
pub fn boot_time() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Wall-clock time of a process start given in ticks after boot.
pub fn start_time(boot_time: i64, start_ticks: u64) -> Option<OffsetDateTime> {
    let nanos = i128::from(boot_time) * 1_000_000_000
        + i128::from(start_ticks) * (1_000_000_000 / i128::from(USER_HZ));
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Every live process of the group `pgid`, main process (`main_pid`) first, then by pid. CPU % is the
/// use over `sample` (measured by reading the counters twice; a process younger than that is measured
/// since its start). Blocking: sleeps for `sample`.
pub fn list_group(pgid: u32, main_pid: Option<u32>, sample: Duration) -> Vec<ProcessInfo> {
    list_members(|| group_members(pgid), main_pid, sample)
}

/// The live processes among `pids` (e.g. a cgroup's `cgroup.procs`).
pub fn live_members(pids: &[u32]) -> Vec<ProcStat> {
    pids.iter()
        .filter_map(|&pid| read_stat(pid))
        .filter(ProcStat::is_live)
        .collect()
}

/// The processes `members` returns (read twice, `sample` apart, for the CPU use), main process first.
pub fn list_members(
    members: impl Fn() -> Vec<ProcStat>,
    main_pid: Option<u32>,
    sample: Duration,
) -> Vec<ProcessInfo> {
    let first: BTreeMap<u32, u64> = members()
        .into_iter()
        .map(|p| (p.pid, p.cpu_ticks))
        .collect();
    if first.is_empty() {
        return Vec::new();
    }
    std::thread::sleep(sample);
    let boot = boot_time().unwrap_or(0);
    let uptime_ticks = read_uptime_ticks();
    let mut out: Vec<ProcessInfo> = members()
        .into_iter()
        .map(|p| {
            let (ticks, over) = match first.get(&p.pid) {
                Some(before) => (p.cpu_ticks.saturating_sub(*before), sample),
                None => {
                    let age = uptime_ticks.saturating_sub(p.start_ticks).max(1);
                    (p.cpu_ticks, Duration::from_millis(age * 1000 / USER_HZ))
                }
            };
            let seconds = ticks as f64 / USER_HZ as f64;
            let cpu_percent = if over.is_zero() {
                0.0
            } else {
                (seconds / over.as_secs_f64() * 1000.0).round() / 10.0
            };
            ProcessInfo {
                pid: p.pid,
                ppid: p.ppid,
                command: command_line(p.pid, &p.comm),
                cpu_percent,
                rss_bytes: rss_bytes(p.pid),
                started_at: start_time(boot, p.start_ticks)
                    .map(super::logs::rfc3339_millis)
                    .unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by_key(|p| (Some(p.pid) != main_pid, p.pid));
    out
}

fn read_uptime_ticks() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map(|secs| (secs * USER_HZ as f64) as u64)
        .unwrap_or(0)
}

/// Parses `/proc/net/tcp` (`v6 = false`) or `/proc/net/tcp6` text into the (address, port) pairs of
/// its LISTEN sockets.
pub fn parse_listening(text: &str, v6: bool) -> Vec<(IpAddr, u16)> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let (addr_hex, port_hex) = local.split_once(':')?;
            let port = u16::from_str_radix(port_hex, 16).ok()?;
            let addr = if v6 {
                parse_hex_ipv6(addr_hex)?
            } else {
                parse_hex_ipv4(addr_hex)?
            };
            Some((addr, port))
        })
        .collect()
}

/// The kernel prints each 32-bit word of the address as a native-endian number.
fn parse_hex_word(hex: &str) -> Option<[u8; 4]> {
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

fn parse_hex_ipv4(hex: &str) -> Option<IpAddr> {
    (hex.len() == 8).then_some(())?;
    Some(IpAddr::V4(Ipv4Addr::from(parse_hex_word(hex)?)))
}

fn parse_hex_ipv6(hex: &str) -> Option<IpAddr> {
    (hex.len() == 32).then_some(())?;
    let mut bytes = [0u8; 16];
    for i in 0..4 {
        let word = parse_hex_word(hex.get(i * 8..i * 8 + 8)?)?;
        bytes[i * 4..i * 4 + 4].copy_from_slice(&word);
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

/// The addresses with a LISTEN socket on TCP `port` in Warden's network namespace.
pub fn listening_addresses(port: u16) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                parse_listening(&text, v6)
                    .into_iter()
                    .filter(|(_, p)| *p == port)
                    .map(|(a, _)| a),
            );
        }
    }
    out
}

/// How a port is bound, for the status warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortBinding {
    NotListening,
    LoopbackOnly,
    Reachable,
}

/// Classifies the listening addresses of one port: any non-loopback address (`::` and `0.0.0.0`
/// included) makes it reachable; only 127.0.0.0/8 or `::1` is loopback-only.
pub fn classify_binding(addresses: &[IpAddr]) -> PortBinding {
    let is_loopback = |a: &IpAddr| match a {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    if addresses.is_empty() {
        PortBinding::NotListening
    } else if addresses.iter().all(is_loopback) {
        PortBinding::LoopbackOnly
    } else {
        PortBinding::Reachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let text = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5555 1000 200 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.pid, 1234);
        assert_eq!(stat.comm, "my (odd) proc");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.pgrp, 1234);
        assert_eq!(stat.cpu_ticks, 10);
        assert_eq!(stat.start_ticks, 5555);
        assert!(stat.is_live());
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("12 (x) S 1").is_none());
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        let stat = read_stat(me).unwrap();
        assert_eq!(stat.pid, me);
        assert!(start_ticks(me).is_some());
        assert!(rss_bytes(me) > 0);
        assert!(command_line(me, "x").len() > 1);
        assert!(boot_time().is_some());
    }

    #[test]
    fn vm_rss() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t    1204 kB\n"),
            Some(1204 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn listening_sockets_are_parsed() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:20CC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0";
        let got = parse_listening(v4, false);
        let expected_local: IpAddr = if cfg!(target_endian = "little") {
            "127.0.0.1".parse().unwrap()
        } else {
            "1.0.0.127".parse().unwrap()
        };
        assert_eq!(
            got,
            vec![(expected_local, 8080), ("0.0.0.0".parse().unwrap(), 8396)]
        );
        let v6 =
            "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:20CC 00000000000000000000000000000000:0000 0A 0
   1: 00000000000000000000000001000000:20CD 00000000000000000000000000000000:0000 0A 0";
        let got = parse_listening(v6, true);
        assert_eq!(got[0], ("::".parse().unwrap(), 8396));
        if cfg!(target_endian = "little") {
            assert_eq!(got[1], ("::1".parse().unwrap(), 8397));
        }
    }

    #[test]
    fn bindings_are_classified() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let table = [
            (vec![], PortBinding::NotListening),
            (vec![ip("127.0.0.1")], PortBinding::LoopbackOnly),
            (vec![ip("::1"), ip("127.0.0.1")], PortBinding::LoopbackOnly),
            (vec![ip("::ffff:127.0.0.1")], PortBinding::LoopbackOnly),
            (vec![ip("::")], PortBinding::Reachable),
            (vec![ip("0.0.0.0")], PortBinding::Reachable),
            (vec![ip("127.0.0.1"), ip("::")], PortBinding::Reachable),
            (vec![ip("192.0.2.7")], PortBinding::Reachable),
        ];
        for (addresses, expected) in table {
            assert_eq!(classify_binding(&addresses), expected, "{addresses:?}");
        }
    }
}
