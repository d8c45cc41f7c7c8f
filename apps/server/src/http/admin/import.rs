//! `POST /admin/v1/licenses/import`: a batch of issuance-log records (the
//! JSONL sellers keep today), each inserted, skipped or failed on its own.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::issuance::{ImportLicense, ImportOutcome, MAX_IMPORT_BATCH};
use tessera_domain::license::{CustomerName, EmailAddress, LicenseKey};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::AdminAuth;
use crate::http::errors::{ErrorBody, ErrorCode, ReadFailure};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Bringing licenses over from another system.
    Import,
}

/// One issuance-log record as read from the file; every field is checked here,
/// so a bad record fails alone instead of the whole batch.
#[derive(Debug, Clone, Object)]
pub struct ImportRecordBody {
    /// The record's line in the file, echoed in the result.
    #[oai(nullable)]
    pub line: Option<u64>,
    #[oai(nullable)]
    pub license_key: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub tier: Option<String>,
    /// RFC 3339.
    #[oai(nullable)]
    pub issued_at: Option<String>,
    /// RFC 3339; `null` or absent: perpetual.
    #[oai(nullable)]
    pub expires_at: Option<String>,
    /// The old system's signed license, kept in the license's notes.
    #[oai(nullable)]
    pub blob: Option<String>,
    /// Overrides the request's `product`.
    #[oai(nullable)]
    pub product: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ImportRequest {
    /// The product of records that name none.
    #[oai(nullable)]
    pub product: Option<String>,
    /// Check everything, write nothing.
    #[oai(default)]
    pub dry_run: bool,
    /// At most 1000.
    pub records: Vec<ImportRecordBody>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ImportStatus {
    Inserted,
    /// Dry run only.
    WouldInsert,
    /// A license with this key exists (e.g. a re-run).
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Object)]
pub struct ImportResultBody {
    #[oai(nullable)]
    pub line: Option<u64>,
    #[oai(nullable)]
    pub license_key: Option<String>,
    pub status: ImportStatus,
    /// Why it was skipped or failed.
    #[oai(nullable)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct ImportResponseBody {
    pub inserted: u64,
    pub would_insert: u64,
    pub skipped: u64,
    pub failed: u64,
    /// One per record, in order.
    pub results: Vec<ImportResultBody>,
}

fn time_field(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    value
        .filter(|text| !text.trim().is_empty())
        .map(|text| OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| format!("{name} is not an RFC 3339 time")))
        .transpose()
}

/// The record as the domain's command, or why not.
fn parse(record: ImportRecordBody, default_product: Option<&str>) -> Result<ImportLicense, String> {
    let required = |name: &str, value: Option<String>| {
        value.filter(|text| !text.trim().is_empty()).ok_or_else(|| format!("{name} is missing"))
    };
    let key = LicenseKey::parse(&required("license_key", record.license_key)?)
        .map_err(|_| "license_key must be 8-64 characters of A-Z, 0-9 and '-'".to_owned())?;
    let product = record
        .product
        .filter(|text| !text.trim().is_empty())
        .or_else(|| default_product.map(str::to_owned))
        .ok_or("product is missing (give --product)")?;
    Ok(ImportLicense {
        key,
        product,
        tier: required("tier", record.tier)?.trim().to_lowercase(),
        name: CustomerName::parse(&required("name", record.name)?).map_err(|error| error.to_string())?,
        email: EmailAddress::parse(&required("email", record.email)?).map_err(|error| error.to_string())?,
        issued_at: time_field("issued_at", record.issued_at.as_deref())?.ok_or("issued_at is missing")?,
        expires_at: time_field("expires_at", record.expires_at.as_deref())?,
        legacy_blob: record.blob,
    })
}

#[derive(Default)]
pub struct ImportApi;

#[OpenApi(tag = "AdminTags::Import")]
impl ImportApi {
    /// Import issuance-log records: keys and dates are kept, each license gets
    /// a Tessera token; a record whose key exists is skipped, so re-running an
    /// import is safe.
    #[oai(path = "/admin/v1/licenses/import", method = "post", operation_id = "importLicenses")]
    async fn import(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        body: Json<ImportRequest>,
    ) -> Result<Json<ImportResponseBody>, ReadFailure> {
        let request = body.0;
        if request.records.len() > MAX_IMPORT_BATCH {
            let message = format!("at most {MAX_IMPORT_BATCH} records per request");
            return Err(ReadFailure::BadRequest(ErrorBody::new(ErrorCode::TooManyRecords, message)));
        }
        let mut results: Vec<ImportResultBody> = Vec::with_capacity(request.records.len());
        let mut valid = Vec::new();
        for record in request.records {
            let (line, key) = (record.line, record.license_key.clone());
            let status = match parse(record, request.product.as_deref()) {
                Ok(parsed) => {
                    valid.push((results.len(), parsed));
                    ImportStatus::WouldInsert
                }
                Err(error) => {
                    results.push(ImportResultBody {
                        line,
                        license_key: key,
                        status: ImportStatus::Failed,
                        error: Some(error),
                    });
                    continue;
                }
            };
            results.push(ImportResultBody { line, license_key: key, status, error: None });
        }
        let (indexes, parsed): (Vec<usize>, Vec<ImportLicense>) = valid.into_iter().unzip();
        let outcomes = state.issuance.import(parsed, request.dry_run, Actor::Admin).await?;
        for (index, outcome) in indexes.into_iter().zip(outcomes) {
            let (status, error) = match outcome {
                ImportOutcome::Inserted => (ImportStatus::Inserted, None),
                ImportOutcome::WouldInsert => (ImportStatus::WouldInsert, None),
                ImportOutcome::Skipped(reason) => (ImportStatus::Skipped, Some(reason)),
                ImportOutcome::Failed(reason) => (ImportStatus::Failed, Some(reason)),
            };
            results[index].status = status;
            results[index].error = error;
        }
        let count = |status| results.iter().filter(|result| result.status == status).count() as u64;
        Ok(Json(ImportResponseBody {
            inserted: count(ImportStatus::Inserted),
            would_insert: count(ImportStatus::WouldInsert),
            skipped: count(ImportStatus::Skipped),
            failed: count(ImportStatus::Failed),
            results,
        }))
    }
}
