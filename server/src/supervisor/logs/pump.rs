//! The pipe reader: [`pump`] copies a child's stdout or stderr into its [`ServiceLog`], one log line per
//! output line, until the pipe closes. The cost per line is what a chatty child makes Warden pay, so:
//!
//! - one read per wake-up into a 64 KiB buffer reused by every pipe on the thread (no per-service
//!   buffer: a quiet service holds at most its unfinished last line);
//! - the lines of one read become one batch: one timestamp, one lock, one `write` (see
//!   [`ServiceLog::capture`]), and no allocation per line unless someone follows the log live;
//! - a child that trickles many small writes (a flush per line) would still cost a wake-up, a read and a
//!   write per line, so once a pipe has woken the reader [`QUICK_READS`] times in a row at short
//!   intervals with little data each time, [`Pace`] lets up to [`COALESCE`] pass between reads: the
//!   lines gather in the pipe (64 KiB; the child only blocks if it writes more than that within
//!   [`COALESCE`]) and are written as one batch. A read that brings much data, or a pause in the
//!   output, ends that at once; occasional output is read as soon as it arrives.
//!
//! [`split_lines`] (pure) cuts bytes into lines: invalid UTF-8 is replaced later, very long lines are
//! split into pieces of [`MAX_LINE_BYTES`], an unfinished last line waits for the next read (or the end).

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};

use super::{ServiceLog, Stream, MAX_LINE_BYTES};

/// The read buffer, shared by all the pipes read on one thread.
pub(super) const PIPE_READ_BYTES: usize = 64 * 1024;
/// The longest pause between reads while a pipe trickles. Each paced read costs about as much as
/// its batch on this kind of VM (the timer, the wake-up, one read and one write: ~85 µs); at 5 ms a
/// child writing 10 000 lines a second cost 1.75 % of a core. A trickling line waits at most this
/// long to reach the file and live followers.
pub(super) const COALESCE: Duration = Duration::from_millis(10);
/// Reads in a row, each within two [`COALESCE`] of the previous one, before reads are paced.
pub(super) const QUICK_READS: u32 = 8;
/// A read of at least this much reads again at once.
const SMALL_READ: usize = 16 * 1024;

thread_local! {
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; PIPE_READ_BYTES].into_boxed_slice());
}

/// When to read a pipe next (pure: the caller passes the time).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Pace {
    last: Option<Instant>,
    quick: u32,
    small: bool,
}

impl Pace {
    /// Notes a read of `bytes` at `now`.
    pub(super) fn read(&mut self, now: Instant, bytes: usize) {
        let quick = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) <= 2 * COALESCE);
        self.quick = if quick {
            self.quick.saturating_add(1)
        } else {
            0
        };
        self.small = bytes < SMALL_READ;
        self.last = Some(now);
    }

    /// Notes that a read found the pipe empty: the child paused, the next output is read at once.
    pub(super) fn idle(&mut self) {
        self.quick = 0;
    }

    /// How long to let the pipe fill before the next read, if at all.
    pub(super) fn wait(&self, now: Instant) -> Option<Duration> {
        if self.quick < QUICK_READS || !self.small {
            return None;
        }
        let due = self.last? + COALESCE;
        (due > now).then(|| due - now)
    }
}

/// Cuts `unsent` (the unfinished line of earlier reads) followed by `chunk` into lines, calling `emit`
/// with each (its newline included, if it had one). A line without a newline yet stays in `unsent`
/// unless it reached `max` bytes or the output `ended`. `unsent` is freed when empty.
pub(super) fn split_lines(
    unsent: &mut Vec<u8>,
    chunk: &[u8],
    ended: bool,
    max: usize,
    mut emit: impl FnMut(&[u8]),
) {
    let max = max.max(1);
    let mut rest = chunk;
    if !unsent.is_empty() {
        let room = max.saturating_sub(unsent.len()).max(1);
        let window = &rest[..rest.len().min(room)];
        let take = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => Some(newline + 1),
            None if window.len() == room => Some(room),
            None => None,
        };
        match take {
            Some(take) => {
                unsent.extend_from_slice(&rest[..take]);
                emit(unsent);
                unsent.clear();
                rest = &rest[take..];
            }
            None => {
                unsent.extend_from_slice(rest);
                rest = &[];
            }
        }
    }
    while !rest.is_empty() {
        let window = &rest[..rest.len().min(max)];
        let piece = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => newline + 1,
            None if window.len() == max || ended => window.len(),
            None => {
                unsent.extend_from_slice(rest);
                break;
            }
        };
        emit(&rest[..piece]);
        rest = &rest[piece..];
    }
    if ended && !unsent.is_empty() {
        emit(unsent);
        unsent.clear();
    }
    if unsent.is_empty() && unsent.capacity() > 0 {
        *unsent = Vec::new();
    }
}

/// Copies a child's pipe into the log, one line per output line, until the pipe closes. Invalid UTF-8
/// is replaced; very long lines are split into pieces of [`MAX_LINE_BYTES`].
pub async fn pump<R: AsyncRead + Unpin>(mut pipe: R, stream: Stream, log: ServiceLog) {
    let max_line = usize::try_from(MAX_LINE_BYTES).unwrap_or(usize::MAX);
    // The unfinished last line; unallocated while the child is quiet between lines.
    let mut unsent: Vec<u8> = Vec::new();
    let mut pace = Pace::default();
    loop {
        if let Some(wait) = pace.wait(Instant::now()) {
            // Boxed: the timer takes room in this long-lived task only while the pipe trickles.
            Box::pin(tokio::time::sleep(wait)).await;
        }
        let read = std::future::poll_fn(|cx| {
            READ_BUFFER.with(|cell| {
                let mut chunk = cell.borrow_mut();
                let mut buf = ReadBuf::new(&mut chunk[..]);
                match Pin::new(&mut pipe).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        let ended = n == 0;
                        log.capture(stream, |emit| {
                            split_lines(&mut unsent, &chunk[..n], ended, max_line, emit)
                        });
                        Poll::Ready(Ok(n))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
        })
        .await;
        match read {
            Ok(n) if n > 0 => pace.read(Instant::now(), n),
            Ok(_) => break,
            Err(_) => {
                // Whatever was unfinished is still output.
                log.capture(stream, |emit| {
                    split_lines(&mut unsent, &[], true, max_line, emit)
                });
                break;
            }
        }
    }
}

/// Where a pipe stands: registered with the event loop (waiting for output), or not (while it trickles:
/// read on a timer, so the child's writes in between wake nobody).
enum Pipe {
    Waiting(AsyncFd<File>),
    Paced(File),
}

impl Pipe {
    fn into_file(self) -> File {
        match self {
            Pipe::Waiting(fd) => fd.into_inner(),
            Pipe::Paced(file) => file,
        }
    }
}

/// Registers `file` with the event loop, for readability.
fn register(file: File) -> std::io::Result<AsyncFd<File>> {
    #[allow(unsafe_code)]
    // SAFETY: the `File` owns its descriptor, and nothing replaces or closes it while the `AsyncFd`
    // owns the `File` (`into_inner` deregisters it before handing it back).
    unsafe {
        Ok(AsyncFd::register_with_interest(file, Interest::READABLE)?)
    }
}

/// One non-blocking read of `file` into the shared buffer, its lines captured.
fn read_once(
    file: &File,
    unsent: &mut Vec<u8>,
    stream: Stream,
    log: &ServiceLog,
) -> std::io::Result<usize> {
    let max_line = usize::try_from(MAX_LINE_BYTES).unwrap_or(usize::MAX);
    READ_BUFFER.with(|cell| {
        let mut chunk = cell.borrow_mut();
        let n = (&*file).read(&mut chunk[..])?;
        log.capture(stream, |emit| {
            split_lines(unsent, &chunk[..n], n == 0, max_line, emit)
        });
        Ok(n)
    })
}

/// [`pump`] for a child's pipe given as its file descriptor, with the pacing done outside the event
/// loop: a registered pipe wakes the loop at every write of the child (edge-triggered readiness), even
/// while the reader pauses on purpose, and those wake-ups cost as much as reading every line. While
/// paced, the pipe is out of the event loop and read once per [`COALESCE`]; when a read finds it
/// empty, it is registered again and the next output is read as soon as it comes.
pub async fn pump_pipe(fd: OwnedFd, stream: Stream, log: ServiceLog) {
    let mut unsent: Vec<u8> = Vec::new();
    let mut pace = Pace::default();
    let registered = nix::fcntl::fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(std::io::Error::from)
        .and_then(|_| register(File::from(fd)));
    let mut pipe = match registered {
        Ok(fd) => Pipe::Waiting(fd),
        Err(e) => {
            log.warden(format!("cannot read the service's output: {e}"))
                .await;
            return;
        }
    };
    loop {
        let (next, read) = match (pipe, pace.wait(Instant::now())) {
            (Pipe::Waiting(fd), None) => {
                let read = match fd.readable().await {
                    Ok(mut guard) => guard
                        .try_io(|inner| read_once(inner.get_ref(), &mut unsent, stream, &log))
                        .unwrap_or_else(|_| Err(std::io::ErrorKind::WouldBlock.into())),
                    Err(e) => Err(e),
                };
                (Pipe::Waiting(fd), read)
            }
            (current, Some(wait)) => {
                let file = current.into_file();
                Box::pin(tokio::time::sleep(wait)).await;
                let read = read_once(&file, &mut unsent, stream, &log);
                (Pipe::Paced(file), read)
            }
            (Pipe::Paced(file), None) => {
                let read = read_once(&file, &mut unsent, stream, &log);
                (Pipe::Paced(file), read)
            }
        };
        pipe = match read {
            Ok(0) => break,
            Ok(n) => {
                pace.read(Instant::now(), n);
                next
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match next {
                // A paced read found the pipe empty: the child paused, wait for its next output.
                Pipe::Paced(file) => {
                    pace.idle();
                    match register(file) {
                        Ok(fd) => Pipe::Waiting(fd),
                        Err(_) => break,
                    }
                }
                // A registered pipe read dry: the normal end of a wake-up (the event loop's readiness
                // is only cleared by it), not a pause. Counting it as one would reset the pacing after
                // every read, and a child writing a line at a time would cost a wake-up per line.
                waiting => waiting,
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => next,
            Err(_) => break,
        };
    }
    // Whatever was unfinished is still output.
    let max_line = usize::try_from(MAX_LINE_BYTES).unwrap_or(usize::MAX);
    log.capture(stream, |emit| {
        split_lines(&mut unsent, &[], true, max_line, emit)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(reads: &[&[u8]], max: usize) -> Vec<String> {
        let mut unsent = Vec::new();
        let mut out = Vec::new();
        for (i, chunk) in reads.iter().enumerate() {
            let ended = i + 1 == reads.len();
            split_lines(&mut unsent, chunk, ended, max, |line| {
                out.push(String::from_utf8_lossy(line).into_owned())
            });
        }
        assert!(unsent.is_empty());
        out
    }

    #[test]
    fn lines_are_cut_the_same_however_the_reads_fall() {
        let input = b"alpha\nbeta gamma\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\ndelta\ntail";
        let whole = split_all(&[input, b""], 16);
        assert_eq!(
            whole,
            vec![
                "alpha\n",
                "beta gamma\n",
                "\n",
                "xxxxxxxxxxxxxxxx",
                "xxxxxxxxxxxxxxxx",
                "xxxxx\n",
                "delta\n",
                "tail"
            ]
        );
        // Every way of cutting the input into two or three reads gives the same lines.
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let parts: [&[u8]; 4] = [&input[..a], &input[a..b], &input[b..], b""];
                assert_eq!(split_all(&parts, 16), whole, "cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn an_unfinished_line_waits_and_is_freed_once_sent() {
        let mut unsent = Vec::new();
        let mut out = Vec::new();
        split_lines(&mut unsent, b"one\ntw", false, 100, |l| {
            out.push(l.to_vec())
        });
        assert_eq!(out, vec![b"one\n".to_vec()]);
        assert_eq!(unsent, b"tw");
        split_lines(&mut unsent, b"o\n", false, 100, |l| out.push(l.to_vec()));
        assert_eq!(out.last().unwrap(), b"two\n");
        assert_eq!(unsent.capacity(), 0);
    }

    /// A pipe that hands its bytes out in reads of changing sizes.
    struct Uneven {
        data: Vec<u8>,
        pos: usize,
        sizes: &'static [usize],
        turn: usize,
    }

    impl AsyncRead for Uneven {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let size = self.sizes[self.turn % self.sizes.len()];
            let n = size.min(self.data.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            self.turn += 1;
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn no_line_is_lost_or_torn_across_reads_batches_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = super::super::Rotation {
            max_bytes: 64 * 1024,
            max_files: 1_000,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        let lines: Vec<String> = (0..20_000)
            .map(|i| format!("n{i:06} {}", "z".repeat(i % 300)))
            .collect();
        let data = format!("{}\n", lines.join("\n")).into_bytes();
        let pipe = Uneven {
            data,
            pos: 0,
            sizes: &[1, 7, 100, 4096, 65_536, 333, 20_000, 16_384],
            turn: 0,
        };
        pump(pipe, Stream::Out, log.clone()).await;
        log.flush().await;
        // Oldest file first: `svc.log.N` … `svc.log.1`, then `svc.log`.
        let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let index = name
                    .strip_prefix("svc.log.")
                    .map_or(0, |n| n.parse().unwrap());
                (index, p)
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        assert!(files.len() > 10, "rotated {} times", files.len() - 1);
        let mut seen = Vec::new();
        for (_, path) in files {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.len() as u64 <= rotation.max_bytes);
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let mut fields = line.splitn(3, ' ');
                assert_eq!(fields.next().map(str::len), Some(24), "{line}");
                assert_eq!(fields.next(), Some("out"), "{line}");
                seen.push(fields.next().unwrap().to_string());
            }
        }
        assert_eq!(seen, lines);
    }

    #[tokio::test]
    async fn a_real_pipe_paced_and_not_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = super::super::Rotation {
            max_bytes: 32 * 1024,
            max_files: 1_000,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        let (read, write) = nix::unistd::pipe().unwrap();
        let lines: Vec<String> = (0..6_000)
            .map(|i| format!("p{i:05} {}", "q".repeat(i % 90)))
            .collect();
        let sent = lines.clone();
        let writer = std::thread::spawn(move || {
            let mut file = File::from(write);
            // A line per write with pauses (paced reads), then big blocks (reads at once).
            for (i, line) in sent.iter().enumerate() {
                std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).unwrap();
                if i < 3_000 && i % 50 == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
        });
        pump_pipe(read, Stream::Err, log.clone()).await;
        writer.join().unwrap();
        log.flush().await;
        let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let index = name
                    .strip_prefix("svc.log.")
                    .map_or(0, |n| n.parse().unwrap());
                (index, p)
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let seen: Vec<String> = files
            .iter()
            .flat_map(|(_, p)| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(|l| l.splitn(3, ' ').nth(2).unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(seen, lines);
    }

    /// A child writing a line at a time, a millisecond apart, is read in batches (one timestamp
    /// each), not a wake-up per line: the pipe read dry at the end of each wake-up does not count as
    /// a pause of the child.
    #[tokio::test]
    async fn a_trickling_real_pipe_is_read_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = super::super::Rotation {
            max_bytes: 1 << 20,
            max_files: 2,
        };
        let log = ServiceLog::open(dir.path(), "svc", rotation).unwrap();
        let (read, write) = nix::unistd::pipe().unwrap();
        const LINES: usize = 300;
        let writer = std::thread::spawn(move || {
            let mut file = File::from(write);
            for i in 0..LINES {
                std::io::Write::write_all(&mut file, format!("t{i:04}\n").as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        pump_pipe(read, Stream::Out, log.clone()).await;
        writer.join().unwrap();
        log.flush().await;
        let text = std::fs::read_to_string(dir.path().join("svc.log")).unwrap();
        let stamps: std::collections::HashSet<&str> =
            text.lines().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(text.lines().count(), LINES);
        // Unpaced: about one line per read (and per millisecond stamp); paced: a read per 5 ms.
        let per_batch = LINES as f64 / stamps.len() as f64;
        assert!(
            per_batch >= 2.5,
            "{per_batch:.2} lines per read ({} reads for {LINES} lines)",
            stamps.len()
        );
    }

    #[test]
    fn pacing_starts_only_for_a_trickling_pipe_and_ends_with_a_pause_or_a_big_read() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        let mut now = t0;
        // A few lines in a burst: read at once.
        for _ in 0..QUICK_READS {
            pace.read(now, 100);
            assert_eq!(pace.wait(now), None);
            now += Duration::from_micros(100);
        }
        // Many: paced, at most COALESCE after the last read.
        pace.read(now, 100);
        assert_eq!(pace.wait(now), Some(COALESCE));
        assert_eq!(pace.wait(now + COALESCE), None);
        // Reads COALESCE apart stay paced.
        now += COALESCE;
        pace.read(now, 5_000);
        assert_eq!(pace.wait(now), Some(COALESCE));
        // A big read: at once.
        pace.read(now, SMALL_READ);
        assert_eq!(pace.wait(now), None);
        // After a pause the next small read is not paced.
        now += COALESCE * 3;
        pace.read(now, 100);
        assert_eq!(pace.wait(now), None);
    }
}
