//! The seam between the UI's server functions and the server's domain layer (server only). The `warden`
//! server implements [`Backend`] over its store, auth, supervisor and firewall, and provides it as context;
//! server functions reach the domain only through it, and check the caller with [`require_user`] first.

use std::net::IpAddr;
use std::sync::Arc;

use leptos::prelude::*;
use warden_firewall::{Rule, RuleInput, RulePatch};

use crate::model::admin::{ApiToken, AuditEntry, CreatedToken, PasswordChange, TokenRequest};
use crate::model::error::AppError;
use crate::model::firewall::{
    BanView, ExposureView, FirewallControl, FirewallStatus, PresetView, RuleView, RulesetTexts,
};
use crate::model::import::{ImportFile, ImportFormat, ImportOutcome};
use crate::model::jails::{Jail, JailInput, JailPatch, JailView};
use crate::model::notifications::{
    DeliveryRecord, Destination, DestinationInput, DestinationPatch,
};
use crate::model::service::{ProcessInfo, Service, ServiceInput, ServicePatch};
use crate::model::service_ports::ServicePortRange;
use crate::model::settings::{ServerInfo, Settings};
use crate::model::users::{RecoveryCodes, TotpEnrollment, UserCreate, UserPatch, UserView};
use crate::model::{FirewallCapability, ServiceAction, ShellInfo};

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub username: String,
    /// An opaque, non-secret id of the credential the request used (so a password change can keep the
    /// caller's own session while ending the others).
    pub credential_id: String,
    /// What the credential may do: its scope capped by the user's role (`read`: no mutation).
    pub role: crate::model::users::Role,
}

/// What the UI's server functions may ask of the server. Mutations name the user, for the audit log.
#[async_trait::async_trait]
pub trait Backend: JailsBackend + Send + Sync + 'static {
    /// The user these request headers authenticate (session cookie or bearer token), if any.
    fn authenticate(&self, headers: &http::HeaderMap) -> Option<SessionUser>;
    async fn shell_info(&self, user: &SessionUser) -> ShellInfo;
    async fn firewall_capability(&self) -> FirewallCapability;

    // ---- services ----

    async fn list_services(&self) -> Result<Vec<Service>, AppError>;
    async fn get_service(&self, id: &str) -> Result<Service, AppError>;
    async fn create_service(
        &self,
        user: &SessionUser,
        input: ServiceInput,
    ) -> Result<Service, AppError>;
    async fn update_service(
        &self,
        user: &SessionUser,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service, AppError>;
    async fn delete_service(&self, user: &SessionUser, id: &str) -> Result<(), AppError>;
    /// Converts other supervisors' definitions (no file on the server is read); creates nothing.
    async fn convert_import(&self, format: ImportFormat, files: Vec<ImportFile>) -> ImportOutcome;
    async fn service_action(
        &self,
        user: &SessionUser,
        id: &str,
        action: ServiceAction,
    ) -> Result<Service, AppError>;
    async fn service_logs(&self, id: &str, lines: usize) -> Result<Vec<String>, AppError>;
    async fn service_processes(&self, id: &str) -> Result<Vec<ProcessInfo>, AppError>;
    /// The configured service port range, for the form's port suggestion and validation and for UI text.
    async fn service_port_range(&self) -> ServicePortRange;
    /// How services are contained here and which limits can be enforced.
    async fn service_capabilities(&self) -> crate::model::service_limits::LimitCapabilities;

    // ---- firewall ----
    // Every method gets the caller's address: the server notes it as administering (never banned), and
    // an apply keeps it reaching the admin port and SSH (anti-lockout).

    /// The peer address of the connection these request extensions belong to, noted as administering.
    fn client_address(&self, extensions: &http::Extensions) -> Option<std::net::IpAddr>;
    /// The peer address of the connection these request extensions belong to (nothing noted).
    fn peer_address(&self, extensions: &http::Extensions) -> Option<std::net::IpAddr>;
    async fn firewall_state(&self, client: IpAddr) -> Result<FirewallStatus, AppError>;
    async fn firewall_rules(&self, client: IpAddr) -> Result<Vec<RuleView>, AppError>;
    async fn add_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        input: RuleInput,
    ) -> Result<Rule, AppError>;
    async fn update_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        patch: RulePatch,
    ) -> Result<Rule, AppError>;
    async fn delete_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
    ) -> Result<(), AppError>;
    async fn move_firewall_rule(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        position: u32,
    ) -> Result<Rule, AppError>;
    async fn firewall_presets(&self, client: IpAddr) -> Result<Vec<PresetView>, AppError>;
    async fn set_firewall_preset(
        &self,
        user: &SessionUser,
        client: IpAddr,
        name: &str,
        open: bool,
    ) -> Result<Vec<Rule>, AppError>;
    async fn firewall_ruleset_texts(&self, client: IpAddr) -> Result<RulesetTexts, AppError>;
    async fn apply_firewall(
        &self,
        user: &SessionUser,
        client: IpAddr,
        confirm_within_secs: u64,
    ) -> Result<FirewallStatus, AppError>;
    async fn control_firewall(
        &self,
        user: &SessionUser,
        client: IpAddr,
        op: FirewallControl,
    ) -> Result<FirewallStatus, AppError>;
    async fn firewall_bans(&self, client: IpAddr) -> Result<Vec<BanView>, AppError>;
    async fn unban_address(
        &self,
        user: &SessionUser,
        client: IpAddr,
        address: &str,
    ) -> Result<(), AppError>;
    async fn firewall_exposure(&self, client: IpAddr) -> Result<Vec<ExposureView>, AppError>;
    /// Adds an accept rule for one reserved port of a service, at the top of the saved rules.
    async fn expose_service_port(
        &self,
        user: &SessionUser,
        client: IpAddr,
        service_id: &str,
        port: u16,
    ) -> Result<Rule, AppError>;

    // ---- administration: settings, password, API tokens, audit log ----

    async fn get_settings(&self) -> Result<Settings, AppError>;
    /// Replaces the settings (validated, persisted, applied live, audited).
    async fn update_settings(
        &self,
        user: &SessionUser,
        settings: Settings,
    ) -> Result<Settings, AppError>;
    /// Read-only facts about how Warden is served (TLS).
    async fn server_info(&self) -> ServerInfo;
    /// `client`: the caller's address (a wrong current password counts as a failed login of it).
    async fn change_password(
        &self,
        user: &SessionUser,
        client: IpAddr,
        change: PasswordChange,
    ) -> Result<(), AppError>;
    async fn list_tokens(&self, user: &SessionUser) -> Result<Vec<ApiToken>, AppError>;
    async fn create_token(
        &self,
        user: &SessionUser,
        request: TokenRequest,
    ) -> Result<CreatedToken, AppError>;
    async fn revoke_token(&self, user: &SessionUser, id: &str) -> Result<(), AppError>;
    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, AppError>;

    // ---- accounts: users and second factors (audited by the server) ----

    async fn list_users(&self) -> Result<Vec<UserView>, AppError>;
    async fn create_user(
        &self,
        user: &SessionUser,
        create: UserCreate,
    ) -> Result<UserView, AppError>;
    async fn update_user(
        &self,
        user: &SessionUser,
        username: &str,
        patch: UserPatch,
    ) -> Result<UserView, AppError>;
    async fn delete_user(&self, user: &SessionUser, username: &str) -> Result<(), AppError>;
    /// Removes the second factor of `username` (an admin's reset), or the caller's own when `None`.
    async fn remove_totp(
        &self,
        user: &SessionUser,
        username: Option<String>,
    ) -> Result<(), AppError>;
    async fn enroll_totp(&self, user: &SessionUser) -> Result<TotpEnrollment, AppError>;
    async fn confirm_totp(
        &self,
        user: &SessionUser,
        code: String,
    ) -> Result<RecoveryCodes, AppError>;
    /// The caller's own account (role, second factor).
    async fn own_account(&self, user: &SessionUser) -> Result<Option<UserView>, AppError>;

    // ---- notifications (validated, stored and audited by the server) ----

    /// Every destination; webhook URLs redacted unless `user` may change things.
    async fn notification_destinations(
        &self,
        user: &SessionUser,
    ) -> Result<Vec<Destination>, AppError>;
    async fn create_notification_destination(
        &self,
        user: &SessionUser,
        input: DestinationInput,
    ) -> Result<Destination, AppError>;
    async fn update_notification_destination(
        &self,
        user: &SessionUser,
        id: &str,
        patch: DestinationPatch,
    ) -> Result<Destination, AppError>;
    async fn delete_notification_destination(
        &self,
        user: &SessionUser,
        id: &str,
    ) -> Result<(), AppError>;
    /// One real delivery attempt of a test notification, answered with its outcome.
    async fn test_notification_destination(
        &self,
        user: &SessionUser,
        id: &str,
    ) -> Result<DeliveryRecord, AppError>;
    /// The newest delivery attempts of destination `id`, newest first.
    async fn notification_log(&self, id: &str) -> Result<Vec<DeliveryRecord>, AppError>;
}

/// The jails part of the seam (a trait of its own so the server implements it in its own module).
/// Each call notes `client` as administering, as the REST routes do.
#[async_trait::async_trait]
pub trait JailsBackend {
    /// Every jail with its live counters, by name.
    async fn jails(&self, client: IpAddr) -> Result<Vec<JailView>, AppError>;
    /// Adds a jail (durable before it answers); it starts watching its source if enabled.
    async fn create_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        input: JailInput,
    ) -> Result<Jail, AppError>;
    /// Changes a jail (its counts are kept).
    async fn update_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
        patch: JailPatch,
    ) -> Result<Jail, AppError>;
    /// Deletes a jail (its bans stay until they expire).
    async fn delete_jail(
        &self,
        user: &SessionUser,
        client: IpAddr,
        id: &str,
    ) -> Result<(), AppError>;
}

/// How the backend is provided as Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// Every server function starts with this: the backend and the authenticated user, or
/// [`AppError::Unauthorized`] with HTTP status 401.
pub async fn require_user() -> Result<(SharedBackend, SessionUser), AppError> {
    let backend = use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Internal("the backend is not provided".into()))?;
    let headers: http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    match backend.authenticate(&headers) {
        Some(user) => Ok((backend, user)),
        None => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
            Err(AppError::Unauthorized)
        }
    }
}
