use std::sync::Arc;

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use crate::state::AppState;

/// `Authorization: Bearer <admin token>`; anything else is answered 401.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_admin_token")]
pub struct AdminAuth(());

async fn check_admin_token(request: &Request, bearer: Bearer) -> Option<()> {
    let state = request.data::<Arc<AppState>>()?;
    state.admin_token.matches(&bearer.token).then_some(())
}
