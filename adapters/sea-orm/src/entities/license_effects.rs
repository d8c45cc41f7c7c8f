use sea_orm::entity::prelude::*;

/// Once-only changes applied to licenses (e.g. one storefront charge).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "license_effects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub effect: String,
    pub license_id: String,
    pub applied_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
