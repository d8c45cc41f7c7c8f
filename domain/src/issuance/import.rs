//! Importing the issuance log sellers keep today (one JSON object per line:
//! key, name, email, tier, issued and expiry dates). Keys and dates are kept,
//! each license gets a Tessera token, and a re-run inserts nothing twice.

use std::collections::HashSet;

use serde_json::json;
use time::OffsetDateTime;

use super::{IssuanceService, LicenseClaims};
use crate::audit::{Actor, AuditEvent};
use crate::license::{CreateLicenseError, CustomerName, EmailAddress, License, LicenseKey, LicenseKind, LicenseState};
use crate::random::new_id;
use crate::repository::RepositoryError;

/// The most records one import call takes.
pub const MAX_IMPORT_BATCH: usize = 1000;
pub use crate::license::IMPORT_SOURCE;
/// How the legacy system's own license blob is kept in `notes`.
pub const LEGACY_BLOB_PREFIX: &str = "legacy blob: ";

/// One issuance-log record, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLicense {
    pub key: LicenseKey,
    pub product: String,
    pub tier: String,
    pub name: CustomerName,
    pub email: EmailAddress,
    pub issued_at: OffsetDateTime,
    /// `None`: perpetual. May be in the past: history is imported as it was.
    pub expires_at: Option<OffsetDateTime>,
    /// The old system's signed license, kept so it can still be re-sent.
    pub legacy_blob: Option<String>,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Inserted,
    /// Dry run: would be inserted.
    WouldInsert,
    /// Already there (a re-run): nothing changed.
    Skipped(String),
    Failed(String),
}

impl IssuanceService {
    /// Imports `records` (at most [`MAX_IMPORT_BATCH`]); one outcome per
    /// record, in order. With `dry_run` nothing is written. Only a storage
    /// failure fails the whole call.
    pub async fn import(
        &self,
        records: Vec<ImportLicense>,
        dry_run: bool,
        actor: Actor,
    ) -> Result<Vec<ImportOutcome>, RepositoryError> {
        let keys: Vec<LicenseKey> = records.iter().map(|record| record.key.clone()).collect();
        let existing: HashSet<LicenseKey> = self.licenses.existing_keys(&keys).await?.into_iter().collect();
        let mut seen = HashSet::new();
        let mut outcomes = Vec::with_capacity(records.len());
        let mut new = Vec::new();
        for record in records {
            let outcome = if !seen.insert(record.key.clone()) {
                ImportOutcome::Failed(format!("key {} appears twice in this import", record.key))
            } else if existing.contains(&record.key) {
                ImportOutcome::Skipped(format!("a license with key {} exists", record.key))
            } else {
                match self.imported_license(record, &actor) {
                    Ok(built) => {
                        new.push((outcomes.len(), built));
                        ImportOutcome::WouldInsert
                    }
                    Err(reason) => ImportOutcome::Failed(reason),
                }
            };
            outcomes.push(outcome);
        }
        if dry_run || new.is_empty() {
            return Ok(outcomes);
        }
        let (licenses, audits): (Vec<License>, Vec<AuditEvent>) = new.iter().map(|(_, built)| built.clone()).unzip();
        match self.licenses.create_many(&licenses, &audits).await {
            Ok(()) => new.iter().for_each(|(index, _)| outcomes[*index] = ImportOutcome::Inserted),
            // A concurrent import took one of the keys: settle them one by one.
            Err(CreateLicenseError::KeyTaken(_)) => {
                for (index, (license, audit)) in &new {
                    outcomes[*index] = match self.licenses.create(license, None, audit).await {
                        Ok(()) => ImportOutcome::Inserted,
                        Err(CreateLicenseError::KeyTaken(key)) => {
                            ImportOutcome::Skipped(format!("a license with key {key} exists"))
                        }
                        Err(CreateLicenseError::Repository(error)) => return Err(error),
                        Err(error) => ImportOutcome::Failed(error.to_string()),
                    };
                }
            }
            Err(CreateLicenseError::Repository(error)) => return Err(error),
            Err(error) => return Err(RepositoryError::unexpected(error.to_string())),
        }
        Ok(outcomes)
    }

    fn imported_license(&self, record: ImportLicense, actor: &Actor) -> Result<(License, AuditEvent), String> {
        let product =
            self.catalog.product(&record.product).ok_or_else(|| format!("unknown product `{}`", record.product))?;
        let tier = product
            .tier(&record.tier)
            .ok_or_else(|| format!("product `{}` has no tier `{}`", record.product, record.tier))?;
        if record.expires_at.is_some_and(|expires| expires <= record.issued_at) {
            return Err("expires_at is not after issued_at".into());
        }
        let notes = record
            .legacy_blob
            .filter(|blob| !blob.trim().is_empty())
            .map(|blob| format!("{LEGACY_BLOB_PREFIX}{}", blob.trim()))
            .filter(|notes| crate::text::check("notes", notes, 2000).is_ok());
        let now = self.now();
        let mut license = License {
            id: new_id(self.random.as_ref(), record.issued_at),
            key: record.key,
            product: product.slug.clone(),
            tier: tier.slug.clone(),
            features: tier.features.clone(),
            seats: tier.seats,
            kind: if record.expires_at.is_some() { LicenseKind::FixedTerm } else { LicenseKind::Perpetual },
            name: record.name,
            email: record.email,
            state: LicenseState::Active,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            source: IMPORT_SOURCE.to_owned(),
            source_ref: None,
            notes,
            revoke_reason: None,
            app_versions: None,
            subscription: None,
            token: String::new(),
            updated_at: now,
            version: 1,
        };
        // The token says when the license was issued, not when it was imported.
        let mut claims = LicenseClaims::of(&license, &self.issuer);
        claims.iat = record.issued_at.unix_timestamp();
        license.token = self.signer.sign_license(&claims).map_err(|error| error.to_string())?;
        let details = json!({
            "product": license.product, "tier": license.tier,
            "issued_at": license.issued_at.unix_timestamp(),
            "expires_at": license.expires_at.map(OffsetDateTime::unix_timestamp),
        });
        let audit = AuditEvent::about_license(
            self.random.as_ref(),
            self.clock.now(),
            actor,
            "license.imported",
            &license.key,
            details,
        );
        Ok((license, audit))
    }
}
