//! Service log files: `<data>/logs/services/<name>.log`, one line per output line
//! (`2026-11-24T10:00:00.123Z out|err|warden <text>`), size rotation by rename (`name.log` → `name.log.1`
//! → …) with no line lost, a live fan-out to subscribers over `tokio::sync::broadcast` (a lagging
//! subscriber loses lines, it never blocks the child), and `tail` that reads backwards from the end.
//! This file holds the line format, [`ServiceLog`] with its live channel and the pipe reader [`pump`];
//! [`file`] the file writing, rotation and [`tail`].
//!
//! The live channel exists only while someone follows the log: the first subscriber creates it, and the
//! writer drops it at the next line once the last subscriber has gone. A subscriber gets the lines
//! written after it subscribed. (With hundreds of services and nobody watching, a pre-allocated
//! channel per service was most of Warden's per-service memory.)
//!
//! The pipe readers ([`pump`], in [`pump`](self::pump)) and the supervisor write lines themselves, under
//! the log's lock: one write per batch of lines (all the lines of one read from a pipe, with one
//! timestamp). Only the disk can slow a child down, never a reader. (A writer task per service with a
//! channel in front of it cost 2 KiB per service, measured with 200 services; the lock is held for a
//! write, never across an await.)
//!
//! Buffers exist only while output is moving: the pipe readers share one read buffer per thread and
//! keep only an unfinished line, and the file buffer lives for one batch of lines. Most services are
//! quiet most of the time; permanent per-service buffers (a 4 KiB file buffer and two 2 KiB pipe
//! buffers) were 8 KiB of the ~28 KiB each service cost (measured with 200 services, heaptrack).

mod file;
mod pump;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::sync::broadcast;

pub use file::tail;
use file::Writer;
pub use pump::{pump, pump_pipe};

/// Longer output lines are split into pieces of this many bytes.
pub const MAX_LINE_BYTES: u64 = 16 * 1024;
/// Lines a live subscriber may fall behind before it loses some (and is told how many).
const SUBSCRIBER_LINES: usize = 256;
/// A batch of lines is written to the file whenever this much is buffered, and at its end (the buffer
/// exists during a batch only; below glibc's mmap threshold, so it comes from the heap's free list).
const FILE_BUFFER_BYTES: usize = 64 * 1024;

const MILLIS_UTC: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-24T10:00:00.123Z`.
pub fn rfc3339_millis(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(MILLIS_UTC)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
    Warden,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
            Stream::Warden => "warden",
        }
    }
}

/// One formatted log line, without the newline.
pub fn format_line(at: OffsetDateTime, stream: Stream, text: &str) -> String {
    let text = text.trim_end_matches(['\n', '\r']);
    format!("{} {} {}", rfc3339_millis(at), stream.as_str(), text)
}

/// Rotation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the current file would grow beyond this.
    pub max_bytes: u64,
    /// Files kept, the current one included (at least 2).
    pub max_files: u32,
}

/// The path of a service's current log file.
pub fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

fn rotated_path(current: &Path, index: u32) -> PathBuf {
    let mut os = current.as_os_str().to_owned();
    os.push(format!(".{index}"));
    PathBuf::from(os)
}

/// The live fan-out of one log: `None` while nobody follows it.
#[derive(Default)]
struct Live(Mutex<Option<broadcast::Sender<String>>>);

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<String>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of the lines sent from now on; creates the channel if nobody follows yet.
    fn subscribe(&self) -> broadcast::Receiver<String> {
        let mut live = self.lock();
        match live.as_ref() {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(SUBSCRIBER_LINES);
                *live = Some(sender);
                receiver
            }
        }
    }

    /// Sends `line` to the subscribers; drops the channel (and its buffered lines) once there are none.
    fn send(&self, line: String) {
        Live::send_locked(&mut self.lock(), || line);
    }

    /// [`Live::send`] under a lock the caller holds; `line` is made only if someone follows.
    fn send_locked(live: &mut Option<broadcast::Sender<String>>, line: impl FnOnce() -> String) {
        let Some(sender) = live.as_ref() else {
            return;
        };
        if sender.receiver_count() == 0 {
            *live = None;
        } else {
            let _ = sender.send(line());
        }
    }

    fn is_open(&self) -> bool {
        self.lock().is_some()
    }
}

/// The handle to one service's log. Cheap to clone.
#[derive(Clone)]
pub struct ServiceLog {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Mutex<Writer>,
    live: Live,
    /// Why the file cannot be written right now, if it cannot (see [`ServiceLog::write_problem`]).
    problem: Mutex<Option<String>>,
}

impl std::fmt::Debug for ServiceLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLog")
            .field("path", &self.path())
            .finish()
    }
}

impl ServiceLog {
    /// Opens (appending) `<dir>/<name>.log`.
    pub fn open(dir: &Path, name: &str, rotation: Rotation) -> io::Result<ServiceLog> {
        std::fs::create_dir_all(dir)?;
        let writer = Writer::open(log_path(dir, name), rotation)?;
        Ok(ServiceLog {
            shared: Arc::new(Shared {
                writer: Mutex::new(writer),
                live: Live::default(),
                problem: Mutex::new(None),
            }),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Why the log file cannot be written, while it cannot (disk full, read-only, permissions). Lines
    /// are dropped meanwhile (live subscribers still get them); writing resumes by itself.
    pub fn write_problem(&self) -> Option<String> {
        self.shared
            .problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The current log file.
    pub fn path(&self) -> PathBuf {
        self.writer().path.clone()
    }

    /// Appends lines (one write for all of them) and sends them to the live subscribers.
    pub fn write_lines(&self, lines: impl IntoIterator<Item = (Stream, String)>) {
        let mut writer = self.writer();
        for (stream, text) in lines {
            let line = format_line(OffsetDateTime::now_utc(), stream, &text);
            if let Err(e) = writer.write_line(&line) {
                writer.dropped += 1;
                writer.report(&self.shared.problem, Err(e));
            }
            self.shared.live.send(line);
        }
        let flushed = writer.flush();
        writer.report(&self.shared.problem, flushed);
    }

    /// Appends the raw output lines `split` emits (each with or without its newline) as one batch:
    /// one timestamp, one lock, one write. A line is copied straight into the file buffer (invalid
    /// UTF-8 replaced); it becomes a `String` of its own only when someone follows the log live.
    pub(super) fn capture(&self, stream: Stream, split: impl FnOnce(&mut dyn FnMut(&[u8]))) {
        let mut writer = self.writer();
        let mut live = self.shared.live.lock();
        let mut prefix: Option<String> = None;
        split(&mut |raw: &[u8]| {
            let prefix = prefix.get_or_insert_with(|| {
                format!(
                    "{} {} ",
                    rfc3339_millis(OffsetDateTime::now_utc()),
                    stream.as_str()
                )
            });
            let end = raw
                .iter()
                .rposition(|&b| b != b'\n' && b != b'\r')
                .map_or(0, |last| last + 1);
            let text = String::from_utf8_lossy(&raw[..end]);
            if let Err(e) = writer.write_parts(prefix, &text) {
                writer.dropped += 1;
                writer.report(&self.shared.problem, Err(e));
            }
            Live::send_locked(&mut live, || format!("{prefix}{text}"));
        });
        if prefix.is_some() {
            let flushed = writer.flush();
            writer.report(&self.shared.problem, flushed);
        }
    }

    /// Appends one line.
    pub async fn line(&self, stream: Stream, text: impl Into<String>) {
        self.write_lines([(stream, text.into())]);
    }

    /// Appends a supervisor line.
    pub async fn warden(&self, text: impl Into<String>) {
        self.line(Stream::Warden, text).await;
    }

    /// Returns once every line written before is in the file (bytes a failed write left buffered are
    /// tried again).
    pub async fn flush(&self) {
        let mut writer = self.writer();
        let flushed = writer.flush();
        writer.report(&self.shared.problem, flushed);
    }

    /// Moves the log (and its rotated files) to the file of a new service name.
    pub async fn rename(&self, dir: &Path, new_name: &str) {
        if let Err(e) = self.writer().rename(log_path(dir, new_name)) {
            tracing::warn!("cannot rename a service log: {e}");
        }
    }

    /// New lines as they are written (formatted, without newline), from now on. The stream ends when
    /// the log is closed (the service deleted).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.shared.live.subscribe()
    }

    /// Whether a live channel exists (someone followed the log since the last line was written).
    pub fn is_followed(&self) -> bool {
        self.shared.live.is_open()
    }

    /// The last `n` lines, reading backwards from the end (and into `name.log.1` if needed).
    pub async fn tail(&self, n: usize) -> io::Result<Vec<String>> {
        let path = self.path();
        tokio::task::spawn_blocking(move || tail(&path, n))
            .await
            .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let at = time::macros::datetime!(2026-11-24 10:00:00.123456 UTC);
        assert_eq!(
            format_line(at, Stream::Out, "hello\r\n"),
            "2026-11-24T10:00:00.123Z out hello"
        );
        assert_eq!(
            format_line(at, Stream::Warden, "started"),
            "2026-11-24T10:00:00.123Z warden started"
        );
    }

    #[tokio::test]
    async fn the_live_channel_exists_only_while_followed() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1 << 20,
            max_files: 2,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        log.line(Stream::Out, "before anyone follows").await;
        log.flush().await;
        assert!(!log.is_followed());

        // A late subscriber gets the lines written from then on, not the earlier ones.
        let mut first = log.subscribe();
        let mut second = log.subscribe();
        assert!(log.is_followed());
        log.line(Stream::Out, "one").await;
        log.flush().await;
        assert!(first.recv().await.unwrap().ends_with(" out one"));
        assert!(second.recv().await.unwrap().ends_with(" out one"));

        // Once the last subscriber is gone, the next line drops the channel.
        drop(first);
        log.line(Stream::Out, "two").await;
        log.flush().await;
        assert!(log.is_followed());
        assert!(second.recv().await.unwrap().ends_with(" out two"));
        drop(second);
        log.line(Stream::Out, "three").await;
        log.flush().await;
        assert!(!log.is_followed());

        // Following again works and starts with the next line.
        let mut again = log.subscribe();
        log.line(Stream::Err, "four").await;
        log.flush().await;
        assert!(again.recv().await.unwrap().ends_with(" err four"));
        assert!(again.try_recv().is_err());
        assert_eq!(log.tail(5).await.unwrap().len(), 5);
    }

    use super::pump::PIPE_READ_BYTES;

    #[tokio::test]
    async fn pump_splits_lines_across_reads_and_long_lines_into_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1 << 20,
            max_files: 2,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        let max = MAX_LINE_BYTES as usize;
        let long = "x".repeat(max + 10);
        // More than one read, so some lines are assembled across reads; ends without a newline.
        let many: Vec<String> = (0..2 * PIPE_READ_BYTES / 1000)
            .map(|i| format!("{i:04}{}", "y".repeat(996)))
            .collect();
        let input = format!("a\r\n\nb\n{long}\n{}\nlast", many.join("\n"));
        pump(input.as_bytes(), Stream::Out, log.clone()).await;
        log.flush().await;
        let text = std::fs::read_to_string(log.path()).unwrap();
        let texts: Vec<&str> = text
            .lines()
            .map(|line| line.splitn(3, ' ').nth(2).unwrap())
            .collect();
        let mut expected = vec!["a", "", "b", &long[..max], &long[max..]];
        expected.extend(many.iter().map(String::as_str));
        expected.push("last");
        assert_eq!(texts, expected);
    }

    #[test]
    fn tail_reads_backwards_and_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let old: String = (0..5).map(|i| format!("old {i}\n")).collect();
        std::fs::write(rotated_path(&path, 1), old).unwrap();
        let big: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, big).unwrap();
        assert_eq!(tail(&path, 2).unwrap(), vec!["line 99998", "line 99999"]);
        assert_eq!(tail(&path, 0).unwrap(), Vec::<String>::new());
        assert_eq!(tail(&path, 20_000).unwrap().len(), 20_000);
        std::fs::write(&path, "new 0\nnew 1\n").unwrap();
        assert_eq!(
            tail(&path, 4).unwrap(),
            vec!["old 3", "old 4", "new 0", "new 1"]
        );
        assert_eq!(tail(&dir.path().join("none.log"), 3).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn rotation_keeps_every_line_and_subscribers_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 2_000,
            max_files: 100,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        let mut live = log.subscribe();
        for i in 0..1_000 {
            log.line(Stream::Out, format!("n{i}")).await;
        }
        log.flush().await;
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                assert!(line.len() < 2_000);
                seen.push(line.rsplit(' ').next().unwrap().to_string());
            }
        }
        seen.sort();
        let mut expected: Vec<String> = (0..1_000).map(|i| format!("n{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
        // The subscriber did not read while 1 000 lines went by: it is told how many it lost and
        // continues with the newest ones (the writer never waited for it).
        let lost = 1_000 - SUBSCRIBER_LINES as u64;
        assert_eq!(
            live.recv().await,
            Err(broadcast::error::RecvError::Lagged(lost))
        );
        assert!(live
            .recv()
            .await
            .unwrap()
            .ends_with(&format!(" out n{lost}")));
        assert_eq!(
            log.tail(1).await.unwrap()[0].rsplit(' ').next(),
            Some("n999")
        );
    }
}
