//! Server functions for notification destinations (Settings → Notifications): list and delivery log
//! (reads), create, change, delete and "send test" (mutations, refused to read-only credentials by the
//! server's auth gate). The same notifications domain as `/api/v1/notifications/destinations*`, which
//! validates, stores, audits and delivers.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::codec::JsonText;

use crate::model::error::AppError;
use crate::model::notifications::{
    DeliveryRecord, Destination, DestinationInput, DestinationPatch,
};

/// Every destination, oldest first (the SMTP password is never sent: `password_set`; a read-only user
/// sees webhook URLs shortened to scheme and host).
#[server(prefix = "/rpc", endpoint = "notifications/list", input = Json, output = JsonText)]
pub async fn list_destinations() -> Result<Vec<Destination>, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.notification_destinations(&user).await
}

/// The newest delivery attempts of destination `id`, newest first.
#[server(prefix = "/rpc", endpoint = "notifications/log", input = Json, output = JsonText)]
pub async fn destination_log(id: String) -> Result<Vec<DeliveryRecord>, AppError> {
    let (backend, _user) = crate::backend::require_user().await?;
    backend.notification_log(&id).await
}

/// Creates a destination.
#[server(prefix = "/rpc", endpoint = "notifications/create", input = Json, output = JsonText)]
pub async fn create_destination(input: DestinationInput) -> Result<Destination, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.create_notification_destination(&user, input).await
}

/// Changes a destination (each field present).
#[server(prefix = "/rpc", endpoint = "notifications/update", input = Json, output = JsonText)]
pub async fn update_destination(
    id: String,
    patch: DestinationPatch,
) -> Result<Destination, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend
        .update_notification_destination(&user, &id, patch)
        .await
}

/// Deletes a destination and its delivery log.
#[server(prefix = "/rpc", endpoint = "notifications/delete", input = Json, output = JsonText)]
pub async fn delete_destination(id: String) -> Result<(), AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.delete_notification_destination(&user, &id).await
}

/// Sends a test notification now and answers the outcome of that real attempt.
#[server(prefix = "/rpc", endpoint = "notifications/test", input = Json, output = JsonText)]
pub async fn test_destination(id: String) -> Result<DeliveryRecord, AppError> {
    let (backend, user) = crate::backend::require_user().await?;
    backend.test_notification_destination(&user, &id).await
}
