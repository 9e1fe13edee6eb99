//! `warden admin ...`: administration on the host, for when the UI cannot help (the admin is locked
//! out). With Warden running it goes through Warden's control socket (root only; audited as
//! `root@socket`); with Warden stopped it opens the store directly (audited as `cli`).
//! `reset-password` sets a user's password (given in `WARDEN_NEW_PASSWORD`, else generated and printed
//! once on stdout, never logged), ends its sessions, and can clear its second factor.

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
            socket,
            user,
            clear_totp,
        } => {
            let given = std::env::var("WARDEN_NEW_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            let password = given.clone().unwrap_or_else(generate_password);
            let socket = crate::socket::locate(socket.as_deref(), data_dir.as_deref());
            let data_dir = data_dir.unwrap_or_else(crate::socket::default_data_dir);
            if tokio::net::UnixStream::connect(&socket).await.is_ok() {
                reset_through_socket(socket, &user, &password, clear_totp).await?;
            } else {
                let store = Store::open(&data_dir.join("store"))
                    .context("opening the store (Warden is not answering on its socket)")?;
                let auth = Auth::new(&store).context("opening the user store")?;
                acting_as(
                    Actor::system("cli"),
                    auth.reset_password(&user, &password, clear_totp),
                )
                .await
                .with_context(|| format!("resetting the password of {user}"))?;
            }
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

/// The same through a running Warden's control socket: the new password (which ends the user's
/// sessions), then the second factor removed if asked.
async fn reset_through_socket(
    socket: std::path::PathBuf,
    user: &str,
    password: &str,
    clear_totp: bool,
) -> anyhow::Result<()> {
    let client = crate::cli::Client {
        endpoint: crate::cli::transport::Endpoint::Socket(socket),
        json: false,
    };
    client
        .send(
            http::Method::PATCH,
            &format!("/users/{user}"),
            &serde_json::json!({ "password": password }),
        )
        .await
        .with_context(|| format!("resetting the password of {user} through the running Warden"))?;
    if clear_totp {
        match client
            .call(http::Method::DELETE, &format!("/users/{user}/totp"), None)
            .await
        {
            Ok(_) => {}
            // It had none.
            Err(crate::cli::CliError::Refused { status, .. })
                if status == http::StatusCode::NOT_FOUND
                    || status == http::StatusCode::CONFLICT => {}
            Err(e) => {
                return Err(
                    anyhow::Error::from(e).context(format!("removing the second factor of {user}"))
                )
            }
        }
    }
    Ok(())
}
