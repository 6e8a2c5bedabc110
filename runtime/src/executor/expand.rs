//! Dynamic `for_each` (`for_each: "{{ tasks.list_days.output.days }}"`):
//! when its trigger rule says run, the task evaluates its list over its
//! upstreams' outputs and makes one instance per item, `task[KEY]` (KEY:
//! `instance_key`'s value, or the index). This is the task's one attempt;
//! its output, kept in the state, lists each instance's key and item, so
//! a resumed run makes the same instances again and runs only those that
//! had not finished. An empty list skips the task (as Airflow skips a
//! mapped task over nothing); a list that is not one, too many items, or
//! keys that cannot name an instance fail it.
//!
//! Downstream tasks wait for every instance: the task counts as its
//! instances in their trigger rules, and `tasks.ID.output` is the
//! instances' outputs, in item order.

use std::sync::Arc;
use std::time::Instant;

use super::launch::Inline;
use super::made::{instance_id, made_instances};
use super::task::{TaskRun, intern};
use super::{Exec, ExecError, now};
use crate::compiled::ExpandDef;
use crate::context::{MAX_OUTPUT_BYTES, TaskError};
use crate::state::{TaskInstance, TaskState};
use crate::store::{Change, TaskRecord};
use crate::template::{self, Outputs, RunContext};

impl Exec<'_> {
    /// Task `t`, a dynamic `for_each`, may run: evaluates its list and
    /// makes its instances (into `work`, to be decided), or skips or fails.
    pub(super) fn expand(&mut self, t: usize, work: &mut Vec<usize>) -> Result<(), ExecError> {
        let def = self.tasks[t].def;
        let Some(ex) = def.expand.as_ref() else {
            return Ok(());
        };
        let started = Instant::now();
        // What an earlier expansion made, if the task was made again.
        let records = self.store.task_records(&self.run_id)?;
        let made = instances(&self.env, &self.run, &self.outputs, ex)
            .and_then(|list| self.check_keys(def.group, list));
        if made.as_ref().is_ok_and(Vec::is_empty) {
            self.remove_stale(def.id, &records, &serde_json::Value::Null);
            self.set_state(t, TaskState::Skipped, None)?;
            let id = self.tasks[t].id;
            self.say(|| format!("{id} is skipped: its for_each gave no items"));
            self.finish(t, work);
            return Ok(());
        }
        let attempt = self.tasks[t]
            .instance
            .start_attempt()
            .map_err(|bug| ExecError::transition(def.id, bug))?;
        let inline = Inline::new(now(), String::new());
        let result = match made {
            Ok(list) => {
                let list: Vec<serde_json::Value> = list
                    .into_iter()
                    .map(|(key, item)| serde_json::json!([key, item]))
                    .collect();
                let made = serde_json::json!({ "instances": list });
                let size = made.to_string().len();
                if size > MAX_OUTPUT_BYTES {
                    Err(TaskError::failed(format!(
                        "the instances' keys and items are {size} bytes of JSON, over the {MAX_OUTPUT_BYTES} bytes the state keeps for a task: fan out over ids, and let each instance read its details"
                    )))
                } else {
                    Ok(Some(made))
                }
            }
            Err(e) => Err(TaskError::failed(e)),
        };
        let listed = result.as_ref().ok().and_then(Option::as_ref);
        self.remove_stale(def.id, &records, listed.unwrap_or(&serde_json::Value::Null));
        // Instances made again (the task was cleared) number their
        // attempts on from those recorded, which stay in the history.
        let tries: std::collections::HashMap<String, u32> = records
            .into_iter()
            .map(|r| (r.task_id, r.try_number))
            .collect();
        let first = self.tasks.len();
        self.complete(t, attempt, result, started.elapsed(), Some(inline))?;
        for i in first..self.tasks.len() {
            if let Some(&n) = tries.get(self.tasks[i].id)
                && self.tasks[i].state() == TaskState::None
            {
                self.tasks[i].instance = TaskInstance::restored(TaskState::None, n);
            }
        }
        Ok(())
    }

    /// Instances an earlier expansion of task `id` made that its new list
    /// `made` does not: `removed` (Airflow's state for them), their
    /// attempts kept in the history. Written to the row, not through the
    /// state machine: the instance is no longer a task of the run.
    fn remove_stale(&mut self, id: &str, records: &[TaskRecord], made: &serde_json::Value) {
        let listed: std::collections::HashSet<String> = made_instances(made)
            .map(|(key, _)| instance_id(id, key))
            .collect();
        for r in records {
            if r.state != TaskState::Removed
                && self.def.made_by(&r.task_id) == Some(id)
                && !listed.contains(&r.task_id)
            {
                self.changes.push(Change::Task {
                    run_id: self.run_id.clone(),
                    task_id: r.task_id.clone(),
                    state: TaskState::Removed,
                    try_number: r.try_number,
                    output: r.output.clone(),
                });
            }
        }
    }

    /// Keys that cannot name an instance here: one that holds a secret
    /// (ids are printed and kept in clear), a private-use character (the
    /// state's secret markers), or one whose log folder name is too long.
    fn check_keys(
        &self,
        group: &str,
        list: Vec<(String, serde_json::Value)>,
    ) -> Result<Vec<(String, serde_json::Value)>, String> {
        for (i, (key, _)) in list.iter().enumerate() {
            if self.secrets.redact(key) != key.as_str() {
                return Err(format!(
                    "item {i}: its instance key holds a secret; key the instances by something else"
                ));
            }
            if key.chars().any(|c| ('\u{e000}'..='\u{f8ff}').contains(&c)) {
                return Err(format!(
                    "item {i}: its instance key holds a private-use character"
                ));
            }
            if super::path_component(&instance_id(group, key)).len() > 255 {
                return Err(format!(
                    "item {i}: its instance key makes a log folder name over 255 bytes; use a shorter key"
                ));
            }
        }
        Ok(list)
    }

    /// Makes the instances of task `t` listed in its output `made`
    /// (`{"instances": [[key, item], ...]}`); their indices. Downstream
    /// tasks count them instead of `t`.
    pub(super) fn add_instances(
        &mut self,
        t: usize,
        made: &serde_json::Value,
    ) -> std::ops::Range<usize> {
        let first = self.tasks.len();
        let def = self.tasks[t].def;
        // An orchestrator runs each instance with its own `task` call: the
        // call that makes them (`--engine`) runs none.
        let all = self.whole_run || (self.tasks[t].selected && !self.engine);
        for (key, item) in made_instances(made) {
            let id = instance_id(def.group, key);
            let selected = all || self.instance.as_deref() == Some(id.as_str());
            let mut run = TaskRun::new(def, selected);
            run.id = intern(id);
            run.item = Some(Arc::from(item.to_string()));
            run.instance_of = Some(t);
            run.position = self.tasks.len() - first;
            run.total = 0;
            run.downstream = self.tasks[t].downstream.clone();
            self.groups
                .entry(def.group)
                .or_default()
                .push(self.tasks.len());
            self.tasks.push(run);
        }
        let n = (self.tasks.len() - first) as u32;
        if n > 0 {
            self.outputs.start_group(def.group, n as usize);
            for i in 0..self.tasks[t].downstream.len() {
                let d = self.tasks[t].downstream[i];
                self.tasks[d].total = self.tasks[d].total + n - 1;
            }
        }
        first..self.tasks.len()
    }
}

/// The instances `ex` makes: each one's key and item, in list order.
fn instances(
    env: &minijinja::Environment<'static>,
    run: &RunContext,
    outputs: &Arc<Outputs>,
    ex: &ExpandDef,
) -> Result<Vec<(String, serde_json::Value)>, String> {
    let list = template::evaluate(env, run, outputs, None, ex.over)
        .map_err(|e| format!("for_each: {e}"))?;
    let serde_json::Value::Array(items) = list else {
        return Err(format!(
            "for_each `{{{{ {} }}}}` gave {}, not a list",
            ex.over,
            kind(&list)
        ));
    };
    if items.len() > ex.max_instances as usize {
        return Err(format!(
            "for_each gave {} items, over max_instances ({}); raise max_instances, or fan out over fewer items",
            items.len(),
            ex.max_instances
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let key = match ex.key {
            None => i.to_string(),
            Some(expr) => {
                let value = template::evaluate(env, run, outputs, Some(&item), expr)
                    .map_err(|e| format!("instance_key of item {i}: {e}"))?;
                match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }
            }
        };
        if let Some(why) = crate::vocabulary::unsafe_item_label(&key) {
            return Err(format!(
                "item {i}: instance key `{}` cannot name an instance: {why}",
                crate::terminal::escape_controls(&key)
            ));
        }
        if !seen.insert(key.clone()) {
            return Err(format!(
                "items give the instance key `{key}` twice; give each item its own key (instance_key)"
            ));
        }
        out.push((key, item));
    }
    Ok(out)
}

/// What a JSON value is, for a message.
fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}
