//! What an operator gets when its task runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub use crate::secrets::{Secrets, password_of, redact_url};

/// Why an attempt was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    TimedOut,
    /// SIGINT or SIGTERM reached the pipeline's process.
    Interrupted,
}

/// Fires when the attempt must stop (timeout, SIGTERM). Operators that run
/// for long await [`Cancel::cancelled`] alongside their work.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<Option<StopReason>>);

/// The executor's side of a [`Cancel`].
#[derive(Debug)]
pub struct CancelHandle(watch::Sender<Option<StopReason>>);

pub fn cancel_pair() -> (CancelHandle, Cancel) {
    let (tx, rx) = watch::channel(None);
    (CancelHandle(tx), Cancel(rx))
}

impl CancelHandle {
    pub fn cancel(&self, reason: StopReason) {
        let _ = self.0.send(Some(reason));
    }
}

impl Cancel {
    /// Resolves when the attempt is asked to stop, with the reason.
    pub async fn cancelled(&mut self) -> StopReason {
        loop {
            if let Some(reason) = *self.0.borrow() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                // The executor is gone: nobody will ever cancel; wait forever.
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }
}

/// Where a task's output lines go: its attempt's log file (created on the
/// first line, so silent tasks cost no file) and the console, prefixed by
/// the task id, with control characters escaped
/// ([`crate::terminal::escape_controls`]).
///
/// A write that fails (a full disk, a removed directory) is not retried:
/// the first error is kept, and the executor fails the attempt with it
/// ([`LogSink::fail_on_write_error`]) rather than letting a task succeed
/// with a truncated log.
#[derive(Debug)]
pub struct LogSink {
    pub path: PathBuf,
    task_id: String,
    file: Mutex<LogFile>,
    echo: bool,
    secrets: Secrets,
}

#[derive(Debug, Default)]
enum LogFile {
    #[default]
    Unopened,
    Open(std::fs::File),
    /// Opening or writing failed: the message names the path and the error.
    Failed(String),
}

impl LogSink {
    pub fn new(path: PathBuf, task_id: &str, echo: bool) -> LogSink {
        LogSink {
            path,
            task_id: task_id.to_string(),
            file: Mutex::new(LogFile::Unopened),
            echo,
            secrets: Secrets::default(),
        }
    }

    /// The same sink, redacting `secrets` from every line.
    pub fn with_secrets(mut self, secrets: Secrets) -> LogSink {
        self.secrets = secrets;
        self
    }

    /// Writes one line (without its newline).
    pub fn line(&self, line: &str) {
        let line = self.secrets.redact(line);
        if let Ok(mut slot) = self.file.lock() {
            if let LogFile::Unopened = *slot {
                *slot = match self.open() {
                    Ok(f) => LogFile::Open(f),
                    Err(e) => LogFile::Failed(self.write_failed(&e)),
                };
            }
            if let LogFile::Open(f) = &mut *slot {
                // One write per line: lines of concurrent writers do not mix.
                let mut bytes = Vec::with_capacity(line.len() + 1);
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
                if let Err(e) = f.write_all(&bytes) {
                    *slot = LogFile::Failed(self.write_failed(&e));
                }
            }
        }
        if self.echo {
            // The log keeps the task's text; the terminal gets it escaped.
            let line = crate::terminal::escape_controls(&line);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{} | {line}", self.task_id);
        }
    }
}

impl LogSink {
    fn open(&self) -> std::io::Result<std::fs::File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }

    fn write_failed(&self, e: &std::io::Error) -> String {
        format!(
            "cannot write the log {}: {e}; the log is incomplete (free disk space, or check the directory's permissions)",
            self.path.display()
        )
    }

    /// Why the log could not be written, if a write failed.
    pub fn write_error(&self) -> Option<String> {
        match &*self.file.lock().ok()? {
            LogFile::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// `result`, failed if the log could not be written: a task does not
    /// succeed with a truncated log. A failure keeps its own message, with
    /// the log's error after it; a timeout or an interruption is kept as
    /// it is.
    pub fn fail_on_write_error(&self, result: TaskResult) -> TaskResult {
        let Some(e) = self.write_error() else {
            return result;
        };
        match result {
            Ok(_) => Err(TaskError::failed(e)),
            Err(TaskError::Failed { message, exit_code }) => Err(TaskError::Failed {
                message: format!("{message}; {e}"),
                exit_code,
            }),
            Err(other) => Err(other),
        }
    }
}

/// What an operator sees of its task and run (Airflow's context).
#[derive(Debug)]
pub struct TaskContext {
    pub pipeline: &'static str,
    pub run_id: String,
    pub task_id: String,
    /// 1 for the first attempt.
    pub try_number: u32,
    pub logical_date: String,
    pub data_interval_start: String,
    pub data_interval_end: String,
    pub params: serde_json::Value,
    /// Outputs of the task's upstreams, by task id.
    pub upstream_outputs: serde_json::Map<String, serde_json::Value>,
    /// The pipeline's named connections, rendered for this run.
    pub connections: Arc<std::collections::BTreeMap<String, String>>,
    /// The run's open connections (`sql`, `predict`, `wait_for`).
    #[cfg(feature = "sql")]
    pub pool: Arc<crate::conn::Pool>,
    /// What must not be shown (see [`Secrets`]).
    pub secrets: Secrets,
    /// A directory of the attempt's own, created on demand.
    pub scratch_dir: PathBuf,
    pub log: Arc<LogSink>,
    pub cancel: Cancel,
}

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The operator reported a failure (a non-zero exit, an HTTP 500, ...).
    Failed {
        message: String,
        exit_code: Option<i32>,
    },
    /// The attempt ran past its timeout and was stopped.
    TimedOut,
    /// SIGINT/SIGTERM: the attempt was stopped; it is run again on resume.
    Interrupted,
    /// The operator panicked: a bug in the operator, isolated to its task.
    Panicked(String),
}

impl TaskError {
    pub fn failed(message: impl Into<String>) -> TaskError {
        TaskError::Failed {
            message: message.into(),
            exit_code: None,
        }
    }

    pub fn outcome(&self) -> &'static str {
        match self {
            TaskError::Failed { .. } | TaskError::Panicked(_) => "failed",
            TaskError::TimedOut => "timed_out",
            TaskError::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskError::Failed { message, .. } => f.write_str(message),
            TaskError::TimedOut => f.write_str("timed out"),
            TaskError::Interrupted => f.write_str("interrupted"),
            TaskError::Panicked(m) => write!(f, "the operator panicked: {m}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// The largest output (as JSON text) a task may give. Outputs are stored
/// in the state, shown by `show` and handed to downstream templates whole;
/// a larger one fails the task rather than being cut (cut JSON is not the
/// value the task meant).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// An operator's result: its JSON output, if it has one.
pub type TaskResult = Result<Option<serde_json::Value>, TaskError>;

impl TaskContext {
    /// Writes a line to the attempt's log (and the console, when the run
    /// is in the foreground).
    pub fn log(&self, line: impl AsRef<str>) {
        self.log.line(line.as_ref());
    }

    /// The output of upstream task `id`, if it succeeded with one.
    pub fn upstream_output(&self, id: &str) -> Option<&serde_json::Value> {
        self.upstream_outputs.get(id)
    }

    /// A named connection (`connections:` in the pipeline), rendered.
    pub fn connection(&self, name: &str) -> Option<&str> {
        self.connections.get(name).map(String::as_str)
    }

    /// The attempt's own scratch directory, created on first use.
    pub fn scratch_dir(&self) -> std::io::Result<&std::path::Path> {
        std::fs::create_dir_all(&self.scratch_dir)?;
        Ok(&self.scratch_dir)
    }

    /// Whether the attempt has been asked to stop (timeout, SIGTERM).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.reason().is_some()
    }

    /// Resolves when the attempt is asked to stop: await it beside long
    /// work (`tokio::select!`) to stop promptly.
    pub async fn cancelled(&self) -> StopReason {
        self.cancel.clone().cancelled().await
    }
}

/// What an operator returns: its JSON output, readable downstream as
/// `{{ tasks.ID.output }}`, or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output(pub Option<serde_json::Value>);

impl Output {
    /// No output.
    pub fn none() -> Output {
        Output(None)
    }

    /// Any serialisable value as the output.
    pub fn json<T: serde::Serialize>(value: T) -> Output {
        Output(serde_json::to_value(value).ok())
    }
}

/// An operator's error: any error type converts into it with `?`, and a
/// message with `Err("...".into())`.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An operator's result.
pub type Result<T = Output, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_log_write_that_fails_is_reported_with_the_path_and_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let log = LogSink::new(path.clone(), "t", false);
        assert_eq!(
            log.fail_on_write_error(Ok(None)),
            Ok(None),
            "nothing written yet"
        );
        log.line("a line");
        let e = log.write_error().expect("an error");
        assert!(
            e.starts_with(&format!("cannot write the log {}: ", path.display()))
                && e.contains("No space left on device"),
            "{e}"
        );
        assert_eq!(
            log.fail_on_write_error(Ok(None)),
            Err(TaskError::failed(e.clone()))
        );
        assert_eq!(
            log.fail_on_write_error(Err(TaskError::Failed {
                message: "exit 3".into(),
                exit_code: Some(3)
            })),
            Err(TaskError::Failed {
                message: format!("exit 3; {e}"),
                exit_code: Some(3)
            })
        );
        assert_eq!(
            log.fail_on_write_error(Err(TaskError::TimedOut)),
            Err(TaskError::TimedOut)
        );
    }

    #[test]
    fn a_log_directory_that_cannot_be_made_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a file");
        std::fs::write(&file, "").unwrap();
        let log = LogSink::new(file.join("t").join("1.log"), "t", false);
        log.line("x");
        assert!(
            log.write_error()
                .is_some_and(|e| e.contains("cannot write the log"))
        );
    }
}
