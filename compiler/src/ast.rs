//! The pipeline as the checks see it: references into the YAML tree, so
//! every piece keeps its position. Built after the structural walk; a key
//! of the wrong type is simply absent here (it was reported already), which
//! keeps later checks from piling up cascades.

use rustc_hash::FxHashMap as HashMap;

use crate::source::FileId;
use crate::syntax::{Entry, Node, Value};

#[derive(Debug)]
pub struct Pipeline<'a> {
    pub file: FileId,
    pub root: &'a Node,
    pub name: Option<&'a Node>,
    pub description: Option<&'a Node>,
    pub schedule: Option<&'a Entry>,
    pub timezone: Option<&'a Entry>,
    pub start_date: Option<&'a Entry>,
    pub end_date: Option<&'a Entry>,
    pub catchup: Option<&'a Node>,
    pub max_active_runs: Option<&'a Node>,
    pub max_active_tasks: Option<&'a Node>,
    pub params: Vec<&'a Entry>,
    /// `pools:`, name to size.
    pub pools: Vec<&'a Entry>,
    pub connections: Vec<&'a Entry>,
    /// `storage:` itself (`storage: {}` asks for object storage with the
    /// AWS environment's settings) and its settings.
    pub storage_key: Option<&'a Entry>,
    pub storage: Vec<&'a Entry>,
    /// `ui:`: the status page is compiled in.
    pub ui_key: Option<&'a Entry>,
    pub notify: Vec<Notify<'a>>,
    /// `timeout:` and `sla:` (the run's deadlines).
    pub timeout: Option<&'a Node>,
    pub sla: Option<&'a Entry>,
    pub on_failure: Vec<Action<'a>>,
    /// `defaults:`, for the tasks that do not set a key themselves.
    pub defaults: Settings<'a>,
    /// `operators:` entries' `path` values.
    pub operator_crates: Vec<&'a Node>,
    /// `tasks:` entries, in file order.
    pub tasks: Vec<Task<'a>>,
    /// Task id -> index in `tasks`.
    pub task_index: HashMap<&'a str, usize>,
}

#[derive(Debug)]
pub struct Task<'a> {
    pub id: &'a str,
    /// The task id's key node (where "this task" is reported).
    pub key: &'a Node,
    pub operator: Option<&'a Node>,
    pub description: Option<&'a Node>,
    /// `depends_on` items that are strings.
    pub depends_on: Vec<&'a Node>,
    pub trigger_rule: Option<&'a Node>,
    pub with: Option<&'a Entry>,
    pub for_each: Option<&'a Node>,
    /// `when:`, a string: `{{ expression }}`.
    pub when: Option<&'a Node>,
    /// `pool:`, a name from `pools:`.
    pub pool: Option<&'a Node>,
    /// `for_each:` as a string: a dynamic `for_each`, `{{ expression }}`.
    pub expand: Option<&'a Node>,
    pub instance_key: Option<&'a Node>,
    pub max_instances: Option<&'a Node>,
    /// Its own settings (see [`Settings::or`] for the effective ones).
    pub settings: Settings<'a>,
    pub notify: Vec<Notify<'a>>,
}

/// A `notify:` entry (the pipeline's or a task's).
#[derive(Debug)]
pub struct Notify<'a> {
    pub node: &'a Node,
    /// `on:` items that are strings.
    pub on: Vec<&'a Node>,
    /// The channel: its key (`email`, `slack`, `http`) and settings.
    pub channel: Option<&'a Entry>,
}

fn notify_entries(entry: Option<&Entry>) -> Vec<Notify<'_>> {
    let Some(items) = entry.and_then(|e| e.value.as_seq()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|n| n.as_map().is_some())
        .map(|n| Notify {
            node: n,
            on: n
                .get("on")
                .and_then(|e| e.value.as_seq())
                .map(|s| s.iter().filter(|i| i.as_str().is_some()).collect())
                .unwrap_or_default(),
            channel: ["email", "slack", "http"]
                .iter()
                .find_map(|k| n.get(k))
                .filter(|e| e.value.as_map().is_some()),
        })
        .collect()
}

/// The retry and timeout keys a task sets itself or takes from `defaults:`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Settings<'a> {
    pub retries: Option<&'a Node>,
    pub retry_delay: Option<&'a Node>,
    pub retry_backoff: Option<&'a Node>,
    pub max_retry_delay: Option<&'a Node>,
    pub timeout: Option<&'a Node>,
}

impl<'a> Settings<'a> {
    fn of(node: Option<&'a Node>) -> Settings<'a> {
        let get = |k: &str| node.and_then(|n| n.get(k)).map(|e| &e.value);
        Settings {
            retries: get("retries"),
            retry_delay: get("retry_delay"),
            retry_backoff: get("retry_backoff"),
            max_retry_delay: get("max_retry_delay"),
            timeout: get("timeout"),
        }
    }

    /// Each key from `self`, else from `defaults`.
    pub fn or(self, defaults: Settings<'a>) -> Settings<'a> {
        Settings {
            retries: self.retries.or(defaults.retries),
            retry_delay: self.retry_delay.or(defaults.retry_delay),
            retry_backoff: self.retry_backoff.or(defaults.retry_backoff),
            max_retry_delay: self.max_retry_delay.or(defaults.max_retry_delay),
            timeout: self.timeout.or(defaults.timeout),
        }
    }
}

/// An `on_failure` action.
#[derive(Debug)]
pub struct Action<'a> {
    pub node: &'a Node,
    pub operator: Option<&'a Node>,
    pub with: Option<&'a Entry>,
}

fn string_node(entry: Option<&Entry>) -> Option<&Node> {
    entry.map(|e| &e.value).filter(|n| n.as_str().is_some())
}

fn entries(entry: Option<&Entry>) -> Vec<&Entry> {
    entry
        .and_then(|e| e.value.as_map())
        .map(|m| m.iter().filter(|e| e.key.as_str().is_some()).collect())
        .unwrap_or_default()
}

impl<'a> Pipeline<'a> {
    pub fn lower(file: FileId, root: &'a Node) -> Pipeline<'a> {
        let get = |k: &str| root.get(k);
        let string_entry = |k: &str| get(k).filter(|e| e.value.as_str().is_some());
        let mut tasks = Vec::new();
        for entry in entries(get("tasks")) {
            let id = entry.key.as_str().unwrap_or_default();
            let node = &entry.value;
            let depends_on = node
                .get("depends_on")
                .and_then(|e| e.value.as_seq())
                .map(|items| items.iter().filter(|n| n.as_str().is_some()).collect())
                .unwrap_or_default();
            tasks.push(Task {
                id,
                key: &entry.key,
                operator: string_node(node.get("operator")),
                description: string_node(node.get("description")),
                depends_on,
                trigger_rule: string_node(node.get("trigger_rule")),
                with: node
                    .get("with")
                    .filter(|e| matches!(e.value.value, Value::Map(_))),
                for_each: node
                    .get("for_each")
                    .map(|e| &e.value)
                    .filter(|n| n.as_seq().is_some()),
                when: string_node(node.get("when")),
                pool: string_node(node.get("pool")),
                expand: string_node(node.get("for_each")),
                instance_key: string_node(node.get("instance_key")),
                max_instances: node.get("max_instances").map(|e| &e.value),
                settings: Settings::of(Some(node)),
                notify: notify_entries(node.get("notify")),
            });
        }
        let mut task_index = HashMap::with_capacity_and_hasher(tasks.len(), Default::default());
        for (i, t) in tasks.iter().enumerate() {
            task_index.entry(t.id).or_insert(i);
        }
        let on_failure = get("on_failure")
            .and_then(|e| e.value.as_seq())
            .map(|items| {
                items
                    .iter()
                    .filter(|n| n.as_map().is_some())
                    .map(|n| Action {
                        node: n,
                        operator: string_node(n.get("operator")),
                        with: n
                            .get("with")
                            .filter(|e| matches!(e.value.value, Value::Map(_))),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let operator_crates = get("operators")
            .and_then(|e| e.value.as_seq())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|n| string_node(n.get("path")))
                    .collect()
            })
            .unwrap_or_default();
        Pipeline {
            file,
            root,
            name: string_node(get("pipeline")),
            description: string_node(get("description")),
            schedule: string_entry("schedule"),
            timezone: string_entry("timezone"),
            start_date: string_entry("start_date"),
            end_date: string_entry("end_date"),
            catchup: get("catchup").map(|e| &e.value),
            max_active_runs: get("max_active_runs").map(|e| &e.value),
            max_active_tasks: get("max_active_tasks").map(|e| &e.value),
            params: entries(get("params")),
            pools: entries(get("pools")),
            connections: entries(get("connections")),
            storage_key: get("storage"),
            storage: entries(get("storage")),
            ui_key: get("ui"),
            notify: notify_entries(get("notify")),
            timeout: string_node(get("timeout")),
            sla: get("sla").filter(|e| e.value.as_map().is_some()),
            on_failure,
            defaults: Settings::of(get("defaults").map(|e| &e.value)),
            operator_crates,
            tasks,
            task_index,
        }
    }

    pub fn task(&self, id: &str) -> Option<&Task<'a>> {
        self.task_index.get(id).map(|&i| &self.tasks[i])
    }
}
