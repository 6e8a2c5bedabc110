//! The frame of every page, and the links and fields pages share.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::shared::Ui;
use crate::store::StoreError;

/// A page: the header with the pipeline's name and the menu, `body`, and
/// a reload every `refresh` seconds while something is running.
pub(crate) fn page(ui: &Ui, title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    let def = ui.runs.def;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = refresh {
                    meta http-equiv="refresh" content=(s);
                }
                title { (title) " · " (def.name) }
                link rel="stylesheet" href="/chime.css";
            }
            body {
                header {
                    a.brand href="/" { (def.name) }
                    nav {
                        a href="/" { "Grid" }
                        a href="/trigger" { "Trigger" }
                        a href="/backfill" { "Backfill" }
                        a href="/metrics" { "Metrics" }
                    }
                    span.who {
                        @if ui.scheduler { "scheduler" } @else { "status page" }
                        " · state " (ui.runs.describe())
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page as a response.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A state the page cannot read.
pub(crate) fn store_error(ui: &Ui, e: &StoreError) -> Response {
    let body = html! { h1 { "Cannot read the state" } p.error { (e.to_string()) } };
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(ui, "error", None, body),
    )
}

/// A path segment, percent-encoded (run ids hold `:` and `+`).
pub(crate) use crate::web::segment as seg;

pub(crate) fn run_href(run_id: &str) -> String {
    format!("/runs/{}", seg(run_id))
}

/// The hidden field every form of the page carries.
pub(crate) fn csrf_field(ui: &Ui) -> Markup {
    html! { input type="hidden" name="csrf" value=(ui.csrf); }
}
