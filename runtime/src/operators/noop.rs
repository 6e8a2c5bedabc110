//! `noop`: does nothing; joins branches.

use std::sync::Arc;

use crate::context::{TaskContext, TaskResult};

pub async fn run(_ctx: Arc<TaskContext>, _params: serde_json::Value) -> TaskResult {
    Ok(None)
}
