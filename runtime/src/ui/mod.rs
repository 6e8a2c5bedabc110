//! The status page (docs/monitoring.md): server-rendered HTML over the
//! state, served by `scheduler --ui ADDR` (on a thread of its own beside
//! the scheduler) and by the `ui` command; Prometheus metrics at
//! `/metrics` of the same server. Compiled in only for pipelines with
//! `ui:` (the `ui` feature).
//!
//! The page reads the state and never writes it: its actions (trigger,
//! clear, backfill) start this binary's own commands as processes of their
//! own, with the same state, exactly as a user at a terminal would, so
//! claims, validation and messages are the commands'.
//!
//! Safe by default:
//! - it listens on loopback unless told otherwise, and any other address
//!   needs a token (`CHIME_UI_TOKEN`) for every request;
//! - on loopback, only loopback host names are served (a DNS rebinding
//!   page cannot read it);
//! - actions are POSTs carrying a per-process CSRF token, refused when
//!   the browser says they come from another site;
//! - everything shown is escaped (maud), and a Content-Security-Policy
//!   forbids scripts altogether.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::runs::Runs;

mod actions;
mod layout;
mod pages;
mod shared;
mod svg;

use shared::{COOKIE, Ui, refuse, same_secret};

/// Where the page listens when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub use shared::TOKEN_ENV;
/// The shortest token accepted.
const MIN_TOKEN: usize = 16;

/// Why the page cannot start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("status page address `{addr}`: {detail} (write HOST:PORT, e.g. 127.0.0.1:8080)")]
    Address { addr: String, detail: String },
    #[error(
        "the status page would listen on {addr}, which is not loopback: set {TOKEN_ENV} to a secret of at least {MIN_TOKEN} characters (`openssl rand -hex 16`); every request must then carry it"
    )]
    NoToken { addr: SocketAddr },
    #[error(
        "{TOKEN_ENV} is {len} characters long: use at least {MIN_TOKEN} (`openssl rand -hex 16`)"
    )]
    ShortToken { len: usize },
    #[error(
        "{TOKEN_ENV} holds a space, a control character or one of ; , \" \\: use letters, digits and punctuation only (`openssl rand -hex 16`)"
    )]
    BadToken,
    #[error("cannot read random bytes for the page's CSRF token: {0}")]
    Random(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A listening socket and the page's settings, ready to serve.
pub struct Bound {
    listener: TcpListener,
    ui: Arc<Ui>,
}

impl Bound {
    /// The address it listens on (the port chosen when given port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| {
            SocketAddr::from(([127, 0, 0, 1], 0)) // not reached: a bound socket has an address
        })
    }
}

/// Listens on `addr` for the page of `runs`' pipeline, reading the token
/// from the environment; `scheduler` when the scheduler serves it.
pub fn bind(runs: Runs, addr: &str, scheduler: bool) -> Result<Bound, UiError> {
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    bind_with(runs, addr, token, scheduler)
}

fn bind_with(
    runs: Runs,
    addr: &str,
    token: Option<String>,
    scheduler: bool,
) -> Result<Bound, UiError> {
    let bad = |detail: String| UiError::Address {
        addr: addr.to_string(),
        detail,
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("no address found".into()))?;
    let loopback = sock.ip().is_loopback();
    match &token {
        Some(t) if t.chars().count() < MIN_TOKEN => {
            return Err(UiError::ShortToken {
                len: t.chars().count(),
            });
        }
        None if !loopback => return Err(UiError::NoToken { addr: sock }),
        _ => {}
    }
    if let Some(t) = &token
        && !t
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
    {
        return Err(UiError::BadToken);
    }
    let csrf = random_hex().map_err(UiError::Random)?;
    let listener =
        TcpListener::bind(sock).map_err(|source| UiError::Bind { addr: sock, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| UiError::Bind { addr: sock, source })?;
    let public = runs.def.ui_url.and_then(public_origin);
    Ok(Bound {
        listener,
        ui: Arc::new(Ui {
            runs,
            token,
            csrf,
            loopback,
            scheduler,
            public,
        }),
    })
}

impl Bound {
    /// Serves on a thread of its own (beside the scheduler) until the
    /// process ends.
    pub fn spawn(self) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("chime-ui".into())
            .spawn(move || {
                if let Err(e) = self.serve_until(|| Ok(std::future::pending())) {
                    eprintln!("warning: the status page stopped: {e}");
                }
            })?;
        Ok(())
    }

    /// Serves on this thread until the future `stop` makes (inside the
    /// page's runtime) is ready.
    pub fn serve_until<F: std::future::Future<Output = ()> + Send + 'static>(
        self,
        stop: impl FnOnce() -> std::io::Result<F>,
    ) -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let stop = stop()?;
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, router(self.ui))
                .with_graceful_shutdown(stop)
                .await
        })
    }
}

/// Every page and action.
pub(crate) fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(pages::grid))
        .route("/runs/{run_id}", get(pages::run))
        .route(
            "/runs/{run_id}/tasks/{task}/attempts/{attempt}",
            get(pages::log),
        )
        .route(
            "/runs/{run_id}/tasks/{task}/attempts/{attempt}/raw",
            get(pages::raw_log),
        )
        .route("/runs/{run_id}/clear", post(actions::clear))
        .route(
            "/trigger",
            get(actions::trigger_form).post(actions::trigger),
        )
        .route(
            "/backfill",
            get(actions::backfill_form).post(actions::backfill),
        )
        .route("/backfill/preview", post(actions::backfill_preview))
        .route("/metrics", get(pages::metrics))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/chime.css", get(pages::css))
        .route("/favicon.ico", get(StatusCode::NO_CONTENT))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(ui.clone(), guard))
        .with_state(ui)
}

/// Before every request: the host name, the token and, for POSTs, where
/// the request comes from; after: headers that forbid scripts, framing
/// and sniffing.
async fn guard(State(ui): State<Arc<Ui>>, req: Request, next: Next) -> Response {
    let mut resp = match admit(&ui, &req) {
        None => next.run(req).await,
        Some(refused) => refused,
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: under it, browsers send `Origin: null` with
        // the page's own forms, which `same_site` must refuse.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Whether the request may go on: `None`, or the refusal.
fn admit(ui: &Ui, req: &Request) -> Option<Response> {
    let headers = req.headers();
    if ui.loopback && !loopback_host(headers) && !public_host(ui, headers) {
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this status page listens on loopback and answers only to localhost names",
        ));
    }
    let path = req.uri().path();
    let open = matches!(path, "/login" | "/chime.css" | "/favicon.ico");
    if let Some(token) = &ui.token
        && !open
        && !authorized(headers, token)
    {
        return Some(pages::login_needed(ui, path == "/metrics"));
    }
    if req.method() == Method::POST && !same_site(ui, headers) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "refused: the request came from another site",
        ));
    }
    None
}

/// Whether the Host header names this machine's loopback (or is absent).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the Host header is the page's public address (`ui: {url}`): a
/// reverse proxy in front of a loopback page passes it on.
fn public_host(ui: &Ui, headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (&ui.public, host) {
        (Some((_, public)), Some(host)) => public.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// `ui: {url}` as an origin (`https://chime.example.com`) and the Host a
/// browser sends for it (`chime.example.com`, with a port only when the
/// URL has one).
fn public_origin(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() {
        return None;
    }
    Some((
        format!("{}://{host}", scheme.to_ascii_lowercase()),
        host.to_string(),
    ))
}

/// Whether the request carries the token: `Authorization: Bearer T`
/// (Prometheus, scripts) or the cookie `/login` sets (browsers).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='));
    bearer
        .into_iter()
        .chain(cookie)
        .any(|given| same_secret(given.trim(), token))
}

/// Whether a POST comes from this site: browsers say where a request
/// comes from (`Sec-Fetch-Site`, `Origin`); a client that says nothing
/// (curl) still needs the CSRF token of a form.
fn same_site(ui: &Ui, headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|h: &HeaderValue| h.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        // Behind a reverse proxy: the page's public address (`ui: {url}`).
        (Some(origin), _)
            if ui
                .public
                .as_ref()
                .is_some_and(|(o, _)| o.eq_ignore_ascii_case(origin)) =>
        {
            true
        }
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// 128 random bits as hex, from the kernel.
fn random_hex() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
