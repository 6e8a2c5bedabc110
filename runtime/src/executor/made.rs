//! What a dynamic `for_each` task records as its output: the instances
//! it made, so that a resumed run, `show` and an orchestrator's `task`
//! calls find the same ones.

use crate::state::TaskState;
use crate::store::TaskRecord;

/// The output of `record`, a dynamic `for_each` task's, once it made its
/// instances (success): the list [`made_instances`] reads.
pub(crate) fn made_of(record: &TaskRecord) -> Option<serde_json::Value> {
    if record.state != TaskState::Success {
        return None;
    }
    serde_json::from_str(record.output.as_deref()?).ok()
}

/// The id of the instance of task `group` keyed `key`: `group[key]`.
pub(crate) fn instance_id(group: &str, key: &str) -> String {
    format!("{group}[{key}]")
}

/// The instances a dynamic `for_each` task's output `made` lists
/// (`{"instances": [[key, item], ...]}`): each key and item, in order, a
/// key listed again (in a state file edited by hand) once.
pub(crate) fn made_instances(
    made: &serde_json::Value,
) -> impl Iterator<Item = (&str, &serde_json::Value)> {
    let list = made.get("instances").and_then(|l| l.as_array());
    let mut seen = std::collections::HashSet::new();
    list.into_iter().flatten().filter_map(move |entry| {
        let key = entry.get(0)?.as_str()?;
        let item = entry.get(1)?;
        seen.insert(key).then_some((key, item))
    })
}
