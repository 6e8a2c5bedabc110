//! The pipeline language's vocabulary, each word defined once and shared
//! by the compiler and the runtime (this module needs no feature): the
//! value types of pipeline.yaml as data, trigger rules, retry backoffs,
//! attempt outcomes, run kinds, the template variables, durations and
//! identifiers.
//!
//! The value types drive three things: the compiler's type checks (E002,
//! E003, E004, E021-E023), the JSON Schema that `chime schema` prints for
//! editors, and (later) the runtime's validation of rendered parameters.
//! Keeping them as `const` data rather than Rust types lets the compiler
//! report every problem in a file with its position instead of stopping at
//! the first serde error.

/// The type of a value in pipeline.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Any string. Under `with:`, `connections:` and `on_failure:` it is a
    /// MiniJinja template, rendered when the task starts.
    String,
    /// An identifier: `[a-z][a-z0-9_]{0,62}` (pipeline names, task ids).
    Identifier,
    /// An integer no smaller than `min`.
    Integer { min: i64 },
    /// Any number (a custom operator's `f64` field).
    Number,
    /// `true` or `false`.
    Bool,
    /// A duration: one or more `<number><unit>` pairs, unit one of
    /// `ms`, `s`, `m`, `h`, `d` (`500ms`, `30s`, `1h30m`).
    Duration,
    /// A date (`2026-01-01`) or an RFC 3339 date-time.
    Date,
    /// A 5-field cron expression or an `@preset`.
    Cron,
    /// An IANA time zone name.
    Timezone,
    /// A table name: an SQL identifier (`predictions`), optionally with
    /// its schema (`analytics.predictions`).
    TableName,
    /// One of a closed set of strings.
    Enum(&'static [&'static str]),
    /// A list whose every element has the given type.
    List(&'static Ty),
    /// A mapping from string keys to values of the given type.
    Map(&'static Ty),
    /// A mapping with a closed set of keys.
    Object(&'static Object),
    /// Any YAML value (run parameters, `for_each` items).
    Json,
    /// `null`, or a value of the given type.
    Nullable(&'static Ty),
    /// A value of either type, chosen by its shape: a mapping goes to the
    /// mapping type, a list to the list type, a scalar to the other.
    Either(&'static Ty, &'static Ty),
}

/// A mapping with a closed set of keys.
#[derive(Debug, PartialEq, Eq)]
pub struct Object {
    /// What the mapping is, for messages ("task", "`predict` parameter `input`").
    pub what: &'static str,
    pub fields: &'static [Field],
    /// Groups of keys of which exactly one must be present
    /// (`shell` takes `command` or `argv`).
    pub exactly_one_of: &'static [&'static [&'static str]],
    /// Keys other than `fields` are accepted (a custom operator's struct
    /// without `#[serde(deny_unknown_fields)]` ignores them).
    pub open: bool,
}

/// One key of an [`Object`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// One sentence for users: shown by `chime schema` and in editors.
    pub doc: &'static str,
}

/// A [`Field`], written short in the `const` tables.
pub const fn field(name: &'static str, ty: Ty, required: bool, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required,
        doc,
    }
}

impl Object {
    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl Ty {
    /// A short human name of the type, for messages: "expected {name}".
    pub fn describe(&self) -> String {
        match self {
            Ty::String => "a string".into(),
            Ty::Identifier => "an identifier ([a-z][a-z0-9_]{0,62})".into(),
            Ty::Integer { min } if *min == 0 => "a non-negative integer".into(),
            Ty::Integer { min } if *min == 1 => "a positive integer".into(),
            Ty::Integer { min } if *min == i64::MIN => "an integer".into(),
            Ty::Integer { min } => format!("an integer >= {min}"),
            Ty::Number => "a number".into(),
            Ty::Bool => "a boolean (true or false)".into(),
            Ty::Duration => "a duration such as 500ms, 30s, 10m, 2h, 1d".into(),
            Ty::Date => "a date (2026-01-01) or an RFC 3339 date-time".into(),
            Ty::Cron => "a cron expression".into(),
            Ty::Timezone => "an IANA time zone name".into(),
            Ty::TableName => {
                "a table name (letters, digits and _, as in predictions or analytics.predictions)"
                    .into()
            }
            Ty::Enum(values) => format!("one of {}", values.join(", ")),
            Ty::List(inner) => format!("a list of {}", strip_article(&inner.describe())),
            Ty::Map(_) => "a mapping".into(),
            Ty::Object(_) => "a mapping".into(),
            Ty::Json => "a value".into(),
            Ty::Nullable(inner) => format!("{} or null", inner.describe()),
            Ty::Either(a, b) => format!("{} or {}", a.describe(), b.describe()),
        }
    }
}

fn strip_article(s: &str) -> String {
    let s = s
        .strip_prefix("an ")
        .or_else(|| s.strip_prefix("a "))
        .unwrap_or(s);
    // "a list of strings" reads better than "a list of string".
    match s.split_once(' ') {
        Some((head, tail)) => format!("{head}s {tail}"),
        None => format!("{s}s"),
    }
}

/// Parses a duration as the language writes it (`500ms`, `30s`, `1h30m`).
/// Returns `None` for anything else; the caller reports it.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let factor: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(factor)?)?;
    }
    Some(std::time::Duration::from_millis(total_ms))
}

/// Whether a path names a Parquet file (ends in `.parquet` or `.pq`, any
/// case): `chime build` compiles Parquet support in for it, and `sql`
/// writes it as Parquet.
pub fn is_parquet(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with(".parquet") || p.ends_with(".pq")
}

/// A table name: `name` or `schema.name`, each an SQL identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes, PostgreSQL's limit).
pub fn is_table_name(name: &str) -> bool {
    let ident = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_alphabetic() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    };
    let mut parts = name.split('.');
    let n = name.split('.').count();
    n <= 2 && parts.all(ident)
}

pub fn is_identifier(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_variables_are_the_runs_own_values() {
        assert_eq!(super::RUN_VARIABLES.last(), Some(&"run_id"));
        assert!(!super::RUN_VARIABLES.contains(&"params"));
    }

    /// A closed vocabulary's `as_str` indexes `NAMES` by the variant's
    /// number: `ALL` must list the variants in order, one name each.
    fn names_every_variant_once<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        names: &[&str],
        number: fn(T) -> usize,
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        assert_eq!(all.len(), names.len());
        for (i, v) in all.iter().enumerate() {
            assert_eq!(number(*v), i);
            assert_eq!(parse(as_str(*v)), Some(*v));
        }
    }

    #[test]
    fn closed_vocabularies_name_every_variant_once() {
        use super::{AttemptOutcome as O, Backoff as B, RunKind as K, TriggerRule as R};
        names_every_variant_once(R::ALL, R::NAMES, |v| v as usize, R::as_str, R::parse);
        names_every_variant_once(B::ALL, B::NAMES, |v| v as usize, B::as_str, B::parse);
        names_every_variant_once(O::ALL, O::NAMES, |v| v as usize, O::as_str, O::parse);
        names_every_variant_once(K::ALL, K::NAMES, |v| v as usize, K::as_str, K::parse);
    }

    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        for bad in [
            "",
            "5 minutes",
            "10",
            "m",
            "-1s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("extract_2"));
        for bad in ["", "2x", "Extract", "a-b", &"a".repeat(64)] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn descriptions_read_as_english() {
        assert_eq!(Ty::List(&Ty::String).describe(), "a list of strings");
        assert_eq!(Ty::Integer { min: 0 }.describe(), "a non-negative integer");
    }
}

/// Every variable of a template's context: the run's values, then
/// `params.NAME`, `tasks.ID.output`, `env.NAME` and, in a `for_each`
/// task, `item`. `chime check` (E041) and the runtime's renderer both use
/// this list.
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "ds",
    "ds_nodash",
    "ts",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "params",
    "tasks",
    "env",
    "item",
];

/// The run's own values a template may use (docs/pipeline-yaml.md,
/// "Templates"): dates and ids, plain strings; the first seven of
/// [`TEMPLATE_VARIABLES`], so the two lists cannot drift.
pub const RUN_VARIABLES: &[&str] = TEMPLATE_VARIABLES.split_at(7).0;

/// The expression of a `when:` condition, `{{ expression }}`: the text
/// between the braces, trimmed; `None` unless the whole string (spaces
/// around it aside) is one such block with an expression in it.
pub fn condition_expression(when: &str) -> Option<&str> {
    let inner = when.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner).trim();
    let single = !inner.is_empty() && !inner.contains("{{") && !inner.contains("}}");
    single.then_some(inner)
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

/// The largest pool (`pools:`): a slot is a lock, tried in turn.
pub const MAX_POOL_SIZE: u32 = 10_000;

/// When a task runs, given its upstreams' states (Airflow's trigger
/// rules). The one definition: the compiler's checks, the JSON Schema, the
/// IR, the generated code and the executor all use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerRule {
    #[default]
    AllSuccess,
    AllDone,
    AllFailed,
    OneSuccess,
    OneFailed,
    NoneFailed,
    /// Every upstream finished, and at least one setup upstream succeeded
    /// if there is one; chime has no setup tasks, so it is `all_done`.
    AllDoneSetupSuccess,
    OneDone,
    NoneFailedMinOneSuccess,
    NoneSkipped,
    AllSkipped,
    AllDoneMinOneSuccess,
    /// No dependency at all: the task runs at once, upstreams or not.
    Always,
}

impl TriggerRule {
    /// Every rule, in the order of [`TriggerRule::NAMES`].
    pub const ALL: &'static [TriggerRule] = &[
        TriggerRule::AllSuccess,
        TriggerRule::AllDone,
        TriggerRule::AllFailed,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::NoneFailed,
        TriggerRule::AllDoneSetupSuccess,
        TriggerRule::OneDone,
        TriggerRule::NoneFailedMinOneSuccess,
        TriggerRule::NoneSkipped,
        TriggerRule::AllSkipped,
        TriggerRule::AllDoneMinOneSuccess,
        TriggerRule::Always,
    ];
    /// The rules as pipeline.yaml writes them.
    pub const NAMES: &'static [&'static str] = &[
        "all_success",
        "all_done",
        "all_failed",
        "one_success",
        "one_failed",
        "none_failed",
        "all_done_setup_success",
        "one_done",
        "none_failed_min_one_success",
        "none_skipped",
        "all_skipped",
        "all_done_min_one_success",
        "always",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<TriggerRule> {
        by_name(Self::ALL, Self::NAMES, name)
    }
}

/// The value of `all` whose name (same position in `names`) is `name`.
fn by_name<T: Copy>(all: &[T], names: &[&str], name: &str) -> Option<T> {
    names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| all.get(i).copied())
}

/// How the delay grows between retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backoff {
    #[default]
    Fixed,
    /// Doubling each try, capped by `max_retry_delay`.
    Exponential,
}

impl Backoff {
    pub const ALL: &'static [Backoff] = &[Backoff::Fixed, Backoff::Exponential];
    pub const NAMES: &'static [&'static str] = &["fixed", "exponential"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<Backoff> {
        by_name(Self::ALL, Self::NAMES, name)
    }
}

/// What a notification is sent for (`notify: [{on: [...]}]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// A run failed (pipeline `notify:`), or a task failed with no retry
    /// left (a task's `notify:`).
    Failure,
    /// An attempt failed and another will follow.
    Retry,
    /// A run, or a task, succeeded.
    Success,
    /// The first success after a failure: the previous run (by logical
    /// date) failed, or the task failed in it.
    Recovery,
    /// A run has not finished by its `sla:` deadline (pipeline only).
    SlaMiss,
}

impl NotifyEvent {
    pub const ALL: &'static [NotifyEvent] = &[
        NotifyEvent::Failure,
        NotifyEvent::Retry,
        NotifyEvent::Success,
        NotifyEvent::Recovery,
        NotifyEvent::SlaMiss,
    ];
    pub const NAMES: &'static [&'static str] =
        &["failure", "retry", "success", "recovery", "sla_miss"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<NotifyEvent> {
        by_name(Self::ALL, Self::NAMES, name)
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// An email through SMTP (`email: {to, from, smtp}`).
    Email,
    /// A Slack incoming webhook (`slack: {webhook}`).
    Slack,
    /// A JSON POST to any URL (`http: {url, headers}`).
    Http,
}

impl Channel {
    pub const ALL: &'static [Channel] = &[Channel::Email, Channel::Slack, Channel::Http];
    pub const NAMES: &'static [&'static str] = &["email", "slack", "http"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<Channel> {
        by_name(Self::ALL, Self::NAMES, name)
    }
}

/// How one attempt of a task ended, as the state store writes it (the
/// `outcome` of an attempt; an attempt still running has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Success,
    Failed,
    /// Stopped at its `timeout`: counts as a failure.
    TimedOut,
    /// Stopped by a signal or cut off by a crash: not a failure of the
    /// task, and not counted against its `retries`.
    Interrupted,
}

impl AttemptOutcome {
    /// Every outcome, in the order of [`AttemptOutcome::NAMES`].
    pub const ALL: &'static [AttemptOutcome] = &[
        AttemptOutcome::Success,
        AttemptOutcome::Failed,
        AttemptOutcome::TimedOut,
        AttemptOutcome::Interrupted,
    ];
    /// The outcomes as the state store writes them.
    pub const NAMES: &'static [&'static str] = &["success", "failed", "timed_out", "interrupted"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<AttemptOutcome> {
        by_name(Self::ALL, Self::NAMES, name)
    }

    /// A failure of the task: it counts against `retries`.
    pub fn is_failure(self) -> bool {
        matches!(self, AttemptOutcome::Failed | AttemptOutcome::TimedOut)
    }
}

/// What started a run, as the state store writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `run` (or `task`) from the command line.
    Manual,
    /// The scheduler, at a fire time.
    Scheduled,
    /// `backfill`.
    Backfill,
}

impl RunKind {
    /// Every kind, in the order of [`RunKind::NAMES`].
    pub const ALL: &'static [RunKind] = &[RunKind::Manual, RunKind::Scheduled, RunKind::Backfill];
    /// The kinds as the state store writes them.
    pub const NAMES: &'static [&'static str] = &["manual", "scheduled", "backfill"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<RunKind> {
        by_name(Self::ALL, Self::NAMES, name)
    }

    /// The id of a new run of this kind at `logical_date` (RFC 3339):
    /// `manual__2026-11-24T00:00:00+00:00`.
    pub fn run_id(self, logical_date: &str) -> String {
        format!("{}__{logical_date}", self.as_str())
    }
}
