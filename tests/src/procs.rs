//! The processes on this machine, read from `/proc` (zombies excluded): for tests that check which
//! processes a service or Warden left behind.

/// One live (not zombie) process from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub cmdline: String,
}

/// Every live process (zombies excluded), read from `/proc`.
pub fn live_processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            if state == "Z" || state == "X" {
                return None;
            }
            let ppid = fields.next()?.parse().ok()?;
            let pgid = fields.next()?.parse().ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Some(Proc {
                pid,
                ppid,
                pgid,
                cmdline,
            })
        })
        .collect()
}

/// Live processes whose command line contains `marker`.
pub fn processes_matching(marker: &str) -> Vec<Proc> {
    live_processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(marker))
        .collect()
}

/// Live processes of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<Proc> {
    live_processes()
        .into_iter()
        .filter(|p| p.pgid == pgid)
        .collect()
}

/// Is a (non-zombie) process with this pid alive?
pub fn pid_alive(pid: u32) -> bool {
    live_processes().iter().any(|p| p.pid == pid)
}
