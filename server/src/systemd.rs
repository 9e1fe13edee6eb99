//! The systemd notify protocol (`Type=notify` in `deploy/warden.service`), through the `sd-notify`
//! crate: [`ready`] (`READY=1`, once the store, the firewall restore and the supervisor are up and the
//! admin listener is bound), [`stopping`] (`STOPPING=1`, when shutdown begins) and [`spawn_watchdog`]
//! (`WATCHDOG=1` every half of `WATCHDOG_USEC`, sent from a task on Warden's single event loop, so a
//! stuck loop stops the pings and systemd restarts Warden).
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing. The variables are read,
//! never unset (unsetting the environment of a running multi-threaded process is unsound); services do
//! not inherit them because the supervisor starts them with a cleared environment.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells the service manager that Warden is up.
pub fn ready() {
    send(&[NotifyState::Ready], "READY=1");
}

/// Tells the service manager that Warden is shutting down (services are being stopped).
pub fn stopping() {
    send(&[NotifyState::Stopping], "STOPPING=1");
}

/// The interval between watchdog pings: half the watchdog timeout systemd gave (`WATCHDOG_USEC`, for
/// this process if `WATCHDOG_PID` is set), or `None` without a watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|timeout| !timeout.is_zero())
        .map(|timeout| timeout / 2)
}

/// Starts the watchdog pings on the current runtime, if systemd asked for them. Returns the interval.
pub fn spawn_watchdog() -> Option<Duration> {
    let every = watchdog_interval()?;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            send(&[NotifyState::Watchdog], "WATCHDOG=1");
        }
    });
    tracing::info!(interval = ?every, "systemd watchdog pings on");
    Some(every)
}

/// Sends `states`; a failure is logged (once per kind of message would be nicer, but these are rare:
/// the socket is local and systemd reads it at once).
fn send(states: &[NotifyState], what: &str) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(message = what, error = %e, "cannot notify the service manager");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_notify_socket_nothing_happens() {
        if std::env::var_os("NOTIFY_SOCKET").is_some() {
            return;
        }
        ready();
        stopping();
    }
}
