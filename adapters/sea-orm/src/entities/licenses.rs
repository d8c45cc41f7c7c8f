use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licenses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub key: String,
    pub product: String,
    pub tier: String,
    /// JSON array of strings.
    pub features: String,
    pub seats: i32,
    pub kind: String,
    pub name: String,
    pub email: String,
    pub state: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub source: String,
    pub source_ref: Option<String>,
    pub notes: Option<String>,
    pub revoke_reason: Option<String>,
    /// JSON array of app major versions, or NULL.
    pub app_versions: Option<String>,
    pub token: String,
    pub idempotency_key: Option<String>,
    pub idempotency_request: Option<String>,
    pub updated_at: i64,
    pub version: i64,
    /// Live activations; changed only by conditional updates (see the activation store).
    pub seats_used: i32,
    pub subscription_id: Option<String>,
    pub subscription_renewing: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
