//! The clean-stop marker: `<data>/warden.running` exists while Warden runs (it holds the start time)
//! and is removed at the end of a clean shutdown. Finding it at start means the previous run did not
//! stop cleanly (a crash, `kill -9`, a power loss): Warden then sends the `warden_unclean_restart` alert.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker's file name in the data dir.
pub const MARKER: &str = "warden.running";

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER)
}

/// Writes the marker (durably) and answers whether one was already there, with the start time it held.
pub fn begin(data_dir: &Path) -> std::io::Result<Option<String>> {
    let path = path(data_dir);
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut file = std::fs::File::create(&path)?;
    writeln!(file, "{}", crate::clock::now_rfc3339())?;
    file.sync_all()?;
    Ok(previous)
}

/// Removes the marker at the end of a clean shutdown.
pub fn end(data_dir: &Path) {
    if let Err(e) = std::fs::remove_file(path(data_dir)) {
        tracing::warn!(error = %e, "cannot remove the clean-stop marker; the next start will report an unclean stop");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_behind_means_an_unclean_stop() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(begin(dir.path()).unwrap(), None);
        end(dir.path());
        assert_eq!(begin(dir.path()).unwrap(), None);
        // No `end`: the run was killed.
        let previous = begin(dir.path()).unwrap();
        assert!(previous.is_some_and(|t| t.ends_with('Z')));
    }
}
