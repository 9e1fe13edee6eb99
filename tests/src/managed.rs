//! [`ManagedWarden`]: a [`Warden`] that stops the services it started when dropped, and the process
//! groups of Warden's services ([`Warden::child_groups`]).

use std::time::{Duration, Instant};

use crate::launcher::Warden;
use crate::procs::live_processes;

/// A [`Warden`] that stops every service it started when dropped (also when a test panics): SIGTERM
/// (Warden's clean shutdown, bounded), then SIGKILL to Warden and to every process group it had started.
/// A plain [`Warden`] is `kill -9`ed on drop and leaves its services running.
pub struct ManagedWarden(pub Warden);

impl Warden {
    /// [`Warden::start`], stopping its services on drop (see [`ManagedWarden`]).
    pub fn start_managed() -> ManagedWarden {
        ManagedWarden(Warden::start())
    }

    /// The process groups of Warden's direct children (its services' groups).
    pub fn child_groups(&self) -> Vec<u32> {
        let Some(pid) = self.pid() else {
            return Vec::new();
        };
        let mut groups: Vec<u32> = live_processes()
            .into_iter()
            .filter(|p| p.ppid == pid && p.pgid != pid)
            .map(|p| p.pgid)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }
}

impl std::ops::Deref for ManagedWarden {
    type Target = Warden;
    fn deref(&self) -> &Warden {
        &self.0
    }
}

impl std::ops::DerefMut for ManagedWarden {
    fn deref_mut(&mut self) -> &mut Warden {
        &mut self.0
    }
}

impl Drop for ManagedWarden {
    fn drop(&mut self) {
        let groups = self.0.child_groups();
        if let Some(mut child) = self.0.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for pgid in groups {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
