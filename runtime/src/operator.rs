//! What an operator's implementation calls: the API of built-in operators
//! and users' `#[chime::operator]` functions alike (the macro's generated
//! code reaches it through `__private`, which re-exports it).

use crate::context::{Output, Result, TaskError, TaskResult, panic_message};

/// Deserialises an operator's rendered parameters.
pub fn params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, TaskError> {
    serde_json::from_value(v).map_err(|e| TaskError::failed(format!("invalid parameters: {e}")))
}

/// An operator's result as the executor reads it.
pub fn finish(r: Result<Output>) -> TaskResult {
    r.map(|o| o.0).map_err(|e| TaskError::failed(e.to_string()))
}

/// Runs a plain (not async) operator on a blocking thread.
pub async fn blocking<F>(f: F) -> TaskResult
where
    F: FnOnce() -> Result<Output> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => finish(r),
        Err(e) if e.is_panic() => Err(TaskError::Panicked(panic_message(e.into_panic()))),
        Err(_) => Err(TaskError::Interrupted),
    }
}

/// Runs a built-in operator's work on a blocking thread: its JSON result
/// is the task's output, its error the task's failure message.
pub async fn blocking_json<F, E>(f: F) -> TaskResult
where
    F: FnOnce() -> std::result::Result<serde_json::Value, E> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    blocking(move || f().map(|v| Output(Some(v))).map_err(Into::into)).await
}
