//! Releases in the console: every release with its files and download
//! counts; publish a draft, yank a release. Uploads stay with the API and
//! the CLI (`tessera release upload`), which stream files of any size.

use maud::{html, Markup};
use poem::http::StatusCode;
use poem::web::Path;
use poem::{handler, Body, Request};
use tessera_domain::audit::Actor;
use tessera_domain::page::PageRequest;
use tessera_domain::release::{ReleaseFilter, ReleaseStatus, ReleaseWithArtifacts};
use uuid::Uuid;

use super::view::{
    csrf_field, date_time, html_response, layout, link, next_page, parse_choice, posted, query, see_other, signed_in,
    ConsoleError, PageResult, State,
};
use crate::console_sessions::Session;
use crate::http::errors::ChangeFailure;

const PAGE_SIZE: u32 = 50;

fn release_row(session: &Session, found: &ReleaseWithArtifacts) -> Markup {
    let release = &found.release;
    let downloads: u64 = found.artifacts.iter().map(|artifact| artifact.downloads).sum();
    html! {
        tr {
            th scope="row" { (release.product) " " (release.version.to_string()) }
            td { (release.channel.as_str()) }
            td { span.status.ok[release.status == ReleaseStatus::Published] { (release.status.as_str()) } }
            td {
                @for artifact in &found.artifacts {
                    div { code.small { (artifact.filename.as_str()) } " · " (artifact.platform.as_str()) "/"
                          (artifact.arch.as_str()) " · " (artifact.size) " bytes" }
                }
            }
            td { (downloads) }
            td { (release.published_at.map(date_time).unwrap_or_default()) }
            td {
                @if release.status == ReleaseStatus::Draft {
                    form method="post" action=(format!("/console/releases/{}/publish", release.id)) {
                        (csrf_field(session))
                        button type="submit" { "Publish" }
                    }
                }
                @if release.status != ReleaseStatus::Yanked {
                    form method="post" action=(format!("/console/releases/{}/yank", release.id)) {
                        (csrf_field(session))
                        button.danger type="submit" { "Yank" }
                    }
                }
            }
        }
    }
}

/// `GET /console/releases?status=`
#[handler]
pub async fn releases_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (status, cursor) = (query(request, "status"), query(request, "cursor"));
    let parsed: Option<ReleaseStatus> =
        status.as_deref().map(|text| parse_choice(text, "release status")).transpose()?;
    let filter = ReleaseFilter { status: parsed, ..ReleaseFilter::default() };
    let page = state.releases.list(&filter, &PageRequest::new(Some(PAGE_SIZE), cursor)).await?;
    let notice = match query(request, "done").as_deref() {
        Some("publish") => Some("Published: offered from now on to the licenses it is for."),
        Some("yank") => Some("Yanked: gone from every feed; its download links stop working."),
        _ => None,
    };
    let body = html! {
        p { "Files are uploaded with " code { "tessera release upload" } " or the admin API; a draft is offered to no \
             one until it is published." }
        nav.tabs aria-label="Filter by status" {
            @if status.is_none() { strong aria-current="true" { "All" } } @else { a href="/console/releases" { "All" } }
            @for choice in ["draft", "published", "yanked"] {
                " "
                @if status.as_deref() == Some(choice) { strong aria-current="true" { (choice) } }
                @else { a href=(link("/console/releases", &[("status", Some(choice))])) { (choice) } }
            }
        }
        table #releases {
            thead { tr { th scope="col" { "Release" } th scope="col" { "Channel" } th scope="col" { "Status" }
                         th scope="col" { "Files" } th scope="col" { "Downloads" } th scope="col" { "Published" }
                         th scope="col" { span.visually-hidden { "Actions" } } } }
            tbody {
                @for found in &page.items { (release_row(&session, found)) }
            }
        }
        @if page.items.is_empty() { p { "No releases." } }
        (next_page("/console/releases", &[("status", status.as_deref())], page.next_cursor.as_deref()))
    };
    Ok(html_response(StatusCode::OK, layout("/console/releases", "Releases", &session, notice, body)))
}

/// `POST /console/releases/{id}/{publish|yank}`
#[handler]
pub async fn release_action(
    state: State<'_>,
    request: &Request,
    Path((id, action)): Path<(String, String)>,
    body: Body,
) -> PageResult {
    posted(&state, request, body).await?;
    let uuid = id.parse::<Uuid>().map_err(|_| ConsoleError::bad_request(format!("no release `{id}`")))?;
    match action.as_str() {
        "publish" => state.releases.publish(uuid, Actor::Admin).await.map_err(ChangeFailure::from)?,
        "yank" => state.releases.yank(uuid, Actor::Admin).await.map_err(ChangeFailure::from)?,
        other => return Err(ConsoleError::bad_request(format!("unknown action `{other}`"))),
    };
    Ok(see_other(&format!("/console/releases?done={action}")))
}
