//! One packet-rate sample of `bench_firewall`: a UDP flood from a socket in one namespace to a socket in
//! another (or the same one, over loopback), counted two ways:
//! - wall-clock: datagrams the receiving socket read per second;
//! - per CPU-second: datagrams that passed the firewall (the server namespace's `Udp6InDatagrams` plus
//!   `Udp6RcvbufErrors`: delivered to the socket, or dropped only because its buffer was full) per
//!   second of CPU used by the sending thread, the receiving thread and the `ksoftirqd` threads (the
//!   kernel's send, filter and receive work runs in one of them). This figure does not depend on what
//!   else the shared machine is doing, nor on whether the receiver kept up.
//!
//! The sending and receiving threads are pinned to one CPU, the same in every sample.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_testkit::{in_netns, Netns};

/// Phases of one rate measurement, shared by the sender and receiver threads.
const WARMUP: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// One measurement.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    /// Datagrams read by the receiver per second of wall-clock time.
    pub per_sec: f64,
    /// Datagrams past the firewall per second of CPU time (sender + receiver + softirq threads).
    pub per_cpu_sec: f64,
}

/// CPU time, in nanoseconds, a task has run (`schedstat`, first field).
fn schedstat_ns(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Pins the calling thread to `cpu` (if the machine has it): the sender, the receiver and the
/// softirq work they cause then share one CPU's caches in every sample, whatever else runs.
fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// The CPU the packet threads are pinned to: the last one.
fn packet_cpu() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get() - 1)
}

/// CPU time this thread has run, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    schedstat_ns("/proc/thread-self/schedstat")
}

/// The `schedstat` files of the kernel's softirq threads (one per CPU).
pub fn softirq_threads() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with("ksoftirqd/"))
        })
        .map(|e| e.path().join("schedstat").to_string_lossy().into_owned())
        .collect()
}

fn softirq_cpu_ns(threads: &[String]) -> u64 {
    threads.iter().map(|t| schedstat_ns(t)).sum()
}

/// UDP (v6) datagrams that got past the firewall of the namespace of the calling thread.
fn udp6_passed() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp6").unwrap_or_default();
    snmp.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let value: u64 = fields.next()?.parse().ok()?;
            matches!(name, "Udp6InDatagrams" | "Udp6RcvbufErrors").then_some(value)
        })
        .sum()
}

/// Records a thread's CPU time when it first sees each phase after the warm-up.
struct CpuWindow {
    seen: u8,
    start: u64,
    end: u64,
}

impl CpuWindow {
    fn new() -> CpuWindow {
        CpuWindow {
            seen: WARMUP,
            start: 0,
            end: 0,
        }
    }

    /// Returns `true` once the measurement has stopped.
    fn observe(&mut self, phase: &AtomicU8) -> bool {
        let now = phase.load(Ordering::Relaxed);
        if now != self.seen {
            if now >= MEASURING && self.seen == WARMUP {
                self.start = thread_cpu_ns();
            }
            if now == STOPPED {
                self.end = thread_cpu_ns();
            }
            self.seen = now;
        }
        now == STOPPED
    }

    fn nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Datagrams from `source` (in `client`) to `target` (in `server`) over `secs` seconds after a short
/// warm-up; `softirq` lists the softirq threads ([`softirq_threads`]). With `established`, the
/// receiver answers the first datagram once, so that to conntrack the flow is established (without,
/// a one-way flow stays new and every datagram is a new packet to the firewall).
pub fn udp_rate(
    (server, client): (&Netns, &Netns),
    source: &str,
    target: SocketAddr,
    established: bool,
    secs: f64,
    softirq: &[String],
) -> Rate {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (passed_tx, passed_rx) = std::sync::mpsc::channel();
    let receiver = {
        let (phase, ns) = (phase.clone(), server.name.clone());
        std::thread::spawn(move || {
            in_netns(Some(&ns), move || {
                pin(packet_cpu());
                let socket = UdpSocket::bind(target).expect("bind receiver");
                socket
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                ready_tx.send(()).expect("ready");
                let mut buf = [0u8; 64];
                let mut window = CpuWindow::new();
                let (mut count, mut first) = (0u64, 0u64);
                let mut passed_at_start = 0;
                loop {
                    if let Ok((_, from)) = socket.recv_from(&mut buf) {
                        if count == 0 && established {
                            // One answer: conntrack now calls the flow established.
                            let _ = socket.send_to(b"ok", from);
                        }
                        count += 1;
                    }
                    let was = window.seen;
                    let stopped = window.observe(&phase);
                    if was == WARMUP && window.seen >= MEASURING {
                        first = count;
                        passed_at_start = udp6_passed();
                    }
                    if stopped {
                        let passed = udp6_passed().saturating_sub(passed_at_start);
                        passed_tx.send(passed).expect("passed");
                        return (count - first, window.nanos());
                    }
                }
            })
        })
    };
    ready_rx.recv().expect("receiver ready");
    let sender = {
        let (phase, ns, source) = (phase.clone(), client.name.clone(), source.to_string());
        std::thread::spawn(move || {
            in_netns(Some(&ns), move || {
                pin(packet_cpu());
                let socket = UdpSocket::bind(format!("[{source}]:0")).expect("bind sender");
                socket.connect(target).expect("connect");
                let payload = [0u8; 32];
                let mut window = CpuWindow::new();
                while !window.observe(&phase) {
                    let _ = socket.send(&payload);
                }
                window.nanos()
            })
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let softirq_start = softirq_cpu_ns(softirq);
    let start = Instant::now();
    phase.store(MEASURING, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(secs));
    phase.store(STOPPED, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let softirq_ns = softirq_cpu_ns(softirq).saturating_sub(softirq_start);
    let sender_ns = sender.join().expect("sender");
    let (received, receiver_ns) = receiver.join().expect("receiver");
    let passed = passed_rx.recv().unwrap_or(received);
    let cpu_secs = (sender_ns + receiver_ns + softirq_ns) as f64 / 1e9;
    Rate {
        per_sec: received as f64 / elapsed,
        per_cpu_sec: passed as f64 / cpu_secs.max(1e-9),
    }
}
