//! One throwaway network namespace ([`Netns`], deleted on drop) and what is done to and inside it:
//! commands and nft run in it, veth links, addresses, link state, static neighbours, and closures run on
//! a thread that joined it ([`in_netns`]). [`requirements`] says whether this machine can do any of it.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Root with `nft`, `ip` and `python3` (the listeners and probes are python3 scripts): what a lab needs.
pub fn requirements() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not running as root (network namespaces and nft need it)".into());
    }
    for (program, arg) in [("nft", "--version"), ("ip", "-V"), ("python3", "--version")] {
        let ok = Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{program} is not available"));
        }
    }
    Ok(())
}

/// Runs a command (`args[0]` with the rest as arguments); panics if it cannot run or fails. Returns
/// its stdout.
pub fn run(args: &[&str]) -> String {
    let Some((program, rest)) = args.split_first() else {
        panic!("run: no command given");
    };
    let output = Command::new(program)
        .args(rest)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A throwaway network namespace with `lo` up, deleted on drop (which also deletes its veth ends).
#[derive(Debug)]
pub struct Netns {
    /// The name under `/var/run/netns`: `wdn-<tag>-<pid>-<n>`, unique per process and call.
    pub name: String,
    /// The local addresses (loopback and those given with [`Netns::add_address`]); a
    /// [`crate::Listener`]'s UDP echo binds each, so a reply leaves from the address probed.
    pub addrs: Vec<String>,
}

impl Netns {
    /// Creates the namespace and brings its loopback up.
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("wdn-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns {
            name,
            addrs: vec!["127.0.0.1".to_string(), "::1".to_string()],
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec <name> <program>`: a command to be completed and run inside. `ip netns exec`
    /// execs the program itself (same pid), so killing the child kills the program.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        command_in(&self.name, program)
    }

    /// Runs a command inside; panics on failure; returns its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// The command line that runs nft inside (for `NftBackend::with_command`); nft's own arguments
    /// follow it.
    pub fn nft_command(&self) -> [&str; 5] {
        ["ip", "netns", "exec", &self.name, "nft"]
    }

    /// `nft list table inet warden` inside, or `None` if there is no such table.
    pub fn warden_table(&self) -> Option<String> {
        let output = self
            .command("nft")
            .args(["list", "table", "inet", "warden"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run nft in {}: {e}", self.name));
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Adds `addr` to interface `dev`: IPv4 as a /24, IPv6 as a /64 without duplicate address detection
    /// (so it works at once). Recorded in [`Netns::addrs`].
    pub fn add_address(&mut self, dev: &str, addr: &str) {
        let ip: IpAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{addr} is not an IP address: {e}"));
        match ip {
            IpAddr::V4(_) => self.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", dev]),
            IpAddr::V6(_) => self.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                dev,
                "nodad",
            ]),
        };
        self.addrs.push(addr.to_string());
    }

    /// Brings interface `dev` up.
    pub fn link_up(&self, dev: &str) {
        self.exec(&["ip", "link", "set", dev, "up"]);
    }

    /// The MAC address of interface `dev`.
    pub fn mac(&self, dev: &str) -> String {
        self.exec(&["cat", &format!("/sys/class/net/{dev}/address")])
            .trim()
            .to_string()
    }

    /// A permanent neighbour entry: `addr` is at `mac` on `dev`. Spares the neighbour discovery of a
    /// second source address (an IPv6 retransmission takes 1 s, which looks like a drop to a probe).
    pub fn pin_neighbour(&self, dev: &str, addr: &str, mac: &str) {
        self.exec(&[
            "ip",
            "neigh",
            "replace",
            addr,
            "lladdr",
            mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ]);
    }

    /// No ICMP rate limiting inside: a reject rule answers every probe, however many arrive at once.
    pub fn answer_every_probe(&self) {
        for sysctl in [
            "net.ipv4.icmp_ratelimit=0",
            "net.ipv4.icmp_ratemask=0",
            "net.ipv6.icmp.ratelimit=0",
        ] {
            self.exec(&["sysctl", "-q", "-w", sysctl]);
        }
    }

    /// Runs `f` on a thread that has joined this namespace.
    pub fn run_inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(Some(&self.name), f)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces by a veth pair: interface `a_if` in `a`, `b_if` in `b` (both down, no
/// addresses yet). Deleting either namespace deletes the pair.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    run(&[
        "ip", "-n", &a.name, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
}

/// `ip netns exec <ns> <program>` for a namespace known by name (see [`Netns::command`]).
pub fn command_in(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// Runs `f` on a thread that has joined network namespace `ns` (or the current one for `None`).
pub fn in_netns<T: Send + 'static>(ns: Option<&str>, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = ns.map(|n| format!("/var/run/netns/{n}"));
    std::thread::spawn(move || {
        if let Some(path) = path {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| panic!("the namespace thread panicked"))
}
