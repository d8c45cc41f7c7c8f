//! Keyset pagination over time-ordered string ids, shared by every list.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::errors::repository_error;

/// The page of `query` newest first by `id` (UUIDv7 text), strictly after the
/// cursor, each row turned into a `T` by `convert`.
pub(crate) async fn newest_first<E, T>(
    query: Select<E>,
    id: E::Column,
    page: &PageRequest,
    db: &DatabaseConnection,
    convert: impl Fn(E::Model) -> Result<T, RepositoryError>,
    id_of: impl Fn(&T) -> String,
) -> Result<Page<T>, RepositoryError>
where
    E: EntityTrait,
{
    let query = match &page.after {
        Some(after) => query.filter(id.lt(after.as_str())),
        None => query,
    };
    let rows = query.order_by_desc(id).limit(u64::from(page.limit) + 1).all(db).await.map_err(repository_error)?;
    let items = rows.into_iter().map(convert).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(items, page.limit, id_of))
}
