//! The chime runtime: what every emitted pipeline binary links.
//!
//! Without features this crate holds only the contracts that the compiler
//! and the runtime share: the value types of the pipeline language
//! ([`vocabulary`]) and the parameters of every built-in operator
//! ([`operators`]). The `rt` feature adds the executor, the state store,
//! the operators' implementations and the binary's command line.

pub mod broken_pipe;
pub mod object_url;
pub mod operators;
pub mod pg_options;
pub mod shell_quote;
pub mod vocabulary;

#[cfg(feature = "rt")]
pub mod claim;
#[cfg(feature = "rt")]
pub mod cli;
#[cfg(feature = "rt")]
pub mod compiled;
#[cfg(feature = "sql")]
pub mod conn;
#[cfg(feature = "rt")]
pub mod context;
#[cfg(feature = "schedule")]
pub mod deadline;
#[cfg(feature = "rt")]
pub mod executor;
#[cfg(feature = "rt")]
pub mod metrics;
#[cfg(feature = "onnx")]
pub mod ml;
#[cfg(feature = "rt")]
pub mod notify;
#[cfg(feature = "rt")]
pub mod operator;
#[cfg(feature = "pg-state")]
pub mod pg_tls;
#[cfg(feature = "rt")]
pub mod pipe_lines;
#[cfg(feature = "rt")]
pub mod pool;
#[cfg(feature = "rt")]
pub mod process_group;
#[cfg(feature = "sql")]
pub mod rows;
#[cfg(feature = "rt")]
pub mod runs;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(feature = "schedule")]
pub mod scheduler;
#[cfg(feature = "rt")]
pub mod secrets;
#[cfg(feature = "rt")]
pub mod state;
#[cfg(feature = "s3")]
pub mod storage;
#[cfg(feature = "rt")]
pub mod store;
#[cfg(feature = "rt")]
pub mod template;
#[cfg(feature = "rt")]
pub mod terminal;
#[cfg(feature = "ui")]
pub mod ui;
#[cfg(feature = "rt")]
pub mod web;

#[cfg(feature = "rt")]
pub use chime_macros::operator;
#[cfg(feature = "rt")]
pub use context::{Error, FileError, FileStore, Listed, Output, Result, TaskContext};

/// What an operator author needs: `use chime::prelude::*;`.
#[cfg(feature = "rt")]
pub mod prelude {
    pub use crate::context::{Error, Output, Result, StopReason, TaskContext};
    pub use crate::operator;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::json;
}

#[cfg(feature = "rt")]
#[doc(hidden)]
pub mod __private {
    include!("private.rs");
}
