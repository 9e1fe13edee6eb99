//! The UI adapter for jails: the server's implementation of the UI's `JailsBackend` seam, over the same
//! jails handle as `/api/v1/firewall/jails*` (which validates, stores, audits and runs them).

use std::net::IpAddr;

use app::backend::{JailsBackend, SessionUser};
use app::model::error::AppError;
use app::model::jails::{Jail, JailInput, JailPatch, JailView};

use crate::state::AppState;

#[async_trait::async_trait]
impl JailsBackend for AppState {
    async fn jails(&self, client: IpAddr) -> Result<Vec<JailView>, AppError> {
        self.firewall.note_administering(client);
        Ok(self.jails.list()?)
    }

    async fn create_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        input: JailInput,
    ) -> Result<Jail, AppError> {
        self.firewall.note_administering(client);
        let jail = self.jails.create(input).await?;
        tracing::info!(user = %user.username, jail = %jail.spec.name, "jail added from the UI");
        Ok(jail)
    }

    async fn update_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        patch: JailPatch,
    ) -> Result<Jail, AppError> {
        self.firewall.note_administering(client);
        let jail = self.jails.patch(id, patch).await?;
        tracing::info!(user = %user.username, jail = %jail.spec.name, "jail changed from the UI");
        Ok(jail)
    }

    async fn delete_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
    ) -> Result<(), AppError> {
        self.firewall.note_administering(client);
        self.jails.delete(id).await?;
        tracing::info!(user = %user.username, id, "jail deleted from the UI");
        Ok(())
    }
}
