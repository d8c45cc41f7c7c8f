//! One page of a list, the shape every admin list answers (contract §5):
//! `{"items": [...], "next_cursor": "…" | null}`. One generic type; its schema
//! is named after the item (`Page_LicenseBody`).

use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::Object;

#[derive(Debug, Object)]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}
