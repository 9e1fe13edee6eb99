//! Shared helpers of the firewall integration tests: root gating, throwaway network namespaces
//! joined by a veth pair (TEST-NET and 2001:db8::/32 addresses only, nothing routed out), and real
//! TCP/UDP listeners and probes run inside them with python3.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[cfg(feature = "nft")]
use warden_firewall::backend::NftBackend;

/// Whether root-only tests can run here. As root with `nft`, `ip` and `python3`: true. Otherwise,
/// with `CI=true`: panics (CI must run them). Otherwise prints `SKIP: <reason>` and returns false.
pub fn require_root_netns() -> bool {
    let reason = missing_requirement();
    match reason {
        None => true,
        Some(reason) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("root network-namespace tests cannot run in CI: {reason}");
            }
            eprintln!("SKIP: {reason}");
            false
        }
    }
}

fn missing_requirement() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not running as root".to_string());
    }
    for (program, arg) in [("nft", "--version"), ("ip", "-V"), ("python3", "--version")] {
        let ok = Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(format!("{program} is not available"));
        }
    }
    None
}

fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A single throwaway namespace (with `lo` up), deleted on drop.
pub struct Netns {
    pub name: String,
    /// Local addresses (UDP listeners bind each, so replies come from the address probed).
    pub addrs: Vec<String>,
}

impl Netns {
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

    /// Runs a command inside the namespace; panics on failure.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full);
    }

    /// The nft backend of this namespace.
    #[cfg(feature = "nft")]
    pub fn backend(&self) -> NftBackend {
        NftBackend::with_command(["ip", "netns", "exec", self.name.as_str(), "nft"])
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

/// Server address (IPv4) in the server namespace.
pub const SERVER_V4: &str = "192.0.2.1";
/// Server address (IPv6).
pub const SERVER_V6: &str = "2001:db8:1::1";
/// Client addresses (IPv4): the first is the default source.
pub const CLIENT_V4: [&str; 2] = ["192.0.2.2", "192.0.2.3"];
/// Client addresses (IPv6): the first is the default source.
pub const CLIENT_V6: [&str; 2] = ["2001:db8:1::2", "2001:db8:1::3"];

/// A server namespace and a client namespace joined by a veth pair.
pub struct Pair {
    pub server: Netns,
    pub client: Netns,
}

impl Pair {
    pub fn new() -> Pair {
        let mut server = Netns::new("s");
        let mut client = Netns::new("c");
        server
            .addrs
            .extend([SERVER_V4, SERVER_V6].map(String::from));
        client.addrs.extend(
            CLIENT_V4
                .iter()
                .chain(CLIENT_V6.iter())
                .map(|a| a.to_string()),
        );
        run(&[
            "ip",
            "-n",
            &server.name,
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth0",
            "netns",
            &client.name,
        ]);
        for (ns, v4s, v6s) in [
            (&server, vec![SERVER_V4], vec![SERVER_V6]),
            (&client, CLIENT_V4.to_vec(), CLIENT_V6.to_vec()),
        ] {
            for v4 in v4s {
                ns.exec(&["ip", "addr", "add", &format!("{v4}/24"), "dev", "veth0"]);
            }
            for v6 in v6s {
                ns.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    "veth0",
                    "nodad",
                ]);
            }
            ns.exec(&["ip", "link", "set", "veth0", "up"]);
            // Rejects answer every probe: no ICMP rate limiting inside the test namespaces.
            for sysctl in [
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv4.icmp_ratemask=0",
                "net.ipv6.icmp.ratelimit=0",
            ] {
                ns.exec(&["sysctl", "-q", "-w", sysctl]);
            }
        }
        // Static neighbour entries: IPv6 neighbour discovery of a second source address can take a
        // 1 s retransmission, which would look like a drop to a 400 ms probe.
        let mac = |ns: &Netns| {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns.name,
                    "cat",
                    "/sys/class/net/veth0/address",
                ])
                .output()
                .expect("read MAC");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (server_mac, client_mac) = (mac(&server), mac(&client));
        for addr in CLIENT_V4.iter().chain(CLIENT_V6.iter()) {
            server.exec(&[
                "ip",
                "neigh",
                "replace",
                addr,
                "lladdr",
                &client_mac,
                "dev",
                "veth0",
                "nud",
                "permanent",
            ]);
        }
        for addr in [SERVER_V4, SERVER_V6] {
            client.exec(&[
                "ip",
                "neigh",
                "replace",
                addr,
                "lladdr",
                &server_mac,
                "dev",
                "veth0",
                "nud",
                "permanent",
            ]);
        }
        Pair { server, client }
    }
}

const LISTENER: &str = r#"
import json, selectors, socket, sys
spec = json.loads(sys.argv[1])
sel = selectors.DefaultSelector()
# TCP: one dual-stack socket per port. UDP: one socket per port and local address, so that an echo
# leaves from the address the probe was sent to (a connected UDP client ignores other sources).
for port in spec["tcp"]:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(256)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in spec["udp"]:
    for addr in spec["addrs"]:
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "udp")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == "tcp":
                c, _ = s.accept()
                c.close()
            else:
                data, addr = s.recvfrom(2048)
                s.sendto(data, addr)
        except OSError:
            pass
"#;

/// TCP listeners and UDP echo servers on `[::]` (dual stack) inside a namespace; killed on drop.
pub struct Listener {
    child: Child,
}

impl Listener {
    pub fn start(ns: &Netns, tcp: &[u16], udp: &[u16]) -> Listener {
        let spec = serde_json::json!({"tcp": tcp, "udp": udp, "addrs": ns.addrs}).to_string();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", LISTENER, &spec])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start listener");
        let stdout = child.stdout.take().expect("listener stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let listener = Listener { child };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listener became ready within 10 s");
        assert_eq!(line.trim(), "ready", "listener failed to start");
        listener
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PROBER: &str = r#"
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
probes = json.load(sys.stdin)
def probe(p):
    family = socket.AF_INET6 if ":" in p["dst"] else socket.AF_INET
    kind = socket.SOCK_STREAM if p["proto"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    s.settimeout(p["timeout"])
    try:
        if p.get("src"):
            s.bind((p["src"], 0))
        s.connect((p["dst"], p["port"]))
        if p["proto"] == "udp":
            try:
                s.send(b"warden-probe")
            except PermissionError:
                # Dropped by the local output chain (drop or reject); a reject still queues the
                # ICMP error, which recv() reports as ECONNREFUSED.
                pass
            if s.recv(64) != b"warden-probe":
                return "error: bad echo"
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "dropped"
    except PermissionError:
        # A drop in the local output chain fails the send with EPERM.
        return "dropped"
    except OSError as e:
        return "error: " + str(e)
    finally:
        s.close()
with ThreadPoolExecutor(max_workers=64) as pool:
    print(json.dumps(list(pool.map(probe, probes))))
"#;

/// What a probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// TCP connected / UDP echoed.
    Open,
    /// Connection refused (TCP reset or ICMP port unreachable).
    Refused,
    /// Dropped: no answer within [`DROP_TIMEOUT`] (or, for a packet dropped by the local output
    /// chain, the send failed with EPERM).
    Dropped,
}

/// One connection attempt.
#[derive(Debug, Clone)]
pub struct Probe {
    pub tcp: bool,
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub port: u16,
}

impl Probe {
    pub fn tcp(src: Option<&str>, dst: &str, port: u16) -> Probe {
        Probe {
            tcp: true,
            src: src.map(|s| s.parse().expect("src address")),
            dst: dst.parse().expect("dst address"),
            port,
        }
    }

    pub fn udp(src: Option<&str>, dst: &str, port: u16) -> Probe {
        Probe {
            tcp: false,
            ..Probe::tcp(src, dst, port)
        }
    }
}

/// Timeout after which a silent probe counts as dropped.
pub const DROP_TIMEOUT: Duration = Duration::from_millis(400);

/// Runs the probes concurrently from inside `ns`.
pub fn probe_all(ns: &Netns, probes: &[Probe]) -> Vec<Outcome> {
    probe_all_within(ns, probes, DROP_TIMEOUT)
}

/// [`probe_all`] with another silence timeout: a probe that looked dropped is worth asking again with a
/// longer one on a loaded machine, where an ICMP answer can take longer than [`DROP_TIMEOUT`].
pub fn probe_all_within(ns: &Netns, probes: &[Probe], timeout: Duration) -> Vec<Outcome> {
    if probes.is_empty() {
        return Vec::new();
    }
    let input: Vec<serde_json::Value> = probes
        .iter()
        .map(|p| {
            serde_json::json!({
                "proto": if p.tcp { "tcp" } else { "udp" },
                "src": p.src.map(|a| a.to_string()),
                "dst": p.dst.to_string(),
                "port": p.port,
                "timeout": timeout.as_secs_f64(),
            })
        })
        .collect();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", PROBER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prober");
    child
        .stdin
        .take()
        .expect("prober stdin")
        .write_all(serde_json::Value::Array(input).to_string().as_bytes())
        .expect("write probes");
    let output = child.wait_with_output().expect("prober output");
    assert!(output.status.success(), "prober failed");
    let results: Vec<String> = serde_json::from_slice(&output.stdout).expect("prober printed JSON");
    results
        .iter()
        .zip(probes)
        .map(|(r, p)| match r.as_str() {
            "open" => Outcome::Open,
            "refused" => Outcome::Refused,
            "dropped" => Outcome::Dropped,
            other => panic!("probe {p:?} failed: {other}"),
        })
        .collect()
}

/// Runs one probe.
pub fn probe(ns: &Netns, probe: Probe) -> Outcome {
    probe_all(ns, &[probe])[0]
}

/// Polls `probe` until it has `expected`, or panics after `deadline`.
pub fn wait_for(ns: &Netns, p: Probe, expected: Outcome, deadline: Duration) {
    let start = Instant::now();
    loop {
        let got = probe(ns, p.clone());
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{p:?} still {got:?} after {deadline:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
