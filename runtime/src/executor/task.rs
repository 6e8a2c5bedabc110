//! One task of the run as the executor holds it.

use std::sync::Arc;

use crate::compiled::TaskDef;
use crate::state::{TaskInstance, TaskState};

/// A task of the run: its definition, its instance (state and attempts),
/// and what the executor tracks to decide and retry it.
#[derive(Debug)]
pub(super) struct TaskRun {
    pub def: &'static TaskDef,
    /// Its id: `def.id`, or `group[key]` for an instance of a dynamic
    /// `for_each` made at run time.
    pub id: &'static str,
    /// Its `for_each` item, JSON.
    pub item: Option<Arc<str>>,
    /// For an instance of a dynamic `for_each`: the task it was made by.
    pub instance_of: Option<usize>,
    /// For an instance of a `for_each`: its place in the list of items.
    pub position: usize,
    /// Upstreams counted by its trigger rule: `def.upstream`, where a
    /// dynamic `for_each` counts as its instances once expanded.
    pub total: u32,
    pub instance: TaskInstance,
    /// Failed attempts (timeouts included), counted against `retries`;
    /// interrupted attempts are not.
    pub failures: u32,
    /// Its upstreams' final states so far.
    pub upstream: Counts,
    /// The tasks that list it as an upstream.
    pub downstream: Vec<usize>,
    /// Its trigger rule has been applied (it is ready, ran, or was given a
    /// final state without running), or its kept state was resumed.
    pub decided: bool,
    /// Run by this process: every task for `run`, the chosen ones for `task`.
    pub selected: bool,
    /// Its last failed attempt's error, for notifications.
    pub last_error: Option<String>,
}

impl TaskRun {
    pub fn new(def: &'static TaskDef, selected: bool) -> TaskRun {
        TaskRun {
            def,
            id: def.id,
            item: def.item.map(Arc::from),
            instance_of: None,
            position: 0,
            total: def.upstream.len() as u32,
            instance: TaskInstance::default(),
            failures: 0,
            upstream: Counts::default(),
            downstream: Vec::new(),
            decided: false,
            selected,
            last_error: None,
        }
    }

    pub fn state(&self) -> TaskState {
        self.instance.state()
    }

    /// A dynamic `for_each` task itself (not one of its instances): it
    /// runs no operator, it makes the instances.
    pub fn expands(&self) -> bool {
        self.def.expand.is_some() && self.instance_of.is_none()
    }

    /// Its `for_each` item, parsed.
    pub fn item_value(&self) -> Option<serde_json::Value> {
        self.item
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
    }
}

/// The id of an instance made at run time, kept for the process's life:
/// one allocation per distinct id, so a scheduler that makes the same
/// instances every day does not grow.
pub(super) fn intern(id: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static IDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let ids = IDS.get_or_init(Default::default);
    let mut ids = match ids.lock() {
        Ok(ids) => ids,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(known) = ids.get(id.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.into_boxed_str());
    ids.insert(leaked);
    leaked
}

/// A task's upstreams' final states, tallied as they come.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub success: u32,
    pub failed: u32,
    pub upstream_failed: u32,
    pub skipped: u32,
    pub done: u32,
}

impl Counts {
    /// One more upstream finished in `state`.
    pub fn add(&mut self, state: TaskState) {
        self.done += 1;
        match state {
            TaskState::Success => self.success += 1,
            TaskState::Failed => self.failed += 1,
            TaskState::UpstreamFailed => self.upstream_failed += 1,
            TaskState::Skipped => self.skipped += 1,
            _ => {}
        }
    }
}
