//! The public activation endpoints (contract §4): activate, validate,
//! heartbeat, deactivate. Responses of the first three are signed by
//! [`super::sign_responses`].

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use tessera_domain::activation::{
    Activate, ActivateError, DeactivateError, HeartbeatError, Leased, Refusal, ValidationCode,
};
use tessera_domain::license::{AppVersion, Fingerprint, MachineName, MachineView, Nonce, Platform};
use time::OffsetDateTime;

use crate::http::admin::licenses::LicenseStatusDto;
use crate::http::errors::{internal, storage_failure, ErrorBody, ErrorCode};
use crate::state::AppState;

#[derive(Tags)]
enum ActivationTags {
    /// Machines activating, checking and releasing licenses.
    Activation,
}

#[derive(Debug, Object)]
pub struct ActivateRequest {
    pub license_key: String,
    /// The machine's identity as the app computes it: 1-256 visible ASCII characters.
    pub fingerprint: String,
    /// E.g. `macos-arm64`.
    #[oai(nullable)]
    pub platform: Option<String>,
    /// What the buyer calls this machine, e.g. its host name (at most 100
    /// printable characters); shown in the portal.
    #[oai(nullable)]
    pub machine_name: Option<String>,
    /// `MAJOR[.MINOR…]`; checked against the tier's allowed major versions.
    #[oai(nullable)]
    pub app_version: Option<String>,
    /// When given, must match the license.
    #[oai(nullable)]
    pub name: Option<String>,
    /// When given, must match the license.
    #[oai(nullable)]
    pub email: Option<String>,
    /// Echoed in the signed response, so the app can tell a fresh answer from a replayed one.
    #[oai(nullable)]
    pub nonce: Option<String>,
}

#[derive(Debug, Object)]
pub struct ValidateRequest {
    pub license_key: String,
    /// When given, the machine must hold a seat (`NO_MACHINE` otherwise).
    #[oai(nullable)]
    pub fingerprint: Option<String>,
    #[oai(nullable)]
    pub app_version: Option<String>,
    #[oai(nullable)]
    pub nonce: Option<String>,
}

#[derive(Debug, Object)]
pub struct HeartbeatRequest {
    /// The machine's current lease; an expired one is accepted if its signature verifies.
    pub lease: String,
    pub fingerprint: String,
    #[oai(nullable)]
    pub app_version: Option<String>,
    #[oai(nullable)]
    pub nonce: Option<String>,
}

#[derive(Debug, Object)]
pub struct DeactivateRequest {
    pub lease: String,
    pub fingerprint: String,
}

/// A license as a machine sees it.
#[derive(Debug, Object)]
pub struct MachineLicenseBody {
    pub key: String,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
    pub seats: u32,
    pub seats_used: u32,
    #[oai(nullable)]
    pub expires_at: Option<OffsetDateTime>,
    pub status: LicenseStatusDto,
}

impl MachineLicenseBody {
    fn of(view: MachineView, now: OffsetDateTime) -> Self {
        let license = view.license;
        Self {
            status: license.status_at(now).into(),
            key: license.key.to_string(),
            product: license.product,
            tier: license.tier,
            features: license.features,
            seats: license.seats,
            seats_used: view.seats_used,
            expires_at: license.expires_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct LeaseBody {
    /// The signed lease token (`typ` `tessera-lease+jwt`).
    pub lease: String,
    pub lease_expires_at: OffsetDateTime,
    pub activation_id: String,
    pub license: MachineLicenseBody,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub nonce: Option<String>,
    /// The operator's message to every app (`server.notice`), when set.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub notice: Option<String>,
}

impl LeaseBody {
    fn of(leased: Leased, nonce: Option<String>, state: &AppState) -> Self {
        let now = state.now();
        let view = MachineView { license: leased.license, seats_used: leased.seats_used, activation: None };
        Self {
            lease: leased.lease,
            lease_expires_at: leased.lease_expires_at,
            activation_id: leased.activation.id.to_string(),
            license: MachineLicenseBody::of(view, now),
            nonce,
            notice: state.notice.clone(),
        }
    }
}

/// The verdict of a validation: `VALID`, or why the license may not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationVerdict {
    Valid,
    NotFound,
    Revoked,
    Suspended,
    Expired,
    IdentityMismatch,
    VersionMismatch,
    NoMachine,
}

impl From<ValidationCode> for ValidationVerdict {
    fn from(code: ValidationCode) -> Self {
        match code {
            ValidationCode::Valid => Self::Valid,
            ValidationCode::Refused(Refusal::NotFound) => Self::NotFound,
            ValidationCode::Refused(Refusal::Revoked) => Self::Revoked,
            ValidationCode::Refused(Refusal::Suspended) => Self::Suspended,
            ValidationCode::Refused(Refusal::Expired) => Self::Expired,
            ValidationCode::Refused(Refusal::IdentityMismatch) => Self::IdentityMismatch,
            ValidationCode::Refused(Refusal::VersionMismatch) => Self::VersionMismatch,
            ValidationCode::Refused(Refusal::NoMachine) => Self::NoMachine,
        }
    }
}

#[derive(Debug, Object)]
pub struct ValidationBody {
    pub valid: bool,
    pub code: ValidationVerdict,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub nonce: Option<String>,
    pub checked_at: OffsetDateTime,
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub license: Option<MachineLicenseBody>,
    /// The operator's message to every app (`server.notice`), when set.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub notice: Option<String>,
}

#[derive(Debug, Object)]
pub struct DeactivatedBody {
    /// `deactivated`
    pub status: String,
}

/// A field the domain refused at the edge: the 400 body naming it.
pub struct BadInput(Json<ErrorBody>);

/// Defines a public activation operation's answer: 200 with `$ok`, its own
/// error statuses (a `BadRequest` among them, for what the JSON reader or a
/// field's rule refused), 500 and 503; with the conversions `?` needs.
macro_rules! activation_response {
    ($(#[doc = $doc:literal])* $name:ident: $handler:literal {
        $(#[doc = $okdoc:literal])* Ok($ok:ty),
        $($(#[doc = $vdoc:literal])* $variant:ident = $status:literal,)*
    }) => {
        $(#[doc = $doc])*
        #[derive(ApiResponse)]
        #[oai(bad_request_handler = $handler)]
        pub enum $name {
            $(#[doc = $okdoc])*
            #[oai(status = 200)]
            Ok(Json<$ok>),
            $($(#[doc = $vdoc])* #[oai(status = $status)] $variant(Json<ErrorBody>),)*
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
            #[oai(status = 503)]
            Unavailable(Json<ErrorBody>),
        }

        impl From<BadInput> for $name {
            fn from(BadInput(body): BadInput) -> Self {
                Self::BadRequest(body)
            }
        }

        impl From<tessera_domain::repository::RepositoryError> for $name {
            fn from(error: tessera_domain::repository::RepositoryError) -> Self {
                storage_failure!($name, &error)
            }
        }
    };
}

activation_response! {
    ActivateResponse: "activate_bad_request" {
        /// Activated (or the machine already held a seat): a fresh lease.
        Ok(LeaseBody),
        /// `INVALID_REQUEST`, `INVALID_FINGERPRINT`, `INVALID_APP_VERSION`, `INVALID_NONCE`, `INVALID_PLATFORM`.
        BadRequest = 400,
        /// `NOT_FOUND`, `REVOKED`, `SUSPENDED`, `EXPIRED`, `IDENTITY_MISMATCH`, `VERSION_MISMATCH`.
        Forbidden = 403,
        /// `TOO_MANY_MACHINES`: every seat is taken.
        Conflict = 409,
        /// `ACTIVATION_CHURN`: too many machine changes in 24 hours.
        TooManyRequests = 429,
    }
}

activation_response! {
    ValidateResponse: "validate_bad_request" {
        /// Always 200 for a well-formed request; `valid` and `code` say the verdict.
        Ok(ValidationBody),
        BadRequest = 400,
    }
}

activation_response! {
    HeartbeatResponse: "heartbeat_bad_request" {
        /// A fresh lease.
        Ok(LeaseBody),
        /// `INVALID_LEASE` (not a lease Tessera signed), `INVALID_FINGERPRINT`, …
        BadRequest = 400,
        /// `FINGERPRINT_MISMATCH`, `NO_MACHINE`, `REVOKED`, `SUSPENDED`, `EXPIRED`, `VERSION_MISMATCH`.
        Forbidden = 403,
    }
}

activation_response! {
    DeactivateResponse: "deactivate_bad_request" {
        /// The seat is free (also when it already was).
        Ok(DeactivatedBody),
        BadRequest = 400,
        /// `FINGERPRINT_MISMATCH`: the lease belongs to another machine.
        Forbidden = 403,
    }
}

/// An operation's answer either way: the `Err` side is the same response
/// type, so a handler's body uses `?` and the operation returns whichever.
type Answer<R> = Result<R, R>;

/// A body the JSON reader refused (not JSON, a missing field, a wrong type);
/// the fields' own rules are the domain's, checked below with their codes.
fn invalid(error: poem::Error) -> Json<ErrorBody> {
    ErrorBody::new(ErrorCode::InvalidRequest, error.to_string())
}
fn activate_bad_request(error: poem::Error) -> ActivateResponse {
    ActivateResponse::BadRequest(invalid(error))
}
fn validate_bad_request(error: poem::Error) -> ValidateResponse {
    ValidateResponse::BadRequest(invalid(error))
}
fn heartbeat_bad_request(error: poem::Error) -> HeartbeatResponse {
    HeartbeatResponse::BadRequest(invalid(error))
}
fn deactivate_bad_request(error: poem::Error) -> DeactivateResponse {
    DeactivateResponse::BadRequest(invalid(error))
}

impl ActivateResponse {
    /// What the activation metric counts this answer as.
    fn outcome(&self) -> &str {
        match self {
            Self::Ok(_) => "ACTIVATED",
            Self::BadRequest(error)
            | Self::Forbidden(error)
            | Self::Conflict(error)
            | Self::TooManyRequests(error)
            | Self::Internal(error)
            | Self::Unavailable(error) => error.code.as_str(),
        }
    }
}

impl From<ActivateError> for ActivateResponse {
    fn from(error: ActivateError) -> Self {
        match error {
            ActivateError::Refused(refusal) => Self::Forbidden(refused(refusal)),
            error @ ActivateError::TooManyMachines { .. } => {
                Self::Conflict(ErrorBody::new(ErrorCode::TooManyMachines, error.to_string()))
            }
            error @ ActivateError::Churn { .. } => {
                Self::TooManyRequests(ErrorBody::new(ErrorCode::ActivationChurn, error.to_string()))
            }
            ActivateError::Repository(error) => error.into(),
            ActivateError::Sign(error) => Self::Internal(internal(&error)),
        }
    }
}

impl From<HeartbeatError> for HeartbeatResponse {
    fn from(error: HeartbeatError) -> Self {
        match error {
            HeartbeatError::InvalidLease(error) => {
                Self::BadRequest(ErrorBody::new(ErrorCode::InvalidLease, error.to_string()))
            }
            error @ HeartbeatError::FingerprintMismatch => {
                Self::Forbidden(ErrorBody::new(ErrorCode::FingerprintMismatch, error.to_string()))
            }
            HeartbeatError::Refused(refusal) => Self::Forbidden(refused(refusal)),
            HeartbeatError::Repository(error) => error.into(),
            HeartbeatError::Sign(error) => Self::Internal(internal(&error)),
        }
    }
}

impl From<DeactivateError> for DeactivateResponse {
    fn from(error: DeactivateError) -> Self {
        match error {
            DeactivateError::InvalidLease(error) => {
                Self::BadRequest(ErrorBody::new(ErrorCode::InvalidLease, error.to_string()))
            }
            error @ DeactivateError::FingerprintMismatch => {
                Self::Forbidden(ErrorBody::new(ErrorCode::FingerprintMismatch, error.to_string()))
            }
            DeactivateError::Repository(error) => error.into(),
        }
    }
}

fn refused(refusal: Refusal) -> Json<ErrorBody> {
    ErrorBody::new(crate::http::errors::refusal_code(refusal), refusal.to_string())
}

/// Input parsed at the edge; the error is the 400 body naming the field.
type Parsed<T> = Result<T, BadInput>;

fn bad_input(code: ErrorCode, error: impl std::fmt::Display) -> BadInput {
    BadInput(ErrorBody::new(code, error.to_string()))
}

fn fingerprint(text: &str) -> Parsed<Fingerprint> {
    Fingerprint::parse(text).map_err(|error| bad_input(ErrorCode::InvalidFingerprint, error))
}

fn app_version(text: Option<&str>) -> Parsed<Option<AppVersion>> {
    text.map(AppVersion::parse).transpose().map_err(|error| bad_input(ErrorCode::InvalidAppVersion, error))
}

fn nonce(text: Option<&str>) -> Parsed<Option<String>> {
    text.map(Nonce::parse)
        .transpose()
        .map(|nonce| nonce.map(Nonce::into_string))
        .map_err(|error| bad_input(ErrorCode::InvalidNonce, error))
}

fn platform(text: Option<&str>) -> Parsed<Option<Platform>> {
    Ok(text.map(Platform::parse).transpose().map_err(|error| bad_input(ErrorCode::InvalidPlatform, error))?.flatten())
}

fn machine_name(text: Option<&str>) -> Parsed<Option<MachineName>> {
    Ok(text
        .map(MachineName::parse)
        .transpose()
        .map_err(|error| bad_input(ErrorCode::InvalidMachineName, error))?
        .flatten())
}

#[derive(Default)]
pub struct ActivationApi;

#[OpenApi(prefix_path = "/v1", tag = "ActivationTags::Activation")]
impl ActivationApi {
    /// Activate this machine: takes a seat (or reuses this machine's seat) and
    /// returns a signed lease. The response carries `Tessera-Signature`.
    #[oai(path = "/activate", method = "post", operation_id = "activate")]
    async fn activate(&self, state: Data<&Arc<AppState>>, body: Json<ActivateRequest>) -> ActivateResponse {
        let response = activate_machine(&state, body.0).await.unwrap_or_else(|failure| failure);
        state.metrics.count_activation(response.outcome());
        response
    }

    /// May this license (on this machine) run now? Read-only and always 200 for
    /// a well-formed request. The response carries `Tessera-Signature`.
    #[oai(path = "/validate", method = "post", operation_id = "validate")]
    async fn validate(&self, state: Data<&Arc<AppState>>, body: Json<ValidateRequest>) -> ValidateResponse {
        validate_license(&state, body.0).await.unwrap_or_else(|failure| failure)
    }

    /// Renew this machine's lease. The response carries `Tessera-Signature`.
    #[oai(path = "/heartbeat", method = "post", operation_id = "heartbeat")]
    async fn heartbeat(&self, state: Data<&Arc<AppState>>, body: Json<HeartbeatRequest>) -> HeartbeatResponse {
        renew_lease(&state, body.0).await.unwrap_or_else(|failure| failure)
    }

    /// Release this machine's seat.
    #[oai(path = "/deactivate", method = "post", operation_id = "deactivate")]
    async fn deactivate(&self, state: Data<&Arc<AppState>>, body: Json<DeactivateRequest>) -> DeactivateResponse {
        release_seat(&state, body.0).await.unwrap_or_else(|failure| failure)
    }
}

/// The activation itself; [`ActivationApi::activate`] counts its outcome.
async fn activate_machine(state: &AppState, body: ActivateRequest) -> Answer<ActivateResponse> {
    // Checked in this order: the first refused field names the 400.
    let fingerprint = fingerprint(&body.fingerprint)?;
    let app_version = app_version(body.app_version.as_deref())?;
    let nonce = nonce(body.nonce.as_deref())?;
    let request = Activate {
        key: body.license_key,
        fingerprint,
        platform: platform(body.platform.as_deref())?,
        machine_name: machine_name(body.machine_name.as_deref())?,
        app_version,
        name: body.name,
        email: body.email,
    };
    let leased = state.activation.activate(request).await?;
    Ok(ActivateResponse::Ok(Json(LeaseBody::of(leased, nonce, state))))
}

async fn validate_license(state: &AppState, body: ValidateRequest) -> Answer<ValidateResponse> {
    let fingerprint = body.fingerprint.as_deref().map(fingerprint).transpose()?;
    let app_version = app_version(body.app_version.as_deref())?;
    let nonce = nonce(body.nonce.as_deref())?;
    let validation = state.activation.validate(&body.license_key, fingerprint.as_ref(), app_version.as_ref()).await?;
    Ok(ValidateResponse::Ok(Json(ValidationBody {
        valid: validation.code == ValidationCode::Valid,
        code: validation.code.into(),
        nonce,
        checked_at: validation.checked_at,
        license: validation.machine.map(|view| MachineLicenseBody::of(view, validation.checked_at)),
        notice: state.notice.clone(),
    })))
}

async fn renew_lease(state: &AppState, body: HeartbeatRequest) -> Answer<HeartbeatResponse> {
    let fingerprint = fingerprint(&body.fingerprint)?;
    let app_version = app_version(body.app_version.as_deref())?;
    let nonce = nonce(body.nonce.as_deref())?;
    let leased = state.activation.heartbeat(&body.lease, &fingerprint, app_version.as_ref()).await?;
    Ok(HeartbeatResponse::Ok(Json(LeaseBody::of(leased, nonce, state))))
}

async fn release_seat(state: &AppState, body: DeactivateRequest) -> Answer<DeactivateResponse> {
    let fingerprint = fingerprint(&body.fingerprint)?;
    state.activation.deactivate(&body.lease, &fingerprint).await?;
    Ok(DeactivateResponse::Ok(Json(DeactivatedBody { status: "deactivated".into() })))
}
