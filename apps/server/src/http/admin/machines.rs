//! `/admin/v1/activations`: the operator frees a machine's seat.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_domain::activation::AdminDeactivateError;
use tessera_domain::license::Activation;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use crate::http::errors::{ErrorBody, ErrorCode, ShowFailure};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Machines holding seats.
    Activations,
}

/// A machine holding (or having held) a seat.
#[derive(Debug, Clone, Object)]
pub struct ActivationBody {
    pub id: String,
    pub fingerprint: String,
    /// What the app calls the machine (e.g. its host name).
    #[oai(nullable)]
    pub machine_name: Option<String>,
    #[oai(nullable)]
    pub platform: Option<String>,
    #[oai(nullable)]
    pub app_version: Option<String>,
    pub activated_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// `null` while the machine holds its seat.
    #[oai(nullable)]
    pub deactivated_at: Option<OffsetDateTime>,
}

impl From<Activation> for ActivationBody {
    fn from(activation: Activation) -> Self {
        Self {
            id: activation.id.to_string(),
            fingerprint: activation.fingerprint.as_str().to_owned(),
            machine_name: activation.name,
            platform: activation.platform,
            app_version: activation.app_version,
            activated_at: activation.activated_at,
            last_seen_at: activation.last_seen_at,
            deactivated_at: activation.deactivated_at,
        }
    }
}

#[derive(Default)]
pub struct ActivationsApi;

#[OpenApi(prefix_path = "/admin/v1/activations", tag = "AdminTags::Activations")]
impl ActivationsApi {
    /// Free a machine's seat. Its lease keeps verifying offline until it
    /// expires, but heartbeats are refused with `NO_MACHINE`.
    #[oai(path = "/:id/deactivate", method = "post", operation_id = "deactivateActivation")]
    async fn deactivate(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<ActivationBody>, ShowFailure> {
        let not_found = |text: String| ShowFailure::NotFound(ErrorBody::new(ErrorCode::NotFound, text));
        let uuid = id.0.parse::<Uuid>().map_err(|_| not_found(format!("no activation {}", id.0)))?;
        match state.activation.admin_deactivate(uuid).await {
            Ok(activation) => Ok(Json(activation.into())),
            Err(error @ AdminDeactivateError::NotFound(_)) => Err(not_found(error.to_string())),
            Err(AdminDeactivateError::Repository(error)) => Err(error.into()),
        }
    }
}
