//! The pipeline's `on_failure` actions, run once when a run fails.

use super::{Exec, path_component};
use crate::context::cancel_pair;
use crate::template;

impl Exec<'_> {
    /// Runs the pipeline's `on_failure` actions, once, in order. Their
    /// failures are reported on the console and in their logs; they do not
    /// change the run's state.
    pub(super) async fn on_failure(&mut self) {
        for (i, action) in self.def.on_failure.iter().enumerate() {
            let name = format!("on_failure[{i}]");
            let params: serde_json::Value = serde_json::from_str(action.params).unwrap_or_default();
            let rendered = template::render(&self.env, &self.run, &self.outputs, None, &params);
            let Some(op) = self.ops.get(action.operator).copied() else {
                self.say(|| {
                    format!(
                        "{name}: operator `{}` is not available in this binary",
                        action.operator
                    )
                });
                continue;
            };
            let params = match rendered {
                Ok(p) => p,
                Err(e) => {
                    self.say(|| format!("{name} failed: {e}"));
                    continue;
                }
            };
            let (_handle, cancel) = cancel_pair();
            let dir = self
                .opts
                .log_dir
                .join(path_component(&self.run_id))
                .join(path_component(&name));
            let ctx = self.task_context(
                &name,
                1,
                serde_json::Map::new(),
                dir.join("scratch"),
                dir.join("1.log"),
                cancel,
            );
            let log = ctx.log.clone();
            let result = tokio::spawn((op.run)(ctx, params))
                .await
                .map(|r| log.fail_on_write_error(r));
            match result {
                Ok(Ok(_)) => self.say(|| format!("{name} ({}) done", action.operator)),
                Ok(Err(e)) => self.say(|| format!("{name} ({}) failed: {e}", action.operator)),
                Err(e) => self.say(|| format!("{name} ({}) panicked: {e}", action.operator)),
            }
        }
        let _ = std::io::Write::flush(&mut self.console);
    }
}
