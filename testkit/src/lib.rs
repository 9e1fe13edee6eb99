//! Test support shared by Warden's test suites (`warden-firewall`'s kernel tests and `warden-tests`'
//! end-to-end tests): one network-namespace lab and the small helpers around it.
//!
//! - [`gate`]: whether a machine-dependent test runs, skips with a reason, or (in CI) fails; polling.
//! - [`netns`]: a throwaway namespace (deleted on drop), commands and nft inside it, veth links,
//!   addresses, and running a closure on a thread that joined it.
//! - [`lab`]: a server namespace joined to client namespaces by veth pairs (documentation addresses
//!   only: TEST-NET and 2001:db8::/32, nothing routed out).
//! - [`listener`] and [`probe`]: real TCP listeners / UDP echo servers inside a namespace, and TCP/UDP
//!   connection attempts from inside one, reported as open, refused or dropped.
//!
//! Everything here panics on a setup failure: a lab that cannot be built must fail the test using it.

pub mod gate;
pub mod lab;
pub mod listener;
pub mod netns;
pub mod probe;

pub use gate::{gate, wait_for};
pub use lab::{Lab, LinkPlan};
pub use listener::Listener;
pub use netns::{in_netns, Netns};
pub use probe::{probe, probe_all, probe_all_within, wait_for_outcome, Outcome, Probe};
