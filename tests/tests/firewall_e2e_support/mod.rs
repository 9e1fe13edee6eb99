//! Support for the firewall end-to-end tests: this suite's lab topology ([`Lab`]: a server namespace and
//! two client namespaces, each joined to the server by its own veth pair; TEST-NET and 2001:db8::/32
//! addresses below), the real `warden` binary started inside the server namespace, plain HTTP/1.1 API
//! clients run from inside a client namespace ([`NsClient`], a thread that `setns`es into it) and TCP
//! probes with this suite's silence timeout. The namespaces, veth links, listeners and probes themselves
//! are `warden_testkit`'s; starting Warden is `warden_tests::Launch`.
#![allow(dead_code, clippy::unwrap_used)]

pub mod host_link;
pub mod jails;
pub mod journald;
pub mod sshd;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use warden_testkit::{probe, wait_for_outcome, LinkPlan, Netns, Outcome, Probe};
use warden_tests::{Launch, Warden, ADMIN_PASSWORD};

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

/// Server namespace + admin client namespace (over veth `va`–`eth0`) + other client namespace (over
/// `vb`–`eth0`).
pub struct Lab {
    pub server: Netns,
    pub admin: Netns,
    pub other: Netns,
}

impl Lab {
    pub fn new() -> Lab {
        let links = [
            LinkPlan {
                client_tag: "adm",
                server_if: "va",
                client_if: "eth0",
                server_addrs: &[SERVER_ADMIN_SIDE, SERVER_ADMIN_SIDE_V6],
                client_addrs: &[ADMIN_ADDR, ADMIN_ADDR_V6],
            },
            LinkPlan {
                client_tag: "oth",
                server_if: "vb",
                client_if: "eth0",
                server_addrs: &[SERVER_OTHER_SIDE, SERVER_OTHER_SIDE_V6],
                client_addrs: &[OTHER_ADDR, OTHER_ADDR_V6],
            },
        ];
        let (server, [admin, other]) = warden_testkit::Lab::new("srv", &links).into_parts();
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
    pub fn start_warden(&self) -> Warden {
        Launch::new()
            .in_netns(&self.server.name)
            .listen(format!("0.0.0.0:{ADMIN_PORT}"))
            .start()
    }
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
        self.send(method, format!("/api/v1{path}"), body, connect_timeout)
    }

    /// Calls the UI's server function `name` (`/rpc/{name}`) with JSON arguments, as the UI does.
    pub fn rpc(&self, name: &str, args: Value) -> HttpResponse {
        self.send(
            "POST",
            format!("/rpc/{name}"),
            Some(args),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("server function {name}: {e}"))
    }

    fn send(
        &self,
        method: &str,
        path: String,
        body: Option<Value>,
        connect_timeout: Duration,
    ) -> std::io::Result<HttpResponse> {
        let (server, token) = (self.server, self.token.clone());
        let method = method.to_string();
        warden_testkit::in_netns(self.ns.as_deref(), move || {
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

    /// `GET path` outside the API (e.g. `/metrics`), with this client's token.
    pub fn get_outside_api(&self, path: &str) -> HttpResponse {
        self.send("GET", path.to_string(), None, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
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

/// Probe timeout: a silent SYN counts as dropped after this.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(600);

/// A TCP connect from namespace `ns` to `addr`.
pub fn tcp_probe(ns: &Netns, addr: SocketAddr) -> Outcome {
    probe(ns, Probe::tcp_to(addr).within(PROBE_TIMEOUT))
}

/// Repeats a TCP probe until it sees `want`, or panics after `deadline`.
pub fn wait_reach(ns: &Netns, addr: SocketAddr, want: Outcome, deadline: Duration) {
    wait_for_outcome(
        ns,
        Probe::tcp_to(addr).within(PROBE_TIMEOUT),
        want,
        deadline,
    );
}

/// Wrong-password logins from `attacker` until its connections are dropped (banned at the kernel) or
/// `attempts` are used up; whether it was banned.
pub fn fail_logins_until_banned(attacker: &NsClient, attempts: usize) -> bool {
    let wrong = serde_json::json!({"username": "admin", "password": "wrong"});
    (0..attempts).any(|_| {
        attacker
            .try_request(
                "POST",
                "/auth/login",
                Some(wrong.clone()),
                Duration::from_millis(800),
            )
            .is_err()
    })
}

/// Whether this machine can run the lab (root with nft, ip and python3); says why not otherwise.
pub fn runs() -> bool {
    warden_tests::gate(
        "root with nft, ip and python3",
        warden_testkit::netns::requirements(),
    )
}

/// `port` on the server's address towards the other client.
pub fn other_port(port: u16) -> SocketAddr {
    format!("{SERVER_OTHER_SIDE}:{port}").parse().unwrap()
}

/// `GET /firewall`, which must answer 200.
pub fn status(admin: &NsClient) -> Value {
    let resp = admin.get("/firewall");
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

/// `POST /firewall/rules`, which must answer 201; the new rule.
pub fn add_rule(admin: &NsClient, rule: Value) -> Value {
    let resp = admin.post("/firewall/rules", rule);
    assert_eq!(resp.status, 201, "add rule: {}", resp.body);
    resp.json()
}
