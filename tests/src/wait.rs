//! Gating and polling: [`gate`] and the blocking [`wait_for`] are `warden_testkit`'s (shared with the
//! firewall suite); [`poll`] is their async twin for tests that run on tokio.

use std::time::{Duration, Instant};

pub use warden_testkit::gate::{gate, wait_for};

/// Polls the async `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
