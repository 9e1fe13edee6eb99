//! What the benchmarks that compare Warden with supervisord share (included with `#[path]`, so this
//! directory is no example of its own): supervisord 4.x from PyPI in `target/bench-venv`
//! ([`supervisord_bin`], [`Supervisord`]), a process's CPU and memory from `/proc`
//! ([`rss_and_ticks`], [`cpu_percent`]) and percentiles.

#![allow(dead_code)] // each benchmark uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// USER_HZ on Linux: the unit of `utime`/`stime` in `/proc/<pid>/stat`.
pub const TICKS_PER_SEC: f64 = 100.0;

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `utime + stime` of one process (its own, not its children's), in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the state (index 0): utime is field 14 of stat, i.e. index 11 here; stime index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `(rss_bytes, anonymous_rss_bytes, cpu_ticks)` of one process.
pub fn rss_and_ticks(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status_kib(&status, "VmRSS:")?;
    let anon_kib = status_kib(&status, "RssAnon:")?;
    Some((rss_kib * 1024, anon_kib * 1024, cpu_ticks(pid)?))
}

/// The CPU `pid` itself uses over `sample`, in % of one core.
pub fn cpu_percent(pid: u32, sample: Duration) -> anyhow::Result<f64> {
    let before = cpu_ticks(pid).context("reading /proc/<pid>/stat")?;
    let started = Instant::now();
    std::thread::sleep(sample);
    let after = cpu_ticks(pid).context("reading /proc/<pid>/stat")?;
    let secs = started.elapsed().as_secs_f64();
    Ok(after.saturating_sub(before) as f64 / TICKS_PER_SEC / secs * 100.0)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

// ---------------------------------------------------------------- supervisord

/// supervisord from PyPI in `target/bench-venv`, installed there if missing.
pub fn supervisord_bin() -> anyhow::Result<PathBuf> {
    let venv = warden_tests::repo_root().join("target").join("bench-venv");
    let bin = venv.join("bin").join("supervisord");
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!("installing supervisor from PyPI into {}", venv.display());
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("python3 -m venv")?
        .success();
    if !ok {
        bail!("python3 -m venv failed (Debian: apt-get install python3-venv)");
    }
    let ok = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "supervisor>=4,<5",
        ])
        .status()
        .context("pip install supervisor")?
        .success();
    if !ok || !bin.is_file() {
        bail!("pip install supervisor failed");
    }
    Ok(bin)
}

/// `supervisord --version`.
pub fn supervisord_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One `[program:…]` of a [`Supervisord`]; its output goes to `<dir>/logs/<name>.log`, stderr
/// redirected into it, rotated like Warden's logs (10 MB × 5 files).
pub struct Program {
    pub name: String,
    pub command: String,
    pub autorestart: bool,
}

impl Program {
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            command: command.into(),
            autorestart: true,
        }
    }

    pub fn once(mut self) -> Program {
        self.autorestart = false;
        self
    }
}

/// A supervisord running in a temp dir (unix socket only), ended on drop.
pub struct Supervisord {
    child: Child,
    dir: tempfile::TempDir,
}

impl Supervisord {
    pub fn start(bin: &Path, programs: &[Program]) -> anyhow::Result<Supervisord> {
        let dir = tempfile::Builder::new()
            .prefix("bench-supervisord-")
            .tempdir()?;
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let mut conf = format!(
            "[unix_http_server]\nfile={d}/supervisor.sock\nchmod=0700\n\n\
             [supervisord]\nnodaemon=true\nuser=root\nlogfile={d}/supervisord.log\n\
             pidfile={d}/supervisord.pid\nchildlogdir={d}/logs\nminfds=4096\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\n"
        );
        for p in programs {
            conf.push_str(&format!(
                "[program:{}]\ncommand={}\nautostart=true\nautorestart={}\n\
                 startsecs=0\nstartretries=1000\nstopsignal=TERM\nstopwaitsecs=10\n\
                 redirect_stderr=true\nstdout_logfile={d}/logs/{}.log\n\
                 stdout_logfile_maxbytes=10MB\nstdout_logfile_backups=4\n\n",
                p.name, p.command, p.autorestart, p.name
            ));
        }
        let conf_path = dir.path().join("supervisord.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting supervisord")?;
        Ok(Supervisord { child, dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The current log file of a program.
    pub fn log_path(&self, program: &str) -> PathBuf {
        self.dir.path().join("logs").join(format!("{program}.log"))
    }

    /// SIGTERM (supervisord stops its programs), bounded; then SIGKILL.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Where a process's resident memory is, from `/proc/<pid>/smaps` (KiB): the program file's own
/// pages, other files' (libraries), the heap, and the rest of the anonymous memory (thread stacks,
/// mmap'd allocations).
#[derive(Debug, Default, Clone, Copy)]
pub struct RssSplit {
    pub program_kib: u64,
    pub libraries_kib: u64,
    pub heap_kib: u64,
    pub other_anon_kib: u64,
}

pub fn rss_split(pid: u32) -> Option<RssSplit> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let exe = exe.to_string_lossy().into_owned();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let mut split = RssSplit::default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address perms offset dev inode [path]
            name = fields.nth(4).unwrap_or("").to_string();
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let slot = if name == exe.trim_end_matches(" (deleted)") {
                &mut split.program_kib
            } else if name.starts_with('/') {
                &mut split.libraries_kib
            } else if name == "[heap]" {
                &mut split.heap_kib
            } else {
                &mut split.other_anon_kib
            };
            *slot += kib;
        }
    }
    Some(split)
}
