//! `warden firewall jails …` against the real binary (remotely: `--url` and a token): add from flags →
//! list shows it → real sshd lines written to the file it watches are counted and shown (`show`:
//! counters, failing address, recent lines) → `test` marks exactly the lines of the real Debian 12
//! sshd fixture that its annotations say are failures, with their addresses (pasted on stdin, and
//! from `--file`) → disable → delete. A read-only token may list but its add is refused with a clear
//! message (exit 1); a pattern without `<HOST>` is refused naming the field (exit 1); a missing source
//! is a usage error (exit 2); an unknown jail exits 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{repo_root, wait_for, warden_bin, Api, Warden};

fn command(w: &Warden, token: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(warden_bin());
    cmd.args(args)
        .args(["--url", &w.url, "--token", token])
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_TOKEN")
        .env("NO_COLOR", "1");
    cmd
}

fn cli(w: &Warden, token: &str, args: &[&str]) -> Output {
    command(w, token, args)
        .stdin(Stdio::null())
        .output()
        .expect("run warden")
}

/// `warden <args>` with `input` on its stdin.
fn cli_stdin(w: &Warden, token: &str, args: &[&str], input: &str) -> Output {
    let mut child = command(w, token, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run warden");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("warden output")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(w: &Warden, token: &str, args: &[&str]) -> String {
    let out = cli(w, token, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(w: &Warden, token: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(w, token, &all)).expect("--json prints JSON")
}

/// The real Debian 12 sshd lines of the fixture and the address each names (`None`: not a failure),
/// from its `# expect` annotations.
fn sshd_fixture() -> (PathBuf, Vec<(String, Option<String>)>) {
    let path = repo_root().join("app/src/model/jails/fixtures/sshd-debian12.log");
    let raw = std::fs::read_to_string(&path).expect("the sshd fixture");
    let mut expect = None;
    let mut lines = Vec::new();
    for line in raw.lines() {
        if let Some(what) = line.strip_prefix("# expect ") {
            expect = (what.trim() != "none").then(|| what.trim().to_string());
        } else if !line.trim().is_empty() {
            lines.push((line.to_string(), expect.take()));
        }
    }
    (path, lines)
}

fn matched_count(w: &Warden, token: &str, name: &str) -> Option<u64> {
    let list = json_of(w, token, &["firewall", "jails", "list"]);
    let jail = list.as_array()?.iter().find(|j| j["name"] == name)?.clone();
    jail["matched"].as_u64()
}

/// What `test --json` said per line: `(line, address)`.
fn test_answer(out: &Output) -> Vec<(String, Option<String>)> {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    answer["lines"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            (
                l["line"].as_str().unwrap_or_default().to_string(),
                l["address"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn jails_from_the_command_line() {
    let w = Warden::start();
    let api = Api::login(&w).await;
    let admin = api.token.clone();
    let dir = tempfile::tempdir().expect("dir");
    let auth_log = dir.path().join("auth.log");
    let auth_log_arg = auth_log.display().to_string();

    // ---- add from flags, then list ----
    let out = ok(
        &w,
        &admin,
        &[
            "firewall",
            "jails",
            "add",
            "--name",
            "sshd",
            "--file",
            &auth_log_arg,
            "--preset",
            "sshd",
            "--max-failures",
            "10",
            "--window",
            "300",
            "--ban",
            "120",
            "--ignore",
            "192.0.2.0/24",
            "--no-increment",
        ],
    );
    assert!(out.contains("added jail sshd"), "{out}");
    let list = ok(&w, &admin, &["firewall", "jails", "list"]);
    assert!(
        list.contains("NAME") && list.contains("MATCHED") && list.contains("sshd"),
        "{list}"
    );
    assert!(list.contains(&format!("file {auth_log_arg}")), "{list}");
    let jails = json_of(&w, &admin, &["firewall", "jails", "list"]);
    assert_eq!(jails[0]["name"], "sshd");
    assert_eq!(jails[0]["source"], json!({"file": auth_log_arg}));
    assert_eq!(jails[0]["max_failures"], 10);
    assert_eq!(jails[0]["window_secs"], 300);
    assert_eq!(jails[0]["ban_secs"], 120);
    assert_eq!(jails[0]["increment"], false);
    assert_eq!(jails[0]["ignore"], json!(["192.0.2.0/24"]));

    // ---- real sshd lines in the file it watches: counted, shown ----
    let failures = "Failed password for root from 203.0.113.7 port 50022 ssh2\n\
                    Server listening on 0.0.0.0 port 22.\n\
                    Invalid user admin from 203.0.113.7 port 50024\n";
    let tmp = dir.path().join("auth.tmp");
    std::fs::write(&tmp, failures).expect("write");
    std::fs::rename(&tmp, &auth_log).expect("rename");
    wait_for(
        "the jail to count 2 failures",
        Duration::from_secs(20),
        || (matched_count(&w, &admin, "sshd") == Some(2)).then_some(()),
    );
    let list = ok(&w, &admin, &["firewall", "jails", "list"]);
    assert!(list.contains("203.0.113.7 (2)"), "{list}");
    let show = ok(&w, &admin, &["firewall", "jails", "show", "sshd"]);
    assert!(
        show.contains("Jail sshd") && show.contains("10 failures within 5 min"),
        "{show}"
    );
    assert!(show.contains("3 lines read, 2 failures, 0 bans"), "{show}");
    assert!(show.contains("Recent failures"), "{show}");
    assert!(
        show.contains("Invalid user admin from 203.0.113.7 port 50024"),
        "{show}"
    );

    // ---- test: the real Debian 12 sshd lines, pasted and from a file ----
    let (fixture, expected) = sshd_fixture();
    assert!(expected.iter().any(|(_, a)| a.is_some()));
    let pasted: String = expected.iter().map(|(l, _)| format!("{l}\n")).collect();
    let out = cli_stdin(
        &w,
        &admin,
        &["firewall", "jails", "test", "--preset", "sshd", "--json"],
        &pasted,
    );
    assert_eq!(test_answer(&out), expected);
    let out = cli_stdin(
        &w,
        &admin,
        &["firewall", "jails", "test", "--preset", "sshd"],
        &pasted,
    );
    let human = text(&out);
    let matching = expected.iter().filter(|(_, a)| a.is_some()).count();
    assert!(
        human.contains(&format!("{matching} of {} lines match", expected.len())),
        "{human}"
    );
    assert!(
        human.contains(
            "match 127.0.0.1       Failed password for root from 127.0.0.1 port 37506 ssh2"
        ),
        "{human}"
    );
    let out = cli(
        &w,
        &admin,
        &[
            "firewall",
            "jails",
            "test",
            "--pattern",
            r"Failed password for (?:invalid user )?\S+ from <HOST>",
            "--file",
            &fixture.display().to_string(),
            "--json",
        ],
    );
    let answer = test_answer(&out);
    let matched: Vec<&str> = answer
        .iter()
        .filter_map(|(l, a)| a.as_ref().map(|_| l.as_str()))
        .collect();
    let failed_password = expected
        .iter()
        .filter(|(l, _)| l.starts_with("Failed password"))
        .count();
    assert!(failed_password > 0);
    assert_eq!(matched.len(), failed_password, "{matched:?}");
    assert!(matched.iter().all(|l| l.starts_with("Failed password")));

    // ---- a read-only token: reads, but cannot add ----
    let read = api
        .post("/tokens", &json!({"name": "reader", "scope": "read"}))
        .await
        .json::<Value>()
        .await
        .unwrap_or_default();
    let reader = read["token"].as_str().expect("the secret").to_string();
    ok(&w, &reader, &["firewall", "jails", "list"]);
    let out = cli(
        &w,
        &reader,
        &[
            "firewall",
            "jails",
            "add",
            "--name",
            "web",
            "--journal",
            "ssh.service",
            "--preset",
            "sshd",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("read-only"), "{}", text(&out));

    // ---- bad input and usage ----
    let out = cli(
        &w,
        &admin,
        &[
            "firewall",
            "jails",
            "add",
            "--name",
            "bad",
            "--file",
            "/var/log/auth.log",
            "--pattern",
            "Failed password for .* from",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("patterns[0]") && text(&out).contains("<HOST>"),
        "names the field: {}",
        text(&out)
    );
    let out = cli(&w, &admin, &["firewall", "jails", "add", "--name", "x"]);
    assert_eq!(out.status.code(), Some(2), "no source: {}", text(&out));
    let out = cli(&w, &admin, &["firewall", "jails", "show", "no-such-jail"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no jail"), "{}", text(&out));
    assert_eq!(
        json_of(&w, &admin, &["firewall", "jails", "list"])
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing refused was added"
    );

    // ---- disable, enable, delete ----
    let out = ok(&w, &admin, &["firewall", "jails", "disable", "sshd"]);
    assert!(out.contains("disabled"), "{out}");
    assert_eq!(
        json_of(&w, &admin, &["firewall", "jails", "list"])[0]["enabled"],
        false
    );
    let list = ok(&w, &admin, &["firewall", "jails", "list"]);
    assert!(list.contains(" no "), "{list}");
    ok(&w, &admin, &["firewall", "jails", "enable", "sshd"]);
    assert_eq!(
        json_of(&w, &admin, &["firewall", "jails", "list"])[0]["enabled"],
        true
    );
    let out = ok(&w, &admin, &["firewall", "jails", "delete", "sshd"]);
    assert!(out.contains("deleted jail sshd"), "{out}");
    assert_eq!(
        json_of(&w, &admin, &["firewall", "jails", "list"]),
        json!([])
    );
    let empty = ok(&w, &admin, &["firewall", "jails", "list"]);
    assert!(empty.contains("no jails"), "{empty}");
}
