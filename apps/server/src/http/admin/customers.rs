//! `/admin/v1/customers`: the people licenses belong to, by email.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::customer::{Customer, CustomerChange, CustomerError, CustomerFilter};
use tessera_domain::license::{CustomerName, EmailAddress};
use tessera_domain::page::PageRequest;
use time::OffsetDateTime;

use super::auth::AdminAuth;
use super::licenses::LicenseBody;
use super::page::Page;
use crate::http::errors::{
    internal, ChangeFailure, CreateFailure, Created, ErrorBody, ErrorCode, ReadFailure, ShowFailure,
};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Customers (by email) and their licenses.
    Customers,
}

#[derive(Debug, Object)]
pub struct CustomerBody {
    pub email: String,
    pub name: String,
    /// How many licenses carry this email.
    pub license_count: u64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// `GET /admin/v1/customers/{email}` only.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub licenses: Option<Vec<LicenseBody>>,
}

impl From<Customer> for CustomerBody {
    fn from(customer: Customer) -> Self {
        Self {
            email: customer.email.as_str().to_owned(),
            name: customer.name.as_str().to_owned(),
            license_count: customer.licenses,
            created_at: customer.created_at,
            updated_at: customer.updated_at,
            licenses: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewCustomer {
    pub email: String,
    pub name: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CustomerPatch {
    /// The new address: every license of the customer is re-signed with it,
    /// and redelivery uses it.
    #[oai(nullable)]
    pub email: Option<String>,
    /// The new name, re-signed into every license likewise.
    #[oai(nullable)]
    pub name: Option<String>,
}

/// A customer use case's failure as the admin API answers it.
fn customer_failure(error: CustomerError) -> ChangeFailure {
    let text = error.to_string();
    match error {
        CustomerError::NotFound(_) => ChangeFailure::NotFound(ErrorBody::new(ErrorCode::NotFound, text)),
        CustomerError::EmailTaken(_) => ChangeFailure::Conflict(ErrorBody::new(ErrorCode::EmailTaken, text)),
        CustomerError::Contended => ChangeFailure::Conflict(ErrorBody::new(ErrorCode::Contended, text)),
        error @ CustomerError::Signing(_) => ChangeFailure::Internal(internal(&error)),
        CustomerError::Repository(repository) => repository.into(),
    }
}

impl From<CustomerError> for ChangeFailure {
    fn from(error: CustomerError) -> Self {
        customer_failure(error)
    }
}

impl From<CustomerError> for CreateFailure {
    fn from(error: CustomerError) -> Self {
        match customer_failure(error) {
            ChangeFailure::Conflict(body) => Self::Conflict(body),
            ChangeFailure::Unavailable(body) => Self::Unavailable(body),
            ChangeFailure::BadRequest(body) => Self::BadRequest(body),
            ChangeFailure::NotFound(body) | ChangeFailure::Unauthorized(body) | ChangeFailure::Internal(body) => {
                Self::Internal(body)
            }
        }
    }
}

impl From<CustomerError> for ShowFailure {
    fn from(error: CustomerError) -> Self {
        match customer_failure(error) {
            ChangeFailure::NotFound(body) => Self::NotFound(body),
            ChangeFailure::Unavailable(body) => Self::Unavailable(body),
            ChangeFailure::BadRequest(body) => Self::BadRequest(body),
            ChangeFailure::Conflict(body) | ChangeFailure::Unauthorized(body) | ChangeFailure::Internal(body) => {
                Self::Internal(body)
            }
        }
    }
}

fn email(text: &str) -> Result<EmailAddress, Json<ErrorBody>> {
    EmailAddress::parse(text).map_err(|error| ErrorBody::new(ErrorCode::InvalidEmail, error.to_string()))
}

fn name(text: &str) -> Result<CustomerName, Json<ErrorBody>> {
    CustomerName::parse(text).map_err(|error| ErrorBody::new(ErrorCode::InvalidName, error.to_string()))
}

#[derive(Default)]
pub struct CustomersApi;

#[OpenApi(prefix_path = "/admin/v1/customers", tag = "AdminTags::Customers")]
impl CustomersApi {
    /// Customers by email, ascending.
    #[oai(path = "/", method = "get", operation_id = "listCustomers")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        /// Substring of email or name.
        q: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<CustomerBody>>, ReadFailure> {
        let filter = CustomerFilter { query: q.0.filter(|text| !text.is_empty()) };
        let page = state.customers.list(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// Add a customer (a mint adds its buyer by itself).
    #[oai(path = "/", method = "post", operation_id = "createCustomer")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        body: Json<NewCustomer>,
    ) -> Result<Created<CustomerBody>, CreateFailure> {
        let email = email(&body.0.email).map_err(CreateFailure::BadRequest)?;
        let name = name(&body.0.name).map_err(CreateFailure::BadRequest)?;
        let customer = state.customers.create(email, name, Actor::Admin).await?;
        Ok(Created::Created(Json(customer.into())))
    }

    /// A customer and their licenses.
    #[oai(path = "/:email", method = "get", operation_id = "getCustomer")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        email: Path<String>,
    ) -> Result<Json<CustomerBody>, ShowFailure> {
        let email = self::email(&email.0).map_err(ShowFailure::BadRequest)?;
        let customer = state.customers.get(&email).await?;
        let licenses = state.customers.licenses_of(&email).await?;
        let now = state.now();
        let mut body = CustomerBody::from(customer);
        body.licenses = Some(licenses.into_iter().map(|license| LicenseBody::of(license, now)).collect());
        Ok(Json(body))
    }

    /// Change a customer's email or name; their licenses are re-signed with it.
    #[oai(path = "/:email", method = "patch", operation_id = "updateCustomer")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        email: Path<String>,
        body: Json<CustomerPatch>,
    ) -> Result<Json<CustomerBody>, ChangeFailure> {
        let current = self::email(&email.0).map_err(ChangeFailure::BadRequest)?;
        let change = CustomerChange {
            email: body.0.email.as_deref().map(self::email).transpose().map_err(ChangeFailure::BadRequest)?,
            name: body.0.name.as_deref().map(name).transpose().map_err(ChangeFailure::BadRequest)?,
        };
        Ok(Json(state.customers.update(&current, change, Actor::Admin).await?.into()))
    }
}
