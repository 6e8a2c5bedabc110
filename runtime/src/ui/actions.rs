//! The page's actions: trigger a run, clear a task (and its downstream)
//! and run it again, backfill a range after a dry run.
//!
//! Each starts this binary's own command (`run`, `clear`, `backfill`)
//! with the page's state, as a user at a terminal would: the command
//! checks its input, takes its claims and says what went wrong, and the
//! page shows that. Arguments go to the command as separate words in
//! `--flag=value` form, never through a shell. Runs are started in a
//! process group of their own, so stopping the page does not stop them;
//! their output goes to `logs/ui/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{csrf_field, page, respond, run_href, store_error};
use super::shared::{TOKEN_ENV, Ui, refuse, same_secret};

/// How long a started run is watched for an early refusal (bad params, a
/// claim held): a command refusing its input exits within this.
const EARLY: Duration = Duration::from_millis(1500);
/// How long `clear` and a backfill's dry run may take.
const QUICK: Duration = Duration::from_secs(30);
/// How much of a command's output a page shows.
const OUTPUT_BYTES: usize = 64 * 1024;

fn csrf_ok(ui: &Ui, given: &str) -> bool {
    same_secret(given, &ui.csrf)
}

fn bad_csrf() -> Response {
    refuse(
        StatusCode::FORBIDDEN,
        "refused: the form's CSRF token is missing or stale; reload the page and try again",
    )
}

/// A command of this binary, on the page's state, without the page's
/// token in its environment.
fn command(ui: &Ui, args: &[String]) -> Result<tokio::process::Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .env("CHIME_STATE", ui.runs.state_arg())
        .env_remove(TOKEN_ENV)
        .stdin(Stdio::null());
    Ok(cmd)
}

/// Runs a quick command to its end: its exit status and output.
async fn quick(ui: &Ui, args: &[String]) -> Result<(bool, String), String> {
    let mut cmd = command(ui, args)?;
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(QUICK, cmd.output())
        .await
        .map_err(|_| format!("`{}` took longer than {}s", args.join(" "), QUICK.as_secs()))?
        .map_err(|e| format!("cannot start `{}`: {e}", args.join(" ")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), bounded(text)))
}

fn bounded(mut text: String) -> String {
    if text.len() > OUTPUT_BYTES {
        let mut cut = OUTPUT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n…");
    }
    text
}

/// Starts a long command (a run, a backfill) in a process group of its
/// own, its output to a file under `logs/ui/`; waits [`EARLY`] for it to
/// refuse its input. `Ok(log)` when it is running (or ran and did not
/// refuse), `Err` with what it said otherwise.
async fn start(ui: &Ui, what: &str, args: &[String]) -> Result<PathBuf, String> {
    let dir = ui.runs.log_dir().join("ui");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = dir.join(format!(
        "{}-{what}-{}.log",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    ));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = command(ui, args)?;
    cmd.stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", args.join(" ")))?;
    match tokio::time::timeout(EARLY, child.wait()).await {
        // Exit 2: the command refused (bad input, a claim held, the state).
        Ok(Ok(status)) if status.code() == Some(2) => {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            Err(bounded(said))
        }
        Ok(Err(e)) => Err(e.to_string()),
        // Running, or done (a failed run exits 1: the grid shows it).
        _ => Ok(log),
    }
}

fn failed_page(ui: &Ui, title: &str, said: &str) -> Response {
    let body = html! {
        h1 { (title) }
        pre.error { (said) }
        p { a href="/" { "Back to the grid" } }
    };
    respond(StatusCode::BAD_REQUEST, page(ui, title, None, body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClearForm {
    #[serde(default)]
    csrf: String,
    task: String,
    #[serde(default)]
    downstream: String,
}

/// `POST /runs/{run}/clear`: `clear --task` (and `--downstream`), then
/// `run` over the run's interval, which runs the cleared tasks again.
pub(crate) async fn clear(
    State(ui): State<Arc<Ui>>,
    Path(run_id): Path<String>,
    Form(form): Form<ClearForm>,
) -> Response {
    if !csrf_ok(&ui, &form.csrf) {
        return bad_csrf();
    }
    let run = match ui.runs.open().and_then(|s| s.get_run(&run_id)) {
        Ok(Some(r)) => r,
        Ok(None) => return failed_page(&ui, "No such run", &run_id),
        Err(e) => return store_error(&ui, &e),
    };
    let mut args = vec!["clear".to_string(), format!("--task={}", form.task)];
    if form.downstream == "yes" {
        args.push("--downstream".into());
    }
    args.extend(["--".to_string(), run_id.clone()]);
    match quick(&ui, &args).await {
        Ok((true, _)) => {}
        Ok((false, said)) | Err(said) => return failed_page(&ui, "Clear refused", &said),
    }
    let rerun = vec![
        "run".to_string(),
        "--quiet".into(),
        format!("--interval-start={}", run.interval_start),
        format!("--interval-end={}", run.interval_end),
    ];
    match start(&ui, "rerun", &rerun).await {
        Ok(_) => Redirect::to(&run_href(&run_id)).into_response(),
        Err(said) => failed_page(&ui, "The rerun did not start", &said),
    }
}

/// `GET /trigger`: the form, params prefilled with their defaults.
pub(crate) async fn trigger_form(State(ui): State<Arc<Ui>>) -> Response {
    let defaults = crate::runs::default_params(ui.runs.def);
    let lines: Vec<String> = defaults
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let body = html! {
        h1 { "Trigger a run" }
        form.stack method="post" action="/trigger" {
            (csrf_field(&ui))
            label { "Date " input type="text" name="date" placeholder="2026-11-24, or empty for the latest interval"; }
            label { "Params, one NAME=VALUE a line" textarea name="params" rows=(lines.len().clamp(2, 20)) { (lines.join("\n")) } }
            button type="submit" { "Run" }
        }
        p.note { "Runs `run --date D --param NAME=VALUE…` of this binary in the background; a date that already has a run resumes it." }
    };
    respond(StatusCode::OK, page(&ui, "Trigger", None, body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TriggerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    params: String,
}

/// `POST /trigger`: `run [--date D] --param K=V…` in the background.
pub(crate) async fn trigger(State(ui): State<Arc<Ui>>, Form(form): Form<TriggerForm>) -> Response {
    if !csrf_ok(&ui, &form.csrf) {
        return bad_csrf();
    }
    let mut args = vec!["run".to_string(), "--quiet".into()];
    let date = form.date.trim();
    if !date.is_empty() {
        args.push(format!("--date={date}"));
    }
    for line in form.params.lines().map(str::trim).filter(|l| !l.is_empty()) {
        args.push(format!("--param={line}"));
    }
    match start(&ui, "trigger", &args).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(said) => failed_page(&ui, "The run did not start", &said),
    }
}

/// `GET /backfill`: the range form.
pub(crate) async fn backfill_form(State(ui): State<Arc<Ui>>) -> Response {
    let body = html! {
        h1 { "Backfill" }
        form.stack method="post" action="/backfill/preview" {
            (csrf_field(&ui))
            label { "From " input type="text" name="from" required placeholder="2026-11-01"; }
            label { "To " input type="text" name="to" required placeholder="2026-11-07"; }
            label { "Run again "
                select name="reprocess" {
                    option value="failed" selected { "failed and interrupted runs (default)" }
                    option value="none" { "no existing run" }
                    option value="all" { "every run, succeeded ones too" }
                }
            }
            button type="submit" { "Preview" }
        }
        p.note { "The preview is `backfill --dry-run`: it lists the runs it would start and starts none." }
    };
    respond(StatusCode::OK, page(&ui, "Backfill", None, body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BackfillForm {
    #[serde(default)]
    csrf: String,
    from: String,
    to: String,
    #[serde(default)]
    reprocess: String,
}

impl BackfillForm {
    fn args(&self, dry_run: bool) -> Vec<String> {
        let reprocess = match self.reprocess.as_str() {
            "none" | "all" => self.reprocess.as_str(),
            _ => "failed",
        };
        let mut args = vec![
            "backfill".to_string(),
            format!("--from={}", self.from.trim()),
            format!("--to={}", self.to.trim()),
            format!("--reprocess={reprocess}"),
        ];
        if dry_run {
            args.push("--dry-run".into());
        }
        args
    }
}

/// `POST /backfill/preview`: the dry run's list, and the button that
/// starts it.
pub(crate) async fn backfill_preview(
    State(ui): State<Arc<Ui>>,
    Form(form): Form<BackfillForm>,
) -> Response {
    if !csrf_ok(&ui, &form.csrf) {
        return bad_csrf();
    }
    let (ok, said) = match quick(&ui, &form.args(true)).await {
        Ok(r) => r,
        Err(said) => (false, said),
    };
    if !ok {
        return failed_page(&ui, "Backfill refused", &said);
    }
    let body = html! {
        h1 { "Backfill " (form.from.trim()) " to " (form.to.trim()) }
        pre.output { (said) }
        form method="post" action="/backfill" {
            (csrf_field(&ui))
            input type="hidden" name="from" value=(form.from.trim());
            input type="hidden" name="to" value=(form.to.trim());
            input type="hidden" name="reprocess" value=(form.reprocess);
            button type="submit" { "Start this backfill" }
            " " a href="/backfill" { "change the range" }
        }
    };
    Html(page(&ui, "Backfill preview", None, body).into_string()).into_response()
}

/// `POST /backfill`: the backfill, in the background.
pub(crate) async fn backfill(
    State(ui): State<Arc<Ui>>,
    Form(form): Form<BackfillForm>,
) -> Response {
    if !csrf_ok(&ui, &form.csrf) {
        return bad_csrf();
    }
    match start(&ui, "backfill", &form.args(false)).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(said) => failed_page(&ui, "The backfill did not start", &said),
    }
}
