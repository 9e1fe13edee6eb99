//! Real servers inside a namespace for probes to reach: TCP listeners (accept, close) and UDP echo
//! servers, one python3 process per [`Listener`], killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::netns::Netns;

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

/// TCP listeners on `[::]` (dual stack) and UDP echo servers on each of the namespace's addresses;
/// killed on drop.
#[derive(Debug)]
pub struct Listener {
    child: Child,
}

impl Listener {
    /// Starts listening on the `tcp` and `udp` ports inside `ns`; returns once they are bound.
    pub fn start(ns: &Netns, tcp: &[u16], udp: &[u16]) -> Listener {
        let spec = serde_json::json!({"tcp": tcp, "udp": udp, "addrs": ns.addrs}).to_string();
        let mut child = ns
            .command("python3")
            .args(["-c", LISTENER, &spec])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start a listener in {}: {e}", ns.name));
        let stdout = child.stdout.take();
        // Owned from here: a failure below kills the process.
        let listener = Listener { child };
        let Some(stdout) = stdout else {
            panic!("the listener's stdout is not piped");
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the listener in {} was not ready within 10 s", ns.name));
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
