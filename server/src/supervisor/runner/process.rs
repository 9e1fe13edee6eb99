//! The process side of a service's run: how to launch a command like the service (user, environment,
//! working directory), spawning it in a new process group (and its own cgroup, where Warden has cgroups)
//! with its output pumped into the log, signalling it to stop or reload, and ending what a run left
//! behind (in its cgroup, else in its group) — a clean exit that leaves processes is a daemonizing service.

use std::time::{Duration, Instant};

/// The signal a service's `stop_signal` names.
fn stop_signal(name: StopSignalName) -> Signal {
    match name {
        StopSignalName::Term => Signal::SIGTERM,
        StopSignalName::Int => Signal::SIGINT,
        StopSignalName::Quit => Signal::SIGQUIT,
        StopSignalName::Hup => Signal::SIGHUP,
        StopSignalName::Usr1 => Signal::SIGUSR1,
        StopSignalName::Usr2 => Signal::SIGUSR2,
        StopSignalName::Kill => Signal::SIGKILL,
    }
}

/// How long to wait for SIGKILLed leftovers to be gone.
const REMNANT_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for a SIGKILLed cgroup to empty after the stop grace.
const KILL_WAIT: Duration = Duration::from_secs(5);

use app::model::service::{Health, StopSignalName};
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
            nofile: spec.limits.nofile,
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
        let cgroup_procs = match &self.cgroup {
            Some(cgroup) => match cgroup
                .create()
                .and_then(|()| {
                    let controllers = self.env.cgroups.as_ref().map(|t| t.controllers().clone());
                    cgroup.apply_limits(&self.record.spec.limits, &controllers.unwrap_or_default())
                })
                .and_then(|()| cgroup.procs_file())
            {
                Ok(file) => Some(file),
                Err(e) => {
                    self.log
                        .warden(format!("cannot start: its cgroup: {e}"))
                        .await;
                    return Event::SpawnFailed;
                }
            },
            None => None,
        };
        let mut child = match spawn::spawn_in_new_group(&launch, cgroup_procs.as_ref()) {
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
        let pipes = [
            child
                .stdout
                .take()
                .map(|out| (out.into_owned_fd(), Stream::Out)),
            child
                .stderr
                .take()
                .map(|err| (err.into_owned_fd(), Stream::Err)),
        ];
        for (fd, stream) in pipes.into_iter().flatten() {
            match fd {
                Ok(fd) => {
                    tokio::spawn(logs::pump_pipe(fd, stream, self.log.clone()));
                }
                Err(e) => {
                    self.log
                        .warden(format!("cannot read the service's output: {e}"))
                        .await
                }
            }
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
        self.daemonized = None;
        self.port_warnings.clear();
        self.last_check = None;
        self.next_check = Some(self.policy().next_check_at(now, None));
        self.schedule_memory_check(now);
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
        let grace = self.policy().stop_grace;
        let first = match signal {
            StopSignal::Hangup => {
                self.log
                    .warden("restarting: SIGHUP to the process group")
                    .await;
                Signal::SIGHUP
            }
            StopSignal::Terminate => {
                let signal = stop_signal(self.record.spec.stop_signal);
                self.log
                    .warden(format!(
                        "stopping: {} to the process group",
                        signal.as_str()
                    ))
                    .await;
                signal
            }
        };
        let to_everyone = signal == StopSignal::Terminate;
        let generation = self.generation;
        let tx = self.reports.clone();
        let cgroup = self.cgroup.clone();
        tokio::spawn(async move {
            let killed = match cgroup {
                Some(cgroup) => {
                    spawn::signal_group(pgid, first);
                    if to_everyone {
                        // Processes that left the group (setsid) are asked to stop too.
                        cgroup.signal(first);
                    }
                    if cgroup.wait_empty(grace).await {
                        false
                    } else {
                        cgroup.end(KILL_WAIT).await;
                        true
                    }
                }
                None => spawn::terminate_group(pgid, first, grace).await,
            };
            report(&tx, Report::GroupGone { generation, killed });
        });
        None
    }

    /// A restart's SIGHUP to the process group; the reload grace starts.
    pub(super) async fn reload(&mut self) {
        let Some(pgid) = self.run.as_ref().map(|r| r.pid) else {
            return;
        };
        let grace = self.policy().reload_grace;
        self.log
            .warden(format!(
                "restarting: SIGHUP to the process group (reload grace {} s)",
                grace.as_secs_f64()
            ))
            .await;
        spawn::signal_group(pgid, Signal::SIGHUP);
        let generation = self.generation;
        let tx = self.reports.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            report(&tx, Report::ReloadElapsed { generation });
        });
    }

    /// The live processes the current run left: in its cgroup, else in its process group.
    pub(super) async fn leftovers(&self) -> Vec<procfs::ProcStat> {
        let cgroup = self.cgroup.clone();
        let pgid = self.run.as_ref().map(|r| r.pid);
        tokio::task::spawn_blocking(move || match (cgroup, pgid) {
            (Some(cgroup), _) => procfs::live_members(&cgroup.pids()),
            (None, Some(pgid)) => procfs::group_members(pgid),
            (None, None) => Vec::new(),
        })
        .await
        .unwrap_or_default()
    }

    /// Ends every process in the cgroup (else the group) with SIGKILL and waits for them to be gone.
    async fn end_leftovers(&self) {
        match (&self.cgroup, self.run.as_ref().map(|r| r.pid)) {
            (Some(cgroup), _) => {
                cgroup.end(REMNANT_WAIT).await;
            }
            (None, Some(pgid)) => {
                spawn::signal_group(pgid, Signal::SIGKILL);
                spawn::wait_group_empty(pgid, REMNANT_WAIT).await;
            }
            (None, None) => {}
        }
    }

    /// The main process exited 0 while `leftovers` kept running: it forked into the background. Ends
    /// them, records the `daemonized` warning and returns the reason to disable the service with.
    pub(super) async fn diagnose_daemonized(&mut self, leftovers: &[procfs::ProcStat]) -> String {
        let escaped: Vec<(u32, String)> = leftovers
            .iter()
            .map(|p| (p.pid, procfs::command_line(p.pid, &p.comm)))
            .collect();
        let (warning, reason) = warnings::daemonized(&escaped);
        self.log.warden(warning.message.clone()).await;
        self.daemonized = Some(warning);
        self.end_leftovers().await;
        reason
    }

    pub(super) async fn kill_remnants(&mut self) {
        let members = self.leftovers().await;
        if members.is_empty() {
            return;
        }
        let pids: Vec<String> = members.iter().map(|p| p.pid.to_string()).collect();
        let place = if self.cgroup.is_some() {
            "cgroup"
        } else {
            "group"
        };
        self.log
            .warden(format!(
                "ending {} process(es) left in the {place} (pids {}) with SIGKILL",
                members.len(),
                pids.join(", ")
            ))
            .await;
        self.end_leftovers().await;
    }
}
