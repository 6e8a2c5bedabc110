//! The resolved pipeline: defaults applied, `for_each` expanded, tasks in a
//! stable topological order, every value in its final type. What code
//! generation consumes; built only from a pipeline `check` accepted.

use std::collections::BTreeMap;

use runtime::vocabulary::parse_duration;
use serde_json::Value as Json;

use crate::analysis::Analysis;
use crate::syntax::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Ir {
    pub name: String,
    pub description: String,
    /// 5-field cron, presets expanded.
    pub schedule: Option<String>,
    pub timezone: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub max_active_tasks: Option<u32>,
    pub params: Json,
    pub connections: BTreeMap<String, String>,
    /// `storage:`, each value as text (a template); `None` without it.
    pub storage: Option<BTreeMap<String, String>>,
    /// `ui:`: compile in the status page and /metrics server.
    pub ui: bool,
    /// `ui: {url}`.
    pub ui_url: Option<String>,
    pub notify: Vec<Notify>,
    /// `timeout:`, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `sla:`: `max_duration` in milliseconds, and `finish_by`.
    pub sla: Option<(Option<u64>, Option<String>)>,
    pub on_failure: Vec<(String, Json)>,
    pub tasks: Vec<Task>,
    /// Operator crates to link, with their operators' descriptors.
    pub operator_crates: Vec<LinkedCrate>,
    /// Compile in PostgreSQL state (`chime build --postgres-state`).
    pub postgres_state: bool,
}

/// An operators crate the generated crate depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedCrate {
    pub package: String,
    pub lib_name: String,
    pub path: std::path::PathBuf,
    /// Rust paths (from the crate root) of the operators' descriptors.
    pub descriptors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub group: String,
    pub operator: String,
    pub description: String,
    pub upstream: Vec<usize>,
    pub trigger_rule: runtime::vocabulary::TriggerRule,
    pub retries: u32,
    pub retry_delay_ms: u64,
    pub retry_backoff: runtime::vocabulary::Backoff,
    pub max_retry_delay_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub params: Json,
    pub item: Option<Json>,
    /// The expression of `when: "{{ expression }}"`.
    pub when: Option<String>,
    /// `pool:` and the pool's size.
    pub pool: Option<(String, u32)>,
    /// A dynamic `for_each`.
    pub expand: Option<Expand>,
    pub notify: Vec<Notify>,
}

/// A dynamic `for_each`: the expressions of the list and of the instance
/// key, and the most instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub over: String,
    pub key: Option<String>,
    pub max_instances: u32,
}

/// Instances a dynamic `for_each` may make unless `max_instances` says
/// otherwise (Airflow's `max_map_length`).
pub const DEFAULT_MAX_INSTANCES: u32 = 1024;

/// A `notify:` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub on: Vec<runtime::vocabulary::NotifyEvent>,
    pub channel: runtime::vocabulary::Channel,
    /// The channel's settings; strings are templates.
    pub params: Json,
}

fn notify(entries: &[crate::ast::Notify<'_>]) -> Vec<Notify> {
    entries
        .iter()
        .filter_map(|n| {
            let channel = n.channel?;
            Some(Notify {
                on: n
                    .on
                    .iter()
                    .filter_map(|e| runtime::vocabulary::NotifyEvent::parse(e.as_str()?))
                    .collect(),
                channel: runtime::vocabulary::Channel::parse(channel.key.as_str()?)?,
                params: to_json(&channel.value),
            })
        })
        .collect()
}

/// Default wait between tries when neither the task nor `defaults` says.
pub const DEFAULT_RETRY_DELAY_MS: u64 = 30_000;

pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str { text, .. } => Json::String(text.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key_text(), to_json(&e.value)))
                .collect(),
        ),
    }
}

/// How a `for_each` item names its instance: `per_region[kr]`.
pub fn item_label(item: &Json) -> String {
    match item {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub use runtime::vocabulary::{MAX_ITEM_LABEL, unsafe_item_label};

impl Ir {
    /// The IR of a pipeline `check` accepted, from its analysis: the typed
    /// tree, the dependency graph and the operator crates check read.
    pub fn build(a: &Analysis<'_>) -> Ir {
        let p = &a.pipeline;
        let text = |n: Option<&Node>| n.and_then(Node::as_str).map(str::to_string);
        let entry_text = |e: Option<&crate::syntax::Entry>| text(e.map(|e| &e.value));
        let int = |n: Option<&Node>| match n.map(|n| &n.value) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        let duration = |n: Option<&Node>| {
            n.and_then(Node::as_str)
                .and_then(parse_duration)
                .map(|d| d.as_millis() as u64)
        };
        let object = |entries: &mut dyn Iterator<Item = &crate::syntax::Entry>| {
            Json::Object(entries.map(|e| (e.key_text(), to_json(&e.value))).collect())
        };

        // Expand for_each, in file order; `instances[t]`: task t's instances.
        let mut tasks: Vec<Task> = Vec::new();
        let mut instances: Vec<Vec<usize>> = Vec::with_capacity(p.tasks.len());
        for task in &p.tasks {
            let items: Vec<Option<Json>> = match task.for_each.and_then(Node::as_seq) {
                Some(items) => items.iter().map(|i| Some(to_json(i))).collect(),
                None => vec![None],
            };
            let settings = task.settings.or(p.defaults);
            let mut mine = Vec::with_capacity(items.len());
            for item in items {
                let instance = match &item {
                    Some(i) => format!("{}[{}]", task.id, item_label(i)),
                    None => task.id.to_string(),
                };
                mine.push(tasks.len());
                tasks.push(Task {
                    id: instance,
                    group: task.id.to_string(),
                    operator: text(task.operator).unwrap_or_else(|| "noop".into()),
                    description: text(task.description).unwrap_or_default(),
                    upstream: Vec::new(),
                    // `chime check` refused any other value (E003).
                    trigger_rule: task
                        .trigger_rule
                        .and_then(Node::as_str)
                        .and_then(runtime::vocabulary::TriggerRule::parse)
                        .unwrap_or_default(),
                    retries: int(settings.retries).unwrap_or(0).max(0) as u32,
                    retry_delay_ms: duration(settings.retry_delay)
                        .unwrap_or(DEFAULT_RETRY_DELAY_MS),
                    retry_backoff: settings
                        .retry_backoff
                        .and_then(Node::as_str)
                        .and_then(runtime::vocabulary::Backoff::parse)
                        .unwrap_or_default(),
                    max_retry_delay_ms: duration(settings.max_retry_delay),
                    timeout_ms: duration(settings.timeout),
                    params: task
                        .with
                        .map_or(Json::Object(Default::default()), |e| to_json(&e.value)),
                    item,
                    when: text(task.when).and_then(|w| {
                        runtime::vocabulary::condition_expression(&w).map(String::from)
                    }),
                    notify: notify(&task.notify),
                    expand: text(task.expand).and_then(|over| {
                        let expression = |s: &str| {
                            runtime::vocabulary::condition_expression(s).map(String::from)
                        };
                        Some(Expand {
                            over: expression(&over)?,
                            key: text(task.instance_key).and_then(|k| expression(&k)),
                            max_instances: int(task.max_instances)
                                .map_or(DEFAULT_MAX_INSTANCES, |m| {
                                    m.clamp(1, u32::MAX as i64) as u32
                                }),
                        })
                    }),
                    pool: text(task.pool).and_then(|name| {
                        let size = p.pools.iter().find(|e| e.key.as_str() == Some(&name))?;
                        Some((
                            name,
                            int(Some(&size.value))?.clamp(1, u32::MAX as i64) as u32,
                        ))
                    }),
                });
            }
            instances.push(mine);
        }
        // Every instance of a task depends on every instance of its upstreams.
        let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
        for (t, ups) in a.graph.upstream.iter().enumerate() {
            let of_ups: Vec<usize> = ups.iter().flat_map(|&u| &instances[u]).copied().collect();
            for &i in &instances[t] {
                upstream[i] = of_ups.clone();
            }
        }
        let order = crate::analysis::topological(&upstream);
        let mut position = vec![0; tasks.len()];
        for (pos, &t) in order.iter().enumerate() {
            position[t] = pos;
        }
        let mut sorted: Vec<Task> = order.iter().map(|&t| tasks[t].clone()).collect();
        for (pos, &t) in order.iter().enumerate() {
            let mut ups: Vec<usize> = upstream[t].iter().map(|&u| position[u]).collect();
            ups.sort_unstable();
            ups.dedup();
            sorted[pos].upstream = ups;
        }

        let schedule = entry_text(p.schedule).map(|s| {
            let s = s.trim().to_string();
            crate::cron::PRESETS
                .iter()
                .find(|(p, _)| *p == s)
                .map_or(s, |(_, e)| e.to_string())
        });
        Ir {
            name: text(p.name).unwrap_or_default(),
            description: text(p.description).unwrap_or_default(),
            schedule,
            timezone: entry_text(p.timezone).unwrap_or_else(|| "UTC".into()),
            start_date: entry_text(p.start_date),
            end_date: entry_text(p.end_date),
            catchup: matches!(p.catchup.map(|n| &n.value), Some(Value::Bool(true))),
            max_active_runs: int(p.max_active_runs).unwrap_or(1).max(1) as u32,
            max_active_tasks: int(p.max_active_tasks).map(|m| m.max(1) as u32),
            params: object(&mut p.params.iter().copied()),
            connections: p
                .connections
                .iter()
                .filter_map(|e| Some((e.key.as_str()?.to_string(), e.value.as_str()?.to_string())))
                .collect(),
            ui: p.ui_key.is_some(),
            ui_url: p
                .ui_key
                .and_then(|e| e.value.get("url"))
                .and_then(|e| e.value.as_str())
                .map(String::from),
            notify: notify(&p.notify),
            timeout_ms: duration(p.timeout),
            sla: p.sla.map(|e| {
                (
                    duration(e.value.get("max_duration").map(|m| &m.value)),
                    e.value
                        .get("finish_by")
                        .and_then(|f| f.value.as_str())
                        .map(String::from),
                )
            }),
            storage: p.storage_key.map(|_| {
                p.storage
                    .iter()
                    .filter_map(|e| {
                        let text = match &e.value.value {
                            Value::Bool(b) => b.to_string(),
                            _ => e.value.as_str()?.to_string(),
                        };
                        Some((e.key.as_str()?.to_string(), text))
                    })
                    .collect()
            }),
            on_failure: p
                .on_failure
                .iter()
                .filter_map(|a| {
                    let op = a.operator?.as_str()?.to_string();
                    Some((
                        op,
                        a.with
                            .map_or(Json::Object(Default::default()), |w| to_json(&w.value)),
                    ))
                })
                .collect(),
            tasks: sorted,
            // The crates as `check` read them (it reported any that failed).
            operator_crates: a
                .custom
                .iter()
                .filter_map(|c| c.as_ref().as_ref().ok())
                .map(|c| LinkedCrate {
                    package: c.package.clone(),
                    lib_name: c.lib_name.clone(),
                    path: c.dir.clone(),
                    descriptors: c.operators.iter().map(|o| o.descriptor.clone()).collect(),
                })
                .collect(),
            postgres_state: false,
        }
    }
}
