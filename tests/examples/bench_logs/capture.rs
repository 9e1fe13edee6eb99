//! The writer both supervisors run (a Python script, the same for both) and the check of what reached
//! the log files: every line the writer wrote is there once, whole and in order, across rotation.
//!
//! Each payload line is 100 bytes: `L<12-digit sequence> <85 × x>\n`. In `paced` mode the writer writes
//! `rate` lines a second, one `write` per line (a flush per line); in `flood` mode it writes blocks of
//! 655 lines (~64 KiB) as fast as the pipe takes them. When its time is up it writes
//! `W-END <lines> <seconds>` to stderr and exits.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub const LINE_BYTES: u64 = 100;
const FILL: usize = 85;

const SCRIPT: &str = r#"import os, sys, time
mode, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fill = b"x" * 85
def lines(a, b):
    return b"".join([b"L%012d %s\n" % (j, fill) for j in range(a, b)])
def put(buf):
    view = memoryview(buf)
    while view:
        view = view[os.write(1, view):]
i = 0
start = time.monotonic()
end = start + secs
if mode == "paced":
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate)
        while i < due:
            put(b"L%012d %s\n" % (i, fill))
            i += 1
        time.sleep(0.001)
else:
    while time.monotonic() < end:
        put(lines(i, i + 655))
        i += 655
took = time.monotonic() - start
os.write(2, b"W-END %d %.6f\n" % (i, took))
"#;

/// A temp dir (readable by the services' user) holding the writer script.
pub struct Writer {
    dir: tempfile::TempDir,
}

impl Writer {
    pub fn new() -> anyhow::Result<Writer> {
        let dir = tempfile::Builder::new().prefix("bench-logs-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let script = dir.path().join("writer.py");
        std::fs::write(&script, SCRIPT)?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644))?;
        Ok(Writer { dir })
    }

    /// `python3 <script> paced <rate> <secs>`: `rate` 100-byte lines a second, each its own write.
    pub fn paced(&self, rate: u32, secs: u32) -> String {
        format!("python3 {} paced {rate} {secs}", self.script().display())
    }

    /// `python3 <script> flood 0 <secs>`: as fast as the pipe takes it.
    pub fn flood(&self, secs: u32) -> String {
        format!("python3 {} flood 0 {secs}", self.script().display())
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("writer.py")
    }

    /// A scratch dir for the raw pipe → file run.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// What [`check`] found in a log (the current file and its rotated ones).
#[derive(Debug, Default)]
pub struct Checked {
    /// Lines the writer said it wrote, and in how many seconds (from `W-END`).
    pub written: u64,
    pub secs: f64,
    /// Payload lines found, the first and last sequence number among them.
    pub found: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// Lines that are not a whole payload line, and breaks in the sequence.
    pub torn: u64,
    pub gaps: u64,
    /// Rotated files present.
    pub rotated: usize,
}

impl Checked {
    /// Whether every line from the first one kept to the writer's last one is there, whole.
    pub fn intact(&self) -> bool {
        self.written > 0 && self.torn == 0 && self.gaps == 0 && self.last == Some(self.written - 1)
    }

    /// Payload bytes a second the writer got through (the pipe back-pressures a slow reader).
    pub fn bytes_per_sec(&self) -> f64 {
        (self.written * LINE_BYTES) as f64 / self.secs.max(f64::MIN_POSITIVE)
    }
}

/// Checks `current` and its rotated files `current.1` … (oldest first). A line is the payload after
/// `prefix_fields` space-separated fields (Warden: timestamp and stream, 2; supervisord and raw: 0).
pub fn check(current: &Path, prefix_fields: usize) -> anyhow::Result<Checked> {
    let mut files = Vec::new();
    for index in (1..10).rev() {
        let mut os = current.as_os_str().to_owned();
        os.push(format!(".{index}"));
        let path = PathBuf::from(os);
        if path.exists() {
            files.push(path);
        }
    }
    let mut out = Checked {
        rotated: files.len(),
        ..Checked::default()
    };
    files.push(current.to_path_buf());
    let fill = "x".repeat(FILL);
    for path in files {
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for line in String::from_utf8_lossy(&text).lines() {
            let payload = line.splitn(prefix_fields + 1, ' ').nth(prefix_fields);
            let Some(payload) = payload else {
                out.torn += 1;
                continue;
            };
            if let Some(end) = payload.strip_prefix("W-END ") {
                let mut parts = end.split_whitespace();
                out.written = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                out.secs = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
                continue;
            }
            let parsed = payload
                .strip_prefix('L')
                .and_then(|rest| rest.split_once(' '))
                .filter(|(seq, x)| seq.len() == 12 && *x == fill)
                .and_then(|(seq, _)| seq.parse::<u64>().ok());
            match parsed {
                Some(seq) => {
                    if let Some(last) = out.last {
                        if seq != last + 1 {
                            out.gaps += 1;
                        }
                    }
                    out.first.get_or_insert(seq);
                    out.last = Some(seq);
                    out.found += 1;
                }
                // Supervisor lines (Warden's `warden started …`) are no payload.
                None if line.contains(" warden ") => {}
                None => out.torn += 1,
            }
        }
    }
    Ok(out)
}
