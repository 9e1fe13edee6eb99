//! Test support for the end-to-end suites, which start the real `warden` binary and drive it:
//!
//! - [`launcher`]: [`Launch`] and [`Warden`] start `warden serve` (on the host or in a network
//!   namespace) with a temporary data dir and wait until it serves; [`Build`] (debug or release, each with its own UI
//!   site), [`warden_bin`], [`site_root`].
//! - [`managed`]: [`ManagedWarden`], which also stops the services Warden started.
//! - [`api`]: HTTP clients of a [`Warden`], the bearer-token [`Api`] client, [`api_error`], [`sse_wait`].
//! - [`wait`]: [`gate`] (run, skip with a reason, or fail in CI), [`wait_for`] and async [`poll`].
//! - [`mutations`]: every REST mutation and mutating server function refused to a read-only credential.
//! - [`procs`]: the live processes from `/proc`; [`disk`]: small and full file systems (root); [`cgroups`]:
//!   each Warden's own cgroup subtree.
//! - [`browser`]: headless Chromium over WebDriver; [`assets`]: the built UI assets.
//! - [`receivers`]: a real webhook receiver (HTTP) and a real SMTP server (aiosmtpd) for notifications.
//!
//! The network-namespace lab (namespaces, veth pairs, probes) is the `warden_testkit` crate.

pub mod api;
pub mod assets;
pub mod browser;
pub mod browser_input;
pub mod cgroups;
pub mod disk;
pub mod launcher;
pub mod managed;
pub mod mutations;
pub mod procs;
pub mod receivers;
pub mod state_doc;
pub mod wait;

pub use api::{api_error, sse_wait, Api};
pub use launcher::{
    repo_root, server_fn_endpoints, site_root, warden_bin, Build, Launch, Warden, ADMIN_PASSWORD,
};
pub use managed::ManagedWarden;
pub use procs::{group_members, live_processes, pid_alive, processes_matching, Proc};
pub use wait::{gate, poll, wait_for};
