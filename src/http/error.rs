//! API errors: one enum, each variant mapped on purpose to a status, rendered as RFC 9457
//! `application/problem+json`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::validate::FieldError;
use crate::infra::store::StoreError;
use crate::services::status::StatusError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 naming every invalid field.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// 400 for a problem that is not about one field (a bad query string, bad JSON).
    #[error("{0}")]
    BadRequest(String),
    /// 401; `challenge` is the `WWW-Authenticate` value.
    #[error("invalid token")]
    Unauthenticated { challenge: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected platform failure. The detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

/// An RFC 9457 problem document.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Every invalid field, for 400 answers about the body.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let challenge = match &self {
            ApiError::Unauthenticated { challenge } => HeaderValue::from_str(challenge).ok(),
            _ => None,
        };
        let (detail, errors) = match self {
            ApiError::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                (detail, errors)
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    "internal error; the gateway log has the details".to_string(),
                    Vec::new(),
                )
            }
            other => (other.to_string(), Vec::new()),
        };
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Exists { kind, name } => ApiError::Conflict(format!(
                "{kind} \"{name}\" already exists; choose another name or DELETE /{}/{name} first",
                kind.collection()
            )),
            StoreError::NotFound { kind, name } => {
                ApiError::NotFound(format!("{kind} \"{name}\" does not exist"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StatusError> for ApiError {
    fn from(err: StatusError) -> Self {
        match err {
            StatusError::NotFound(message) => ApiError::NotFound(message),
            StatusError::Unavailable(message) => ApiError::Unavailable(message),
            StatusError::Unsupported(message) => ApiError::BadRequest(message),
            StatusError::Failed(message) => ApiError::Internal(message),
        }
    }
}
