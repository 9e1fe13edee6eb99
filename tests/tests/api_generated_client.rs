//! The OpenAPI document is a contract clients can generate from: the live binary's document passes the
//! standard validator (`openapi-spec-validator`), a Python client generated from it with a standard
//! generator (`openapi-python-client`) compiles, and a short operator flow through that client works
//! against the real binary (tests/clients/generated_client_flow.py: log in, create a service and wait
//! until it runs, add a rule, apply with a confirm window, confirm, delete the service). Both tools are
//! installed by `.ci/setup test` into `target/openapi-venv`.
//!
//! Warden runs inside a throwaway network namespace with the real `nft` (the flow applies a rule set),
//! and the client runs in the same namespace against its address there.

#[path = "firewall_e2e_support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use warden_tests::{gate, repo_root, warden_bin, Launch, ADMIN_PASSWORD};

fn venv_bin(name: &str) -> PathBuf {
    repo_root().join("target/openapi-venv/bin").join(name)
}

fn requirements() -> Result<(), String> {
    warden_testkit::netns::requirements()?;
    for tool in ["openapi-spec-validator", "openapi-python-client"] {
        if !venv_bin(tool).exists() {
            return Err(format!(
                "{} is missing (run `.ci/setup test`)",
                venv_bin(tool).display()
            ));
        }
    }
    Ok(())
}

fn say(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_client_generated_from_the_openapi_document_drives_warden() {
    if !gate(
        "the OpenAPI tools, network namespaces and nft",
        requirements(),
    ) {
        return;
    }
    let work = tempfile::tempdir().expect("work dir");

    // The document as the binary serves it, through the standard validator.
    let document = work.path().join("openapi.json");
    let out = Command::new(warden_bin())
        .arg("openapi")
        .output()
        .expect("warden openapi");
    assert!(out.status.success(), "{}", say(&out));
    std::fs::write(&document, &out.stdout).expect("write the document");
    let out = Command::new(venv_bin("openapi-spec-validator"))
        .arg(&document)
        .output()
        .expect("openapi-spec-validator");
    assert!(
        out.status.success(),
        "not a valid OpenAPI document: {}",
        say(&out)
    );

    // A generated client, without warnings (post hooks off: no formatter is needed to generate).
    let config = work.path().join("generator.yaml");
    std::fs::write(&config, "post_hooks: []\n").expect("write the generator config");
    let package = work.path().join("client");
    let out = Command::new(venv_bin("openapi-python-client"))
        .arg("generate")
        .arg("--path")
        .arg(&document)
        .args(["--meta", "none"])
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(package.join("warden_client"))
        .current_dir(work.path())
        .output()
        .expect("openapi-python-client");
    let said = say(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("Warning"),
        "the generator skipped parts of the document:\n{said}"
    );

    // The flow, through the generated client only.
    let ns = warden_testkit::Netns::new("gc");
    let warden = Launch::new().in_netns(&ns.name).start();
    let server = warden.host_addr();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(venv_bin("python"))
        .arg(repo_root().join("tests/clients/generated_client_flow.py"))
        .arg(&package)
        .arg(format!("http://{server}"))
        .arg(ADMIN_PASSWORD)
        .output()
        .expect("run the flow");
    let said = say(&out);
    assert!(
        out.status.success() && said.starts_with("ok service="),
        "the generated client's flow failed:\n{said}\n--- warden:\n{}",
        warden.stderr()
    );
    eprintln!("{}", said.trim());
    // The flow deleted its service: nothing is left running.
    let admin = support::NsClient::new(&ns, server).login();
    assert_eq!(admin.get("/services").json(), serde_json::json!([]));
}
