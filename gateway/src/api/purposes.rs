//! `GET /v1/purposes`: the purpose codes (申请事由) in force, for anyone on the web listener: a
//! lookup must state one, so the verification page (and any client) offers the list the node
//! checks against. It is reference data the province publishes, not personal data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use domain::purposes::PurposeList;

use crate::api::App;

pub async fn list(State(app): State<Arc<App>>) -> Json<PurposeList> {
    Json(app.reference.get().purposes().clone())
}
