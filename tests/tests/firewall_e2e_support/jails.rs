//! What the jails end-to-end tests share: creating a jail, reading the bans, and a log file a file
//! jail follows (appended to by the test; the jail must be reading it before failures are written,
//! since it follows a file from its end).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use warden_tests::wait_for;

use super::NsClient;

/// `POST /firewall/jails`, which must answer 201; the new jail.
pub fn create_jail(admin: &NsClient, body: Value) -> Value {
    let resp = admin.post("/firewall/jails", body);
    assert_eq!(resp.status, 201, "create jail: {}", resp.body);
    resp.json()
}

/// `GET /firewall/bans`.
pub fn bans(admin: &NsClient) -> Vec<Value> {
    let resp = admin.get("/firewall/bans");
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json().as_array().cloned().unwrap_or_default()
}

/// The ban of `address` (an IPv4 address or an IPv6 /64), if listed.
pub fn ban_of(admin: &NsClient, address: &str) -> Option<Value> {
    bans(admin).into_iter().find(|b| b["address"] == address)
}

/// `GET /firewall/jails/{id}`.
pub fn jail_view(admin: &NsClient, id: &str) -> Value {
    let resp = admin.get(&format!("/firewall/jails/{id}"));
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

/// How many failures of `address` the jail counts in its window now.
pub fn failing(admin: &NsClient, id: &str, address: &str) -> u64 {
    jail_view(admin, id)["failing"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["address"] == address).cloned())
        .and_then(|f| f["failures"].as_u64())
        .unwrap_or(0)
}

/// A log file in a temp dir, for a file jail.
pub struct LogFile {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl LogFile {
    pub fn new() -> LogFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "").unwrap();
        LogFile { path, _dir: dir }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Appends `line` `n` times.
    pub fn append(&self, line: &str, n: u64) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        for _ in 0..n {
            writeln!(f, "{line}").unwrap();
        }
    }

    /// Waits until jail `id` reads this file (lines that are no failure are appended until its `lines`
    /// counter moves: a (re)started jail follows the file from its end).
    pub fn wait_read_by(&self, admin: &NsClient, id: &str) {
        wait_for("the file jail reading", Duration::from_secs(10), || {
            self.append("all good", 1);
            (jail_view(admin, id)["lines"].as_u64().unwrap_or(0) >= 1).then_some(())
        })
    }
}
