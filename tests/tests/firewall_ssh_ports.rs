//! Anti-lockout on the SSH ports a real server uses (root only; real `nft` in throwaway namespaces,
//! real packets): the `ssh_ports` setting moves SSH's anti-lockout off 22, and without the setting
//! Warden finds the ports a real OpenSSH `sshd` (Debian's openssh-server) listens on — under a
//! drop-everything rule the applying address still reaches SSH there, and nobody else does.
#![allow(clippy::unwrap_used)]

mod firewall_e2e_support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use firewall_e2e_support::sshd::Sshd;
use firewall_e2e_support::{
    add_rule, other_port, runs, status, tcp_probe, wait_reach, Lab, NsClient, ADMIN_ADDR,
};
use serde_json::{json, Value};
use warden_testkit::{Listener, Netns, Outcome};

/// A port SSH is moved to in these tests (outside the service range, not 22).
const SSH_PORT: u16 = 2222;

fn apply_now(admin: &NsClient) -> Value {
    let resp = admin.post("/firewall/apply", json!({"confirm_within_secs": 0}));
    assert_eq!(resp.status, 202, "apply: {}", resp.body);
    resp.json()
}

/// `port` on the server's address towards the admin client.
fn admin_port(lab: &Lab, port: u16) -> SocketAddr {
    SocketAddr::new(lab.admin_side().ip(), port)
}

#[test]
fn the_ssh_ports_setting_keeps_that_port_open_to_the_admin_and_no_longer_22() {
    if !runs() {
        return;
    }
    let lab = Lab::new();
    let _listener = Listener::start(&lab.server, &[22, SSH_PORT], &[]);
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    // Nothing listens as sshd in the lab: the default is 22.
    let s = status(&admin);
    assert_eq!(s["ssh_ports"], json!([22]), "{s}");
    assert_eq!(s["ssh_ports_source"], "default", "{s}");

    // Bad input is refused by field and changes nothing.
    for bad in [json!([0]), json!([2222, 2222]), json!(["ssh"])] {
        let resp = admin.patch("/settings", json!({ "ssh_ports": bad }));
        assert!(
            resp.status == 400 || resp.status == 422,
            "{bad}: {} {}",
            resp.status,
            resp.body
        );
        if resp.status == 422 {
            assert!(resp.body.contains("ssh_ports"), "{}", resp.body);
        }
    }
    assert_eq!(admin.get("/settings").json()["ssh_ports"], json!([]));

    let resp = admin.patch("/settings", json!({ "ssh_ports": [SSH_PORT] }));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["ssh_ports"], json!([SSH_PORT]));
    let s = status(&admin);
    assert_eq!(s["ssh_ports"], json!([SSH_PORT]), "{s}");
    assert_eq!(s["ssh_ports_source"], "setting", "{s}");

    add_rule(
        &admin,
        json!({"action": "drop", "annotation": "drop everything"}),
    );
    let s = apply_now(&admin);
    assert_eq!(s["live_ssh_ports"], json!([SSH_PORT]), "{s}");
    // The applying address reaches the SSH port and Warden, nothing else; another client nothing.
    assert_eq!(
        tcp_probe(&lab.admin, admin_port(&lab, SSH_PORT)),
        Outcome::Open
    );
    assert_eq!(
        tcp_probe(&lab.admin, admin_port(&lab, 22)),
        Outcome::Dropped
    );
    assert_eq!(admin.get("/firewall").status, 200);
    assert_eq!(
        tcp_probe(&lab.other, other_port(SSH_PORT)),
        Outcome::Dropped
    );
    let text = admin.get("/firewall/ruleset?applied=true");
    assert!(
        text.body.contains(&format!(
            "ip saddr {ADMIN_ADDR} tcp dport {{ {SSH_PORT}, 8080 }} accept"
        )),
        "{}",
        text.body
    );
}

/// The first line sshd sends (`SSH-2.0-OpenSSH_…`), read from inside `ns`.
fn ssh_banner(ns: &Netns, addr: SocketAddr) -> Result<String, String> {
    ns.run_inside(move || {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    })
}

#[test]
fn without_the_setting_the_ports_sshd_listens_on_are_kept_open() {
    if !runs() {
        return;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssh-server is missing: .ci/setup test installs it"
        );
        eprintln!("skipped: /usr/sbin/sshd is not installed (openssh-server)");
        return;
    }
    let lab = Lab::new();
    let _sshd = Sshd::start(&lab.server, SSH_PORT);
    // sshd is up once it answers (the default guard leaves ports outside the service range alone).
    wait_reach(
        &lab.admin,
        admin_port(&lab, SSH_PORT),
        Outcome::Open,
        Duration::from_secs(20),
    );
    let _warden = lab.start_warden();
    let admin = NsClient::new(&lab.admin, lab.admin_side()).login();

    let s = status(&admin);
    assert_eq!(s["ssh_ports"], json!([SSH_PORT]), "{s}");
    assert_eq!(s["ssh_ports_source"], "sshd", "{s}");

    add_rule(
        &admin,
        json!({"action": "drop", "annotation": "drop everything"}),
    );
    let s = apply_now(&admin);
    assert_eq!(s["live_ssh_ports"], json!([SSH_PORT]), "{s}");
    // A real SSH handshake starts from the applying address; the other client's SYNs are dropped.
    let banner = ssh_banner(&lab.admin, admin_port(&lab, SSH_PORT)).unwrap();
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner:?}");
    assert_eq!(
        tcp_probe(&lab.other, other_port(SSH_PORT)),
        Outcome::Dropped
    );
}
