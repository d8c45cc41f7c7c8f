use serde_json::json;
use tessera_domain::audit::{Actor, AuditEvent};
use tessera_domain::license::{
    Activation, CustomerName, EmailAddress, Fingerprint, License, LicenseKey, LicenseKind, LicenseState,
};
use tessera_domain::mail::{Delivery, DeliveryKind, DeliveryStatus};
use tessera_domain::storefront::{EventStatus, RecordedEvent};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The time every fixture is relative to: 2026-01-01T00:00:00Z.
pub const T0: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00:00 UTC);

pub(crate) fn v7(at: OffsetDateTime, n: u64) -> Uuid {
    let mut random = [0u8; 10];
    random[2..].copy_from_slice(&n.to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis((at.unix_timestamp() * 1000) as u64, &random).into_uuid()
}

/// License number `n`, issued `n` minutes after [`T0`], distinct in every field
/// that a filter may select on.
pub fn license(n: u64) -> License {
    let issued_at = T0 + Duration::minutes(n as i64);
    License {
        id: v7(issued_at, n),
        key: LicenseKey::parse(&format!("TST-CORE-{n:05}-ABCDE")).expect("fixture key"),
        product: "datatools".into(),
        tier: "core".into(),
        features: vec!["dedupe".into(), "merge".into()],
        seats: 3,
        kind: LicenseKind::Subscription,
        name: CustomerName::parse(&format!("Buyer Number{n}")).expect("fixture name"),
        email: EmailAddress::parse(&format!("buyer{n}@example.com")).expect("fixture email"),
        state: LicenseState::Active,
        issued_at,
        expires_at: Some(issued_at + Duration::days(365)),
        source: "admin".into(),
        source_ref: None,
        notes: None,
        revoke_reason: None,
        app_versions: None,
        subscription: None,
        token: format!("token-{n}"),
        updated_at: issued_at,
        version: 1,
    }
}

/// The audit event of `action` on `license`, numbered `n` to keep ids unique.
pub fn audit_for(license: &License, action: &str, n: u64) -> AuditEvent {
    let at = license.updated_at;
    AuditEvent {
        id: v7(at, 1_000_000 + n),
        at,
        actor: Actor::Admin,
        action: action.into(),
        entity_type: "license".into(),
        entity_id: license.key.to_string(),
        details: json!({ "n": n }),
    }
}

/// Storefront delivery number `n`, received `n` seconds after [`T0`], its body
/// not valid UTF-8 on purpose (bodies are kept as bytes).
pub fn recorded_event(n: u64) -> RecordedEvent {
    let received_at = T0 + Duration::seconds(n as i64);
    let mut body = format!("sale_id=S{n}&product_id=P&price=1000").into_bytes();
    body.extend_from_slice(&[0xff, 0x00, 0xfe]);
    RecordedEvent {
        id: v7(received_at, 3_000_000 + n),
        storefront: "gumroad".into(),
        received_at,
        query: String::new(),
        body,
        status: EventStatus::Received,
        kind: None,
        dedupe_key: None,
        error: None,
        license_key: None,
        attempts: 0,
        processed_at: None,
    }
}

/// Delivery number `n` of `license`'s email, queued `n` seconds after [`T0`].
pub fn delivery(license: &License, n: u64) -> Delivery {
    let at = T0 + Duration::seconds(n as i64);
    Delivery {
        id: v7(at, 4_000_000 + n),
        kind: DeliveryKind::License,
        license_key: Some(license.key.clone()),
        to: license.email.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
        provider_message_id: None,
        dedupe_key: None,
        created_at: at,
        updated_at: at,
        sent_at: None,
        claimed_until: None,
    }
}

/// An audit event about delivery `n`.
pub fn delivery_audit(n: u64) -> AuditEvent {
    AuditEvent {
        id: v7(T0, 5_000_000 + n),
        at: T0,
        actor: Actor::System,
        action: "delivery.test".into(),
        entity_type: "delivery".into(),
        entity_id: n.to_string(),
        details: json!({ "n": n }),
    }
}

/// Activation number `n` of `license` for machine `fingerprint`, at [`T0`] + 1 day.
pub fn activation(license: &License, n: u64, fingerprint: &str) -> Activation {
    let at = T0 + Duration::days(1);
    Activation {
        id: v7(at, 2_000_000 + n),
        license_id: license.id,
        fingerprint: Fingerprint::parse(fingerprint).expect("fixture fingerprint"),
        name: Some(format!("machine {n}")),
        platform: Some("linux-x86_64".into()),
        app_version: Some("2.1.0".into()),
        activated_at: at,
        last_seen_at: at,
        deactivated_at: None,
    }
}
