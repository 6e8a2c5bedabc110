//! The compiled pipeline: what `chime build` writes into the generated
//! crate as `static` data, and everything the binary knows about its
//! pipeline (it never reads the YAML again).
//!
//! Parameters and params are carried as JSON text: MiniJinja renders them
//! as values, and the JSON keeps the generated code short and readable.

/// A whole pipeline.
#[derive(Debug)]
pub struct PipelineDef {
    pub name: &'static str,
    pub description: &'static str,
    /// 5-field cron (presets already expanded), if scheduled.
    pub schedule: Option<&'static str>,
    /// IANA time zone name.
    pub timezone: &'static str,
    pub start_date: Option<&'static str>,
    pub end_date: Option<&'static str>,
    pub catchup: bool,
    pub max_active_runs: u32,
    /// `None`: the number of CPUs.
    pub max_active_tasks: Option<u32>,
    /// JSON object: run parameters and their defaults.
    pub params: &'static str,
    /// Named connections: name and template.
    pub connections: &'static [(&'static str, &'static str)],
    /// `storage:`'s settings: key and template.
    pub storage: &'static [(&'static str, &'static str)],
    pub on_failure: &'static [ActionDef],
    /// `notify:`: the run's notifications.
    pub notify: &'static [NotifyDef],
    /// `ui: {url}`: the status page's address as people reach it, for
    /// links in notifications.
    pub ui_url: Option<&'static str>,
    /// `timeout`: a run still going this long after it started is
    /// stopped and failed.
    pub timeout_ms: Option<u64>,
    /// `sla:`: when a scheduled run that has not finished raises
    /// `sla_miss`.
    pub sla: Option<SlaDef>,
    /// Tasks in a topological order (every task after its upstreams), with
    /// `for_each` expanded into one task per item.
    pub tasks: &'static [TaskDef],
}

/// One task instance of the DAG.
#[derive(Debug)]
pub struct TaskDef {
    /// `extract`, or `per_region[kr]` for an instance of a `for_each` task.
    pub id: &'static str,
    /// The task's id in the YAML (`per_region` for `per_region[kr]`).
    pub group: &'static str,
    pub operator: &'static str,
    /// Indices into `PipelineDef::tasks` of the tasks this one depends on.
    pub upstream: &'static [usize],
    pub trigger_rule: TriggerRule,
    pub retries: u32,
    pub retry_delay_ms: u64,
    pub retry_backoff: Backoff,
    pub max_retry_delay_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// JSON object: the operator's parameters; strings are templates.
    pub params: &'static str,
    /// JSON: the `for_each` item, as `{{ item }}`.
    pub item: Option<&'static str>,
    /// `when:`: a MiniJinja expression; false skips the task.
    pub when: Option<&'static str>,
    /// `pool:`: the pool's name and size; an attempt holds one slot.
    pub pool: Option<(&'static str, u32)>,
    /// A dynamic `for_each`: the task makes its instances when it may run.
    pub expand: Option<ExpandDef>,
    /// The task's own `notify:`.
    pub notify: &'static [NotifyDef],
}

/// `for_each: "{{ expression }}"`: instances made at run time, one per
/// item of the list the expression gives (over its upstreams' outputs).
#[derive(Debug)]
pub struct ExpandDef {
    /// The list's MiniJinja expression.
    pub over: &'static str,
    /// `instance_key:`'s expression over `item`, naming each instance
    /// (`task[KEY]`); without it, instances are named by index.
    pub key: Option<&'static str>,
    /// More items than this fail the task.
    pub max_instances: u32,
}

/// `sla:`: a scheduled run must finish `max_duration` after its fire time,
/// and by the local time `finish_by` (`HH:MM`), whichever comes first.
#[derive(Debug)]
pub struct SlaDef {
    pub max_duration_ms: Option<u64>,
    pub finish_by: Option<&'static str>,
}

/// One `notify:` entry: the events it is for, where it goes, and that
/// channel's settings (JSON; strings are templates).
#[derive(Debug)]
pub struct NotifyDef {
    pub on: &'static [NotifyEvent],
    pub channel: Channel,
    pub params: &'static str,
}

/// An `on_failure` action.
#[derive(Debug)]
pub struct ActionDef {
    pub operator: &'static str,
    pub params: &'static str,
}

pub use crate::vocabulary::{Backoff, Channel, NotifyEvent, TriggerRule};

/// What tests build pipelines from, filling in only what they are about
/// (`PipelineDef { name: "p", ..PipelineDef::BLANK }`).
#[cfg(test)]
impl PipelineDef {
    /// An unscheduled pipeline in UTC with nothing in it.
    pub(crate) const BLANK: PipelineDef = PipelineDef {
        name: "blank",
        description: "",
        schedule: None,
        timezone: "UTC",
        start_date: None,
        end_date: None,
        catchup: false,
        max_active_runs: 1,
        max_active_tasks: None,
        params: "{}",
        connections: &[],
        storage: &[],
        on_failure: &[],
        notify: &[],
        ui_url: None,
        timeout_ms: None,
        sla: None,
        tasks: &[],
    };
}

#[cfg(test)]
impl TaskDef {
    /// A task of `operator` with `params`, after `upstream`: no retries, no
    /// timeout, `all_success`.
    pub(crate) const fn test(
        id: &'static str,
        operator: &'static str,
        params: &'static str,
        upstream: &'static [usize],
    ) -> TaskDef {
        TaskDef {
            id,
            group: id,
            operator,
            upstream,
            trigger_rule: TriggerRule::AllSuccess,
            retries: 0,
            retry_delay_ms: 0,
            retry_backoff: Backoff::Fixed,
            max_retry_delay_ms: None,
            timeout_ms: None,
            params,
            item: None,
            when: None,
            pool: None,
            expand: None,
            notify: &[],
        }
    }
}

impl TaskDef {
    /// The wait before try number `next_try` (2 for the first retry).
    pub fn retry_delay(&self, next_try: u32) -> std::time::Duration {
        let base = self.retry_delay_ms;
        let ms = match self.retry_backoff {
            Backoff::Fixed => base,
            Backoff::Exponential => base.saturating_mul(1u64 << next_try.saturating_sub(2).min(32)),
        };
        let ms = self.max_retry_delay_ms.map_or(ms, |max| ms.min(max));
        std::time::Duration::from_millis(ms)
    }
}

impl PipelineDef {
    /// The dynamic `for_each` task that made the instance `id` (`task[key]`).
    pub fn made_by(&self, id: &str) -> Option<&'static str> {
        let (group, _) = id.strip_suffix(']')?.split_once('[')?;
        let task = self
            .tasks
            .iter()
            .find(|t| t.id == group && t.expand.is_some())?;
        Some(task.id)
    }

    /// Task ids as `show` and the status page list them: the pipeline's
    /// tasks in order, each dynamic `for_each` followed by the instances it
    /// made (as `recorded`, in that order), then ids only an older build
    /// had (`true`: no longer in the pipeline).
    pub fn rows<'a>(&self, recorded: impl Iterator<Item = &'a str>) -> Vec<(&'a str, bool)> {
        let mut known: std::collections::HashSet<&str> = self.tasks.iter().map(|t| t.id).collect();
        let mut instances: std::collections::HashMap<&str, Vec<&'a str>> = Default::default();
        let mut gone: Vec<&'a str> = Vec::new();
        for id in recorded {
            if !known.insert(id) {
                continue;
            }
            match self.made_by(id) {
                Some(task) => instances.entry(task).or_default().push(id),
                None => gone.push(id),
            }
        }
        let mut rows = Vec::with_capacity(known.len());
        for t in self.tasks {
            rows.push((t.id, false));
            let made = instances.remove(t.id).unwrap_or_default();
            rows.extend(made.into_iter().map(|id| (id, false)));
        }
        rows.extend(gone.into_iter().map(|id| (id, true)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(backoff: Backoff, max: Option<u64>) -> TaskDef {
        TaskDef {
            retries: 5,
            retry_delay_ms: 100,
            retry_backoff: backoff,
            max_retry_delay_ms: max,
            ..TaskDef::test("t", "noop", "{}", &[])
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = task(Backoff::Exponential, Some(350));
        let delays: Vec<u128> = (2..=6).map(|n| t.retry_delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350, 350]);
        let f = task(Backoff::Fixed, None);
        assert_eq!(f.retry_delay(5).as_millis(), 100);
    }
}
