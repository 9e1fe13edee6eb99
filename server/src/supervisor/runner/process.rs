//! The process side of a service's run: how to launch a command like the service (user, environment,
//! working directory), spawning it in a new process group with its output pumped into the log, signalling
//! the group to stop or restart, and ending what a run left in its group.

use std::time::{Duration, Instant};

use app::model::service::Health;
use nix::sys::signal::Signal;
use time::OffsetDateTime;

use super::super::fsm::{Event, StopSignal};
use super::super::logs::{self, Stream};
use super::super::record::RunRecord;
use super::super::spawn::{self, Launch};
use super::super::{procfs, warnings, INSTANCE_VAR};
use super::{report, Report, Run, Runner};

impl Runner {
    /// How to run `command` like this service right now (user, env and settings are read afresh).
    pub(super) fn launch(&self, command: &str) -> Result<Launch, String> {
        let settings = self.env.settings();
        let spec = &self.record.spec;
        let user = spec.user.as_deref().unwrap_or(&settings.service_user);
        let run_as = spawn::resolve_user(user)?;
        let mut env = spawn::build_environment(
            &run_as,
            &settings.environment,
            &spec.environment,
            &spec.ports,
        );
        // Marks the process (and what it starts) as this Warden's, for the clean-up after a crash.
        env.insert(INSTANCE_VAR.to_string(), self.env.instance_mark.clone());
        let cwd = spawn::working_directory(spec.working_directory.as_deref(), &run_as);
        Ok(Launch {
            command: command.to_string(),
            cwd,
            env,
            run_as,
        })
    }

    pub(super) async fn spawn(&mut self) -> Event {
        let command = self.record.spec.command.clone();
        let launch = match self.launch(&command) {
            Ok(launch) => launch,
            Err(e) => {
                self.log.warden(format!("cannot start: {e}")).await;
                return Event::SpawnFailed;
            }
        };
        let mut child = match spawn::spawn_in_new_group(&launch) {
            Ok(child) => child,
            Err(e) => {
                self.log
                    .warden(format!("cannot start `{command}`: {e}"))
                    .await;
                return Event::SpawnFailed;
            }
        };
        let Some(pid) = child.id() else {
            self.log
                .warden("the command exited before it could be watched")
                .await;
            return Event::SpawnFailed;
        };
        self.generation += 1;
        let generation = self.generation;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(logs::pump(out, Stream::Out, self.log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(logs::pump(err, Stream::Err, self.log.clone()));
        }
        let tx = self.reports.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            report(&tx, Report::Exited { generation, status });
        });
        let now = Instant::now();
        self.run = Some(Run {
            pid,
            started: now,
            started_wall: OffsetDateTime::now_utc(),
        });
        self.health = Health::Unknown;
        self.port_warnings.clear();
        self.last_check = None;
        self.next_check = Some(self.env.config.next_check_at(now, None));
        self.record.run = procfs::start_ticks(pid).map(|start_ticks| RunRecord {
            pgid: pid,
            start_ticks,
        });
        self.persist_or_log().await;
        self.log
            .warden(format!(
                "started pid {pid} as {}: {command}",
                launch.run_as.name
            ))
            .await;
        Event::Spawned
    }

    pub(super) async fn terminate(&mut self, signal: StopSignal) -> Option<Event> {
        let Some(pgid) = self.run.as_ref().map(|r| r.pid) else {
            return Some(Event::GroupGone);
        };
        let grace = self.env.config.stop_grace;
        let first = match signal {
            StopSignal::Hangup => {
                self.log
                    .warden("restarting: SIGHUP to the process group")
                    .await;
                Signal::SIGHUP
            }
            StopSignal::Terminate => {
                self.log
                    .warden("stopping: SIGTERM to the process group")
                    .await;
                Signal::SIGTERM
            }
        };
        let generation = self.generation;
        let tx = self.reports.clone();
        tokio::spawn(async move {
            let killed = spawn::terminate_group(pgid, first, grace).await;
            report(&tx, Report::GroupGone { generation, killed });
        });
        None
    }

    pub(super) async fn kill_remnants(&mut self) {
        let Some(pgid) = self.run.as_ref().map(|r| r.pid) else {
            return;
        };
        let members = tokio::task::spawn_blocking(move || procfs::group_members(pgid))
            .await
            .unwrap_or_default();
        if members.is_empty() {
            self.daemonized = None;
            return;
        }
        let pids: Vec<u32> = members.iter().map(|p| p.pid).collect();
        let exit_code = self.last_exit.as_ref().and_then(|e| e.code);
        if let Some(warning) = warnings::daemonized_warning(exit_code, &pids) {
            self.log.warden(warning.message.clone()).await;
            self.daemonized = Some(warning);
        }
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        self.log
            .warden(format!(
                "ending {} process(es) left in the group (pids {}) with SIGKILL",
                members.len(),
                pids.join(", ")
            ))
            .await;
        spawn::signal_group(pgid, Signal::SIGKILL);
        spawn::wait_group_empty(pgid, Duration::from_secs(2)).await;
    }
}
