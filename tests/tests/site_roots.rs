//! A build never pulls the rug from a running Warden (issue 21: `make test` rebuilt `target/site` in debug
//! while a `make run` Warden served it, and every page of that Warden then 404'd its code). The debug
//! and release builds write separate sites (checked on the Makefile's own commands, and on what the
//! launcher runs), and publishing a new release UI keeps the files a running Warden found at start
//! (checked against a running Warden).

use std::path::Path;
use std::process::Command;

use warden_tests::{gate, repo_root, Build, Launch};

/// The commands `make <target>` would run (`make -n`).
fn make_dry_run(target: &str) -> String {
    let out = Command::new("make")
        .args(["-n", "--no-print-directory", target])
        .current_dir(repo_root())
        .output()
        .expect("run make -n");
    assert!(out.status.success(), "make -n {target}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debug_and_release_builds_write_separate_sites() {
    let debug = Build::Debug.site_root();
    let release = Build::Release.site_root();
    assert_ne!(debug, release);
    assert!(!debug.starts_with(&release) && !release.starts_with(&debug));
    let rel = |p: &Path| {
        p.strip_prefix(repo_root())
            .expect("under the repository")
            .display()
            .to_string()
    };

    // The debug build: cargo-leptos writes (and first empties) the debug site only.
    let commands = make_dry_run("build-debug");
    assert!(
        commands.contains(&format!(
            "LEPTOS_SITE_ROOT={} cargo leptos build",
            rel(&debug)
        )),
        "{commands}"
    );
    assert!(
        !commands.contains(&format!("{} ", rel(&release))),
        "{commands}"
    );
    assert!(
        !commands.contains(&format!("{}/", rel(&release))),
        "{commands}"
    );

    // The release build: cargo-leptos writes a staging site, which is then published into the release
    // site without emptying it.
    let commands = make_dry_run("build");
    let line = commands
        .lines()
        .find(|l| l.contains("cargo leptos build"))
        .expect("the cargo-leptos command");
    assert!(line.contains("--release"), "{line}");
    let built_into = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("LEPTOS_SITE_ROOT="))
        .expect("the release build names its site root");
    assert_ne!(
        built_into,
        rel(&release),
        "cargo-leptos would empty the served site"
    );
    assert_ne!(built_into, rel(&debug));
    assert!(
        commands.contains(&format!(".ci/publish-site {built_into} {}", rel(&release))),
        "{commands}"
    );

    // The binary of each build is started with its own site.
    for build in Build::ALL {
        let cmd = Launch::new()
            .build(build)
            .command(Path::new("/nonexistent-data"));
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args
            .iter()
            .position(|a| a == "--site-root")
            .expect("--site-root");
        assert_eq!(Path::new(&args[at + 1]), build.site_root(), "{build:?}");
        assert_eq!(Path::new(cmd.get_program()), build.bin(), "{build:?}");
    }
}

/// Copies the files of `from` (flat) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[tokio::test]
async fn publishing_a_new_release_ui_keeps_the_running_warden_served() {
    let build = Build::Debug;
    if !gate("a built UI", build.built()) {
        return;
    }
    // A running Warden on its own copy of a built site.
    let site = tempfile::tempdir().expect("temp dir");
    copy_dir(&build.site_root().join("pkg"), &site.path().join("pkg"));
    let w = Launch::new().build(build).site_root(site.path()).start();
    let client = w.client();
    let page = client
        .get(format!("{}/login", w.url))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("the page");
    let urls = warden_tests::assets::asset_urls(&page);
    assert!(urls.iter().any(|u| u.ends_with(".wasm")), "{urls:?}");

    // A new build with other content-hashed names (and a file left by a build long ago) is published.
    let staging = tempfile::tempdir().expect("temp dir");
    let pkg = staging.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    std::fs::write(pkg.join("warden.NEWNEWNEWNEWNEWNEW01.wasm"), b"\0asm").expect("write");
    std::fs::write(pkg.join("warden.NEWNEWNEWNEWNEWNEW01.js"), b"//").expect("write");
    let ancient = site
        .path()
        .join("pkg")
        .join("warden.OLDOLDOLDOLDOLDOLD01.wasm");
    std::fs::write(&ancient, b"\0asm").expect("write");
    let status = Command::new("touch")
        .args(["-d", "30 days ago"])
        .arg(&ancient)
        .status()
        .expect("touch");
    assert!(status.success());
    let out = Command::new(repo_root().join(".ci/publish-site"))
        .arg(staging.path())
        .arg(site.path())
        .output()
        .expect("run .ci/publish-site");
    assert!(out.status.success(), "{out:?}");

    // The running Warden still serves every file its pages name; the new files are there for the
    // next start, and only files no build wrote for a week are gone.
    for url in &urls {
        let status = client
            .get(format!("{}{url}", w.url))
            .send()
            .await
            .expect("GET an asset")
            .status();
        assert_eq!(status, 200, "{url} after publishing a new build");
    }
    assert!(pkg.join("warden.NEWNEWNEWNEWNEWNEW01.wasm").is_file());
    assert!(site
        .path()
        .join("pkg/warden.NEWNEWNEWNEWNEWNEW01.wasm")
        .is_file());
    assert!(
        !ancient.exists(),
        "a file from a build a month ago is pruned"
    );
}
