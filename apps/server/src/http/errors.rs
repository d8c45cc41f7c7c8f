//! The one error shape every endpoint answers: `{"code": "SCREAMING_CASE", "message": "…"}`.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::Object;
use tessera_domain::repository::RepositoryError;

#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorBody {
    /// Stable, machine-readable: `NOT_FOUND`, `INVALID_REQUEST`, …
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Json<Self> {
        Json(Self { code: code.to_owned(), message: message.into() })
    }
}

/// The message of an error and all its causes, for logs.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why poem-openapi refused a request before the operation ran.
pub enum Rejection {
    Unauthorized(Json<ErrorBody>),
    BadRequest(Json<ErrorBody>),
}

/// Sorts an extractor failure: a failed bearer check, or unparsable input.
pub fn rejected(error: poem::Error) -> Rejection {
    if error.status() == StatusCode::UNAUTHORIZED {
        Rejection::Unauthorized(ErrorBody::new("UNAUTHORIZED", "missing or invalid admin token"))
    } else {
        Rejection::BadRequest(ErrorBody::new("INVALID_REQUEST", error.to_string()))
    }
}

/// Logs an unexpected error with its cause; the caller gets only a generic 500.
pub fn internal(error: &dyn std::error::Error) -> Json<ErrorBody> {
    tracing::error!(error = %chain(error), "unexpected error");
    ErrorBody::new("INTERNAL", "internal error; the server log has the details")
}

/// A storage failure: `Ok(503 body)` when the database is unreachable (the
/// caller may retry), `Err(500 body)` otherwise.
pub fn storage(error: &RepositoryError) -> Result<Json<ErrorBody>, Json<ErrorBody>> {
    match error {
        RepositoryError::Unavailable(_) => {
            tracing::warn!(error = %chain(error), "database unavailable");
            Ok(ErrorBody::new("UNAVAILABLE", "the database is unavailable; try again shortly"))
        }
        RepositoryError::Unexpected(_) => Err(internal(error)),
    }
}

/// Defines `fn $name(poem::Error) -> $response` for an admin operation's
/// `bad_request_handler`: a failed bearer check is its 401 variant, anything
/// else unparsable its 400 variant.
macro_rules! admin_bad_request_handler {
    ($name:ident, $response:ident) => {
        fn $name(error: poem::Error) -> $response {
            match $crate::http::errors::rejected(error) {
                $crate::http::errors::Rejection::Unauthorized(body) => $response::Unauthorized(body),
                $crate::http::errors::Rejection::BadRequest(body) => $response::BadRequest(body),
            }
        }
    };
}
pub(crate) use admin_bad_request_handler;

/// The 400 body for a list cursor that cannot be one of ours (cursors are ids).
pub fn invalid_cursor(cursor: Option<&str>) -> Option<Json<ErrorBody>> {
    cursor
        .is_some_and(|cursor| uuid::Uuid::parse_str(cursor).is_err())
        .then(|| ErrorBody::new("INVALID_CURSOR", "the cursor is not one this server produced"))
}

/// `$response::Unavailable` (503) or `$response::Internal` (500) for a storage failure.
macro_rules! storage_failure {
    ($response:ident, $error:expr) => {
        match $crate::http::errors::storage($error) {
            Ok(body) => $response::Unavailable(body),
            Err(body) => $response::Internal(body),
        }
    };
}
pub(crate) use storage_failure;

/// Turns errors raised outside the typed operations (unknown route, wrong
/// method, failed authentication, oversized or unparsable body) into the same
/// JSON shape.
pub fn error_response(error: poem::Error) -> Response {
    let status = error.status();
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("INVALID_REQUEST", error.to_string()),
        StatusCode::UNAUTHORIZED => ("UNAUTHORIZED", "missing or invalid admin token".to_owned()),
        StatusCode::NOT_FOUND => ("NOT_FOUND", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("METHOD_NOT_ALLOWED", "method not allowed on this route".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("PAYLOAD_TOO_LARGE", format!("request bodies are limited to {} bytes", super::MAX_BODY_BYTES))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UNSUPPORTED_MEDIA_TYPE", error.to_string()),
        status if status.is_server_error() => {
            tracing::error!(error = %error, status = status.as_u16(), "request failed");
            ("INTERNAL", "internal error; the server log has the details".to_owned())
        }
        _ => ("INVALID_REQUEST", error.to_string()),
    };
    let mut response = ErrorBody::new(code, message).into_response();
    response.set_status(status);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert("WWW-Authenticate", poem::http::HeaderValue::from_static("Bearer"));
    }
    response
}

/// The response of an admin read (a list, the stats): `200` with `T`, or the
/// shared failures. One generic type instead of the same five variants per
/// operation.
#[derive(poem_openapi::ApiResponse)]
#[oai(bad_request_handler = "admin_read_bad_request")]
pub enum AdminRead<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 200)]
    Ok(Json<T>),
    /// A parameter is malformed (`INVALID_REQUEST`, `INVALID_CURSOR`, …).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn admin_read_bad_request<T: poem_openapi::types::ToJSON + Send + Sync>(error: poem::Error) -> AdminRead<T> {
    match rejected(error) {
        Rejection::Unauthorized(body) => AdminRead::Unauthorized(body),
        Rejection::BadRequest(body) => AdminRead::BadRequest(body),
    }
}

/// The response of an admin operation on one resource (show, change, retry):
/// `200` with `T`, `404` when it does not exist, `409` when its state does
/// not allow the change, or the shared failures.
#[derive(poem_openapi::ApiResponse)]
#[oai(bad_request_handler = "admin_change_bad_request")]
pub enum AdminChange<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 200)]
    Ok(Json<T>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Not allowed in the resource's current state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn admin_change_bad_request<T: poem_openapi::types::ToJSON + Send + Sync>(error: poem::Error) -> AdminChange<T> {
    match rejected(error) {
        Rejection::Unauthorized(body) => AdminChange::Unauthorized(body),
        Rejection::BadRequest(body) => AdminChange::BadRequest(body),
    }
}
