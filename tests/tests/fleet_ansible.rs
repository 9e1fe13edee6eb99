//! Fleets through Ansible: the role in `deploy/ansible/` run by real `ansible-core` (PyPI, installed by
//! `.ci/setup test` into `target/ansible-venv`) against two Wardens started here (real binary, temp data
//! dirs, 127.0.0.1:0). The first run changes both hosts, the second reports `changed=0` on both and
//! restarts nothing, and a host drifted by hand (a service and a jail edited through the REST API) is
//! brought back by the next run, the other host untouched. Ports used: 8470-8471.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use warden_tests::{gate, repo_root, Api, Warden};

const T: Duration = Duration::from_secs(30);

fn ansible_playbook() -> PathBuf {
    repo_root().join("target/ansible-venv/bin/ansible-playbook")
}

fn requirements() -> Result<(), String> {
    let ok = Command::new(ansible_playbook())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is missing (run `.ci/setup test`)",
            ansible_playbook().display()
        ))
    }
}

/// Runs the example playbook of `deploy/ansible` with `inventory` and the vault variables in
/// `vars_file`; returns `(changed count per host, output)`.
fn run_playbook(work: &Path, inventory: &Path, vars_file: &Path) -> (Vec<(String, u32)>, String) {
    let role_dir = repo_root().join("deploy/ansible");
    let output = Command::new(ansible_playbook())
        .arg("-i")
        .arg(inventory)
        .arg(role_dir.join("playbook.yml"))
        .arg("-e")
        .arg(format!("@{}", vars_file.display()))
        .env("ANSIBLE_ROLES_PATH", role_dir.join("roles"))
        .env("ANSIBLE_LOCAL_TEMP", work.join("tmp"))
        .env("ANSIBLE_HOME", work.join("home"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env(
            "ANSIBLE_PYTHON_INTERPRETER",
            repo_root().join("target/ansible-venv/bin/python3"),
        )
        .current_dir(work)
        .output()
        .expect("run ansible-playbook");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "ansible-playbook failed:\n{text}");
    // The PLAY RECAP lines: `host : ok=1 changed=0 unreachable=0 failed=0 ...`.
    let recap = text
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter_map(|l| {
            let (host, rest) = l.split_once(':')?;
            let changed = rest
                .split_whitespace()
                .find_map(|f| f.strip_prefix("changed="))?
                .parse()
                .ok()?;
            Some((host.trim().to_string(), changed))
        })
        .collect();
    (recap, text)
}

async fn pid_of(api: &Api, name: &str) -> Value {
    api.get_json(&format!("/services/by-name/{name}")).await["status"]["pid"].clone()
}

#[tokio::test]
async fn the_role_converges_two_wardens_and_brings_a_drifted_one_back() {
    if !gate("ansible-core in target/ansible-venv", requirements()) {
        return;
    }
    let hosts = [Warden::start(), Warden::start()];
    let mut apis = Vec::new();
    for w in &hosts {
        apis.push(Api::login(w).await);
    }
    let work = tempfile::tempdir().expect("work dir");
    std::fs::create_dir_all(work.path().join("state")).expect("state dir");
    // The document in "git": two services, the global environment and a jail on web's log.
    std::fs::write(
        work.path().join("state/warden.yml"),
        "apiVersion: warden/v1\n\
         services:\n\
         \x20 - name: web\n\
         \x20   command: exec sleep 847001\n\
         \x20   ports: [8470]\n\
         \x20   environment: {MODE: prod}\n\
         \x20 - name: worker\n\
         \x20   command: exec sleep 847002\n\
         \x20   stop_grace_secs: 10\n\
         settings:\n\
         \x20 environment: {LANG: C.UTF-8}\n\
         jails:\n\
         \x20 - name: web-auth\n\
         \x20   source: {service: web}\n\
         \x20   patterns: [\"auth failure from <HOST>\"]\n\
         \x20   max_failures: 3\n",
    )
    .expect("write the document");
    let mut inventory = String::from("[wardens]\n");
    let mut vault = String::new();
    for (i, (w, api)) in hosts.iter().zip(&apis).enumerate() {
        let resp = api.post("/tokens", &json!({"name": "ansible"})).await;
        assert_eq!(resp.status(), 201);
        let token: Value = resp.json().await.expect("token");
        inventory.push_str(&format!(
            "host{i} ansible_connection=local warden_url={} warden_token='{{{{ vault_token_{i} }}}}'\n",
            w.url
        ));
        vault.push_str(&format!(
            "vault_token_{i}: {}\n",
            token["token"].as_str().expect("secret")
        ));
    }
    inventory
        .push_str("\n[wardens:vars]\nwarden_delegate_to=localhost\nansible_python_interpreter=");
    inventory.push_str(
        &repo_root()
            .join("target/ansible-venv/bin/python3")
            .display()
            .to_string(),
    );
    inventory.push('\n');
    let inventory_file = work.path().join("inventory.ini");
    std::fs::write(&inventory_file, inventory).expect("inventory");
    let vars_file = work.path().join("vault.yml");
    std::fs::write(
        &vars_file,
        format!(
            "{vault}warden_state_file: {}\n",
            work.path().join("state/warden.yml").display()
        ),
    )
    .expect("vars");

    // First run: both hosts change.
    let (recap, text) = run_playbook(work.path(), &inventory_file, &vars_file);
    assert_eq!(
        recap,
        vec![("host0".to_string(), 1), ("host1".to_string(), 1)],
        "{text}"
    );
    let mut pids = Vec::new();
    for api in &apis {
        let web = api.get_json("/services/by-name/web").await;
        let id = web["id"].as_str().expect("id").to_string();
        api.wait_running(&id, T).await;
        assert_eq!(web["environment"], json!({"MODE": "prod"}));
        assert_eq!(
            api.get_json("/settings").await["environment"],
            json!({"LANG": "C.UTF-8"})
        );
        let jails = api.get_json("/firewall/jails").await;
        assert_eq!(jails[0]["name"], "web-auth", "{jails}");
        assert_eq!(jails[0]["max_failures"], 3, "{jails}");
        pids.push((pid_of(api, "web").await, pid_of(api, "worker").await));
    }

    // Second run: nothing changes, nothing restarts.
    let (recap, text) = run_playbook(work.path(), &inventory_file, &vars_file);
    assert_eq!(
        recap,
        vec![("host0".to_string(), 0), ("host1".to_string(), 0)],
        "{text}"
    );
    for (api, before) in apis.iter().zip(&pids) {
        assert_eq!(
            &(pid_of(api, "web").await, pid_of(api, "worker").await),
            before
        );
    }

    // Drift on host1: web's environment edited by hand.
    let id = apis[1].get_json("/services/by-name/web").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let resp = apis[1]
        .patch(
            &format!("/services/{id}"),
            &json!({"environment": {"MODE": "debug"}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let jail = apis[1].get_json("/firewall/jails").await[0]["id"]
        .as_str()
        .expect("jail id")
        .to_string();
    let resp = apis[1]
        .patch(
            &format!("/firewall/jails/{jail}"),
            &json!({"max_failures": 9}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (recap, text) = run_playbook(work.path(), &inventory_file, &vars_file);
    assert_eq!(
        recap,
        vec![("host0".to_string(), 0), ("host1".to_string(), 1)],
        "{text}"
    );
    assert_eq!(
        apis[1].get_json("/services/by-name/web").await["environment"],
        json!({"MODE": "prod"})
    );
    assert_eq!(
        apis[1].get_json("/firewall/jails").await[0]["max_failures"],
        3
    );
    apis[1].wait_running(&id, T).await;
    // host0 was left alone.
    assert_eq!(
        (
            pid_of(&apis[0], "web").await,
            pid_of(&apis[0], "worker").await
        ),
        pids[0]
    );
}
