//! `/admin/v1/licenses`: mint, list, show and the lifecycle of licenses.

// Response enums are built once per request and moved straight into the
// response; boxing their large variants would only add an allocation.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::issuance::{
    ChangeStateError, GetLicenseError, ListLicensesError, MintError, MintLicense, RenewError, RenewLicense,
};
use tessera_domain::license::{
    CustomerName, EmailAddress, IdempotencyKey, License, LicenseFilter, LicenseKey, LicenseKind, LicenseStatus,
};
use tessera_domain::licensing::{Issued, LicenseEmail};
use tessera_domain::mail::QueueError;
use tessera_domain::page::PageRequest;
use time::OffsetDateTime;

use super::auth::AdminAuth;
use super::deliveries::DeliveryBody;
use super::machines::ActivationBody;
use super::page::Page;
use crate::http::errors::{
    admin_failure, internal, Accepted, ChangeFailure, ErrorBody, ErrorCode, ReadFailure, ShowFailure,
};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Minting and managing licenses.
    Licenses,
}

/// What the buyer has: `perpetual` (never expires), `subscription` (renews
/// with a storefront subscription), `fixed_term` (a paid term that does not
/// renew by itself), `trial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LicenseKindDto {
    Perpetual,
    Subscription,
    FixedTerm,
    Trial,
}

impl From<LicenseKindDto> for LicenseKind {
    fn from(kind: LicenseKindDto) -> Self {
        match kind {
            LicenseKindDto::Perpetual => Self::Perpetual,
            LicenseKindDto::Subscription => Self::Subscription,
            LicenseKindDto::FixedTerm => Self::FixedTerm,
            LicenseKindDto::Trial => Self::Trial,
        }
    }
}

impl From<LicenseKind> for LicenseKindDto {
    fn from(kind: LicenseKind) -> Self {
        match kind {
            LicenseKind::Perpetual => Self::Perpetual,
            LicenseKind::Subscription => Self::Subscription,
            LicenseKind::FixedTerm => Self::FixedTerm,
            LicenseKind::Trial => Self::Trial,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LicenseStatusDto {
    Active,
    Suspended,
    Revoked,
    Expired,
}

impl From<LicenseStatus> for LicenseStatusDto {
    fn from(status: LicenseStatus) -> Self {
        match status {
            LicenseStatus::Active => Self::Active,
            LicenseStatus::Suspended => Self::Suspended,
            LicenseStatus::Revoked => Self::Revoked,
            LicenseStatus::Expired => Self::Expired,
        }
    }
}

impl From<LicenseStatusDto> for LicenseStatus {
    fn from(status: LicenseStatusDto) -> Self {
        match status {
            LicenseStatusDto::Active => Self::Active,
            LicenseStatusDto::Suspended => Self::Suspended,
            LicenseStatusDto::Revoked => Self::Revoked,
            LicenseStatusDto::Expired => Self::Expired,
        }
    }
}

/// A license as the admin API shows it.
#[derive(Debug, Clone, Object)]
pub struct LicenseBody {
    pub id: String,
    pub key: String,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
    pub seats: u32,
    pub kind: LicenseKindDto,
    /// The stored state, or `expired` for an active license past its expiry.
    pub status: LicenseStatusDto,
    pub name: String,
    pub email: String,
    pub issued_at: OffsetDateTime,
    /// `null` when perpetual.
    #[oai(nullable)]
    pub expires_at: Option<OffsetDateTime>,
    pub source: String,
    #[oai(nullable)]
    pub source_ref: Option<String>,
    #[oai(nullable)]
    pub notes: Option<String>,
    #[oai(nullable)]
    pub revoke_reason: Option<String>,
    /// App major versions this license may activate; `null`: the tier's rule.
    #[oai(nullable)]
    pub app_versions: Option<Vec<u32>>,
    /// The storefront subscription whose charges extend this license.
    #[oai(nullable)]
    pub subscription: Option<SubscriptionBody>,
    pub updated_at: OffsetDateTime,
    /// The signed license token as last issued.
    pub token: String,
    /// Machines holding a seat; shown by `GET /admin/v1/licenses/{key}` only.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub activations: Option<Vec<ActivationBody>>,
}

impl LicenseBody {
    pub fn of(license: License, now: OffsetDateTime) -> Self {
        Self {
            id: license.id.to_string(),
            status: license.status_at(now).into(),
            key: license.key.to_string(),
            product: license.product,
            tier: license.tier,
            features: license.features,
            seats: license.seats,
            kind: license.kind.into(),
            name: license.name.as_str().to_owned(),
            email: license.email.as_str().to_owned(),
            issued_at: license.issued_at,
            expires_at: license.expires_at,
            source: license.source,
            source_ref: license.source_ref,
            notes: license.notes,
            revoke_reason: license.revoke_reason,
            app_versions: license.app_versions,
            subscription: license
                .subscription
                .map(|subscription| SubscriptionBody { id: subscription.id, renewing: subscription.renewing }),
            updated_at: license.updated_at,
            token: license.token,
            activations: None,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SubscriptionBody {
    /// The storefront's subscription id.
    pub id: String,
    /// `false` once cancelled or ended: charges no longer extend the license.
    pub renewing: bool,
}

/// What to mint. Omitted fields come from the product's tier.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct MintLicenseRequest {
    /// Product slug from the configuration.
    pub product: String,
    /// Tier slug of that product.
    pub tier: String,
    /// The licensee's name, signed into the token.
    pub name: String,
    pub email: String,
    /// Overrides the tier's seats (1-100000).
    #[oai(nullable)]
    pub seats: Option<i64>,
    /// Defaults to `perpetual` without an expiry, else `subscription`.
    #[oai(nullable)]
    pub kind: Option<LicenseKindDto>,
    /// Term from now; or give `expires_at`.
    #[oai(nullable)]
    pub duration_days: Option<i64>,
    #[oai(nullable)]
    pub expires_at: Option<OffsetDateTime>,
    /// A custom key (`[A-Z0-9-]`, 8-64 characters); generated when omitted.
    #[oai(nullable)]
    pub key: Option<String>,
    #[oai(nullable)]
    pub notes: Option<String>,
    /// Where the license comes from (`admin` when omitted).
    #[oai(nullable)]
    pub source: Option<String>,
    /// App major versions this license may activate, e.g. `[2, 3]`; omitted: the tier's rule.
    #[oai(nullable)]
    pub app_versions: Option<Vec<u32>>,
    /// The source's own reference, e.g. an order number.
    #[oai(nullable)]
    pub source_ref: Option<String>,
    /// Email the license to the buyer (through the outbox). Once per license,
    /// also when the request is repeated with the same `Idempotency-Key`.
    #[oai(nullable)]
    pub send_email: Option<bool>,
}

#[derive(Debug, Clone, Object)]
pub struct MintedLicenseBody {
    pub license: LicenseBody,
    /// The signed license token to deliver to the buyer.
    pub token: String,
    /// The queued email, with `send_email`.
    #[oai(nullable)]
    pub delivery: Option<DeliveryBody>,
    /// Why the email could not be queued (the license is minted regardless;
    /// repeat the request with the same `Idempotency-Key`, or redeliver).
    #[oai(nullable)]
    pub delivery_error: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (1-500 characters); kept on the license and in the audit trail.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Object)]
#[oai(deny_unknown_fields)]
pub struct RenewRequest {
    /// Days added to the later of now and the current expiry.
    #[oai(nullable)]
    pub duration_days: Option<i64>,
    /// Or the exact new expiry. With neither, the tier's duration applies.
    #[oai(nullable)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A mint's answer: the license (the first one, with a repeated `Idempotency-Key`).
#[derive(ApiResponse)]
pub enum MintAnswer {
    /// Minted (or, with a repeated `Idempotency-Key`, the license the first request minted).
    #[oai(status = 201)]
    Created(Json<MintedLicenseBody>, #[oai(header = "Idempotent-Replayed")] Option<String>),
}

admin_failure! {
    /// Why a mint failed.
    MintFailure {
        BadRequest = 400,
        /// The custom key is taken.
        Conflict = 409,
        /// The `Idempotency-Key` was used for a different request.
        Unprocessable = 422,
    }
}

impl From<MintError> for MintFailure {
    fn from(error: MintError) -> Self {
        let text = error.to_string();
        let bad = |code: ErrorCode, text: String| Self::BadRequest(ErrorBody::new(code, text));
        match error {
            MintError::UnknownProduct(_) => bad(ErrorCode::UnknownProduct, text),
            MintError::UnknownTier { .. } => bad(ErrorCode::UnknownTier, text),
            MintError::InvalidSeats => bad(ErrorCode::InvalidSeats, text),
            MintError::InvalidTerm(_) => bad(ErrorCode::InvalidTerm, text),
            MintError::InvalidField(_) => bad(ErrorCode::InvalidRequest, text),
            MintError::KeyTaken(_) => Self::Conflict(ErrorBody::new(ErrorCode::KeyTaken, text)),
            MintError::IdempotencyKeyReused => {
                Self::Unprocessable(ErrorBody::new(ErrorCode::IdempotencyKeyReused, text))
            }
            error @ MintError::Signing(_) => Self::Internal(internal(&error)),
            MintError::Repository(repository) => repository.into(),
        }
    }
}

impl From<ListLicensesError> for ReadFailure {
    fn from(error: ListLicensesError) -> Self {
        match error {
            ListLicensesError::InvalidCursor => {
                Self::BadRequest(ErrorBody::new(ErrorCode::InvalidCursor, ListLicensesError::InvalidCursor.to_string()))
            }
            ListLicensesError::Repository(error) => error.into(),
        }
    }
}

impl From<GetLicenseError> for ShowFailure {
    fn from(error: GetLicenseError) -> Self {
        match error {
            error @ GetLicenseError::NotFound(_) => {
                Self::NotFound(ErrorBody::new(ErrorCode::NotFound, error.to_string()))
            }
            GetLicenseError::Repository(repository) => repository.into(),
        }
    }
}

impl From<ChangeStateError> for ChangeFailure {
    fn from(error: ChangeStateError) -> Self {
        let text = error.to_string();
        match error {
            ChangeStateError::NotFound(_) => Self::NotFound(ErrorBody::new(ErrorCode::NotFound, text)),
            ChangeStateError::InvalidTransition { .. } => {
                Self::Conflict(ErrorBody::new(ErrorCode::InvalidTransition, text))
            }
            ChangeStateError::InvalidReason => Self::BadRequest(ErrorBody::new(ErrorCode::InvalidReason, text)),
            ChangeStateError::Contended => Self::Conflict(ErrorBody::new(ErrorCode::Contended, text)),
            error @ ChangeStateError::Signing(_) => Self::Internal(internal(&error)),
            ChangeStateError::Repository(repository) => repository.into(),
        }
    }
}

impl From<RenewError> for ChangeFailure {
    fn from(error: RenewError) -> Self {
        let text = error.to_string();
        match error {
            RenewError::NotFound(_) => Self::NotFound(ErrorBody::new(ErrorCode::NotFound, text)),
            RenewError::Revoked | RenewError::NotRenewing | RenewError::AlreadyApplied => {
                Self::Conflict(ErrorBody::new(ErrorCode::InvalidTransition, text))
            }
            RenewError::InvalidTerm(_) => Self::BadRequest(ErrorBody::new(ErrorCode::InvalidTerm, text)),
            RenewError::Contended => Self::Conflict(ErrorBody::new(ErrorCode::Contended, text)),
            error @ RenewError::Signing(_) => Self::Internal(internal(&error)),
            RenewError::Repository(repository) => repository.into(),
        }
    }
}

impl From<QueueError> for ChangeFailure {
    fn from(error: QueueError) -> Self {
        let text = error.to_string();
        match error {
            QueueError::NotFound(_) => Self::NotFound(ErrorBody::new(ErrorCode::NotFound, text)),
            QueueError::Revoked(_) => Self::Conflict(ErrorBody::new(ErrorCode::Revoked, text)),
            QueueError::Repository(error) => error.into(),
        }
    }
}

fn parse_key(key: &str) -> Result<LicenseKey, Json<ErrorBody>> {
    LicenseKey::parse(key).map_err(|error| ErrorBody::new(ErrorCode::InvalidKey, error.to_string()))
}

/// A count given as a JSON integer, in range, or the response naming the field.
fn count(field: &str, value: Option<i64>, code: ErrorCode) -> Result<Option<u32>, Json<ErrorBody>> {
    value
        .map(|number| {
            u32::try_from(number)
                .ok()
                .filter(|number| *number > 0)
                .ok_or_else(|| ErrorBody::new(code, format!("{field} must be a positive whole number")))
        })
        .transpose()
}

impl MintLicenseRequest {
    /// Parses the request into the domain's command, or a 400 naming the field.
    pub(crate) fn parse(self, idempotency_key: Option<IdempotencyKey>) -> Result<MintLicense, Json<ErrorBody>> {
        Ok(MintLicense {
            name: CustomerName::parse(&self.name)
                .map_err(|error| ErrorBody::new(ErrorCode::InvalidName, error.to_string()))?,
            email: EmailAddress::parse(&self.email)
                .map_err(|error| ErrorBody::new(ErrorCode::InvalidEmail, error.to_string()))?,
            seats: count("seats", self.seats, ErrorCode::InvalidSeats)?,
            duration_days: count("duration_days", self.duration_days, ErrorCode::InvalidTerm)?,
            key: self
                .key
                .as_deref()
                .map(LicenseKey::parse)
                .transpose()
                .map_err(|error| ErrorBody::new(ErrorCode::InvalidKey, error.to_string()))?,
            kind: self.kind.map(Into::into),
            expires_at: self.expires_at,
            product: self.product,
            tier: self.tier,
            notes: self.notes,
            source: self.source,
            source_ref: self.source_ref,
            app_versions: self.app_versions,
            subscription_id: None,
            idempotency_key,
        })
    }
}

#[derive(Default)]
pub struct LicensesApi;

#[OpenApi(prefix_path = "/admin/v1/licenses", tag = "AdminTags::Licenses")]
impl LicensesApi {
    /// Mint a license and its signed token. With an `Idempotency-Key` header a
    /// retried request returns the first result instead of a second license.
    #[oai(path = "/", method = "post", operation_id = "mintLicense")]
    async fn mint(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<MintLicenseRequest>,
    ) -> Result<MintAnswer, MintFailure> {
        let idempotency_key = idempotency_key.0.as_deref().map(IdempotencyKey::parse).transpose().map_err(|error| {
            MintFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidIdempotencyKey, error.to_string()))
        })?;
        let send_email = body.0.send_email.unwrap_or(false);
        let request = body.0.parse(idempotency_key).map_err(MintFailure::BadRequest)?;
        let email = if send_email { LicenseEmail::Send } else { LicenseEmail::Skip };
        let Issued { minted, email } = state.licensing.issue(request, email, Actor::Admin).await?;
        let (delivery, delivery_error) = match email {
            Some(Ok(delivery)) => (Some(DeliveryBody::from(delivery)), None),
            Some(Err(error)) => {
                tracing::error!(key = %minted.license.key, error = %crate::http::errors::chain(&error), "could not queue the license email");
                (None, Some(format!("the email could not be queued: {error}")))
            }
            None => (None, None),
        };
        let token = minted.license.token.clone();
        let license = LicenseBody::of(minted.license, state.now());
        Ok(MintAnswer::Created(
            Json(MintedLicenseBody { license, token, delivery, delivery_error }),
            minted.replayed.then(|| "true".into()),
        ))
    }

    /// List licenses, newest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/", method = "get", operation_id = "listLicenses")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        /// Exact email (case-insensitive).
        email: Query<Option<String>>,
        product: Query<Option<String>>,
        status: Query<Option<LicenseStatusDto>>,
        source: Query<Option<String>>,
        /// Substring of key, name or email.
        q: Query<Option<String>>,
        /// Page size, 1-500 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<LicenseBody>>, ReadFailure> {
        let email = email
            .0
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|error| ReadFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidEmail, error.to_string())))?;
        let now = state.now();
        let filter = LicenseFilter {
            email,
            product: product.0,
            status: status.0.map(Into::into),
            source: source.0,
            query: q.0.filter(|text| !text.is_empty()),
            expires_before: None,
            now,
        };
        let page = state.issuance.list(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page {
            items: page.items.into_iter().map(|license| LicenseBody::of(license, now)).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// One license.
    #[oai(path = "/:key", method = "get", operation_id = "getLicense")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
    ) -> Result<Json<LicenseBody>, ShowFailure> {
        let key = parse_key(&key.0).map_err(ShowFailure::BadRequest)?;
        let license = state.issuance.get(&key).await?;
        let machines = state.activation.machines(&license).await?;
        let mut body = LicenseBody::of(license, state.now());
        body.activations = Some(machines.into_iter().map(ActivationBody::from).collect());
        Ok(Json(body))
    }

    /// Revoke a license for good.
    #[oai(path = "/:key/revoke", method = "post", operation_id = "revokeLicense")]
    async fn revoke(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
        body: Json<RevokeRequest>,
    ) -> Result<Json<LicenseBody>, ChangeFailure> {
        let key = parse_key(&key.0).map_err(ChangeFailure::BadRequest)?;
        let license = state.issuance.revoke(&key, &body.0.reason, Actor::Admin).await?;
        Ok(Json(LicenseBody::of(license, state.now())))
    }

    /// Suspend an active license (reversible with reinstate).
    #[oai(path = "/:key/suspend", method = "post", operation_id = "suspendLicense")]
    async fn suspend(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
    ) -> Result<Json<LicenseBody>, ChangeFailure> {
        let key = parse_key(&key.0).map_err(ChangeFailure::BadRequest)?;
        let license = state.issuance.suspend(&key, Actor::Admin).await?;
        Ok(Json(LicenseBody::of(license, state.now())))
    }

    /// Reinstate a suspended license.
    #[oai(path = "/:key/reinstate", method = "post", operation_id = "reinstateLicense")]
    async fn reinstate(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
    ) -> Result<Json<LicenseBody>, ChangeFailure> {
        let key = parse_key(&key.0).map_err(ChangeFailure::BadRequest)?;
        let license = state.issuance.reinstate(&key, Actor::Admin).await?;
        Ok(Json(LicenseBody::of(license, state.now())))
    }

    /// Extend a license and re-sign its token.
    #[oai(path = "/:key/renew", method = "post", operation_id = "renewLicense")]
    async fn renew(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
        body: Json<RenewRequest>,
    ) -> Result<Json<LicenseBody>, ChangeFailure> {
        let key = parse_key(&key.0).map_err(ChangeFailure::BadRequest)?;
        let duration_days =
            count("duration_days", body.0.duration_days, ErrorCode::InvalidTerm).map_err(ChangeFailure::BadRequest)?;
        let request = RenewLicense { duration_days, expires_at: body.0.expires_at };
        let license = state.issuance.renew(&key, request, Actor::Admin).await?;
        Ok(Json(LicenseBody::of(license, state.now())))
    }

    /// Email the license again, to its current address, with its current token.
    #[oai(path = "/:key/redeliver", method = "post", operation_id = "redeliverLicense")]
    async fn redeliver(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        key: Path<String>,
    ) -> Result<Accepted<DeliveryBody>, ChangeFailure> {
        let key = parse_key(&key.0).map_err(ChangeFailure::BadRequest)?;
        let delivery = state.outbox.redeliver(&key, Actor::Admin).await?;
        Ok(Accepted::Accepted(Json(delivery.into())))
    }
}
