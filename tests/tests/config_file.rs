//! `warden serve --config FILE` against the real binary (issue 15, part 2): the precedence flag >
//! environment > config file > default (read back with `--print-config`, which names each value's
//! source), `WARDEN_CONFIG` as the file's other name, and a real start whose config file writes the
//! first admin password to a 0600 file (never to stderr) and adds an allowed host name.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use warden_tests::{warden_bin, Launch};

/// `warden serve <args> --print-config` with the given environment (all other `WARDEN_*` removed).
fn print_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(warden_bin());
    cmd.arg("serve").args(args).arg("--print-config");
    for (key, _) in std::env::vars() {
        if key.starts_with("WARDEN_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run warden serve --print-config");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line_of<'a>(config: &'a str, key: &str) -> &'a str {
    config
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{config}"))
}

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("warden.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\nmax-connections = 5\nallowed-hosts = [\"a.example\", \"b.example\"]\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let c = print_config(&["--config", path], &[]);
    assert_eq!(
        line_of(&c, "listen"),
        "listen = \"127.0.0.1:7001\"  # config file"
    );
    assert_eq!(
        line_of(&c, "max-connections"),
        "max-connections = \"5\"  # config file"
    );
    assert_eq!(
        line_of(&c, "allowed-hosts"),
        "allowed-hosts = [\"a.example\", \"b.example\"]  # config file"
    );
    assert_eq!(line_of(&c, "nft"), "nft = \"nft\"  # default");

    let c = print_config(&["--config", path], &[("WARDEN_LISTEN", "127.0.0.1:7002")]);
    assert_eq!(
        line_of(&c, "listen"),
        "listen = \"127.0.0.1:7002\"  # environment"
    );
    assert_eq!(
        line_of(&c, "max-connections"),
        "max-connections = \"5\"  # config file"
    );

    let c = print_config(
        &["--config", path, "--listen", "127.0.0.1:7003"],
        &[("WARDEN_LISTEN", "127.0.0.1:7002")],
    );
    assert_eq!(
        line_of(&c, "listen"),
        "listen = \"127.0.0.1:7003\"  # command line"
    );

    // WARDEN_CONFIG names the file too.
    let c = print_config(&[], &[("WARDEN_CONFIG", path)]);
    assert_eq!(
        line_of(&c, "listen"),
        "listen = \"127.0.0.1:7001\"  # config file"
    );
    assert_eq!(
        line_of(&c, "config"),
        format!("config = \"{path}\"  # environment")
    );

    // A bad file stops Warden with an error naming it (exit 2, usage).
    std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
    let out = Command::new(warden_bin())
        .args(["serve", "--config", path, "--print-config"])
        .env_remove("WARDEN_LISTEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(path) && stderr.contains("listen"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_writes_the_first_password_to_a_file_and_adds_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("initial-admin-password");
    let file = dir.path().join("warden.toml");
    std::fs::write(
        &file,
        format!(
            "initial-password-file = \"{}\"\nallowed-hosts = [\"panel.example.com\"]\n",
            password_file.display()
        ),
    )
    .unwrap();
    let w = Launch::new()
        .admin_password(None)
        .args(&["--config", file.to_str().unwrap()])
        .start();
    let password = std::fs::read_to_string(&password_file).expect("the password file");
    let password = password.trim();
    assert_eq!(password.len(), 20, "{password:?}");
    let mode = std::fs::metadata(&password_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let stderr = w.stderr();
    assert!(
        !stderr.contains(password),
        "the password reached stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&password_file.display().to_string()),
        "{stderr}"
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let login = client
        .post(format!("{}/api/v1/auth/login", w.url))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    // The configured name is one of Warden's; another is refused (421).
    let named = |host: &'static str| {
        client
            .get(format!("{}/login", w.url))
            .header(reqwest::header::HOST, host)
            .send()
    };
    assert_ne!(named("panel.example.com").await.unwrap().status(), 421);
    assert_eq!(named("evil.example.net").await.unwrap().status(), 421);
}
