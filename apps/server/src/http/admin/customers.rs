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
use crate::http::errors::{storage_failure, AdminChange, AdminCreate, AdminRead, AdminShow, ErrorBody, ErrorCode};
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

type ListCustomersResponse = AdminRead<Page<CustomerBody>>;

type CustomerCreated = AdminCreate<CustomerBody>;
type CustomerShown = AdminShow<CustomerBody>;
type CustomerChanged = AdminChange<CustomerBody>;

impl From<CustomerError> for CustomerChanged {
    fn from(error: CustomerError) -> Self {
        match &error {
            CustomerError::NotFound(_) => Self::NotFound(ErrorBody::new(ErrorCode::NotFound, error.to_string())),
            CustomerError::EmailTaken(_) => Self::Conflict(ErrorBody::new(ErrorCode::EmailTaken, error.to_string())),
            CustomerError::Contended => Self::Conflict(ErrorBody::new(ErrorCode::Contended, error.to_string())),
            CustomerError::Signing(_) => Self::Internal(crate::http::errors::internal(&error)),
            CustomerError::Repository(repository) => storage_failure!(Self, repository),
        }
    }
}

impl From<CustomerError> for CustomerCreated {
    fn from(error: CustomerError) -> Self {
        match &error {
            CustomerError::EmailTaken(_) => Self::Conflict(ErrorBody::new(ErrorCode::EmailTaken, error.to_string())),
            CustomerError::Contended => Self::Conflict(ErrorBody::new(ErrorCode::Contended, error.to_string())),
            CustomerError::Repository(repository) => storage_failure!(Self, repository),
            CustomerError::NotFound(_) | CustomerError::Signing(_) => {
                Self::Internal(crate::http::errors::internal(&error))
            }
        }
    }
}

impl From<CustomerError> for CustomerShown {
    fn from(error: CustomerError) -> Self {
        match &error {
            CustomerError::NotFound(_) => Self::NotFound(ErrorBody::new(ErrorCode::NotFound, error.to_string())),
            CustomerError::Repository(repository) => storage_failure!(Self, repository),
            CustomerError::EmailTaken(_) | CustomerError::Contended | CustomerError::Signing(_) => {
                Self::Internal(crate::http::errors::internal(&error))
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
    ) -> ListCustomersResponse {
        let filter = CustomerFilter { query: q.0.filter(|text| !text.is_empty()) };
        match state.customers.list(&filter, &PageRequest::new(limit.0, cursor.0)).await {
            Ok(page) => ListCustomersResponse::Ok(Json(Page {
                items: page.items.into_iter().map(Into::into).collect(),
                next_cursor: page.next_cursor,
            })),
            Err(error) => storage_failure!(AdminRead, &error),
        }
    }

    /// Add a customer (a mint adds its buyer by itself).
    #[oai(path = "/", method = "post", operation_id = "createCustomer")]
    async fn create(&self, state: Data<&Arc<AppState>>, _auth: AdminAuth, body: Json<NewCustomer>) -> CustomerCreated {
        let (email, name) = match (email(&body.0.email), name(&body.0.name)) {
            (Ok(email), Ok(name)) => (email, name),
            (Err(error), _) | (_, Err(error)) => return CustomerCreated::BadRequest(error),
        };
        match state.customers.create(email, name, Actor::Admin).await {
            Ok(customer) => CustomerCreated::Created(Json(customer.into())),
            Err(error) => error.into(),
        }
    }

    /// A customer and their licenses.
    #[oai(path = "/:email", method = "get", operation_id = "getCustomer")]
    async fn get(&self, state: Data<&Arc<AppState>>, _auth: AdminAuth, email: Path<String>) -> CustomerShown {
        let email = match self::email(&email.0) {
            Ok(email) => email,
            Err(error) => return CustomerShown::BadRequest(error),
        };
        let customer = match state.customers.get(&email).await {
            Ok(customer) => customer,
            Err(error) => return error.into(),
        };
        let licenses = match state.customers.licenses_of(&email).await {
            Ok(licenses) => licenses,
            Err(error) => return storage_failure!(AdminShow, &error),
        };
        let now = state.now();
        let mut body = CustomerBody::from(customer);
        body.licenses = Some(licenses.into_iter().map(|license| LicenseBody::of(license, now)).collect());
        CustomerShown::Ok(Json(body))
    }

    /// Change a customer's email or name; their licenses are re-signed with it.
    #[oai(path = "/:email", method = "patch", operation_id = "updateCustomer")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        email: Path<String>,
        body: Json<CustomerPatch>,
    ) -> CustomerChanged {
        let current = match self::email(&email.0) {
            Ok(email) => email,
            Err(error) => return CustomerChanged::BadRequest(error),
        };
        let change = CustomerChange {
            email: match body.0.email.as_deref().map(self::email).transpose() {
                Ok(email) => email,
                Err(error) => return CustomerChanged::BadRequest(error),
            },
            name: match body.0.name.as_deref().map(name).transpose() {
                Ok(name) => name,
                Err(error) => return CustomerChanged::BadRequest(error),
            },
        };
        match state.customers.update(&current, change, Actor::Admin).await {
            Ok(customer) => CustomerChanged::Ok(Json(customer.into())),
            Err(error) => error.into(),
        }
    }
}
