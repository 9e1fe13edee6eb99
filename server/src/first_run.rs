//! The first start: the `admin` account is created with `WARDEN_ADMIN_PASSWORD`, or with a generated
//! password that is shown once — on stderr, or (`--initial-password-file`, as the systemd unit does,
//! since its stderr goes to the journal) written to a file of mode 0600 and never printed.
//!
//! The file is created (empty) before the account, so a file that cannot be written stops Warden
//! before a password nobody can read is stored; the next start tries again.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

use crate::access::Auth;

/// Creates the `admin` account on the first start (see the module documentation); a no-op later.
pub async fn bootstrap_admin(auth: &Auth, password_file: Option<&Path>) -> anyhow::Result<()> {
    let given = std::env::var("WARDEN_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let file = match password_file {
        Some(path) if given.is_none() && auth.needs_bootstrap()? => {
            Some(open_password_file(path).with_context(|| {
                format!("cannot write the initial password file {}", path.display())
            })?)
        }
        _ => None,
    };
    let Some(generated) = auth.bootstrap(given).await? else {
        return Ok(());
    };
    match (file, password_file) {
        (Some(mut file), Some(path)) => {
            file.write_all(format!("{generated}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| {
                    format!("cannot write the initial password file {}", path.display())
                })?;
            eprintln!(
                "warden: first start: the generated password of `admin` is in {} (mode 0600; delete it once you have logged in)",
                path.display()
            );
        }
        _ => {
            // Printed once, on stderr only, never through tracing.
            eprintln!();
            eprintln!("  First start: log in as `admin` with password: {generated}");
            eprintln!("  (shown only this once; set WARDEN_ADMIN_PASSWORD before the first start to choose it)");
            eprintln!();
        }
    }
    Ok(())
}

/// Opens `path` for writing, emptied, mode 0600 (also if it existed with a wider mode).
fn open_password_file(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_generated_password_goes_to_the_file_once() {
        if std::env::var_os("WARDEN_ADMIN_PASSWORD").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("store")).unwrap();
        let auth = Auth::new(&store).unwrap();
        let file = dir.path().join("initial-admin-password");
        bootstrap_admin(&auth, Some(&file)).await.unwrap();
        let password = std::fs::read_to_string(&file).unwrap();
        assert_eq!(password.trim().len(), 20, "{password:?}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second start leaves the file alone.
        bootstrap_admin(&auth, Some(&file)).await.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), password);
    }

    #[tokio::test]
    async fn an_unwritable_file_stops_before_the_account_exists() {
        if std::env::var_os("WARDEN_ADMIN_PASSWORD").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("store")).unwrap();
        let auth = Auth::new(&store).unwrap();
        let file = dir
            .path()
            .join("no-such-dir")
            .join("initial-admin-password");
        let err = bootstrap_admin(&auth, Some(&file)).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("initial password file"),
            "{err:#}"
        );
        assert!(auth.needs_bootstrap().unwrap());
    }
}
