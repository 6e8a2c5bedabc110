//! The pages: the grid of runs and tasks, a run, an attempt's log, the
//! metrics, the login. Every value from the state (task outputs, errors,
//! logs, params) is user data, shown through maud, which escapes it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::DateTime;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{csrf_field, page, respond, run_href, seg, store_error};
use super::shared::{COOKIE, TOKEN_ENV, Ui, same_secret};
use crate::state::{RunState, TaskState};
use crate::store::{AttemptRecord, RunRecord, StoreError, TaskRecord};

/// How many runs the grid shows by default, and at most.
const GRID_RUNS: usize = 25;
const GRID_MAX_RUNS: usize = 1000;
/// How many cells (runs x tasks) a grid holds at most: the page's memory
/// and size stay bounded whatever `?runs=` asks (about 27 MB of HTML).
const GRID_MAX_CELLS: usize = 200_000;
/// How much of a log's end its page shows.
const LOG_PAGE_BYTES: u64 = 256 * 1024;
/// How much of a log `raw` serves (its end).
const RAW_LOG_BYTES: u64 = 16 * 1024 * 1024;

fn attempt_href(run_id: &str, task: &str, attempt: u32) -> String {
    format!(
        "/runs/{}/tasks/{}/attempts/{attempt}",
        seg(run_id),
        seg(task)
    )
}

/// The run's active states: pages reload while one is shown.
fn active(state: RunState) -> bool {
    matches!(state, RunState::Running | RunState::Queued)
}

/// A time as the page shows it: `2026-11-24 02:30:05 UTC`.
fn short_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_string(),
        |t| t.to_utc().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Seconds between two RFC 3339 times.
pub(crate) fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let s = DateTime::parse_from_rfc3339(start).ok()?;
    let e = DateTime::parse_from_rfc3339(end).ok()?;
    Some((e - s).num_milliseconds() as f64 / 1000.0)
}

fn duration_text(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct GridQuery {
    runs: Option<usize>,
}

/// `/`: the grid, runs as columns (oldest left), tasks as rows.
pub(crate) async fn grid(State(ui): State<Arc<Ui>>, Query(q): Query<GridQuery>) -> Response {
    let most = (GRID_MAX_CELLS / ui.runs.def.tasks.len().max(1)).clamp(1, GRID_MAX_RUNS);
    let limit = q.runs.unwrap_or(GRID_RUNS).clamp(1, most);
    match grid_html(&ui, limit) {
        Ok(html) => Html(html).into_response(),
        Err(e) => store_error(&ui, &e),
    }
}

/// The grid's HTML, of the latest `limit` runs.
pub(crate) fn grid_html(ui: &Ui, limit: usize) -> Result<String, StoreError> {
    let def = ui.runs.def;
    let store = ui.runs.open()?;
    let mut runs = store.runs(limit)?;
    runs.reverse();
    let records: Vec<Vec<TaskRecord>> = runs
        .iter()
        .map(|r| store.task_states(&r.run_id))
        .collect::<Result<_, _>>()?;
    let rows: Vec<&str> = def
        .rows(records.iter().flatten().map(|r| r.task_id.as_str()))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let by_task: Vec<HashMap<&str, &TaskRecord>> = records
        .iter()
        .map(|recs| recs.iter().map(|r| (r.task_id.as_str(), r)).collect())
        .collect();
    let hrefs: Vec<String> = runs.iter().map(|r| seg(&r.run_id)).collect();
    let refresh = runs.iter().any(|r| active(r.state)).then_some(5);
    let body = html! {
        h1 { "Runs" }
        @if runs.is_empty() {
            p { "No runs yet. " a href="/trigger" { "Trigger one" } ", or start the scheduler." }
        } @else {
            p.legend {
                @for s in TaskState::ALL { span class={"cell s-" (s.as_str())} {} " " (s.as_str()) " " }
                " · " a href={"/?runs=" (limit.saturating_mul(4).min(GRID_MAX_RUNS))} { "more runs" }
            }
            div.scroll {
                table.grid {
                    thead {
                        tr {
                            th { "task" }
                            @for r in &runs {
                                th class={"run s-" (r.state.as_str())} {
                                    a href=(run_href(&r.run_id)) title=(r.run_id) { (r.logical_date.get(..10).unwrap_or(&r.logical_date)) }
                                }
                            }
                        }
                    }
                    tbody {
                        @for task in &rows {
                            tr {
                                th { (task) }
                                @for (i, _) in runs.iter().enumerate() {
                                    @let rec = by_task[i].get(task);
                                    @let state = rec.map_or(TaskState::None, |r| r.state);
                                    @let tries = rec.map_or(0, |r| r.try_number);
                                    td class={"s-" (state.as_str())} {
                                        @if tries > 0 {
                                            a href={"/runs/" (hrefs[i]) "/tasks/" (seg(task)) "/attempts/" (tries)} title={(task) ": " (state.as_str())} {}
                                        } @else {
                                            a href={"/runs/" (hrefs[i])} title={(task) ": " (state.as_str())} {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(ui, "Grid", refresh, body).into_string())
}

/// `/runs/{run_id}`: the run, its graph, its Gantt, its tasks.
pub(crate) async fn run(State(ui): State<Arc<Ui>>, Path(run_id): Path<String>) -> Response {
    match run_html(&ui, &run_id) {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => not_found_page(&ui, &format!("no run `{run_id}`")),
        Err(e) => store_error(&ui, &e),
    }
}

fn run_html(ui: &Ui, run_id: &str) -> Result<Option<String>, StoreError> {
    let def = ui.runs.def;
    let store = ui.runs.open()?;
    let Some(run) = store.get_run(run_id)? else {
        return Ok(None);
    };
    let tasks = store.task_records(run_id)?;
    let attempts = store.attempts(run_id)?;
    let by_id: HashMap<&str, &TaskRecord> = tasks.iter().map(|r| (r.task_id.as_str(), r)).collect();
    let rows = def.rows(tasks.iter().map(|r| r.task_id.as_str()));
    let gone: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|(_, gone)| *gone)
        .map(|(id, _)| *id)
        .collect();
    let ids: Vec<&str> = rows.iter().map(|(id, _)| *id).collect();
    let known = |id: &str| !gone.contains(id);
    let refresh = active(run.state).then_some(3);
    let body = html! {
        h1 { "Run " span.mono { (run.run_id) } }
        (run_facts(&run))
        h2 { "Graph" }
        (super::svg::graph(def, &by_id))
        h2 { "Attempts" }
        (super::svg::gantt(&attempts))
        h2 { "Tasks" }
        table.tasks {
            thead { tr { th { "task" } th { "state" } th { "tries" } th { "duration" } th { "attempts" } th { "output / error" } th { "" } } }
            tbody {
                @for id in &ids {
                    @let rec = by_id.get(id);
                    @let state = rec.map_or(TaskState::None, |r| r.state);
                    @let mine: Vec<&AttemptRecord> = attempts.iter().filter(|a| a.task_id == *id).collect();
                    tr id={"t-" (id)} {
                        th { (id) @if !known(id) { " " span.note { "(no longer in the pipeline)" } } }
                        td { span class={"badge s-" (state.as_str())} { (state.as_str()) } }
                        td.num { (rec.map_or(0, |r| r.try_number)) }
                        td.num { (mine.last().and_then(|a| seconds_between(&a.started_at, a.ended_at.as_deref()?)).map(duration_text).unwrap_or_default()) }
                        td {
                            @for a in &mine {
                                a href=(attempt_href(run_id, id, a.attempt)) class={"attempt o-" (a.outcome.map_or("running", |o| o.as_str()))} { "#" (a.attempt) }
                                " "
                            }
                        }
                        td { (detail(rec.copied(), mine.last().copied())) }
                        td { (clear_form(ui, run_id, id)) }
                    }
                }
            }
        }
    };
    Ok(Some(
        page(ui, &format!("Run {}", run.run_id), refresh, body).into_string(),
    ))
}

fn run_facts(run: &RunRecord) -> Markup {
    html! {
        dl.facts {
            dt { "state" } dd { span class={"badge s-" (run.state.as_str())} { (run.state.as_str()) } }
            dt { "kind" } dd { (run.kind.as_str()) }
            dt { "logical date" } dd { (run.logical_date) }
            dt { "interval" } dd { (run.interval_start) " → " (run.interval_end) }
            dt { "started" } dd { (run.started_at.as_deref().map(short_time).unwrap_or_default()) }
            dt { "ended" } dd { (run.ended_at.as_deref().map(short_time).unwrap_or_default()) }
            dt { "params" } dd.mono { (crate::secrets::mask_sealed(&run.params)) }
        }
    }
}

/// A task's output (secrets masked), or its last attempt's error.
fn detail(rec: Option<&TaskRecord>, last: Option<&AttemptRecord>) -> Markup {
    let output = rec.and_then(|r| r.output.as_deref());
    let error = last
        .and_then(|a| a.error.as_deref())
        .filter(|_| rec.is_none_or(|r| r.state != TaskState::Success));
    html! {
        @if let Some(o) = output {
            pre.output { (crate::secrets::mask_sealed(o)) }
        } @else if let Some(e) = error {
            pre.error { (e) }
        }
    }
}

/// `/runs/{run}/tasks/{task}/attempts/{n}`: the attempt's log, its end,
/// reloading while the attempt runs.
pub(crate) async fn log(
    State(ui): State<Arc<Ui>>,
    Path((run_id, task, attempt)): Path<(String, String, u32)>,
) -> Response {
    let attempts = match ui.runs.open().and_then(|s| s.attempts(&run_id)) {
        Ok(a) => a,
        Err(e) => return store_error(&ui, &e),
    };
    let mine: Vec<&AttemptRecord> = attempts.iter().filter(|a| a.task_id == task).collect();
    let Some(chosen) = mine.iter().find(|a| a.attempt == attempt) else {
        return not_found_page(
            &ui,
            &format!("task `{task}` of run `{run_id}` has no attempt {attempt}"),
        );
    };
    let running = chosen.outcome.is_none();
    let (text, note) = log_text(chosen, LOG_PAGE_BYTES, &ui.runs.log_dir());
    let body = html! {
        h1 { "Log of " span.mono { (task) } " attempt " (attempt) }
        p {
            "run " a href=(run_href(&run_id)) { (run_id) }
            " · " span class={"badge o-" (chosen.outcome.map_or("running", |o| o.as_str()))} { (chosen.outcome.map_or("running", |o| o.as_str())) }
            " · started " (short_time(&chosen.started_at))
            @if let Some(e) = &chosen.ended_at { " · ended " (short_time(e)) }
            " · " a href=(format!("{}/raw", attempt_href(&run_id, &task, attempt))) { "raw" }
        }
        @if mine.len() > 1 {
            p { "attempts: " @for a in &mine { a href=(attempt_href(&run_id, &task, a.attempt)) { "#" (a.attempt) } " " } }
        }
        @if let Some(e) = &chosen.error { pre.error { (e) } }
        @if let Some(n) = note { p.note { (n) } }
        pre.log id="log" { (text) }
        @if running { p.note { "The attempt is running: this page reloads every 2 seconds." } }
    };
    Html(
        page(
            &ui,
            &format!("{task} #{attempt}"),
            running.then_some(2),
            body,
        )
        .into_string(),
    )
    .into_response()
}

/// The attempt's log file, if it is one of this state's logs: a `.log`
/// file under `logs/` beside the state. The path comes from the state,
/// which the page does not trust to name any other file of this machine.
fn open_log(a: &AttemptRecord, log_dir: &std::path::Path) -> Option<std::fs::File> {
    let path = std::fs::canonicalize(&a.log_path).ok()?;
    let dir = std::fs::canonicalize(log_dir).ok()?;
    if !path.starts_with(&dir) || path.extension().is_none_or(|e| e != "log") {
        return None;
    }
    std::fs::File::open(path).ok()
}

/// The end of an attempt's log (at most `max` bytes, from a line start),
/// and a note on what is not shown; the state's tail when the file is on
/// another machine.
fn log_text(a: &AttemptRecord, max: u64, log_dir: &std::path::Path) -> (String, Option<String>) {
    use std::io::{Read, Seek, SeekFrom};
    match open_log(a, log_dir).ok_or(()) {
        Ok(mut f) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let from = len.saturating_sub(max);
            let _ = f.seek(SeekFrom::Start(from));
            let mut bytes = Vec::new();
            let _ = f.take(max).read_to_end(&mut bytes);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if from > 0 {
                let cut = text.find('\n').map_or(0, |i| i + 1);
                (
                    text[cut..].to_string(),
                    Some(format!(
                        "The first {} bytes are not shown: see raw.",
                        from + cut as u64
                    )),
                )
            } else {
                (text, None)
            }
        }
        Err(_) => match &a.log_tail {
            Some(tail) => (
                tail.clone(),
                Some(format!(
                    "The log {} is on the machine that ran this attempt; its last lines, from the state:",
                    a.log_path
                )),
            ),
            None => (String::new(), Some("(no output)".into())),
        },
    }
}

/// `.../raw`: the log as plain text (its last 16 MiB).
pub(crate) async fn raw_log(
    State(ui): State<Arc<Ui>>,
    Path((run_id, task, attempt)): Path<(String, String, u32)>,
) -> Response {
    let attempts = match ui.runs.open().and_then(|s| s.attempts(&run_id)) {
        Ok(a) => a,
        Err(e) => return store_error(&ui, &e),
    };
    match attempts
        .iter()
        .find(|a| a.task_id == task && a.attempt == attempt)
    {
        Some(a) => {
            let (text, note) = log_text(a, RAW_LOG_BYTES, &ui.runs.log_dir());
            let text = match note {
                Some(n) => format!("({n})\n{text}"),
                None => text,
            };
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        None => not_found_page(&ui, "no such attempt"),
    }
}

/// `/metrics`: Prometheus's text format.
pub(crate) async fn metrics(State(ui): State<Arc<Ui>>) -> Response {
    let now = chrono::Utc::now().timestamp();
    match ui
        .runs
        .open()
        .and_then(|s| crate::metrics::render(ui.runs.def.name, &*s, now))
    {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            e.to_string(),
        )
            .into_response(),
    }
}

/// What a request without the token gets: the login form (a page), or a
/// bare 401 (`/metrics`, for Prometheus's `authorization`).
pub(crate) fn login_needed(ui: &Ui, bare: bool) -> Response {
    if bare {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this status page needs its token: Authorization: Bearer <token>",
        )
            .into_response();
    }
    respond(StatusCode::UNAUTHORIZED, login_page(ui, None))
}

fn login_page(ui: &Ui, wrong: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Token needed" }
        p { "This status page needs the token its operator set in " code { (TOKEN_ENV) } "." }
        @if let Some(w) = wrong { p.error { (w) } }
        form method="post" action="/login" {
            label { "Token " input type="password" name="token" autocomplete="current-password" required; }
            " " button type="submit" { "Sign in" }
        }
    };
    page(ui, "Token needed", None, body)
}

pub(crate) async fn login_form(State(ui): State<Arc<Ui>>) -> Response {
    respond(StatusCode::OK, login_page(&ui, None))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// `POST /login`: the right token sets the cookie every request then
/// carries (HttpOnly, same site only).
pub(crate) async fn login(State(ui): State<Arc<Ui>>, Form(form): Form<Login>) -> Response {
    match &ui.token {
        Some(t) if same_secret(form.token.trim(), t) => (
            [(
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                    form.token.trim()
                ),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        Some(_) => respond(
            StatusCode::UNAUTHORIZED,
            login_page(&ui, Some("That is not the token.")),
        ),
        None => Redirect::to("/").into_response(),
    }
}

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("chime.css"),
    )
        .into_response()
}

fn not_found_page(ui: &Ui, what: &str) -> Response {
    let body = html! { h1 { "Not found" } p { (what) } p { a href="/" { "Back to the grid" } } };
    respond(StatusCode::NOT_FOUND, page(ui, "Not found", None, body))
}

pub(crate) async fn not_found(State(ui): State<Arc<Ui>>) -> Response {
    not_found_page(&ui, "There is no such page.")
}

/// The buttons of a task's row on the run page.
pub(crate) fn clear_form(ui: &Ui, run_id: &str, task: &str) -> Markup {
    html! {
        form.inline method="post" action={"/runs/" (seg(run_id)) "/clear"} {
            (csrf_field(ui))
            input type="hidden" name="task" value=(task);
            button type="submit" name="downstream" value="no" title="Clear this task and run the run again: every task that did not succeed runs" { "clear & rerun" }
            " "
            button type="submit" name="downstream" value="yes" title="Clear this task and every task downstream of it, and run the run again" { "+ downstream" }
        }
    }
}
