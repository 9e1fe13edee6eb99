//! The file side of a service log: [`Writer`] appends lines through a buffer that exists only during a
//! batch, rotates by rename (`name.log` → `name.log.1` → …) before the file would outgrow its limit,
//! follows a rename of the service and tracks whether the file can be written; [`tail`] reads the last
//! lines backwards from the end, into the newest rotated file when needed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::OffsetDateTime;

use super::{format_line, rotated_path, Rotation, Stream, FILE_BUFFER_BYTES};

/// An append-only log file with a write buffer that is released after every burst (unlike a
/// `BufWriter`, which would keep [`FILE_BUFFER_BYTES`] per service forever).
struct BurstFile {
    file: File,
    /// Lines not yet written; empty and unallocated between bursts.
    pending: Vec<u8>,
}

impl BurstFile {
    fn new(file: File) -> BurstFile {
        BurstFile {
            file,
            pending: Vec::new(),
        }
    }

    /// Buffers `prefix`, `text` and a newline as one line, writing the buffer out first if it is full.
    /// Like a `BufWriter`: if that write fails the line is refused and what was buffered stays for the
    /// next attempt.
    fn write_line(&mut self, prefix: &str, text: &str) -> io::Result<()> {
        let bytes = prefix.len() + text.len() + 1;
        if !self.pending.is_empty() && self.pending.len() + bytes > FILE_BUFFER_BYTES {
            self.write_pending()?;
        }
        if self.pending.capacity() == 0 {
            // Once per batch, at its full size: growing would copy (and cross the mmap threshold).
            self.pending.reserve(FILE_BUFFER_BYTES.max(bytes));
        }
        self.pending.extend_from_slice(prefix.as_bytes());
        self.pending.extend_from_slice(text.as_bytes());
        self.pending.push(b'\n');
        Ok(())
    }

    /// Writes as much of the buffer as the file takes; what was not written stays buffered.
    fn write_pending(&mut self) -> io::Result<()> {
        let mut written = 0;
        let outcome = loop {
            if written == self.pending.len() {
                break Ok(());
            }
            match self.file.write(&self.pending[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..written);
        outcome
    }

    /// Writes the buffer out and, once it is empty, frees it.
    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.pending = Vec::new();
        Ok(())
    }
}

/// The current log file of one service, with its rotation.
pub(super) struct Writer {
    pub(super) path: PathBuf,
    file: BurstFile,
    size: u64,
    rotation: Rotation,
    /// Lines dropped since the file stopped being writable.
    pub(super) dropped: u64,
}

/// The most a new log file allows (the process umask, 077 in `warden serve`, narrows it to 0600): a
/// service's output may hold secrets, so other users never read it.
const LOG_FILE_MODE: u32 = 0o640;

/// Opens `path` for appending, creating it with [`LOG_FILE_MODE`].
fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

impl Writer {
    pub(super) fn open(path: PathBuf, rotation: Rotation) -> io::Result<Writer> {
        let file = open_log(&path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path,
            file: BurstFile::new(file),
            size,
            dropped: 0,
            rotation: Rotation {
                max_bytes: rotation.max_bytes.max(1),
                max_files: rotation.max_files.max(2),
            },
        })
    }

    /// Tracks whether the file can be written: the first failure is logged (once, not per line) and
    /// shown in the service's status; the first success after it clears that and notes the loss.
    pub(super) fn report(&mut self, problem: &Mutex<Option<String>>, outcome: io::Result<()>) {
        let mut current = problem.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Err(e) if current.is_none() => {
                tracing::error!(
                    path = %self.path.display(),
                    "cannot write a service log: {e}; its output is dropped until the file can be written again (the service keeps running)"
                );
                *current = Some(format!(
                    "cannot write the log file {}: {e}; output is being dropped",
                    self.path.display()
                ));
            }
            Err(_) => {}
            Ok(()) if current.is_some() => {
                let dropped = std::mem::take(&mut self.dropped);
                tracing::warn!(
                    path = %self.path.display(),
                    dropped,
                    "a service log can be written again"
                );
                *current = None;
                drop(current);
                let note = format_line(
                    OffsetDateTime::now_utc(),
                    Stream::Warden,
                    &format!("the log file could not be written for a while; {dropped} line(s) were lost"),
                );
                if self
                    .write_line(&note)
                    .and_then(|()| self.file.flush())
                    .is_err()
                {
                    self.dropped += 1;
                }
            }
            Ok(()) => {}
        }
    }

    pub(super) fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.write_parts("", line)
    }

    /// Appends the line `prefix` + `text` (rotating first if the file would outgrow its limit).
    pub(super) fn write_parts(&mut self, prefix: &str, text: &str) -> io::Result<()> {
        let bytes = (prefix.len() + text.len()) as u64 + 1;
        if self.size > 0 && self.size + bytes > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.file.write_line(prefix, text)?;
        self.size += bytes;
        Ok(())
    }

    /// `name.log.(k)` → `name.log.(k+1)` from the oldest kept down, `name.log` → `name.log.1`, new file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let oldest = self.rotation.max_files - 1;
        for index in (1..oldest).rev() {
            let from = rotated_path(&self.path, index);
            if from.exists() {
                std::fs::rename(&from, rotated_path(&self.path, index + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        let file = open_log(&self.path)?;
        self.file = BurstFile::new(file);
        self.size = 0;
        Ok(())
    }

    pub(super) fn rename(&mut self, new_path: PathBuf) -> io::Result<()> {
        self.file.flush()?;
        if new_path.exists() {
            // Never overwrite another log; keep writing to the old file.
            return Ok(());
        }
        std::fs::rename(&self.path, &new_path)?;
        for index in 1..self.rotation.max_files {
            let from = rotated_path(&self.path, index);
            if from.exists() {
                std::fs::rename(&from, rotated_path(&new_path, index))?;
            }
        }
        self.path = new_path;
        Ok(())
    }

    /// Writes what is buffered out (and frees the buffer once it is empty).
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The last `n` lines of `path` (plus, if it has fewer, the end of `path.1`). Reads backwards in blocks,
/// so the cost depends on `n`, not on the file size. A missing file has no lines.
pub fn tail(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut lines = tail_file(path, n)?;
    if lines.len() < n {
        let mut older = tail_file(&rotated_path(path, 1), n - lines.len())?;
        older.append(&mut lines);
        lines = older;
    }
    Ok(lines)
}

fn tail_file(path: &Path, n: usize) -> io::Result<Vec<String>> {
    const BLOCK: u64 = 64 * 1024;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut tail: Vec<u8> = Vec::new();
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        pos = start;
        // n complete lines need n newlines before the last line's start (the file ends with '\n').
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if body.iter().filter(|&&b| b == b'\n').count() >= n {
            break;
        }
    }
    let text = String::from_utf8_lossy(&tail);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(n);
    Ok(all[skip..].iter().map(|s| s.to_string()).collect())
}
