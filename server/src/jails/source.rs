//! Reading a jail's source and matching its lines, on a thread of its own: a log file (a service's own
//! log is the file `<data>/logs/services/<name>.log`) followed from its end across rotation (a new file
//! under the name: the rest of the old one is read first) and truncation (read again from the start),
//! or the systemd journal of a unit or syslog identifier through `journalctl -f -o json` as a child
//! process ([`journal_args`]).
//!
//! The thread never writes to what it reads, so the program writing the log is never slowed by a jail;
//! matching (CPU) happens on this thread too, never on Warden's async thread. Only failures cross to the
//! jail's task, over a bounded channel: a flood of failures slows this reader, nobody else. The thread
//! (and its journalctl) runs at nice [`READER_NICE`]: when CPU is short, Warden's async thread (which
//! pumps the services' output) and the services come first, and a jail lags behind its source instead
//! of stalling them. A reader that lags by more than the log's rotation (a service log keeps 5 files)
//! finishes the file it holds, then goes on with the current one: the files rotated meanwhile are
//! skipped (`lines` in the jail's view shows how much it read).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::jails::Matcher;
use tokio::sync::mpsc;

mod journal;
use journal::follow_journal;
pub use journal::{journal_args, journal_message};

/// How often a followed file is looked at.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// Most bytes read from a file per look (the rest comes at the next, without waiting).
const READ_CHUNK: usize = 256 * 1024;
/// A line longer than this is cut (the rest of it is skipped).
const MAX_LINE: usize = 16 * 1024;

/// The nice value of the reader threads.
pub const READER_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`READER_NICE`] (Linux: the nice value is per thread).
fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw();
    let Ok(tid) = u32::try_from(tid) else { return };
    #[allow(unsafe_code)]
    // SAFETY: setpriority takes plain integers and changes only the scheduling weight of thread `tid`
    // (this thread).
    let rc = unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid, READER_NICE) };
    if rc != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "cannot lower a jail reader's priority"
        );
    }
}

/// A failure line a source found.
#[derive(Debug, Clone)]
pub struct Found {
    pub address: std::net::IpAddr,
    pub line: String,
}

/// Shared between the reader thread and the jail: lines read, failures matched, and what keeps the
/// source from being read (if anything).
#[derive(Debug, Default)]
pub struct SourceStatus {
    pub lines: std::sync::atomic::AtomicU64,
    pub matched: std::sync::atomic::AtomicU64,
    pub problem: Mutex<Option<String>>,
    /// The source was open at least once (a file: its end found).
    pub opened: AtomicBool,
    /// How far a followed file was read (every line before it handed over).
    read_point: Mutex<Option<ReadPoint>>,
}

/// How far a followed file was read: the file (device, inode) and the offset after the last whole line
/// handed over. A reader started again on the same source (a jail's settings changed) resumes there, so
/// the lines written while it restarted are not missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPoint {
    identity: (u64, u64),
    offset: u64,
}

impl SourceStatus {
    pub(super) fn set_problem(&self, problem: Option<String>) {
        let mut p = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if *p != problem {
            if let Some(text) = &problem {
                tracing::warn!("jail source: {text}");
            }
            *p = problem;
        }
    }

    /// How far the followed file was read, if a file was.
    pub fn read_point(&self) -> Option<ReadPoint> {
        *self.read_point.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note_read_point(&self, f: &Followed) {
        let point = ReadPoint {
            identity: f.identity,
            offset: f.position.saturating_sub(f.partial.len() as u64),
        };
        *self.read_point.lock().unwrap_or_else(|e| e.into_inner()) = Some(point);
    }

    /// What keeps the source from being read, if anything.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What a reader thread reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file, from its end.
    File(PathBuf),
    /// The journal entries of a unit or a syslog identifier ([`journal_args`]).
    Journal(String),
}

/// A running reader thread; stopped (and its journalctl child killed) on drop. A thread waiting for
/// more to read is woken at once, so it ends within one read.
pub struct Reader {
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    thread: std::thread::Thread,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(child) = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let _ = child.kill();
        }
        self.thread.unpark();
    }
}

/// Matches lines and hands failures over.
pub(super) struct Sink {
    matcher: Matcher,
    found: mpsc::Sender<Found>,
    pub(super) status: Arc<SourceStatus>,
}

impl Sink {
    /// `false` once the jail is gone.
    pub(super) fn line(&self, line: &str) -> bool {
        self.status.lines.fetch_add(1, Ordering::Relaxed);
        let Some(hit) = self.matcher.find(line) else {
            return true;
        };
        self.status.matched.fetch_add(1, Ordering::Relaxed);
        self.found
            .blocking_send(Found {
                address: hit.address,
                line: line.trim_end().to_string(),
            })
            .is_ok()
    }
}

/// Starts reading `input` on a new thread: a file from `resume` when it is still the same file and
/// that long, else from its end as it is now ([`first_start`]: decided here, before the jail is
/// reported started, not when the thread first runs).
pub fn start(
    input: Input,
    matcher: Matcher,
    found: mpsc::Sender<Found>,
    status: Arc<SourceStatus>,
    resume: Option<ReadPoint>,
) -> std::io::Result<Reader> {
    let stop = Arc::new(AtomicBool::new(false));
    let child = Arc::new(Mutex::new(None));
    let sink = Sink {
        matcher,
        found,
        status,
    };
    let first = match &input {
        Input::File(path) => first_start(path, resume),
        Input::Journal(_) => Start::End,
    };
    let (thread_stop, thread_child) = (stop.clone(), child.clone());
    let thread = std::thread::Builder::new()
        .name("warden-jail".into())
        .spawn(move || {
            lower_priority();
            match input {
                Input::File(path) => follow_file(&path, &sink, &thread_stop, first),
                Input::Journal(unit) => follow_journal(&unit, &sink, &thread_stop, &thread_child),
            }
        })?;
    Ok(Reader {
        stop,
        child,
        thread: thread.thread().clone(),
    })
}

/// An open file being followed.
struct Followed {
    reader: BufReader<File>,
    identity: (u64, u64),
    position: u64,
    partial: Vec<u8>,
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Where reading an opened file starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    Beginning,
    End,
    /// At this point if it is the same file and that long, else at the end.
    Resume(ReadPoint),
    /// At this point if it is the same file and that long, else at the beginning (the file was
    /// replaced or truncated since the point was taken: all of it is new).
    At(ReadPoint),
}

/// Where a new reader of `path` starts, decided when the jail starts: where the previous reader of
/// this source stopped (`resume`); else the end of the file as it is now, so that every line written
/// after the jail was started counts however late its thread gets to run; a file that is not there
/// yet is read whole when it appears.
fn first_start(path: &Path, resume: Option<ReadPoint>) -> Start {
    if let Some(point) = resume {
        return Start::Resume(point);
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Start::At(ReadPoint {
            identity: identity(&meta),
            offset: meta.len(),
        }),
        _ => Start::Beginning,
    }
}

fn open(path: &Path, start: Start) -> std::io::Result<Followed> {
    // Only regular files: a FIFO would block the open, a device could be read forever.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let position = match start {
        Start::Beginning => 0,
        Start::Resume(point) if point.identity == identity(&meta) && point.offset <= meta.len() => {
            file.seek(SeekFrom::Start(point.offset))?
        }
        Start::Resume(_) | Start::End => file.seek(SeekFrom::End(0))?,
        Start::At(point) if point.identity == identity(&meta) && point.offset <= meta.len() => {
            file.seek(SeekFrom::Start(point.offset))?
        }
        Start::At(_) => 0,
    };
    Ok(Followed {
        reader: BufReader::new(file),
        identity: identity(&meta),
        position,
        partial: Vec::new(),
    })
}

/// Reads what is there (up to [`READ_CHUNK`]); complete lines go to the sink. `false` once the jail is
/// gone.
fn drain(f: &mut Followed, sink: &Sink) -> std::io::Result<(bool, usize)> {
    let mut taken = 0;
    loop {
        let mut buf = Vec::new();
        let n = (&mut f.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok((true, taken));
        }
        taken += n;
        f.position += n as u64;
        let complete = buf.last() == Some(&b'\n');
        f.partial.extend_from_slice(&buf);
        if complete || f.partial.len() >= MAX_LINE {
            let line = String::from_utf8_lossy(&f.partial).into_owned();
            f.partial.clear();
            if !sink.line(line.trim_end_matches(['\n', '\r'])) {
                return Ok((false, taken));
            }
        }
        if taken >= READ_CHUNK {
            return Ok((true, taken));
        }
    }
}

/// Reads the rest of a file that was rotated or removed (all of it, not one chunk: what is left after a
/// lag would be lost otherwise). `false` once the jail is gone.
fn finish(old: &mut Followed, sink: &Sink, stop: &AtomicBool) -> bool {
    while !stop.load(Ordering::Relaxed) {
        match drain(old, sink) {
            Ok((false, _)) => return false,
            Ok((true, taken)) if taken >= READ_CHUNK => continue,
            _ => return true,
        }
    }
    true
}

fn follow_file(path: &Path, sink: &Sink, stop: &AtomicBool, first: Start) {
    // From `first` (see `first_start`); a file that appears or replaces it later is read whole.
    let mut current = match open(path, first) {
        Ok(f) => {
            sink.status.opened.store(true, Ordering::Relaxed);
            Some(f)
        }
        Err(e) => {
            sink.status
                .set_problem(Some(format!("cannot read {}: {e}", path.display())));
            None
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        match std::fs::metadata(path) {
            Ok(meta) => {
                let replaced = current
                    .as_ref()
                    .is_none_or(|f| f.identity != identity(&meta));
                if replaced {
                    // Rotated: the rest of the old file first, then the new one from its start.
                    if let Some(old) = current.as_mut() {
                        if !finish(old, sink, stop) {
                            return;
                        }
                    }
                    current = match open(path, Start::Beginning) {
                        Ok(f) => {
                            sink.status.set_problem(None);
                            sink.status.opened.store(true, Ordering::Relaxed);
                            Some(f)
                        }
                        Err(e) => {
                            sink.status
                                .set_problem(Some(format!("cannot read {}: {e}", path.display())));
                            None
                        }
                    };
                }
                if let Some(f) = current.as_mut() {
                    if meta.len() < f.position {
                        // Truncated: from the start again.
                        if f.reader.seek(SeekFrom::Start(0)).is_ok() {
                            f.position = 0;
                            f.partial.clear();
                        }
                    }
                    match drain(f, sink) {
                        Ok((false, _)) => return,
                        Ok((true, taken)) => {
                            busy = taken >= READ_CHUNK;
                            sink.status.note_read_point(f);
                        }
                        Err(e) => sink
                            .status
                            .set_problem(Some(format!("cannot read {}: {e}", path.display()))),
                    }
                }
            }
            Err(e) => {
                if current.is_some() {
                    // Removed (or renamed away and not yet recreated): finish the old file, wait.
                    if let Some(old) = current.as_mut() {
                        if !finish(old, sink, stop) {
                            return;
                        }
                    }
                    current = None;
                }
                sink.status
                    .set_problem(Some(format!("cannot read {}: {e}", path.display())));
            }
        }
        if !busy {
            // Woken early by a stop (Reader::drop).
            std::thread::park_timeout(POLL_EVERY);
        }
    }
}

pub(super) fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let step = left.min(POLL_EVERY);
        let started = std::time::Instant::now();
        // Woken early by a stop (Reader::drop), or spuriously: the loop checks again.
        std::thread::park_timeout(step);
        left = left.saturating_sub(started.elapsed().max(Duration::from_millis(1)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn matcher() -> Matcher {
        Matcher::compile(None, &["bad login from <HOST>$".to_string()]).unwrap()
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    async fn next(rx: &mut mpsc::Receiver<Found>) -> String {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a failure line within 10 s")
            .unwrap()
            .address
            .to_string()
    }

    /// A reader following `path` (from `resume`, else its end): the reader, its failures and status.
    fn follow(
        path: &Path,
        resume: Option<ReadPoint>,
    ) -> (Reader, mpsc::Receiver<Found>, Arc<SourceStatus>) {
        let (tx, rx) = mpsc::channel(16);
        let status = Arc::new(SourceStatus::default());
        let reader = start(
            Input::File(path.to_path_buf()),
            matcher(),
            tx,
            status.clone(),
            resume,
        )
        .unwrap();
        (reader, rx, status)
    }

    #[tokio::test]
    async fn follows_a_file_from_its_end_across_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "bad login from 192.0.2.1\n");
        let (reader, mut rx, status) = follow(&path, None);
        // The reader opened the file at its end: the old line must not count.
        warden_wait(|| status.opened.load(Ordering::Relaxed)).await;
        append(&path, "ok\nbad login from 192.0.2.2\n");
        assert_eq!(next(&mut rx).await, "192.0.2.2");
        // A line written in two pieces counts once, whole.
        // (The pause lets the reader see the first piece alone; without it the test still holds.)
        append(&path, "bad login fr");
        tokio::time::sleep(POLL_EVERY * 2).await;
        append(&path, "om 192.0.2.3\n");
        assert_eq!(next(&mut rx).await, "192.0.2.3");
        // Rotation by rename: the last line of the old file, then the new file from its start.
        append(&path, "bad login from 192.0.2.4\n");
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, "bad login from 192.0.2.5\n");
        assert_eq!(next(&mut rx).await, "192.0.2.4");
        assert_eq!(next(&mut rx).await, "192.0.2.5");
        // Truncation (the file is shorter than what was read): from the start again.
        let read = status.lines.load(Ordering::Relaxed);
        append(&path, &"ok\n".repeat(20));
        warden_wait(|| status.lines.load(Ordering::Relaxed) >= read + 20).await;
        std::fs::write(&path, "").unwrap();
        append(&path, "bad login from 2001:db8::6\n");
        assert_eq!(next(&mut rx).await, "2001:db8::6");
        assert_eq!(status.problem(), None);
        drop(reader);
    }

    #[tokio::test]
    async fn a_rotated_file_is_read_to_its_end_however_far_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flood.log");
        append(&path, "");
        let (_reader, mut rx, status) = follow(&path, None);
        warden_wait(|| status.opened.load(Ordering::Relaxed)).await;
        // Several read chunks written at once and rotated away before the reader looks again: all of
        // it is read (the reader used to take one chunk of the old file and skip the rest).
        let lines = 3 * READ_CHUNK / 16;
        append(&path, &"no failure here\n".repeat(lines));
        std::fs::rename(&path, dir.path().join("flood.log.1")).unwrap();
        append(&path, "bad login from 192.0.2.9\n");
        assert_eq!(next(&mut rx).await, "192.0.2.9");
        assert_eq!(status.lines.load(Ordering::Relaxed), lines as u64 + 1);
    }

    #[tokio::test]
    async fn a_missing_file_is_a_problem_until_it_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        let (_reader, mut rx, status) = follow(&path, None);
        warden_wait(|| status.problem().is_some()).await;
        // Not a regular file: refused, never read.
        let (tx2, _rx2) = mpsc::channel(1);
        let devzero = Arc::new(SourceStatus::default());
        let _zero = start(
            Input::File("/dev/zero".into()),
            matcher(),
            tx2,
            devzero.clone(),
            None,
        )
        .unwrap();
        warden_wait(|| {
            devzero
                .problem()
                .is_some_and(|p| p.contains("not a regular file"))
        })
        .await;
        append(&path, "bad login from 198.51.100.7\n");
        assert_eq!(next(&mut rx).await, "198.51.100.7");
        assert_eq!(status.problem(), None);
    }

    /// A reader started again on the same file (a jail's settings changed) reads what was written while
    /// it was stopped; on another file (or without a read point) it starts at the end.
    #[tokio::test]
    async fn a_restarted_reader_resumes_where_the_previous_one_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "bad login from 192.0.2.1\n");
        let (reader, mut rx, status) = follow(&path, None);
        warden_wait(|| status.opened.load(Ordering::Relaxed)).await;
        append(&path, "bad login from 192.0.2.2\nbad login fr");
        assert_eq!(next(&mut rx).await, "192.0.2.2");
        // The point is noted after a whole read is handed over (an earlier one, before this line, may
        // still be there): wait for the one just before the half-written line.
        let before_partial = std::fs::metadata(&path).unwrap().len() - "bad login fr".len() as u64;
        warden_wait(|| {
            status
                .read_point()
                .is_some_and(|p| p.offset == before_partial)
        })
        .await;
        drop(reader);
        let point = status.read_point();
        // Written while no reader runs: the rest of a half-written line, then a whole one.
        append(&path, "om 192.0.2.3\nbad login from 192.0.2.4\n");
        let (_reader, mut rx, _again) = follow(&path, point);
        assert_eq!(next(&mut rx).await, "192.0.2.3");
        assert_eq!(next(&mut rx).await, "192.0.2.4");
        // Another file (rotated in its place): its end, the read point does not apply.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(&path, "bad login from 192.0.2.5\n");
        let (_third, mut rx, other) = follow(&path, point);
        warden_wait(|| other.opened.load(Ordering::Relaxed)).await;
        append(&path, "bad login from 192.0.2.6\n");
        assert_eq!(next(&mut rx).await, "192.0.2.6");
    }

    /// Lines written after the jail started count even when its thread opens the file later (under
    /// load it can be late): the start point is taken when the jail starts. A file that did not exist
    /// then is read whole; one replaced since then too.
    #[test]
    fn the_start_point_is_taken_when_the_jail_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "old line\n");
        let first = first_start(&path, None);
        append(&path, "new line\n");
        let mut followed = open(&path, first).unwrap();
        assert_eq!(followed.position, "old line\n".len() as u64);
        let mut rest = String::new();
        followed.reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "new line\n");

        let missing = dir.path().join("later.log");
        let first = first_start(&missing, None);
        append(&missing, "first line\n");
        assert_eq!(open(&missing, first).unwrap().position, 0);

        // Replaced between the start and the first open: the new file is read whole.
        let first = first_start(&path, None);
        std::fs::remove_file(&path).unwrap();
        append(&path, "replacement\n");
        assert_eq!(open(&path, first).unwrap().position, 0);
    }

    async fn warden_wait(mut ok: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(tokio::time::Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
