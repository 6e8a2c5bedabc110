// The API generated code uses. Not for people: it changes with the
// compiler that generates against it (thiserror's `__private` pattern).

pub use crate::cli::main;
pub use crate::compiled::{ActionDef, Backoff, Channel, ExpandDef, NotifyDef, NotifyEvent, PipelineDef, SlaDef, TaskDef, TriggerRule};
pub use crate::operators::registry::{builtins, Registered};
pub use crate::context::TaskContext;
pub use crate::operator::{blocking, finish, params};
