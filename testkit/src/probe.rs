//! Connection attempts from inside a namespace: a [`Probe`] is one TCP connect or one UDP echo
//! exchange (optionally from a chosen source address); [`probe_all`] runs many concurrently (one python3
//! process) and reports each as [`Outcome::Open`], [`Outcome::Refused`] or [`Outcome::Dropped`];
//! [`probe`] runs one (a plain TCP connect from a thread inside the namespace, without a process).

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::netns::Netns;

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
    /// Dropped: no answer within the probe's silence timeout (or, for a packet dropped by the local
    /// output chain, the send failed with EPERM).
    Dropped,
}

/// Timeout after which a silent probe counts as dropped, unless the probe says otherwise.
pub const DROP_TIMEOUT: Duration = Duration::from_millis(400);

/// One connection attempt.
#[derive(Debug, Clone)]
pub struct Probe {
    pub tcp: bool,
    /// The source address to bind (one of the namespace's), or the kernel's choice.
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub port: u16,
    /// Silence for this long counts as [`Outcome::Dropped`].
    pub silence: Duration,
}

impl Probe {
    /// A TCP connect from `src` (or the kernel's choice of source) to `dst`:`port`.
    pub fn tcp(src: Option<&str>, dst: &str, port: u16) -> Probe {
        Probe {
            tcp: true,
            src: src.map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("source {s} is not an IP address: {e}"))
            }),
            dst: dst
                .parse()
                .unwrap_or_else(|e| panic!("destination {dst} is not an IP address: {e}")),
            port,
            silence: DROP_TIMEOUT,
        }
    }

    /// A UDP echo exchange from `src` (or the kernel's choice of source) to `dst`:`port`.
    pub fn udp(src: Option<&str>, dst: &str, port: u16) -> Probe {
        Probe {
            tcp: false,
            ..Probe::tcp(src, dst, port)
        }
    }

    /// A TCP connect to `addr` from the kernel's choice of source.
    pub fn tcp_to(addr: SocketAddr) -> Probe {
        Probe {
            tcp: true,
            src: None,
            dst: addr.ip(),
            port: addr.port(),
            silence: DROP_TIMEOUT,
        }
    }

    /// This probe with another silence timeout.
    pub fn within(self, silence: Duration) -> Probe {
        Probe { silence, ..self }
    }
}

/// Runs the probes concurrently from inside `ns`.
pub fn probe_all(ns: &Netns, probes: &[Probe]) -> Vec<Outcome> {
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
                "timeout": p.silence.as_secs_f64(),
            })
        })
        .collect();
    let mut child = ns
        .command("python3")
        .args(["-c", PROBER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start the prober in {}: {e}", ns.name));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(serde_json::Value::Array(input).to_string().as_bytes())
            .unwrap_or_else(|e| panic!("write the probes: {e}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("the prober's output: {e}"));
    assert!(output.status.success(), "prober failed");
    let results: Vec<String> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the prober did not print a JSON list: {e}"));
    assert_eq!(results.len(), probes.len(), "one result per probe");
    results
        .iter()
        .zip(probes)
        .map(|(r, p)| match r.as_str() {
            "open" => Outcome::Open,
            "refused" => Outcome::Refused,
            "dropped" => Outcome::Dropped,
            other => panic!("probe {p:?} from {} failed: {other}", ns.name),
        })
        .collect()
}

/// [`probe_all`] with another silence timeout for every probe: a probe that looked dropped is worth
/// asking again with a longer one on a loaded machine, where an ICMP answer can take longer than
/// [`DROP_TIMEOUT`].
pub fn probe_all_within(ns: &Netns, probes: &[Probe], silence: Duration) -> Vec<Outcome> {
    let probes: Vec<Probe> = probes.iter().map(|p| p.clone().within(silence)).collect();
    probe_all(ns, &probes)
}

/// Runs one probe. A TCP probe from the kernel's choice of source connects from a thread inside the
/// namespace (no process to start, which adds up over the many single probes of a test); the others
/// go through [`probe_all`].
pub fn probe(ns: &Netns, probe: Probe) -> Outcome {
    if probe.tcp && probe.src.is_none() {
        return tcp_connect(ns, &probe);
    }
    let outcomes = probe_all(ns, std::slice::from_ref(&probe));
    outcomes
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no outcome for {probe:?}"))
}

/// A TCP connect to the probe's destination from a thread that joined `ns`, classified as the python
/// prober does.
fn tcp_connect(ns: &Netns, p: &Probe) -> Outcome {
    let (addr, silence) = (SocketAddr::new(p.dst, p.port), p.silence);
    let connected = ns.run_inside(move || TcpStream::connect_timeout(&addr, silence).map(drop));
    match connected {
        Ok(()) => Outcome::Open,
        Err(e) => match e.kind() {
            ErrorKind::ConnectionRefused => Outcome::Refused,
            // Silence, or (EPERM) a drop in the local output chain.
            ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::PermissionDenied => {
                Outcome::Dropped
            }
            _ => panic!("probe {p:?} from {} failed: {e}", ns.name),
        },
    }
}

/// Repeats `p` from inside `ns` until it has `expected`, or panics after `deadline`.
pub fn wait_for_outcome(ns: &Netns, p: Probe, expected: Outcome, deadline: Duration) {
    let start = Instant::now();
    loop {
        let got = probe(ns, p.clone());
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{p:?} from {}: still {got:?} after {deadline:?}, expected {expected:?}",
            ns.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
