//! What the page's modules share: the settings every handler reads, the
//! token's names, and the refusals.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::runs::Runs;

pub use crate::web::TOKEN_ENV;
/// The cookie that carries the token after `/login`.
pub(crate) const COOKIE: &str = "chime_ui";

/// What every request handler shares.
pub(crate) struct Ui {
    pub(crate) runs: Runs,
    pub(crate) token: Option<String>,
    /// The CSRF token every form carries: random, per process.
    pub(crate) csrf: String,
    pub(crate) loopback: bool,
    /// Whether this process is the scheduler (the page says so).
    pub(crate) scheduler: bool,
    /// `ui: {url}` as an origin and a Host header: the address a reverse
    /// proxy serves the page at.
    pub(crate) public: Option<(String, String)>,
}

pub(crate) fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// Compares secrets in a time that does not depend on where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, &y) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ y);
    }
    diff == 0
}
