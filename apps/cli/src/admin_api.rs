//! The admin API as the CLI calls it: one method per operation, every path of
//! `openapi/admin.json` in this file, request bodies and filters as typed
//! structs (serialized exactly as the spec's schemas), answers as JSON for
//! the printers. The commands never build a path or a body by hand.

use serde::Serialize;
use serde_json::Value;

use crate::admin_client::{path_segment, AdminClient, CliError};

/// `POST /admin/v1/licenses` (`MintLicenseRequest`).
#[derive(Debug, Default, Serialize)]
pub struct MintRequest {
    pub product: String,
    pub tier: String,
    pub name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_versions: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_email: bool,
}

/// `POST /admin/v1/licenses/{key}/renew` (`RenewRequest`).
#[derive(Debug, Default, Serialize)]
pub struct RenewRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /admin/v1/flags/{id}/review` (`ReviewRequest`).
#[derive(Debug, Serialize)]
pub struct ReviewRequest {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `PATCH /admin/v1/customers/{email}` (`CustomerPatch`).
#[derive(Debug, Default, Serialize)]
pub struct CustomerPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A state change of one license.
#[derive(Debug, Clone, Copy)]
pub enum Lifecycle {
    Suspend,
    Reinstate,
}

/// A list's page: its size and the previous page's `next_cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Query parameters: the ones that are set, in order.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    pub fn with(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.0.push((name, value));
        }
        self
    }

    fn page(self, page: &PageParams) -> Self {
        self.with("limit", page.limit.map(|limit| limit.to_string())).with("cursor", page.cursor.clone())
    }
}

fn body<T: Serialize>(request: &T) -> Value {
    serde_json::to_value(request).expect("a request serializes")
}

impl AdminClient {
    pub fn mint(&self, request: &MintRequest, idempotency_key: Option<&str>) -> Result<Value, CliError> {
        self.post_with("/admin/v1/licenses", &body(request), idempotency_key.map(|key| ("Idempotency-Key", key)))
    }

    /// `GET /admin/v1/licenses`: filters `email`, `product`, `status`, `source`, `q`.
    pub fn licenses(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/licenses", &filters.page(page).0)
    }

    pub fn license(&self, key: &str) -> Result<Value, CliError> {
        self.get(&format!("/admin/v1/licenses/{}", path_segment(key)), &[])
    }

    pub fn revoke(&self, key: &str, reason: &str) -> Result<Value, CliError> {
        let path = format!("/admin/v1/licenses/{}/revoke", path_segment(key));
        self.post(&path, &serde_json::json!({ "reason": reason }))
    }

    pub fn change(&self, key: &str, change: Lifecycle) -> Result<Value, CliError> {
        let verb = match change {
            Lifecycle::Suspend => "suspend",
            Lifecycle::Reinstate => "reinstate",
        };
        self.post(&format!("/admin/v1/licenses/{}/{verb}", path_segment(key)), &Value::Null)
    }

    pub fn renew(&self, key: &str, request: &RenewRequest) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/licenses/{}/renew", path_segment(key)), &body(request))
    }

    pub fn redeliver(&self, key: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/licenses/{}/redeliver", path_segment(key)), &Value::Null)
    }

    /// `POST /admin/v1/licenses/import` (`ImportRequest`, built by `transfer`).
    pub fn import_licenses(&self, request: &Value) -> Result<Value, CliError> {
        self.post("/admin/v1/licenses/import", request)
    }

    pub fn deactivate_machine(&self, activation_id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/activations/{}/deactivate", path_segment(activation_id)), &Value::Null)
    }

    /// `GET /admin/v1/storefront-events`: filters `storefront`, `status`.
    pub fn storefront_events(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/storefront-events", &filters.page(page).0)
    }

    pub fn replay(&self, event_id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/storefront-events/{}/replay", path_segment(event_id)), &Value::Null)
    }

    /// `GET /admin/v1/deliveries`: filters `status`, `license_key`.
    pub fn deliveries(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/deliveries", &filters.page(page).0)
    }

    pub fn retry_delivery(&self, delivery_id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/deliveries/{}/retry", path_segment(delivery_id)), &Value::Null)
    }

    /// `GET /admin/v1/audit`: filters `entity_id`, `since`, `actor`, `action`.
    pub fn audit(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/audit", &filters.page(page).0)
    }

    pub fn stats(&self) -> Result<Value, CliError> {
        self.get("/admin/v1/stats", &[])
    }

    pub fn keys(&self) -> Result<Value, CliError> {
        self.get("/admin/v1/keys", &[])
    }

    /// `GET /admin/v1/usage`: filters `license_key`, `event`, `since`.
    pub fn usage(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/usage", &filters.page(page).0)
    }

    /// `GET /admin/v1/flags`: filters `status`, `license_key`.
    pub fn flags(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/flags", &filters.page(page).0)
    }

    pub fn review_flag(&self, flag_id: &str, review: &ReviewRequest) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/flags/{}/review", path_segment(flag_id)), &body(review))
    }

    /// `GET /admin/v1/customers`: filter `q`.
    pub fn customers(&self, filters: Query, page: &PageParams) -> Result<Value, CliError> {
        self.get("/admin/v1/customers", &filters.page(page).0)
    }

    pub fn customer(&self, email: &str) -> Result<Value, CliError> {
        self.get(&format!("/admin/v1/customers/{}", path_segment(email)), &[])
    }

    pub fn add_customer(&self, email: &str, name: &str) -> Result<Value, CliError> {
        self.post("/admin/v1/customers", &serde_json::json!({ "email": email, "name": name }))
    }

    pub fn update_customer(&self, email: &str, patch: &CustomerPatch) -> Result<Value, CliError> {
        self.patch(&format!("/admin/v1/customers/{}", path_segment(email)), &body(patch))
    }
}
