//! `wait_for`: a sensor. Checks every `poke_interval` (default 30s) until
//! a file exists, a query returns at least one row, or a URL answers 2xx;
//! fails with a clear message after `timeout` (default 24h). Its output
//! says how long it waited and how many checks it made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::{TaskContext, TaskError, TaskResult};

const DEFAULT_POKE: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
enum Probe {
    File(String),
    #[cfg_attr(not(feature = "sql"), allow(dead_code))]
    Sql {
        connection: String,
        query: String,
    },
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Url(String),
}

impl Probe {
    fn describe(&self) -> String {
        match self {
            Probe::File(p) if crate::object_url::looks_like_url(p) && p.ends_with('/') => {
                format!("no object under {p}")
            }
            Probe::File(p) if crate::object_url::looks_like_url(p) => {
                format!("the object {p} does not exist")
            }
            Probe::File(p) => format!("the file {p} does not exist"),
            Probe::Sql { connection, .. } => {
                format!("the query on connection `{connection}` returned no rows")
            }
            Probe::Url(u) => format!("{u} did not answer 2xx"),
        }
    }

    /// One check: Ok(true) when the condition holds. An error that may pass
    /// (a refused connection, a 503) counts as "not yet" and is logged.
    fn check(&self, ctx: &TaskContext) -> Result<bool, CheckError> {
        // Without sql and http, only files are checked.
        let _ = ctx;
        match self {
            Probe::File(p) => match crate::object_url::parse(p) {
                None => Ok(std::path::Path::new(p).exists()),
                #[cfg(feature = "s3")]
                Some(url) => url
                    .map_err(crate::storage::StorageError::from)
                    .and_then(|url| ctx.pool.storage().exists(&url))
                    .map_err(|e| {
                        if e.is_permanent() {
                            CheckError::Permanent(e.to_string())
                        } else {
                            CheckError::Query(e.to_string())
                        }
                    }),
                #[cfg(not(feature = "s3"))]
                Some(_) => Err(CheckError::Unsupported("s3")),
            },
            #[cfg(feature = "sql")]
            Probe::Sql { connection, query } => {
                struct Any(bool);
                impl crate::rows::RowSink for Any {
                    fn columns(
                        &mut self,
                        names: &[String],
                    ) -> Result<Vec<crate::rows::Want>, crate::rows::SinkError>
                    {
                        Ok(vec![crate::rows::Want::Skip; names.len()])
                    }
                    fn row(
                        &mut self,
                        _: &[crate::rows::Cell],
                        _: &dyn Fn() -> String,
                    ) -> Result<(), crate::rows::SinkError> {
                        self.0 = true;
                        // One row is enough: stop reading.
                        Err(String::new().into())
                    }
                }
                let mut any = Any(false);
                let input = crate::rows::Input::Sql {
                    connection: connection.clone(),
                    query: query.clone(),
                    args: Vec::new(),
                };
                match crate::rows::read(&input, &ctx.pool, &mut any) {
                    Ok(()) => Ok(any.0),
                    Err(_) if any.0 => Ok(true),
                    Err(e) => Err(CheckError::Query(e.to_string())),
                }
            }
            #[cfg(not(feature = "sql"))]
            Probe::Sql { .. } => Err(CheckError::Unsupported("sql")),
            #[cfg(feature = "http")]
            Probe::Url(u) => match super::http::agent().get(u).call() {
                Ok(r) => Ok((200..300).contains(&r.status())),
                Err(ureq::Error::Status(code, _)) => {
                    ctx.log(format!("{u} answered {code}"));
                    Ok(false)
                }
                Err(e) => Err(CheckError::Request(Box::new(e))),
            },
            #[cfg(not(feature = "http"))]
            Probe::Url(_) => Err(CheckError::Unsupported("http")),
        }
    }
}

/// Why a check could not tell (logged; the sensor checks again).
#[derive(Debug)]
enum CheckError {
    /// The query failed (a refused connection, a missing table), or the
    /// object storage did.
    #[cfg_attr(not(feature = "sql"), allow(dead_code))]
    Query(String),
    /// The URL could not be reached.
    #[cfg(feature = "http")]
    Request(Box<ureq::Error>),
    /// Asking again cannot help (refused credentials, a missing bucket):
    /// the sensor fails at once.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    Permanent(String),
    /// The probe needs a feature this binary was built without.
    #[cfg_attr(
        all(feature = "sql", feature = "http", feature = "s3"),
        allow(dead_code)
    )]
    Unsupported(&'static str),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Query(e) | CheckError::Permanent(e) => f.write_str(e),
            #[cfg(feature = "http")]
            CheckError::Request(e) => write!(f, "{e}"),
            CheckError::Unsupported(feature) => {
                write!(f, "this binary was built without `{feature}` support")
            }
        }
    }
}

/// The duration `key` of the parameters, or `default`.
fn duration(p: &serde_json::Value, key: &str, default: Duration) -> Result<Duration, TaskError> {
    match p.get(key).and_then(|v| v.as_str()) {
        None => Ok(default),
        Some(text) => crate::vocabulary::parse_duration(text).ok_or_else(|| {
            TaskError::failed(format!(
                "`{key}: {text}` is not a duration (500ms, 30s, 10m, 2h, 1d)"
            ))
        }),
    }
}

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let s = |k: &str| params.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let probe = match (s("file"), s("sql"), s("url")) {
        (Some(f), _, _) => Probe::File(f),
        (None, Some(q), _) => Probe::Sql {
            connection: s("connection")
                .ok_or_else(|| TaskError::failed("`wait_for: {sql}` needs `connection`"))?,
            query: q,
        },
        (None, None, Some(u)) => Probe::Url(u),
        _ => return Err(TaskError::failed("`wait_for` needs `file`, `sql` or `url`")),
    };
    let poke = duration(&params, "poke_interval", DEFAULT_POKE)?;
    let timeout = duration(&params, "timeout", DEFAULT_TIMEOUT)?;
    let started = Instant::now();
    let mut pokes = 0u64;
    let mut cancel = ctx.cancel.clone();
    // The last check's error, for the timeout's message.
    let mut last_error: Option<String>;
    loop {
        pokes += 1;
        let c = ctx.clone();
        let p = probe.clone();
        let result = tokio::task::spawn_blocking(move || p.check(&c))
            .await
            .map_err(|e| TaskError::failed(format!("the check stopped: {e}")))?;
        match result {
            Ok(true) => {
                let waited = started.elapsed().as_secs_f64();
                ctx.log(format!("ready after {waited:.1}s ({pokes} checks)"));
                return Ok(Some(serde_json::json!({
                    "waited_seconds": (waited * 1000.0).round() / 1000.0,
                    "pokes": pokes,
                })));
            }
            Ok(false) => last_error = None,
            Err(CheckError::Permanent(e)) => {
                return Err(TaskError::failed(format!(
                    "wait_for stopped at check {pokes}: {e}"
                )));
            }
            Err(e) => {
                ctx.log(format!("check {pokes}: {e}"));
                last_error = Some(e.to_string());
            }
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            let last = last_error
                .map(|e| format!(" (the last check failed: {e})"))
                .unwrap_or_default();
            return Err(TaskError::failed(format!(
                "wait_for timed out after {:.1}s ({pokes} checks): {}{last}",
                elapsed.as_secs_f64(),
                probe.describe()
            )));
        }
        let nap = poke.min(timeout - elapsed);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            reason = cancel.cancelled() => {
                return Err(reason.into());
            }
        }
    }
}
