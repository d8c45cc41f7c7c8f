//! The one error shape every endpoint answers: `{"code": "SCREAMING_CASE", "message": "…"}`.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::Object;
use tessera_domain::repository::RepositoryError;

/// Declares [`ErrorCode`] once: the enum the spec publishes (so a generated
/// client can switch on it exhaustively) and its wire text.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $text:literal,)+) => {
        /// Every `code` an error answer of Tessera may carry. Stable: a code
        /// is never renamed; new ones may be added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[oai(rename = $text)] $variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text),+ }
            }
        }
    };
}

error_codes! {
    /// The license key, lease, activation or resource does not exist.
    NotFound => "NOT_FOUND",
    Revoked => "REVOKED",
    Suspended => "SUSPENDED",
    Expired => "EXPIRED",
    /// The name or email given is not the one signed into the license.
    IdentityMismatch => "IDENTITY_MISMATCH",
    /// The app's major version is not covered by the license.
    VersionMismatch => "VERSION_MISMATCH",
    /// The license's tier does not offer this release channel.
    ChannelNotIncluded => "CHANNEL_NOT_INCLUDED",
    /// The machine is not activated on this license.
    NoMachine => "NO_MACHINE",
    /// Every seat is taken.
    TooManyMachines => "TOO_MANY_MACHINES",
    /// Too many activations after deactivations within 24 hours.
    ActivationChurn => "ACTIVATION_CHURN",
    /// The lease belongs to another machine.
    FingerprintMismatch => "FINGERPRINT_MISMATCH",
    InvalidLease => "INVALID_LEASE",
    InvalidFingerprint => "INVALID_FINGERPRINT",
    InvalidNonce => "INVALID_NONCE",
    InvalidAppVersion => "INVALID_APP_VERSION",
    InvalidPlatform => "INVALID_PLATFORM",
    InvalidMachineName => "INVALID_MACHINE_NAME",
    InvalidKey => "INVALID_KEY",
    InvalidEmail => "INVALID_EMAIL",
    InvalidName => "INVALID_NAME",
    InvalidReason => "INVALID_REASON",
    InvalidSeats => "INVALID_SEATS",
    InvalidTerm => "INVALID_TERM",
    InvalidCursor => "INVALID_CURSOR",
    InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
    /// Any other malformed input; the message names the field.
    InvalidRequest => "INVALID_REQUEST",
    UnknownProduct => "UNKNOWN_PRODUCT",
    UnknownTier => "UNKNOWN_TIER",
    KeyTaken => "KEY_TAKEN",
    EmailTaken => "EMAIL_TAKEN",
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
    /// The resource's state does not allow the change.
    InvalidTransition => "INVALID_TRANSITION",
    AlreadyReviewed => "ALREADY_REVIEWED",
    NotRetryable => "NOT_RETRYABLE",
    TooManyRecords => "TOO_MANY_RECORDS",
    /// The resource kept changing under concurrent writers; retry.
    Contended => "CONTENDED",
    /// Missing or wrong admin token (or storefront credentials).
    Unauthorized => "UNAUTHORIZED",
    /// Too many requests from this address: see `Retry-After`.
    RateLimited => "RATE_LIMITED",
    /// The request body is over 64 KiB.
    PayloadTooLarge => "PAYLOAD_TOO_LARGE",
    MethodNotAllowed => "METHOD_NOT_ALLOWED",
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
    /// The database is unavailable; retry shortly.
    Unavailable => "UNAVAILABLE",
    /// An unexpected failure; the server log has the details.
    Internal => "INTERNAL",
}

#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ErrorBody {
    /// Stable and machine-readable; switch on it.
    pub code: ErrorCode,
    /// For people; may change between versions.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Json<Self> {
        Json(Self { code, message: message.into() })
    }
}

/// The code of a domain refusal (contract §4).
pub fn refusal_code(refusal: tessera_domain::activation::Refusal) -> ErrorCode {
    use tessera_domain::activation::Refusal;
    match refusal {
        Refusal::NotFound => ErrorCode::NotFound,
        Refusal::Revoked => ErrorCode::Revoked,
        Refusal::Suspended => ErrorCode::Suspended,
        Refusal::Expired => ErrorCode::Expired,
        Refusal::IdentityMismatch => ErrorCode::IdentityMismatch,
        Refusal::VersionMismatch => ErrorCode::VersionMismatch,
        Refusal::NoMachine => ErrorCode::NoMachine,
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
        Rejection::Unauthorized(ErrorBody::new(ErrorCode::Unauthorized, "missing or invalid admin token"))
    } else {
        Rejection::BadRequest(ErrorBody::new(ErrorCode::InvalidRequest, error.to_string()))
    }
}

/// Logs an unexpected error with its cause; the caller gets only a generic 500.
pub fn internal(error: &dyn std::error::Error) -> Json<ErrorBody> {
    tracing::error!(error = %chain(error), "unexpected error");
    ErrorBody::new(ErrorCode::Internal, "internal error; the server log has the details")
}

/// A storage failure: `Ok(503 body)` when the database is unreachable (the
/// caller may retry), `Err(500 body)` otherwise.
pub fn storage(error: &RepositoryError) -> Result<Json<ErrorBody>, Json<ErrorBody>> {
    match error {
        RepositoryError::Unavailable(_) => {
            tracing::warn!(error = %chain(error), "database unavailable");
            Ok(ErrorBody::new(ErrorCode::Unavailable, "the database is unavailable; try again shortly"))
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
        .then(|| ErrorBody::new(ErrorCode::InvalidCursor, "the cursor is not one this server produced"))
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
    let text = error.to_string();
    // An operation's own failure (the `Err` of a `Result` handler) is already
    // an answer in our shape (JSON for the APIs, a page for the console): keep it.
    let response = error.into_response();
    let ours = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json") || value.starts_with("text/html"))
        || response.status() == StatusCode::SEE_OTHER;
    if ours {
        return response;
    }
    let error = text;
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => (ErrorCode::InvalidRequest, error.to_string()),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "missing or invalid admin token".to_owned()),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "method not allowed on this route".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::PayloadTooLarge, format!("request bodies are limited to {} bytes", super::MAX_BODY_BYTES))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, error.to_string()),
        status if status.is_server_error() => {
            tracing::error!(error = %error, status = status.as_u16(), "request failed");
            (ErrorCode::Internal, "internal error; the server log has the details".to_owned())
        }
        _ => (ErrorCode::InvalidRequest, error.to_string()),
    };
    let mut response = ErrorBody::new(code, message).into_response();
    response.set_status(status);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert("WWW-Authenticate", poem::http::HeaderValue::from_static("Bearer"));
    }
    response
}

/// Declares a failure type of admin operations: the statuses it answers, each
/// `Json<ErrorBody>`, and storage failures as 503 (retry) or 500 (logged).
/// Handlers return `Result<Json<T>, $name>` and use `?`.
macro_rules! admin_failure {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[doc = $vdoc:literal])* $variant:ident = $status:literal,)* }) => {
        $(#[doc = $doc])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $name {
            $($(#[doc = $vdoc])* #[oai(status = $status)] $variant(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),)*
            /// Missing or wrong admin token.
            #[oai(status = 401)]
            Unauthorized(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),
            /// The database is unavailable; retry shortly.
            #[oai(status = 503)]
            Unavailable(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),
        }

        impl From<tessera_domain::repository::RepositoryError> for $name {
            fn from(error: tessera_domain::repository::RepositoryError) -> Self {
                match $crate::http::errors::storage(&error) {
                    Ok(body) => Self::Unavailable(body),
                    Err(body) => Self::Internal(body),
                }
            }
        }
    };
}

admin_failure! {
    /// Why an admin read (a list, the stats) failed.
    ReadFailure {
        /// A parameter is malformed (`INVALID_REQUEST`, `INVALID_CURSOR`, …).
        BadRequest = 400,
    }
}

admin_failure! {
    /// Why reading one resource failed.
    ShowFailure {
        BadRequest = 400,
        NotFound = 404,
    }
}

admin_failure! {
    /// Why a create failed.
    CreateFailure {
        BadRequest = 400,
        /// It exists already, or the request collides with another.
        Conflict = 409,
    }
}

admin_failure! {
    /// Why a change of one resource failed.
    ChangeFailure {
        BadRequest = 400,
        NotFound = 404,
        /// Not allowed in the resource's current state.
        Conflict = 409,
    }
}

/// A `202 Accepted` answer: queued, done shortly.
#[derive(poem_openapi::ApiResponse)]
pub enum Accepted<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Queued; the outbox sends it shortly.
    #[oai(status = 202)]
    Accepted(Json<T>),
}

/// A `201 Created` answer.
#[derive(poem_openapi::ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 201)]
    Created(Json<T>),
}

pub(crate) use admin_failure;
