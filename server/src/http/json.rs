//! `ApiJson<T>`: the JSON body extractor of the REST API. Like `axum::Json`, but every rejection (wrong
//! content type, syntax error, unknown field, too large) answers in the API's error shape, and the body
//! must be a JSON object (serde would otherwise read a struct from an array: `[]` would be a rule with
//! every field defaulted).

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
        let declared_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
        // Peek at the body only when it can be JSON at all; axum answers the other rejections.
        let req = if declared_json {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
                .await
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is too large.",
                    )
                })?;
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first.is_some_and(|b| *b != b'{') {
                return Err(ApiError::bad_request("The JSON body must be an object."));
            }
            // A field given twice is ambiguous (parsers differ on which one wins): refused. Syntax
            // errors are left to the decoding below, which names them.
            if let Err(e) = serde_json::from_slice::<UniqueFields>(&bytes) {
                if e.classify() == serde_json::error::Category::Data {
                    return Err(ApiError::bad_request(format!(
                        "The JSON body is not valid: {e}"
                    )));
                }
            }
            Request::from_parts(parts, bytes.into())
        } else {
            req
        };
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

/// Decodes nothing but checks that no top-level field of a JSON object appears twice.
struct UniqueFields;

impl<'de> serde::Deserialize<'de> for UniqueFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = UniqueFields;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueFields, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "the field `{key}` appears twice"
                        )));
                    }
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(UniqueFields)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}
