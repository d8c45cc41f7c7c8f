//! Customers on sea-orm. License writes insert their customer if absent (see
//! `writes::ensure_customers`), in the license's own transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use tessera_domain::audit::AuditEvent;
use tessera_domain::customer::{Customer, CustomerFilter, CustomerRepository, CustomerStoreError};
use tessera_domain::license::{CustomerName, EmailAddress, License};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::entities::{audit_events, customers, licenses};
use crate::errors::{repository_error, unique_violation};
use crate::rows::{audit_row, contains_ignoring_case, corrupt, from_timestamp, timestamp};
use crate::writes::update_license_in;
use crate::SeaOrmStore;

fn from_row(row: customers::Model, licenses: u64) -> Result<Customer, RepositoryError> {
    Ok(Customer {
        email: EmailAddress::parse(&row.email).map_err(|error| corrupt("customer email", error))?,
        name: CustomerName::parse(&row.name).map_err(|error| corrupt("customer name", error))?,
        created_at: from_timestamp(row.created_at)?,
        updated_at: from_timestamp(row.updated_at)?,
        licenses,
    })
}

impl SeaOrmStore {
    /// License counts of these emails.
    async fn license_counts(&self, emails: &[String]) -> Result<HashMap<String, u64>, RepositoryError> {
        if emails.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, i64)> = licenses::Entity::find()
            .select_only()
            .column(licenses::Column::Email)
            .column_as(Expr::col(licenses::Column::Id).count(), "count")
            .filter(licenses::Column::Email.is_in(emails.iter().map(String::as_str)))
            .group_by(licenses::Column::Email)
            .into_tuple()
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?;
        Ok(rows.into_iter().map(|(email, count)| (email, u64::try_from(count).unwrap_or(0))).collect())
    }
}

#[async_trait]
impl CustomerRepository for SeaOrmStore {
    async fn create_customer(&self, customer: &Customer, audit: &AuditEvent) -> Result<(), CustomerStoreError> {
        let row = customers::Model {
            email: customer.email.as_str().to_owned(),
            name: customer.name.as_str().to_owned(),
            created_at: timestamp(customer.created_at),
            updated_at: timestamp(customer.updated_at),
        };
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        if let Err(error) = customers::Entity::insert(row.into_active_model()).exec_without_returning(&txn).await {
            let _ = txn.rollback().await;
            return Err(match unique_violation(&error) {
                Some(_) => CustomerStoreError::EmailTaken,
                None => repository_error(error).into(),
            });
        }
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn find_customer(&self, email: &EmailAddress) -> Result<Option<Customer>, RepositoryError> {
        let Some(row) = customers::Entity::find_by_id(email.as_str().to_owned())
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
        else {
            return Ok(None);
        };
        let count = self.license_counts(std::slice::from_ref(&row.email)).await?;
        let licenses = count.get(&row.email).copied().unwrap_or(0);
        from_row(row, licenses).map(Some)
    }

    async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>, RepositoryError> {
        use customers::Column;
        let mut query = customers::Entity::find();
        let backend = self.db.reader.get_database_backend();
        if let Some(text) = filter.query.as_deref().filter(|text| !text.is_empty()) {
            query =
                query.filter(
                    Condition::any()
                        .add(contains_ignoring_case(backend, Column::Email, text))
                        .add(contains_ignoring_case(backend, Column::Name, text)),
                );
        }
        if let Some(after) = &page.after {
            query = query.filter(Column::Email.gt(after.as_str()));
        }
        let rows = query
            .order_by_asc(Column::Email)
            .limit(u64::from(page.limit) + 1)
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?;
        let emails: Vec<String> = rows.iter().map(|row| row.email.clone()).collect();
        let counts = self.license_counts(&emails).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let licenses = counts.get(&row.email).copied().unwrap_or(0);
                from_row(row, licenses)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |customer| customer.email.as_str().to_owned()))
    }

    async fn update_customer(
        &self,
        previous: &EmailAddress,
        customer: &Customer,
        audit: &AuditEvent,
        licenses: &[(License, i64, AuditEvent)],
    ) -> Result<(), CustomerStoreError> {
        use customers::Column;
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let updated = customers::Entity::update_many()
            .col_expr(Column::Email, Expr::value(customer.email.as_str()))
            .col_expr(Column::Name, Expr::value(customer.name.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(timestamp(customer.updated_at)))
            .filter(Column::Email.eq(previous.as_str()))
            .exec(&txn)
            .await;
        let failed = match updated {
            Ok(result) if result.rows_affected == 1 => None,
            Ok(_) => Some(CustomerStoreError::Conflict),
            Err(error) if unique_violation(&error).is_some() => Some(CustomerStoreError::EmailTaken),
            Err(error) => Some(repository_error(error).into()),
        };
        if let Some(error) = failed {
            let _ = txn.rollback().await;
            return Err(error);
        }
        for (license, expected, license_audit) in licenses {
            if let Err(error) = update_license_in(&txn, license, *expected, license_audit).await {
                let _ = txn.rollback().await;
                return Err(match error {
                    tessera_domain::license::UpdateLicenseError::Repository(error) => error.into(),
                    _ => CustomerStoreError::Conflict,
                });
            }
        }
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(())
    }
}
