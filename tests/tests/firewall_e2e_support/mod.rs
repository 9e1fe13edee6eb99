//! Support for the firewall end-to-end tests: a throwaway lab of network namespaces (a server namespace
//! and two client namespaces, each joined to the server by its own veth pair; TEST-NET addresses only,
//! nothing routed out), the real `warden` binary run inside the server namespace (or on the host with
//! extra environment), plain HTTP/1.1 clients and TCP probes run from inside a client namespace (a
//! thread that `setns`es into it), and a TCP listener in the server namespace.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use warden_tests::{site_root, spawn_until_ready, warden_bin, ADMIN_PASSWORD};

/// Root, `nft`, `ip` and `python3`: what these tests need.
pub fn lab_requirements() -> Result<(), String> {
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

fn run(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
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

/// One throwaway network namespace with `lo` up; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("wfe-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside; panics on failure; returns stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `nft list table inet warden` inside, or `None` if there is no such table.
    pub fn warden_table(&self) -> Option<String> {
        let output = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "list", "table", "inet", "warden",
            ])
            .output()
            .expect("run nft");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
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

/// The server's address towards the admin client.
pub const SERVER_ADMIN_SIDE: &str = "192.0.2.1";
/// The admin client (it logs in and applies).
pub const ADMIN_ADDR: &str = "192.0.2.2";
/// The server's address towards the other client.
pub const SERVER_OTHER_SIDE: &str = "198.51.100.1";
/// Another client (an outsider, or the attacker).
pub const OTHER_ADDR: &str = "198.51.100.2";
/// The server's IPv6 address towards the admin client (2001:db8::/32 is the documentation prefix).
pub const SERVER_ADMIN_SIDE_V6: &str = "2001:db8:a::1";
/// The admin client's IPv6 address.
pub const ADMIN_ADDR_V6: &str = "2001:db8:a::2";
/// The server's IPv6 address towards the other client.
pub const SERVER_OTHER_SIDE_V6: &str = "2001:db8:b::1";
/// The other client's IPv6 address.
pub const OTHER_ADDR_V6: &str = "2001:db8:b::2";
/// The port Warden listens on inside the server namespace.
pub const ADMIN_PORT: u16 = 8080;

/// Server namespace + admin client namespace + other client namespace.
pub struct Lab {
    pub server: Netns,
    pub admin: Netns,
    pub other: Netns,
}

impl Lab {
    pub fn new() -> Lab {
        let server = Netns::new("srv");
        let admin = Netns::new("adm");
        let other = Netns::new("oth");
        for (client, link, server_addr, client_addr, server_v6, client_v6) in [
            (
                &admin,
                "va",
                SERVER_ADMIN_SIDE,
                ADMIN_ADDR,
                SERVER_ADMIN_SIDE_V6,
                ADMIN_ADDR_V6,
            ),
            (
                &other,
                "vb",
                SERVER_OTHER_SIDE,
                OTHER_ADDR,
                SERVER_OTHER_SIDE_V6,
                OTHER_ADDR_V6,
            ),
        ] {
            run(&[
                "ip",
                "-n",
                &server.name,
                "link",
                "add",
                link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &client.name,
            ]);
            server.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{server_addr}/24"),
                "dev",
                link,
            ]);
            server.exec(&["ip", "link", "set", link, "up"]);
            client.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{client_addr}/24"),
                "dev",
                "eth0",
            ]);
            client.exec(&["ip", "link", "set", "eth0", "up"]);
            // IPv6 too, without duplicate address detection so the addresses work at once.
            for (ns, dev, addr) in [(&server, link, server_v6), (client, "eth0", client_v6)] {
                ns.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{addr}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
            }
        }
        Lab {
            server,
            admin,
            other,
        }
    }

    /// Warden's address as the admin client reaches it.
    pub fn admin_side(&self) -> SocketAddr {
        format!("{SERVER_ADMIN_SIDE}:{ADMIN_PORT}").parse().unwrap()
    }

    /// Warden's address as the other client reaches it.
    pub fn other_side(&self) -> SocketAddr {
        format!("{SERVER_OTHER_SIDE}:{ADMIN_PORT}").parse().unwrap()
    }

    /// Warden's IPv6 address and `port` as the other client reaches them.
    pub fn other_side_v6(&self, port: u16) -> SocketAddr {
        SocketAddr::new(SERVER_OTHER_SIDE_V6.parse().unwrap(), port)
    }

    /// Starts Warden inside the server namespace on `0.0.0.0:8080`.
    pub fn start_warden(&self) -> WardenProc {
        WardenProc::start(
            Some(self.server.name.clone()),
            format!("0.0.0.0:{ADMIN_PORT}"),
            vec![],
        )
    }
}

/// A `warden serve` process (inside a namespace, or on the host), with its data dir.
pub struct WardenProc {
    child: Option<Child>,
    netns: Option<String>,
    listen: String,
    env: Vec<(String, String)>,
    pub data_dir: tempfile::TempDir,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl WardenProc {
    pub fn start(netns: Option<String>, listen: String, env: Vec<(String, String)>) -> WardenProc {
        let data_dir = tempfile::Builder::new()
            .prefix("warden-fw-")
            .tempdir()
            .expect("temp dir");
        let mut w = WardenProc {
            child: None,
            netns,
            listen,
            env,
            data_dir,
            url: String::new(),
            stderr: Arc::new(Mutex::new(String::new())),
        };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let mut cmd = match &self.netns {
            Some(ns) => {
                // `ip netns exec` execs the program itself (same pid), so killing the child kills Warden.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(warden_bin());
                c
            }
            None => Command::new(warden_bin()),
        };
        cmd.args(["serve", "--listen", &self.listen, "--data-dir"])
            .arg(self.data_dir.path())
            .arg("--site-root")
            .arg(site_root())
            .env("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (child, url) = spawn_until_ready(&mut cmd, &self.stderr);
        self.child = Some(child);
        self.url = url;
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data dir (kills first if still running).
    pub fn restart(&mut self) {
        self.kill9();
        if let Ok(mut s) = self.stderr.lock() {
            s.push_str("\n--- restart ---\n");
        }
        self.spawn();
    }

    /// The host-side address (for a host-mode Warden).
    pub fn host_addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("url is ip:port")
    }
}

impl Drop for WardenProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `f` on a thread that has joined network namespace `ns` (or the current one for `None`).
pub fn in_netns<T: Send + 'static>(ns: Option<&str>, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = ns.map(|n| format!("/var/run/netns/{n}"));
    std::thread::spawn(move || {
        if let Some(path) = path {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        }
        f()
    })
    .join()
    .expect("the namespace thread panicked")
}

/// A response of [`http`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an API error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

fn decode_chunked(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), from the calling thread's
/// namespace. Errors when the connection cannot be made within `timeout`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let body_text = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body_text.len()
    );
    if body.is_some() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body_text);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        decode_chunked(rest)
    } else {
        rest.to_string()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// An API client that talks to Warden from inside a namespace.
#[derive(Clone)]
pub struct NsClient {
    pub ns: Option<String>,
    pub server: SocketAddr,
    pub token: Option<String>,
}

impl NsClient {
    pub fn new(ns: &Netns, server: SocketAddr) -> NsClient {
        NsClient {
            ns: Some(ns.name.clone()),
            server,
            token: None,
        }
    }

    /// A request; panics if the connection fails.
    pub fn request(&self, method: &str, path: &str, body: Option<Value>) -> HttpResponse {
        self.try_request(method, path, body, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        connect_timeout: Duration,
    ) -> std::io::Result<HttpResponse> {
        let (server, token) = (self.server, self.token.clone());
        let (method, path) = (method.to_string(), format!("/api/v1{path}"));
        in_netns(self.ns.as_deref(), move || {
            http(
                server,
                &method,
                &path,
                token.as_deref(),
                body.as_ref(),
                connect_timeout,
            )
        })
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> HttpResponse {
        self.request("POST", path, Some(body))
    }

    pub fn patch(&self, path: &str, body: Value) -> HttpResponse {
        self.request("PATCH", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> HttpResponse {
        self.request("DELETE", path, None)
    }

    /// Logs in as admin (waiting for the server to answer) and keeps the token.
    pub fn login(mut self) -> NsClient {
        let body = serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD});
        let resp = warden_tests::wait_for("a login answer", Duration::from_secs(20), || {
            self.try_request(
                "POST",
                "/auth/login",
                Some(body.clone()),
                Duration::from_millis(500),
            )
            .ok()
        });
        assert_eq!(resp.status, 200, "login: {}", resp.body);
        self.token = Some(resp.json()["token"].as_str().expect("token").to_string());
        self
    }
}

/// What a TCP connection attempt saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Open,
    Refused,
    Dropped,
}

/// Probe timeout: a silent SYN counts as dropped after this.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(600);

/// A TCP connect from namespace `ns` to `addr`.
pub fn tcp_probe(ns: &Netns, addr: SocketAddr) -> Reach {
    in_netns(Some(&ns.name), move || {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => Reach::Open,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Reach::Refused,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Reach::Dropped
            }
            Err(e) => panic!("connect to {addr}: {e}"),
        }
    })
}

/// Polls a TCP probe until it sees `want`, or panics after `deadline`.
pub fn wait_reach(ns: &Netns, addr: SocketAddr, want: Reach, deadline: Duration) {
    let start = Instant::now();
    loop {
        let got = tcp_probe(ns, addr);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{addr} from {}: still {got:?} after {deadline:?}, expected {want:?}",
            ns.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const LISTENER: &str = r#"
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(256)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.close()
        except OSError:
            pass
"#;

/// TCP listeners on `[::]` (dual stack) inside a namespace; killed on drop.
pub struct Listener {
    child: Child,
}

impl Listener {
    pub fn start(ns: &Netns, ports: &[u16]) -> Listener {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, "python3", "-c", LISTENER]);
        cmd.args(ports.iter().map(u16::to_string));
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start listener");
        let stdout = child.stdout.take().expect("listener stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listener output");
        assert_eq!(line.trim(), "ready", "listener failed to start");
        Listener { child }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
