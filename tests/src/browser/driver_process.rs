//! The chromedriver process of a [`super::Browser`]: started in a process group of its own, which the
//! Chromium it launches joins, so ending the group ends the browser too, also when a test panics before
//! `Browser::close` (killing chromedriver alone left Chromium running).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::CHROMEDRIVER;

/// chromedriver listening on `port`, leading a new process group.
pub(super) fn spawn_chromedriver(port: u16) -> Child {
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver")
}

/// Kills chromedriver and everything in its process group (the Chromium it started), then reaps it.
pub(super) fn end_process_group(driver: &mut Child) {
    if let Ok(id) = i32::try_from(driver.id()) {
        let _ = killpg(Pid::from_raw(id), Signal::SIGKILL);
    }
    let _ = driver.kill();
    let _ = driver.wait();
}
