//! Real receivers for notification tests: [`WebhookReceiver`], an HTTP server (axum on a real socket,
//! 127.0.0.1, a free port) that records every JSON POST and can be told to fail the first N of them, and
//! [`SmtpServer`], Debian's `aiosmtpd` run as a child process that stores every message it accepts in
//! a maildir the test reads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::Json;

use crate::wait::poll;

#[derive(Default)]
struct Received {
    /// Per path: the bodies received, in order.
    bodies: Vec<(String, serde_json::Value)>,
    /// Per path: how many more requests answer 500.
    failures_left: std::collections::HashMap<String, u32>,
}

/// An HTTP server recording JSON POSTs to `/hook/<name>`.
pub struct WebhookReceiver {
    pub addr: std::net::SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

async fn hook(
    State(received): State<Arc<Mutex<Received>>>,
    UrlPath(name): UrlPath<String>,
    Json(body): Json<serde_json::Value>,
) -> StatusCode {
    let Ok(mut r) = received.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    r.bodies.push((name.clone(), body));
    match r.failures_left.get_mut(&name) {
        Some(n) if *n > 0 => {
            *n -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    }
}

impl WebhookReceiver {
    /// Starts the server on 127.0.0.1 (a free port).
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver");
        WebhookReceiver::serve(listener)
    }

    /// Starts the server on 127.0.0.1 of network namespace `ns` (a Warden started in `ns` reaches it
    /// over that namespace's loopback). The socket is bound there; it is served from here.
    pub async fn start_in_netns(ns: &str) -> WebhookReceiver {
        let listener =
            warden_testkit::in_netns(Some(ns), || std::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind the webhook receiver in the namespace");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        WebhookReceiver::serve(
            tokio::net::TcpListener::from_std(listener).expect("a tokio listener"),
        )
    }

    fn serve(listener: tokio::net::TcpListener) -> WebhookReceiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = axum::Router::new()
            .route("/hook/{name}", axum::routing::post(hook))
            .with_state(received.clone());
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            addr,
            received,
            task,
        }
    }

    /// The URL of hook `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/hook/{name}", self.addr)
    }

    /// The next `n` POSTs to hook `name` answer 500.
    pub fn fail_first(&self, name: &str, n: u32) {
        if let Ok(mut r) = self.received.lock() {
            r.failures_left.insert(name.to_string(), n);
        }
    }

    /// The bodies POSTed to hook `name` so far.
    pub fn bodies(&self, name: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .map(|r| {
                r.bodies
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, b)| b.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for a body on hook `name` whose `event` is `event`.
    pub async fn wait_event(
        &self,
        name: &str,
        event: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        poll(
            &format!("a {event} POST on hook {name}"),
            timeout,
            || async { self.bodies(name).into_iter().find(|b| b["event"] == event) },
        )
        .await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `aiosmtpd` (Debian's python3-aiosmtpd) on 127.0.0.1 with the Maildir handler.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    maildir: tempfile::TempDir,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpServer {
    /// Starts aiosmtpd and waits until it accepts connections.
    pub async fn start() -> SmtpServer {
        let maildir = tempfile::tempdir().expect("maildir");
        let port = free_port();
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (Debian python3-aiosmtpd; .ci/setup test installs it)");
        let server = SmtpServer {
            port,
            child,
            maildir,
        };
        poll(
            "aiosmtpd to accept connections",
            Duration::from_secs(20),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        server
    }

    fn new_dir(&self) -> PathBuf {
        self.maildir.path().join("mail").join("new")
    }

    /// Every message received so far (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        read_all(&self.new_dir())
    }

    /// Waits for a message containing `needle`.
    pub async fn wait_message(&self, needle: &str, timeout: Duration) -> String {
        poll(
            &format!("an e-mail containing {needle:?}"),
            timeout,
            || async { self.messages().into_iter().find(|m| m.contains(needle)) },
        )
        .await
    }
}

fn read_all(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
