//! The journal source of a jail: `journalctl -f -o json` as a child process of the reader thread,
//! following the entries of a unit or a syslog identifier ([`journal_args`]), restarted when it ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{sleep_unless_stopped, Sink};

/// The `MESSAGE` of one `journalctl -o json` entry (a string, or an array of bytes).
pub fn journal_message(json_line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(json_line).ok()?;
    match entry.get("MESSAGE")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(bytes) => {
            let bytes: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => None,
    }
}

/// The `journalctl` arguments that follow the new entries of `name`, a unit or a syslog identifier:
/// those of unit `name` (`name.service` when it has no unit suffix) or with `SYSLOG_IDENTIFIER=name`
/// (journalctl ANDs matches of different fields unless they are separated by `+`, and `-u` with `-t`
/// would AND them too). So `ssh.service` follows the journal of OpenSSH's unit and `sshd` what sshd
/// logs under its identifier, whichever unit (or none) it runs in. `name` is validated (letters, digits
/// and `@ . _ - : \`, no leading `-`) and each match is one argument, never through a shell.
pub fn journal_args(name: &str) -> Vec<String> {
    let unit = if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    };
    ["-f", "-o", "json", "-n", "0", "--no-pager"]
        .into_iter()
        .map(str::to_string)
        .chain([
            format!("_SYSTEMD_UNIT={unit}"),
            "+".to_string(),
            format!("SYSLOG_IDENTIFIER={name}"),
        ])
        .collect()
}

pub(super) fn follow_journal(
    unit: &str,
    sink: &Sink,
    stop: &AtomicBool,
    slot: &Mutex<Option<Child>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let spawned = Command::new("journalctl")
            .args(journal_args(unit))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                sink.status
                    .set_problem(Some(format!("cannot run journalctl: {e}")));
                sleep_unless_stopped(stop, Duration::from_secs(10));
                continue;
            }
        };
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            continue;
        };
        {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            // A reader stopped while this journalctl started found no child to kill: end it here
            // (the stop flag is set before the slot is looked at, so under this lock it is seen).
            if stop.load(Ordering::Relaxed) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            *slot = Some(child);
        }
        sink.status.set_problem(None);
        sink.status.opened.store(true, Ordering::Relaxed);
        for line in BufReader::new(stdout).lines() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(line) = line else { break };
            if let Some(message) = journal_message(&line) {
                if !sink.line(&message) {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        if let Some(mut child) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !stop.load(Ordering::Relaxed) {
            sink.status
                .set_problem(Some("journalctl ended; restarting it".into()));
            sleep_unless_stopped(stop, Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_source_follows_a_unit_or_a_syslog_identifier() {
        let tail = |name: &str| journal_args(name)[6..].join(" ");
        assert_eq!(
            tail("ssh.service"),
            "_SYSTEMD_UNIT=ssh.service + SYSLOG_IDENTIFIER=ssh.service"
        );
        assert_eq!(
            tail("sshd"),
            "_SYSTEMD_UNIT=sshd.service + SYSLOG_IDENTIFIER=sshd"
        );
        assert_eq!(
            tail("postfix@-.service"),
            "_SYSTEMD_UNIT=postfix@-.service + SYSLOG_IDENTIFIER=postfix@-.service"
        );
        assert_eq!(
            journal_args("x")[..6],
            ["-f", "-o", "json", "-n", "0", "--no-pager"]
        );
    }

    #[test]
    fn journal_messages_are_strings_or_bytes() {
        assert_eq!(
            journal_message(r#"{"MESSAGE":"Invalid user a from 192.0.2.1 port 2","_PID":"1"}"#),
            Some("Invalid user a from 192.0.2.1 port 2".into())
        );
        assert_eq!(
            journal_message(r#"{"MESSAGE":[104,105]}"#),
            Some("hi".into())
        );
        assert_eq!(journal_message("not json"), None);
        assert_eq!(journal_message(r#"{"OTHER":1}"#), None);
    }
}
