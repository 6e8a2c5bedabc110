//! What an operator gets when its task runs: the [`TaskContext`], and what
//! it is made of, one concept a file: cancellation (`cancel.rs`), the
//! attempt's log (`log_sink.rs`), how an attempt fails (`error.rs`);
//! secrets live in [`crate::secrets`]. Everything is re-exported here.

use std::path::PathBuf;
use std::sync::Arc;

mod cancel;
mod error;
mod files;
mod log_sink;

pub use cancel::{Cancel, CancelHandle, StopReason, cancel_pair};
pub use error::{TaskError, TaskResult, panic_message};
pub use files::{FileError, FileStore, Listed};
pub use log_sink::LogSink;

pub use crate::secrets::{Secrets, password_of, redact_url};

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

/// The largest output (as JSON text) a task may give. Outputs are stored
/// in the state, shown by `show` and handed to downstream templates whole;
/// a larger one fails the task rather than being cut (cut JSON is not the
/// value the task meant).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

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

    /// Files and objects: `list`, `get`, `open` and `put` on local paths
    /// and `s3://` URLs alike (see [`FileStore`]).
    pub fn storage(&self) -> FileStore {
        #[cfg(feature = "s3")]
        return FileStore::new(self.pool.storage_arc());
        #[cfg(not(feature = "s3"))]
        FileStore::default()
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
