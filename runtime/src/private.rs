// The API generated code uses. Not for people: it changes with the
// compiler that generates against it (thiserror's `__private` pattern).

pub use crate::cli::main;
pub use crate::def::{ActionDef, Backoff, PipelineDef, TaskDef, TriggerRule};
pub use crate::operators::run::{builtins, Registered};
pub use crate::context::TaskContext;

/// Deserialises an operator's rendered parameters.
pub fn params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, crate::context::TaskError> {
    serde_json::from_value(v).map_err(|e| crate::context::TaskError::failed(format!("invalid parameters: {e}")))
}

/// An operator's result as the executor reads it.
pub fn finish(r: crate::context::Result<crate::context::Output>) -> crate::context::TaskResult {
    r.map(|o| o.0).map_err(|e| crate::context::TaskError::failed(e.to_string()))
}

/// Runs a plain (not async) operator on a blocking thread.
pub async fn blocking<F>(f: F) -> crate::context::TaskResult
where
    F: FnOnce() -> crate::context::Result<crate::context::Output> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => finish(r),
        Err(e) if e.is_panic() => Err(crate::context::TaskError::Panicked(crate::executor::panic_message(e.into_panic()))),
        Err(_) => Err(crate::context::TaskError::Interrupted),
    }
}
