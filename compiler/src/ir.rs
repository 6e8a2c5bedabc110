//! The resolved pipeline: defaults applied, `for_each` expanded, tasks in a
//! stable topological order, every value in its final type. What code
//! generation consumes; built only from a pipeline `check` accepted.

use std::collections::BTreeMap;

use runtime::spec::parse_duration;
use serde_json::Value as Json;

use crate::ast::Pipeline;
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
    pub on_failure: Vec<(String, Json)>,
    pub tasks: Vec<Task>,
    /// Operator crates to link, with their operators' descriptors.
    pub operator_crates: Vec<LinkedCrate>,
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
    pub trigger_rule: runtime::spec::TriggerRule,
    pub retries: u32,
    pub retry_delay_ms: u64,
    pub retry_backoff: runtime::spec::Backoff,
    pub max_retry_delay_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub params: Json,
    pub item: Option<Json>,
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

/// The longest item label: an instance id is a log directory's name, and
/// file names stop at 255 bytes (63 for the task id, 2 for the brackets).
pub const MAX_ITEM_LABEL: usize = 128;

/// Why `label` cannot name a task instance, if it cannot. The instance id
/// is one path component under `logs/RUN/` and is printed on terminals, so
/// it holds no path separator, no `..`, no control character.
pub fn unsafe_item_label(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("it is empty".into());
    }
    if let Some(c) = label.chars().find(|c| matches!(c, '/' | '\\')) {
        return Some(format!("it contains `{c}`, a path separator"));
    }
    if label.contains("..") {
        return Some("it contains `..`".into());
    }
    if let Some(c) = label.chars().find(|c| c.is_control()) {
        return Some(format!(
            "it contains the control character {}",
            c.escape_unicode()
        ));
    }
    if label.len() > MAX_ITEM_LABEL {
        return Some(format!(
            "it is {} bytes long; at most {MAX_ITEM_LABEL}",
            label.len()
        ));
    }
    None
}

impl Ir {
    pub fn build(p: &Pipeline<'_>) -> Ir {
        let root = p.root;
        let get = |k: &str| root.get(k).map(|e| &e.value);
        let text = |k: &str| get(k).and_then(Node::as_str).map(str::to_string);
        let int = |n: Option<&Node>| match n.map(|n| &n.value) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        let defaults = get("defaults");
        fn setting<'n>(task: &'n Node, defaults: Option<&'n Node>, key: &str) -> Option<&'n Node> {
            task.get(key)
                .map(|e| &e.value)
                .or_else(|| defaults.and_then(|d| d.get(key)).map(|e| &e.value))
        }
        let duration = |n: Option<&Node>| {
            n.and_then(Node::as_str)
                .and_then(parse_duration)
                .map(|d| d.as_millis() as u64)
        };

        // Expand for_each, in file order.
        let mut tasks: Vec<Task> = Vec::new();
        let mut instances: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut deps_of: Vec<Vec<&str>> = Vec::new();
        for entry in root
            .get("tasks")
            .and_then(|e| e.value.as_map())
            .unwrap_or_default()
        {
            let id = entry.key_text();
            let node = &entry.value;
            let items: Vec<Option<Json>> = match node.get("for_each").and_then(|e| e.value.as_seq())
            {
                Some(items) => items.iter().map(|i| Some(to_json(i))).collect(),
                None => vec![None],
            };
            let deps: Vec<&str> = node
                .get("depends_on")
                .and_then(|e| e.value.as_seq())
                .map(|s| s.iter().filter_map(Node::as_str).collect())
                .unwrap_or_default();
            for item in items {
                let instance = match &item {
                    Some(i) => format!("{id}[{}]", item_label(i)),
                    None => id.clone(),
                };
                let max_retry = duration(setting(node, defaults, "max_retry_delay"));
                tasks.push(Task {
                    id: instance,
                    group: id.clone(),
                    operator: node
                        .get("operator")
                        .and_then(|e| e.value.as_str())
                        .unwrap_or("noop")
                        .to_string(),
                    description: node
                        .get("description")
                        .and_then(|e| e.value.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    upstream: Vec::new(),
                    // `chime check` refused any other value (E003).
                    trigger_rule: node
                        .get("trigger_rule")
                        .and_then(|e| e.value.as_str())
                        .and_then(runtime::spec::TriggerRule::parse)
                        .unwrap_or_default(),
                    retries: int(setting(node, defaults, "retries")).unwrap_or(0).max(0) as u32,
                    retry_delay_ms: duration(setting(node, defaults, "retry_delay"))
                        .unwrap_or(DEFAULT_RETRY_DELAY_MS),
                    retry_backoff: setting(node, defaults, "retry_backoff")
                        .and_then(Node::as_str)
                        .and_then(runtime::spec::Backoff::parse)
                        .unwrap_or_default(),
                    max_retry_delay_ms: max_retry,
                    timeout_ms: duration(setting(node, defaults, "timeout")),
                    params: node
                        .get("with")
                        .map_or(Json::Object(Default::default()), |e| to_json(&e.value)),
                    item,
                });
                deps_of.push(deps.clone());
            }
        }
        for (i, t) in tasks.iter().enumerate() {
            instances
                .entry(
                    p.tasks
                        .iter()
                        .find(|x| x.id == t.group)
                        .map_or("", |x| x.id),
                )
                .or_default()
                .push(i);
        }
        let upstream: Vec<Vec<usize>> = deps_of
            .iter()
            .map(|deps| {
                let mut ups: Vec<usize> = deps
                    .iter()
                    .flat_map(|d| instances.get(d).cloned().unwrap_or_default())
                    .collect();
                ups.dedup();
                ups
            })
            .collect();
        let order = topological(&upstream);
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

        let schedule = text("schedule").map(|s| {
            let s = s.trim().to_string();
            crate::cron::PRESETS
                .iter()
                .find(|(p, _)| *p == s)
                .map_or(s, |(_, e)| e.to_string())
        });
        Ir {
            name: text("pipeline").unwrap_or_default(),
            description: text("description").unwrap_or_default(),
            schedule,
            timezone: text("timezone").unwrap_or_else(|| "UTC".into()),
            start_date: text("start_date"),
            end_date: text("end_date"),
            catchup: matches!(get("catchup").map(|n| &n.value), Some(Value::Bool(true))),
            max_active_runs: int(get("max_active_runs")).unwrap_or(1).max(1) as u32,
            max_active_tasks: int(get("max_active_tasks")).map(|m| m.max(1) as u32),
            params: get("params").map_or(Json::Object(Default::default()), to_json),
            connections: p
                .connections
                .iter()
                .filter_map(|e| Some((e.key.as_str()?.to_string(), e.value.as_str()?.to_string())))
                .collect(),
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
            operator_crates: Vec::new(),
        }
    }
}

/// Kahn's algorithm; among ready tasks the earliest in the file goes first,
/// so the order is stable. The checks guarantee there is no cycle.
fn topological(upstream: &[Vec<usize>]) -> Vec<usize> {
    let n = upstream.len();
    let mut indegree: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut downstream = vec![Vec::new(); n];
    for (t, ups) in upstream.iter().enumerate() {
        for &u in ups {
            downstream[u].push(t);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&t| indegree[t] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(t)) = ready.pop() {
        order.push(t);
        for &d in &downstream[t] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    order
}
