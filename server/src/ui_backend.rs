//! The UI adapter: the server's implementation of the UI's `Backend` seam. Server functions reach the same
//! domain handles (access, settings, supervisor, firewall, audit) as the REST API through these methods;
//! every domain error becomes an `AppError` through the one mapping in `app_error`. No other adapter is imported.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use app::backend::{Backend, SessionUser};
use app::model::error::AppError;
use app::model::firewall::{
    BanView, ExposureView, FirewallControl, FirewallStatus, PresetView, RuleView, RulesetTexts,
};
use app::model::notifications::{DeliveryRecord, Destination, DestinationInput, DestinationPatch};
use app::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch};
use app::model::{FirewallCapability, ServiceAction, ShellInfo};
use warden_firewall::{Rule, RuleInput, RulePatch};

use app::model::admin::{ApiToken, AuditEntry, CreatedToken, PasswordChange, TokenRequest};
use app::model::settings::{ServerInfo, Settings};
use app::model::users::{RecoveryCodes, TotpEnrollment, UserCreate, UserPatch, UserView};

use crate::access::{Principal, TokenKind};
use crate::firewall_ctl::{parse_ban_address, FirewallError};
use crate::settings::SettingsPatch;
use crate::state::AppState;

mod app_error;
mod jails;

/// The principal a server function's user stands for (the same user and credential).
fn principal_of(user: &SessionUser) -> Principal {
    Principal {
        username: user.username.clone(),
        kind: TokenKind::Session,
        // Only admin credentials reach a mutating server function (the HTTP auth gate refuses the rest).
        scope: user.role,
        token_key: user.credential_id.clone(),
    }
}

#[async_trait::async_trait]
impl Backend for AppState {
    fn authenticate(&self, headers: &HeaderMap) -> Option<SessionUser> {
        self.principal(headers).map(|(p, _)| SessionUser {
            username: p.username,
            credential_id: p.token_key,
            role: p.scope,
        })
    }

    async fn shell_info(&self, user: &SessionUser) -> ShellInfo {
        ShellInfo {
            hostname: self.settings.current().hostname,
            username: user.username.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            role: user.role,
        }
    }

    async fn firewall_capability(&self) -> FirewallCapability {
        self.firewall_capability.clone()
    }

    async fn list_services(&self) -> Result<Vec<Service>, AppError> {
        Ok(self.supervisor.list())
    }

    async fn get_service(&self, id: &str) -> Result<Service, AppError> {
        Ok(self.supervisor.get(id)?)
    }

    async fn create_service(
        &self,
        user: &SessionUser,
        input: ServiceInput,
    ) -> Result<Service, AppError> {
        let service = self.supervisor.create(input).await?;
        tracing::info!(user = %user.username, service = %service.spec.name, "service created");
        Ok(service)
    }

    async fn update_service(
        &self,
        user: &SessionUser,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, AppError> {
        let service = self.supervisor.update(id, patch).await?;
        tracing::info!(user = %user.username, service = %service.spec.name, "service changed");
        Ok(service)
    }

    async fn delete_service(&self, user: &SessionUser, id: &str) -> Result<(), AppError> {
        self.supervisor.delete(id).await?;
        tracing::info!(user = %user.username, service_id = %id, "service deleted");
        Ok(())
    }

    async fn convert_import(
        &self,
        format: app::model::import::ImportFormat,
        files: Vec<app::model::import::ImportFile>,
    ) -> app::model::import::ImportOutcome {
        crate::import::convert(
            format,
            &files,
            &crate::import::NoFiles,
            &crate::import::HostFacts::none(),
        )
    }

    async fn service_action(
        &self,
        user: &SessionUser,
        id: &str,
        action: ServiceAction,
    ) -> Result<Service, AppError> {
        let service = match action {
            ServiceAction::Start => self.supervisor.start_service(id).await?,
            ServiceAction::Stop => self.supervisor.stop_service(id).await?,
            ServiceAction::Restart => self.supervisor.restart_service(id).await?,
            ServiceAction::HardRestart => self.supervisor.hard_restart_service(id).await?,
        };
        tracing::info!(user = %user.username, service = %service.spec.name, ?action, "service action");
        Ok(service)
    }

    async fn service_logs(&self, id: &str, lines: usize) -> Result<Vec<String>, AppError> {
        Ok(self.supervisor.logs_tail(id, lines).await?)
    }

    async fn service_processes(&self, id: &str) -> Result<Vec<ProcessInfo>, AppError> {
        Ok(self.supervisor.processes(id).await?)
    }

    async fn service_capabilities(&self) -> app::model::service_limits::LimitCapabilities {
        self.supervisor.capabilities()
    }

    async fn service_port_range(&self) -> app::model::service_ports::ServicePortRange {
        self.settings
            .current()
            .service_port_range()
            .unwrap_or_default()
    }

    // ---- firewall ----

    fn client_address(&self, extensions: &http::Extensions) -> Option<IpAddr> {
        let addr = self.peer_address(extensions)?;
        // Like every REST firewall call: the caller counts as administering (never banned).
        self.firewall.note_administering(addr);
        Some(addr)
    }

    fn peer_address(&self, extensions: &http::Extensions) -> Option<IpAddr> {
        let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
        Some(peer.ip().to_canonical())
    }

    async fn firewall_state(&self, client: IpAddr) -> Result<FirewallStatus, AppError> {
        Ok(self.firewall.status().await?.for_client(client))
    }

    async fn firewall_rules(&self, _client: IpAddr) -> Result<Vec<RuleView>, AppError> {
        Ok(self.firewall.rules().await?)
    }

    async fn add_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        input: RuleInput,
    ) -> Result<Rule, AppError> {
        let rule = self.firewall.add_rule(input).await?;
        tracing::info!(user = %user.username, %client, rule = %rule.id, "firewall rule added");
        Ok(rule)
    }

    async fn update_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        patch: RulePatch,
    ) -> Result<Rule, AppError> {
        let rule = self.firewall.patch_rule(id, patch).await?;
        tracing::info!(user = %user.username, %client, rule = %rule.id, "firewall rule changed");
        Ok(rule)
    }

    async fn delete_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
    ) -> Result<(), AppError> {
        self.firewall.delete_rule(id).await?;
        tracing::info!(user = %user.username, %client, rule = %id, "firewall rule deleted");
        Ok(())
    }

    async fn move_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        position: u32,
    ) -> Result<Rule, AppError> {
        let rule = self.firewall.move_rule(id, position).await?;
        tracing::info!(user = %user.username, %client, rule = %id, position, "firewall rule moved");
        Ok(rule)
    }

    async fn firewall_presets(&self, _client: IpAddr) -> Result<Vec<PresetView>, AppError> {
        Ok(self.firewall.presets()?)
    }

    async fn set_firewall_preset(
        &self,
        user: &SessionUser,
        client: IpAddr,
        name: &str,
        open: bool,
    ) -> Result<Vec<Rule>, AppError> {
        let rules = if open {
            self.firewall.open_preset(name).await?
        } else {
            self.firewall.close_preset(name).await?
        };
        tracing::info!(user = %user.username, %client, preset = %name, open, "firewall preset");
        Ok(rules)
    }

    async fn firewall_ruleset_texts(&self, client: IpAddr) -> Result<RulesetTexts, AppError> {
        let applied = match self.firewall.applied_ruleset() {
            Ok(text) => Some(text),
            Err(FirewallError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let (preview, preview_error) = match self.firewall.ruleset_preview(client).await {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(AppError::from(e).to_string())),
        };
        Ok(RulesetTexts {
            applied,
            preview,
            preview_error,
        })
    }

    async fn apply_firewall(
        &self,
        user: &SessionUser,
        client: IpAddr,
        confirm_within_secs: u64,
    ) -> Result<FirewallStatus, AppError> {
        let status = self.firewall.apply(confirm_within_secs, client).await?;
        tracing::info!(user = %user.username, %client, confirm_within_secs, "firewall applied from the UI");
        Ok(status.for_client(client))
    }

    async fn control_firewall(
        &self,
        user: &SessionUser,
        client: IpAddr,
        op: FirewallControl,
    ) -> Result<FirewallStatus, AppError> {
        let status = match op {
            FirewallControl::Confirm => self.firewall.confirm().await?,
            FirewallControl::Rollback => self.firewall.rollback().await?,
            FirewallControl::Deactivate => self.firewall.deactivate().await?,
        };
        tracing::info!(user = %user.username, %client, ?op, "firewall control from the UI");
        Ok(status.for_client(client))
    }

    async fn firewall_bans(&self, _client: IpAddr) -> Result<Vec<BanView>, AppError> {
        Ok(self.firewall.bans().await?)
    }

    async fn unban_address(
        &self,
        user: &SessionUser,
        client: IpAddr,
        address: &str,
    ) -> Result<(), AppError> {
        let addr = parse_ban_address(address)?;
        self.access.unban(addr).await?;
        tracing::info!(user = %user.username, %client, address, "ban lifted from the UI");
        Ok(())
    }

    async fn firewall_exposure(&self, _client: IpAddr) -> Result<Vec<ExposureView>, AppError> {
        Ok(self.firewall.exposure().await?)
    }

    async fn expose_service_port(
        &self,
        user: &SessionUser,
        client: IpAddr,
        service_id: &str,
        port: u16,
    ) -> Result<Rule, AppError> {
        let rule = self.firewall.expose(service_id, port).await?;
        tracing::info!(user = %user.username, %client, service_id, port, "service port exposed from the UI");
        Ok(rule)
    }

    // ---- administration: settings, password, API tokens, audit log ----

    async fn get_settings(&self) -> Result<Settings, AppError> {
        Ok(self.settings.current())
    }

    async fn update_settings(
        &self,
        _user: &SessionUser,
        settings: Settings,
    ) -> Result<Settings, AppError> {
        Ok(self
            .settings
            .update(SettingsPatch::replacing_all(settings))
            .await?)
    }

    async fn server_info(&self) -> ServerInfo {
        ServerInfo {
            tls: self.secure_cookies,
            listen: self.listen.to_string(),
            warning: self.plain_http_warning.clone(),
        }
    }

    async fn change_password(
        &self,
        user: &SessionUser,
        client: IpAddr,
        change: PasswordChange,
    ) -> Result<(), AppError> {
        Ok(self
            .access
            .change_password(&principal_of(user), &change, client)
            .await?)
    }

    async fn list_tokens(&self, user: &SessionUser) -> Result<Vec<ApiToken>, AppError> {
        Ok(self.access.api_tokens(&user.username)?)
    }

    async fn create_token(
        &self,
        user: &SessionUser,
        request: TokenRequest,
    ) -> Result<CreatedToken, AppError> {
        Ok(self
            .access
            .create_api_token(&user.username, &request)
            .await?)
    }

    async fn revoke_token(&self, user: &SessionUser, id: &str) -> Result<(), AppError> {
        Ok(self.access.revoke_api_token(&user.username, id).await?)
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self.audit.recent(limit)?)
    }

    // ---- accounts ----

    async fn list_users(&self) -> Result<Vec<UserView>, AppError> {
        Ok(self.access.users()?)
    }

    async fn create_user(
        &self,
        _user: &SessionUser,
        create: UserCreate,
    ) -> Result<UserView, AppError> {
        Ok(self.access.create_user(&create).await?)
    }

    async fn update_user(
        &self,
        _user: &SessionUser,
        username: &str,
        patch: UserPatch,
    ) -> Result<UserView, AppError> {
        Ok(self.access.update_user(username, &patch).await?)
    }

    async fn delete_user(&self, _user: &SessionUser, username: &str) -> Result<(), AppError> {
        Ok(self.access.delete_user(username).await?)
    }

    async fn remove_totp(
        &self,
        user: &SessionUser,
        username: Option<String>,
    ) -> Result<(), AppError> {
        let target = username.unwrap_or_else(|| user.username.clone());
        // Anyone may remove their own second factor; another user's is an administrator's to remove.
        if target != user.username && !user.role.may_mutate() {
            return Err(AppError::Refused(
                "Only an administrator may remove another user's second factor.".into(),
            ));
        }
        Ok(self.access.remove_totp(&target).await?)
    }

    async fn enroll_totp(&self, user: &SessionUser) -> Result<TotpEnrollment, AppError> {
        Ok(self.access.enroll_totp(&user.username).await?)
    }

    async fn confirm_totp(
        &self,
        user: &SessionUser,
        code: String,
    ) -> Result<RecoveryCodes, AppError> {
        Ok(self.access.confirm_totp(&user.username, &code).await?)
    }

    async fn own_account(&self, user: &SessionUser) -> Result<Option<UserView>, AppError> {
        Ok(self.access.user(&user.username)?)
    }

    async fn notification_destinations(
        &self,
        user: &SessionUser,
    ) -> Result<Vec<Destination>, AppError> {
        let all = self.notifications.list()?;
        Ok(if user.role.may_mutate() {
            all
        } else {
            all.into_iter().map(Destination::redacted).collect()
        })
    }

    async fn create_notification_destination(
        &self,
        _user: &SessionUser,
        input: DestinationInput,
    ) -> Result<Destination, AppError> {
        Ok(self.notifications.create(&input).await?)
    }

    async fn update_notification_destination(
        &self,
        _user: &SessionUser,
        id: &str,
        patch: DestinationPatch,
    ) -> Result<Destination, AppError> {
        Ok(self.notifications.update(id, &patch).await?)
    }

    async fn delete_notification_destination(
        &self,
        _user: &SessionUser,
        id: &str,
    ) -> Result<(), AppError> {
        Ok(self.notifications.delete(id).await?)
    }

    async fn test_notification_destination(
        &self,
        _user: &SessionUser,
        id: &str,
    ) -> Result<DeliveryRecord, AppError> {
        Ok(self.notifications.test(id).await?)
    }

    async fn notification_log(&self, id: &str) -> Result<Vec<DeliveryRecord>, AppError> {
        Ok(self
            .notifications
            .delivery_log(id, crate::notifications::log::KEEP)?)
    }
}
