//! `warden admin ...`: administration on the host, for when the UI cannot help (the admin is locked
//! out). It opens the store directly, so Warden must be stopped (the store's lock says so otherwise).
//! `reset-password` sets a user's password (given in `WARDEN_NEW_PASSWORD`, else generated and printed
//! once on stdout, never logged) and can clear its second factor; both are audited as done by `cli`.

use anyhow::Context;

use crate::access::{generate_password, Auth};
use crate::audit::{acting_as, Actor};
use crate::config::AdminCommand;
use crate::store::Store;

/// Runs one `warden admin` command.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::ResetPassword {
            data_dir,
            user,
            clear_totp,
        } => {
            let store = Store::open(&data_dir.join("store"))
                .context("opening the store (is Warden still running?)")?;
            let auth = Auth::new(&store).context("opening the user store")?;
            let given = std::env::var("WARDEN_NEW_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            let password = given.clone().unwrap_or_else(generate_password);
            acting_as(
                Actor::system("cli"),
                auth.reset_password(&user, &password, clear_totp),
            )
            .await
            .with_context(|| format!("resetting the password of {user}"))?;
            if given.is_none() {
                println!("New password of {user}: {password}");
            }
            if clear_totp {
                println!("The second factor of {user} is removed.");
            }
            Ok(())
        }
    }
}
