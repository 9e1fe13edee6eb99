//! The HTTP layer under abuse, against the real binary: a slowloris (hundreds of half-open connections
//! trickling headers) is closed after the header-read timeout while `/healthz` keeps answering; an
//! unauthenticated request with a 1 MiB body is refused before its body is read (REST and server
//! functions), a flood of them neither grows Warden's memory nor starves it; the public login endpoint
//! keeps a small body limit; the connection cap closes connections beyond it, and so does the cap per
//! client address (another address is still served).
//!
//! The header timeout is shortened with `WARDEN_HTTP_HEADER_TIMEOUT_MS` so the test runs in seconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warden_tests::{poll, Launch, Warden};

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Warden with a short header timeout; the slowloris comes from one address, so the per-address cap
/// (tested on its own below) is raised to the global one here.
fn start_with_header_timeout() -> Warden {
    Launch::new()
        .env(
            "WARDEN_HTTP_HEADER_TIMEOUT_MS",
            &HEADER_TIMEOUT.as_millis().to_string(),
        )
        .env("WARDEN_MAX_CONNECTIONS_PER_ADDRESS", "1024")
        .start()
}

/// Warden's resident memory in KiB.
fn rss_kib(w: &Warden) -> u64 {
    let pid = w.pid().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `GET /healthz` on a fresh connection; returns how long the answer took.
async fn healthz(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
        .await
        .expect("healthz answered within 5 s")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    started.elapsed()
}

/// Reads from `s` until the server closes the connection (EOF or reset), or `limit` passes.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_closed_after_the_header_timeout_while_healthz_answers() {
    const CONNECTIONS: usize = 300;
    let w = start_with_header_timeout();
    let addr = w.host_addr();
    let opened = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").await;
            // Trickle a header line now and then, never finishing the request.
            let mut buf = [0u8; 256];
            loop {
                tokio::select! {
                    read = s.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return opened.elapsed(),
                        Ok(_) => panic!("connection {i}: an answer to an unfinished request"),
                    },
                    () = tokio::time::sleep(Duration::from_millis(300)) => {
                        if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                            return opened.elapsed();
                        }
                    }
                }
            }
        }));
    }
    // Meanwhile Warden answers at once.
    let mut slowest = Duration::ZERO;
    while opened.elapsed() < HEADER_TIMEOUT {
        slowest = slowest.max(healthz(addr).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "healthz took {slowest:?} during the slowloris"
    );
    let limit = HEADER_TIMEOUT + Duration::from_secs(3);
    let mut closed_after = Vec::new();
    for task in tasks {
        let elapsed = tokio::time::timeout(limit + Duration::from_secs(1), task)
            .await
            .expect("every half-open connection closed within the header timeout + 3 s")
            .expect("task");
        closed_after.push(elapsed);
    }
    let last = closed_after.iter().max().copied().unwrap_or_default();
    let first = closed_after.iter().min().copied().unwrap_or_default();
    eprintln!("{CONNECTIONS} half-open connections closed between {first:?} and {last:?}; healthz at most {slowest:?}");
    assert!(last <= limit, "last closed after {last:?}");
    assert!(
        first >= HEADER_TIMEOUT - Duration::from_millis(200),
        "closed by the header timeout, not before: {first:?}"
    );
    healthz(addr).await;
}

/// Sends the head of an unauthenticated request announcing a 1 MiB body and only 1 KiB of it; returns
/// the status line Warden answers with (without waiting for the rest of the body).
async fn unauthenticated_big_body(addr: SocketAddr, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(&[b' '; 1024]).await.expect("some body");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer before the body was sent"))
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    let w = Warden::start();
    let addr = w.host_addr();
    for (method, path) in [
        ("POST", "/api/v1/services"),
        ("PATCH", "/api/v1/settings"),
        ("POST", "/rpc/services/create"),
        ("POST", "/rpc/admin/settings/update"),
        ("POST", "/"),
    ] {
        let status = unauthenticated_big_body(addr, method, path).await;
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "{method} {path}: {status}"
        );
    }
    // Login is public, with a small body limit: a 100 KiB login is refused without reading it.
    let status = {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 102400\r\n\r\n",
        )
        .await
        .expect("head");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer without the body")
            .expect("read");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // A flood of whole 1 MiB unauthenticated bodies: memory stays flat and healthz answers.
    let before = rss_kib(&w);
    let body = std::sync::Arc::new(vec![b'x'; 1024 * 1024]);
    let flood_started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let body = body.clone();
        let path = if i % 2 == 0 {
            "/rpc/services/create"
        } else {
            "/api/v1/services"
        };
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return;
            };
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
            let _ = closed_within(&mut s, Duration::from_secs(10)).await;
        }));
    }
    let mut slowest = Duration::ZERO;
    while tasks.iter().any(|t| !t.is_finished()) {
        slowest = slowest.max(healthz(addr).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        t.await.expect("flood task");
    }
    let after = rss_kib(&w);
    eprintln!(
        "200 x 1 MiB unauthenticated bodies in {:?}: RSS {before} → {after} KiB; healthz at most {slowest:?}",
        flood_started.elapsed()
    );
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert!(slowest < Duration::from_secs(2), "healthz took {slowest:?}");
    healthz(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    const CAP: usize = 20;
    let w = Launch::new()
        .env("WARDEN_MAX_CONNECTIONS", &CAP.to_string())
        .start();
    let addr = w.host_addr();
    // The cap's worth of idle connections (kept open: the header timeout is the default 10 s).
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let mut extra = TcpStream::connect(addr)
        .await
        .expect("the kernel still completes the handshake");
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let answer = tokio::time::timeout(Duration::from_secs(3), extra.read(&mut buf))
        .await
        .expect("closed at once, not left hanging");
    assert!(
        matches!(answer, Ok(0) | Err(_)),
        "a connection beyond the cap was served: {:?}",
        answer.map(|n| String::from_utf8_lossy(&buf[..n]).to_string())
    );
    eprintln!(
        "connection beyond the cap closed after {:?}",
        started.elapsed()
    );
    // Freed slots are used again.
    drop(held);
    poll(
        "healthz after the idle connections closed",
        Duration::from_secs(5),
        || async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut text = String::new();
            s.read_to_string(&mut text).await.ok()?;
            text.starts_with("HTTP/1.1 200").then_some(())
        },
    )
    .await;
    assert!(
        w.stderr().contains("connection cap reached"),
        "the log says why: {}",
        w.stderr()
    );
}

/// `GET /healthz` over a connection from `source` (a loopback address of this machine); the status line.
async fn healthz_from(source: &str, addr: SocketAddr) -> Option<String> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source.parse().ok()?, 0)).ok()?;
    let mut s = socket.connect(addr).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(3), s.read_to_string(&mut text))
        .await
        .ok()?
        .ok()?;
    text.lines().next().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    const PER_ADDRESS: usize = 5;
    let w = Launch::new()
        .env(
            "WARDEN_MAX_CONNECTIONS_PER_ADDRESS",
            &PER_ADDRESS.to_string(),
        )
        .start();
    let addr = w.host_addr();
    // 127.0.0.1 holds its share of idle connections.
    let mut held = Vec::new();
    for _ in 0..PER_ADDRESS {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Its next connection is closed at once, unserved...
    let answer = healthz_from("127.0.0.1", addr).await;
    assert_eq!(answer, None, "served beyond the per-address cap");
    // ...while another address is served.
    assert_eq!(
        healthz_from("127.0.0.2", addr).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    // Closing one gives its slot back.
    drop(held.pop());
    poll(
        "a freed per-address slot",
        Duration::from_secs(5),
        || async {
            healthz_from("127.0.0.1", addr)
                .await
                .filter(|l| l == "HTTP/1.1 200 OK")
        },
    )
    .await;
    assert!(
        w.stderr().contains("per-address connection cap"),
        "the log says why: {}",
        w.stderr()
    );
}
