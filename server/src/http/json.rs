//! `ApiJson<T>`: the JSON body extractor of the REST API. Like `axum::Json`, but every rejection (wrong
//! content type, syntax error, unknown field, too large) answers in the API's error shape.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = rejection.status();
                let text = rejection.body_text();
                Err(match status {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is too large.",
                    ),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::bad_request(
                        "Send the body as JSON with Content-Type: application/json.",
                    ),
                    _ => ApiError::bad_request(format!("The JSON body is not valid: {text}")),
                })
            }
        }
    }
}
