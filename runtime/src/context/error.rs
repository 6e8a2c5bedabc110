//! How an attempt ends when it does not succeed, as the executor reads it.

use super::cancel::StopReason;
use crate::vocabulary::AttemptOutcome;

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

    /// How the attempt that ended with this error is recorded.
    pub fn outcome(&self) -> AttemptOutcome {
        match self {
            TaskError::Failed { .. } | TaskError::Panicked(_) => AttemptOutcome::Failed,
            TaskError::TimedOut => AttemptOutcome::TimedOut,
            TaskError::Interrupted => AttemptOutcome::Interrupted,
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

/// The message a panic carries (`panic!("...")`), for
/// [`TaskError::Panicked`].
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

impl From<StopReason> for TaskError {
    /// How an attempt that was asked to stop ends.
    fn from(reason: StopReason) -> TaskError {
        match reason {
            StopReason::TimedOut => TaskError::TimedOut,
            StopReason::Interrupted => TaskError::Interrupted,
        }
    }
}

/// An operator's result: its JSON output, if it has one.
pub type TaskResult = Result<Option<serde_json::Value>, TaskError>;
