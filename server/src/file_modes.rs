//! Who may read Warden's files. The data directory holds the password hash, session and API tokens,
//! the services' environment (secrets included), the audit log and the TLS key: no other local user,
//! and no service running as `nobody`, may read any of it.
//!
//! - [`restrict_new_files`] sets the process umask to 077 first thing in `serve`, so everything Warden
//!   creates (store, logs, TLS files, directories) is its own alone. Services do not inherit it: they
//!   start with umask 022 (`supervisor::spawn::SERVICE_UMASK`).
//! - [`prepare_data_dir`] creates the data dir with mode 0700 and tightens an older data dir: every
//!   directory and file Warden owns under it loses its group and other permissions (the change is
//!   logged). Symbolic links are not followed, and what another user owns is left alone. A path that
//!   cannot be changed (a read-only mount) is logged and skipped: opening the store reports such a
//!   data dir with the error that names the problem.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

/// The umask of the Warden process: files 0600, directories 0700.
pub const PROCESS_UMASK: u32 = 0o077;

/// Permission bits Warden's files must not have (group and other).
const OPEN_BITS: u32 = 0o077;

/// Sets the process umask to [`PROCESS_UMASK`].
pub fn restrict_new_files() {
    nix::sys::stat::umask(Mode::from_bits_truncate(PROCESS_UMASK));
}

/// Creates `data_dir` (mode 0700) if needed and takes group and other permissions away from
/// everything Warden owns in it. Says in the log what it tightened and what it could not.
pub fn prepare_data_dir(data_dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)?;
    let Tightened { changed, failed } = tighten(data_dir);
    if let Some((path, error)) = failed.first() {
        tracing::warn!(
            count = failed.len(),
            first = %path.display(),
            %error,
            "cannot take read access away from other users on paths of the data dir"
        );
    }
    if let Some(first) = changed.first() {
        tracing::warn!(
            count = changed.len(),
            first = %first.display(),
            data_dir = %data_dir.display(),
            "took read access away from other users on files of the data dir (written by an older Warden)"
        );
    }
    Ok(())
}

/// What [`tighten`] did: the paths it changed and those it could not check or change.
#[derive(Debug, Default)]
pub struct Tightened {
    pub changed: Vec<PathBuf>,
    pub failed: Vec<(PathBuf, io::Error)>,
}

/// Removes group and other permissions from `root` and everything under it that this process owns.
/// Does not follow symbolic links; a path it cannot read or change is recorded and skipped.
pub fn tighten(root: &Path) -> Tightened {
    let me = nix::unistd::geteuid().as_raw();
    let mut done = Tightened::default();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                done.failed.push((path, e));
                continue;
            }
        };
        if meta.file_type().is_symlink() || meta.uid() != me {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & OPEN_BITS != 0 {
            let closed = std::fs::Permissions::from_mode(mode & !OPEN_BITS & 0o7777);
            match std::fs::set_permissions(&path, closed) {
                Ok(()) => done.changed.push(path.clone()),
                Err(e) => done.failed.push((path.clone(), e)),
            }
        }
        if meta.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => pending.extend(entries.filter_map(Result::ok).map(|e| e.path())),
                Err(e) => done.failed.push((path, e)),
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_older_data_dir_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let logs = data.join("logs").join("services");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("web.log"), "x").unwrap();
        std::fs::write(data.join("secret"), "x").unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o775)).unwrap();
        std::fs::set_permissions(logs.join("web.log"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::set_permissions(data.join("secret"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        // A link to something outside is not followed.
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();

        let done = tighten(&data);
        assert!(done.failed.is_empty(), "{:?}", done.failed);
        // data, logs, logs/services and web.log (secret was private already).
        assert_eq!(done.changed.len(), 4, "{:?}", done.changed);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&logs), 0o700);
        assert_eq!(mode(&logs.join("web.log")), 0o600);
        assert_eq!(mode(&data.join("secret")), 0o600);
        assert_eq!(mode(&outside), 0o644);
        assert!(tighten(&data).changed.is_empty(), "nothing left to do");
    }

    #[test]
    fn a_fresh_data_dir_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a").join("data");
        prepare_data_dir(&data).unwrap();
        assert_eq!(mode(&data) & OPEN_BITS, 0);
    }
}
