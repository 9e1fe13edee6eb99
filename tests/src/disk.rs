//! Disk trouble for the end-to-end tests (root only): small file systems mounted over a directory of
//! Warden's ([`Mount`], unmounted on drop), filling one up ([`fill`]), copying a store over
//! ([`copy_dir`]), and the gate saying whether this machine can do it ([`root_and_mount`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Ok when the tests can mount file systems (root, `mount` present); why not otherwise.
pub fn root_and_mount() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not running as root (the test mounts small file systems)".into());
    }
    let ok = Command::new("mount")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err("mount is not available".into())
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mount that is lazily unmounted on drop (also when the test fails).
pub struct Mount(PathBuf);

impl Mount {
    pub fn tmpfs(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0755"),
            "tmpfs",
            at.to_str()
                .unwrap_or_else(|| panic!("{} is not UTF-8", at.display())),
        ]);
        Mount(at.to_path_buf())
    }

    /// `at` bound onto itself, read-only.
    pub fn read_only_bind(at: &Path) -> Mount {
        let p = at
            .to_str()
            .unwrap_or_else(|| panic!("{} is not UTF-8", at.display()));
        run(&["mount", "--bind", p, p]);
        let m = Mount(at.to_path_buf());
        run(&["mount", "-o", "remount,bind,ro", p]);
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file; returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    // dd stops with "No space left on device" (non-zero exit): that is the point.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output()
        .unwrap_or_else(|e| panic!("dd: {e}"));
    let written = filler.metadata().map(|m| m.len()).unwrap_or(0);
    assert!(written > 0, "dd wrote nothing to {}", filler.display());
    filler
}

/// Copies the regular files of `from` into `to` (flat: sled's store directory has no subdirectories
/// that matter beyond `blobs/`, copied too).
pub fn copy_dir(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .output()
        .unwrap_or_else(|e| panic!("cp: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
