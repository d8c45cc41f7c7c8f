use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "artifacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub release_id: String,
    pub filename: String,
    pub platform: String,
    pub arch: String,
    pub size: i64,
    pub sha256: String,
    /// Base64 Ed25519 signature of the bytes.
    pub signature: String,
    pub signature_kid: String,
    pub updater_signature: Option<String>,
    pub storage_key: String,
    pub downloads: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
