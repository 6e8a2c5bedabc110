//! The registry of operators: what the generated code hands to the
//! executor, the built-in operators' implementations first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::context::{TaskContext, TaskResult};

use super::{noop, shell};

/// A boxed operator future.
pub type OperatorFuture = Pin<Box<dyn Future<Output = TaskResult> + Send>>;

/// How the executor calls an operator: the task's context and its rendered
/// parameters.
pub type OperatorFn = fn(Arc<TaskContext>, serde_json::Value) -> OperatorFuture;

/// An operator the binary can run.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    pub name: &'static str,
    pub run: OperatorFn,
    /// Runs to completion without awaiting (noop): the executor calls it
    /// inline, without a task of its own.
    pub instant: bool,
}

/// The built-in operators this build of the runtime implements (what the
/// executor needs to know of each is in its contract, [`super::BUILTINS`]).
pub fn builtins() -> Vec<Registered> {
    vec![
        builtin("noop", |c, p| Box::pin(noop::run(c, p)), true),
        builtin("shell", |c, p| Box::pin(shell::run(c, p)), false),
        #[cfg(feature = "http")]
        builtin("http", |c, p| Box::pin(super::http::run(c, p)), false),
        builtin(
            "wait_for",
            |c, p| Box::pin(super::wait_for::run(c, p)),
            false,
        ),
        #[cfg(feature = "predict")]
        builtin("predict", |c, p| Box::pin(super::predict::run(c, p)), false),
        #[cfg(feature = "sql")]
        builtin("sql", |c, p| Box::pin(super::sql::run(c, p)), false),
    ]
}

fn builtin(name: &'static str, run: OperatorFn, instant: bool) -> Registered {
    Registered { name, run, instant }
}

#[cfg(all(test, feature = "predict", feature = "http"))]
mod tests {
    /// With every operator feature on, the binary can run every built-in
    /// operator `chime check` accepts (one list: `operators::BUILTINS`).
    #[test]
    fn every_builtin_operator_is_registered() {
        let mut registered: Vec<&str> = super::builtins().iter().map(|r| r.name).collect();
        let mut specified: Vec<&str> = super::super::BUILTINS.iter().map(|o| o.name).collect();
        registered.sort_unstable();
        specified.sort_unstable();
        assert_eq!(registered, specified);
    }
}
