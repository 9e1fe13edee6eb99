//! Gating and polling: [`gate`] decides whether a test that needs something from the machine (root,
//! nft, Chromium) runs, skips with a printed reason, or — in CI — fails; [`wait_for`] polls a condition
//! until it holds or a deadline passes.

use std::time::{Duration, Instant};

/// Whether a machine-dependent test runs. Outside CI a missing prerequisite skips (printing why); in CI
/// (`CI=true`) it fails, because there the suite must really run.
pub fn gate(requirement: &str, available: Result<(), String>) -> bool {
    match available {
        Ok(()) => true,
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{requirement} is required in CI but unavailable: {reason}");
            }
            eprintln!("SKIP ({requirement}): {reason}");
            false
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
