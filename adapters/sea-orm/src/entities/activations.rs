use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub license_id: String,
    pub fingerprint: String,
    pub machine_name: Option<String>,
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub activated_at: i64,
    pub last_seen_at: i64,
    pub deactivated_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::licenses::Entity", from = "Column::LicenseId", to = "super::licenses::Column::Id")]
    License,
}

impl Related<super::licenses::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::License.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
