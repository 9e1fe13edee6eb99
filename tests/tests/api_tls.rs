//! HTTPS: `--tls self-signed` generates a certificate on first start, keeps it in the data dir (key 0600)
//! and reuses it after a restart; the session cookie is `Secure`; `--tls-cert/--tls-key` serve a given
//! pair; a missing certificate or key file stops Warden with an error naming the file; HTTP/2 is spoken
//! over TLS, and an idle HTTP/2 connection is sent GOAWAY and closed after the idle timeout.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use warden_tests::{Launch, Warden, ADMIN_PASSWORD};

fn cert_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("tls").join("self-signed-cert.pem")
}

fn key_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("tls").join("self-signed-key.pem")
}

/// A client builder that trusts exactly this certificate (no system roots, no "accept invalid").
fn builder_trusting(cert_pem: &[u8]) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(cert_pem).expect("PEM certificate");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
}

/// A client that trusts exactly this certificate; it offers HTTP/2 and HTTP/1.1 (ALPN), as browsers do.
fn client_trusting(cert_pem: &[u8]) -> reqwest::Client {
    builder_trusting(cert_pem).build().expect("https client")
}

#[tokio::test]
async fn self_signed_https_with_secure_cookies_and_the_certificate_kept_across_restarts() {
    let mut w = Warden::start_with_args(&["--tls", "self-signed"]);
    assert!(w.url.starts_with("https://127.0.0.1:"), "{}", w.url);

    let cert = std::fs::read(cert_path(w.data_dir())).expect("certificate persisted");
    let mode = std::fs::metadata(key_path(w.data_dir()))
        .expect("key persisted")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is private");

    let https = client_trusting(&cert);
    // A client that connects and never starts its handshake holds up nobody else.
    let authority = w.url.trim_start_matches("https://").to_string();
    let _stalled = std::net::TcpStream::connect(&authority).unwrap();
    let _half = {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&authority).unwrap();
        s.write_all(&[0x16, 0x03, 0x01]).unwrap(); // the first bytes of a ClientHello, then silence
        s
    };
    let resp = https
        .get(format!("{}/healthz", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");

    let resp = https
        .post(format!("{}/api/v1/auth/login", w.url))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // The peer address reaches the handlers over TLS too (the login throttle and bans key on it): the
    // API answers authenticated requests normally.
    let resp = https
        .get(format!("{}/api/v1/services", w.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Plain HTTP on the HTTPS port gets no answer it could mistake for Warden's.
    let plain = w.url.replace("https://", "http://");
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(
        answer.as_ref().map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP served: {answer:?}"
    );

    // After a restart the same certificate is served: a client trusting only the first one connects.
    w.restart();
    assert_eq!(
        std::fs::read(cert_path(w.data_dir())).unwrap(),
        cert,
        "certificate reused, not regenerated"
    );
    assert!(!w.stderr_since_restart().contains("generated a self-signed"));
    let resp = https
        .get(format!("{}/healthz", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The session survived too (the store is the same).
    let resp = https
        .get(format!("{}/api/v1/services", w.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The same pair given as files serves HTTPS as well.
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(cert_path(w.data_dir()), &c).unwrap();
    std::fs::copy(key_path(w.data_dir()), &k).unwrap();
    let given = Warden::start_with_args(&[
        "--tls-cert",
        c.to_str().unwrap(),
        "--tls-key",
        k.to_str().unwrap(),
    ]);
    assert!(given.url.starts_with("https://"), "{}", given.url);
    let resp = https
        .get(format!("{}/healthz", given.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // SIGTERM still shuts down cleanly over TLS (with a client connected).
    let status = w.terminate(Duration::from_secs(20)).expect("exit status");
    assert!(status.success(), "{status:?}");
}

/// Over TLS Warden speaks HTTP/2 (a page's many chunk requests and every tab's live streams share one
/// connection instead of the browser's six per host) and still HTTP/1.1 for clients that only offer
/// that. Browsers send no `Host` over HTTP/2: the cross-origin guard compares `Origin` with the
/// request's `:authority`, so a same-origin cookie mutation passes and a foreign one is refused.
#[tokio::test]
async fn https_speaks_http2_with_live_streams_and_the_origin_guard() {
    let w = Warden::start_with_args(&["--tls", "self-signed"]);
    let cert = std::fs::read(cert_path(w.data_dir())).expect("certificate persisted");
    let h2 = builder_trusting(&cert)
        .cookie_store(true)
        .build()
        .expect("https client");
    let resp = h2.get(format!("{}/healthz", w.url)).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);

    let h1 = builder_trusting(&cert).http1_only().build().unwrap();
    let resp = h1.get(format!("{}/healthz", w.url)).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);

    // Cookie session over HTTP/2, then mutations as a browser sends them (Origin, no Host header).
    let resp = h2
        .post(format!("{}/api/v1/auth/login", w.url))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set_hostname = |origin: String, hostname: &str| {
        h2.patch(format!("{}/api/v1/settings", w.url))
            .header(reqwest::header::ORIGIN, origin)
            .json(&serde_json::json!({ "hostname": hostname }))
            .send()
    };
    let resp = set_hostname(w.url.trim_end_matches('/').to_string(), "over-h2")
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let status = resp.status();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap_or_default());
    let resp = set_hostname("https://evil.example".into(), "from-elsewhere")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let settings: serde_json::Value = h2
        .get(format!("{}/api/v1/settings", w.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["hostname"], "over-h2");

    // Eight live event streams at once on the HTTP/2 connection (a browser allows six HTTP/1.1
    // connections per host), and ordinary requests still answer while they stay open.
    let mut streams = Vec::new();
    for _ in 0..8 {
        let resp = h2
            .get(format!("{}/api/v1/events", w.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        streams.push(resp);
    }
    let resp = h2
        .get(format!("{}/api/v1/services", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(streams);
}

fn serve_fails(args: &[&str]) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Launch::new()
        .args(args)
        .command(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "started anyway: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Warden is running"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn missing_or_bad_certificate_files_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-cert.pem");
    let key = dir.path().join("missing-key.pem");
    let (code, stderr) = serve_fails(&[
        "--tls-cert",
        missing.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&missing.display().to_string()) && stderr.contains("certificate"),
        "names the certificate: {stderr}"
    );

    // A readable certificate with a key that is not a key names the key.
    let generated = Warden::start_with_args(&["--tls", "self-signed"]);
    let bad_key = dir.path().join("not-a-key.pem");
    std::fs::write(&bad_key, "-----BEGIN NOTHING-----\n").unwrap();
    let (_, stderr) = serve_fails(&[
        "--tls-cert",
        cert_path(generated.data_dir()).to_str().unwrap(),
        "--tls-key",
        bad_key.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&bad_key.display().to_string()) && stderr.contains("key"),
        "names the key: {stderr}"
    );

    // A certificate without its key is refused by the command line itself.
    let (_, stderr) = serve_fails(&["--tls-cert", missing.to_str().unwrap()]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// Python: an HTTP/2 client (ALPN h2, trusting only `cert`) that sends the connection preface and its
/// SETTINGS, then no request; prints the seconds until the server closed the connection and whether a
/// GOAWAY frame came first.
const IDLE_H2_CLIENT: &str = r#"
import socket, ssl, sys, time
host, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cert)
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
start = time.monotonic()
s.settimeout(30)
data, kinds, i = b"", set(), 0
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        # A well-behaved idle client: it acknowledges SETTINGS and PINGs, and sends nothing else.
        while i + 9 <= len(data):
            length, kind, flags = int.from_bytes(data[i:i + 3], "big"), data[i + 3], data[i + 4]
            if i + 9 + length > len(data):
                break
            kinds.add(kind)
            if kind == 4 and not flags & 1:
                s.sendall(bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))
            if kind == 6 and not flags & 1:
                s.sendall(bytes([0, 0, 8, 6, 1, 0, 0, 0, 0]) + data[i + 9:i + 17])
            i += 9 + length
except (ConnectionResetError, BrokenPipeError):
    pass
print(round(time.monotonic() - start, 2), 7 in kinds)
"#;

/// An HTTP/2 connection with no request in flight is sent GOAWAY and closed after the idle timeout
/// (shortened here), instead of staying open as long as the peer answers pings.
#[test]
fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let w = Launch::new()
        .args(&["--tls", "self-signed"])
        .env("WARDEN_HTTP2_IDLE_TIMEOUT_MS", "800")
        .start();
    let addr = w.host_addr();
    let out = std::process::Command::new("python3")
        .args(["-c", IDLE_H2_CLIENT])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(cert_path(w.data_dir()))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fields = stdout.split_whitespace();
    let seconds: f64 = fields.next().and_then(|s| s.parse().ok()).expect("seconds");
    assert_eq!(
        fields.next(),
        Some("True"),
        "GOAWAY before the close: {stdout}"
    );
    assert!(
        (0.7..10.0).contains(&seconds),
        "closed after {seconds} s (idle timeout 0.8 s)"
    );
}
