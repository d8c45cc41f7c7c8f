use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefront_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub storefront: String,
    pub received_at: i64,
    pub query: String,
    pub body: Vec<u8>,
    pub status: String,
    pub kind: Option<String>,
    pub dedupe_key: Option<String>,
    pub error: Option<String>,
    pub license_key: Option<String>,
    pub attempts: i32,
    pub processed_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
