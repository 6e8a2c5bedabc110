//! The keys of pipeline.yaml as data (docs/pipeline-yaml.md).
//!
//! The structural checks (E002-E004) walk a file against these tables, and
//! `chime schema` prints them as JSON Schema, so the two cannot drift.

use runtime::vocabulary::{Field, Object, Ty, field};

pub const TRIGGER_RULES: &[&str] = runtime::vocabulary::TriggerRule::NAMES;
pub const BACKOFFS: &[&str] = runtime::vocabulary::Backoff::NAMES;
pub const EVENTS: &[&str] = runtime::vocabulary::NotifyEvent::NAMES;

/// `email:` of a `notify:` entry.
pub const EMAIL: Object = Object {
    what: "email",
    fields: &[
        field(
            "to",
            Ty::Either(&Ty::String, &Ty::List(&Ty::String)),
            true,
            "An address, or a list of them.",
        ),
        field(
            "from",
            Ty::String,
            false,
            "The sender (default: chime@<this host>).",
        ),
        field(
            "smtp",
            Ty::String,
            false,
            "The SMTP server's URL, a template (default: $CHIME_SMTP_URL): smtp://user:password@host:587?tls=required.",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// `slack:` of a `notify:` entry.
pub const SLACK: Object = Object {
    what: "slack",
    fields: &[field(
        "webhook",
        Ty::String,
        true,
        "The incoming webhook's URL, a template: \"{{ env.SLACK_WEBHOOK }}\".",
    )],
    exactly_one_of: &[],
    open: false,
};

/// `http:` of a `notify:` entry.
pub const HOOK: Object = Object {
    what: "http notification",
    fields: &[
        field(
            "url",
            Ty::String,
            true,
            "Where the notice is POSTed as JSON, a template.",
        ),
        field(
            "headers",
            Ty::Map(&Ty::String),
            false,
            "Request headers; values are templates.",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// One entry under `notify:` (the pipeline's or a task's).
pub const NOTIFY: Object = Object {
    what: "notify entry",
    fields: &[
        field(
            "on",
            Ty::List(&Ty::Enum(EVENTS)),
            true,
            "The events: failure, retry, success, recovery, sla_miss.",
        ),
        field("email", Ty::Object(&EMAIL), false, "Send an email."),
        field(
            "slack",
            Ty::Object(&SLACK),
            false,
            "Post to a Slack incoming webhook.",
        ),
        field("http", Ty::Object(&HOOK), false, "POST the notice as JSON."),
    ],
    exactly_one_of: &[&["email", "slack", "http"]],
    open: false,
};

const RETRY_FIELDS: [Field; 5] = [
    field(
        "retries",
        Ty::Integer { min: 0 },
        false,
        "How many times a failed task is tried again.",
    ),
    field(
        "retry_delay",
        Ty::Duration,
        false,
        "Wait before a retry (500ms, 30s, 10m, 2h, 1d).",
    ),
    field(
        "retry_backoff",
        Ty::Enum(BACKOFFS),
        false,
        "fixed, or exponential (doubling, capped by max_retry_delay).",
    ),
    field(
        "max_retry_delay",
        Ty::Duration,
        false,
        "The longest wait between two tries.",
    ),
    field(
        "timeout",
        Ty::Duration,
        false,
        "An attempt running longer is killed and counts as failed.",
    ),
];

/// `defaults:`, applied to every task that does not set the key itself.
pub const DEFAULTS: Object = Object {
    what: "defaults",
    fields: &RETRY_FIELDS,
    exactly_one_of: &[],
    open: false,
};

/// One task under `tasks:`.
pub const TASK: Object = Object {
    what: "task",
    fields: &[
        field(
            "operator",
            Ty::Identifier,
            true,
            "What the task does: a built-in or custom operator.",
        ),
        field("description", Ty::String, false, "What the task is for."),
        field(
            "depends_on",
            Ty::List(&Ty::Identifier),
            false,
            "Tasks that must finish before this one.",
        ),
        field(
            "trigger_rule",
            Ty::Enum(TRIGGER_RULES),
            false,
            "When the task runs given its upstreams' states (default all_success).",
        ),
        RETRY_FIELDS[0],
        RETRY_FIELDS[1],
        RETRY_FIELDS[2],
        RETRY_FIELDS[3],
        RETRY_FIELDS[4],
        field(
            "with",
            Ty::Map(&Ty::Json),
            false,
            "The operator's parameters; strings are templates.",
        ),
        field(
            "pool",
            Ty::Identifier,
            false,
            "A pool from `pools:`: the task holds one of its slots while an attempt runs.",
        ),
        field(
            "when",
            Ty::String,
            false,
            "A condition, `{{ expression }}` over the template context; false skips the task.",
        ),
        field(
            "for_each",
            Ty::Either(&Ty::List(&Ty::Json), &Ty::String),
            false,
            "One instance of the task per item, as `{{ item }}`: a literal list, or `\"{{ tasks.ID.output... }}\"`, a list an upstream gives at run time.",
        ),
        field(
            "instance_key",
            Ty::String,
            false,
            "With a dynamic `for_each`: `{{ expression }}` over `item` naming each instance (default: its index).",
        ),
        field(
            "max_instances",
            Ty::Integer { min: 1 },
            false,
            "With a dynamic `for_each`: more items than this fail the task (default 1024).",
        ),
        field(
            "notify",
            Ty::List(&Ty::Object(&NOTIFY)),
            false,
            "Notifications on this task's failure, retry, success, recovery.",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// One action under `on_failure:`.
pub const ACTION: Object = Object {
    what: "on_failure action",
    fields: &[
        field("operator", Ty::Identifier, true, "The operator to run."),
        field(
            "with",
            Ty::Map(&Ty::Json),
            false,
            "Its parameters; strings are templates.",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// One entry under `operators:`.
pub const OPERATOR_CRATE: Object = Object {
    what: "operators entry",
    fields: &[field(
        "path",
        Ty::String,
        true,
        "Path of a crate with #[chime::operator] functions, relative to the pipeline file.",
    )],
    exactly_one_of: &[],
    open: false,
};

/// `sla:`: when a scheduled run must have finished.
pub const SLA: Object = Object {
    what: "sla",
    fields: &[
        field(
            "max_duration",
            Ty::Duration,
            false,
            "Finished this long after the run's fire time (its interval's end).",
        ),
        field(
            "finish_by",
            Ty::String,
            false,
            "Finished by this local time (HH:MM, in `timezone`): the first after the fire time.",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// `ui:`: the status page and `/metrics` (`scheduler --ui`, `ui`).
pub const UI: Object = Object {
    what: "ui",
    fields: &[field(
        "url",
        Ty::String,
        false,
        "The page's address as people reach it (http://batch-host:8080), for links in notifications.",
    )],
    exactly_one_of: &[],
    open: false,
};

/// `storage:`: how to reach object storage (s3:// URLs).
pub const STORAGE: Object = Object {
    what: "storage",
    fields: &[
        field(
            "endpoint",
            Ty::String,
            false,
            "An S3-compatible service's URL (MinIO, R2, SeaweedFS); default: AWS.",
        ),
        field(
            "region",
            Ty::String,
            false,
            "The region (default: AWS_REGION, the profile's, or us-east-1).",
        ),
        field(
            "access_key_id",
            Ty::String,
            false,
            "Access key id; a template such as {{ env.S3_KEY }}.",
        ),
        field(
            "secret_access_key",
            Ty::String,
            false,
            "Secret key; a template, redacted wherever chime prints.",
        ),
        field(
            "session_token",
            Ty::String,
            false,
            "Session token for temporary credentials; redacted.",
        ),
        field(
            "allow_http",
            Ty::Bool,
            false,
            "Allow http:// (default: true when the endpoint is http://).",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};

/// The whole file.
pub const PIPELINE: Object = Object {
    what: "pipeline",
    fields: &[
        field(
            "pipeline",
            Ty::Identifier,
            true,
            "The pipeline's name; names the binary.",
        ),
        field(
            "description",
            Ty::String,
            false,
            "What the pipeline is for.",
        ),
        field(
            "schedule",
            Ty::Nullable(&Ty::Cron),
            false,
            "5-field cron or @hourly/@daily/@weekly/@monthly/@yearly; null runs only when asked.",
        ),
        field(
            "timezone",
            Ty::Timezone,
            false,
            "IANA zone the schedule fires in (default UTC).",
        ),
        field(
            "start_date",
            Ty::Date,
            false,
            "First logical date; required with a schedule.",
        ),
        field("end_date", Ty::Date, false, "Last logical date."),
        field(
            "catchup",
            Ty::Bool,
            false,
            "On start, run every interval missed since the last run.",
        ),
        field(
            "max_active_runs",
            Ty::Integer { min: 1 },
            false,
            "Runs of this pipeline at once.",
        ),
        field(
            "max_active_tasks",
            Ty::Integer { min: 1 },
            false,
            "Tasks of one run at once (default: number of CPUs).",
        ),
        field(
            "params",
            Ty::Map(&Ty::Json),
            false,
            "Run parameters and their defaults; `--param k=v` overrides.",
        ),
        field(
            "pools",
            Ty::Map(&Ty::Integer { min: 1 }),
            false,
            "Named limits, `warehouse: 4`: tasks in a pool running at once, across runs and pipelines on one state.",
        ),
        field(
            "defaults",
            Ty::Object(&DEFAULTS),
            false,
            "Retry and timeout settings for every task.",
        ),
        field(
            "operators",
            Ty::List(&Ty::Object(&OPERATOR_CRATE)),
            false,
            "Crates with custom operators.",
        ),
        field(
            "connections",
            Ty::Map(&Ty::String),
            false,
            "Named connections; values are templates.",
        ),
        field(
            "storage",
            Ty::Object(&STORAGE),
            false,
            "Object storage for s3:// URLs; values are templates. Default: the AWS environment and profile.",
        ),
        field(
            "ui",
            Ty::Object(&UI),
            false,
            "Compile in the status page and Prometheus /metrics: `ui: {}` (docs/monitoring.md).",
        ),
        field(
            "notify",
            Ty::List(&Ty::Object(&NOTIFY)),
            false,
            "Notifications on a run's failure, success, recovery, a task's retry, an SLA miss (docs/monitoring.md).",
        ),
        field(
            "timeout",
            Ty::Duration,
            false,
            "A run still going this long after it started is stopped and fails; what did not finish is skipped.",
        ),
        field(
            "sla",
            Ty::Object(&SLA),
            false,
            "When a scheduled run must have finished; past it, `sla_miss` is notified and the run goes on.",
        ),
        field(
            "on_failure",
            Ty::List(&Ty::Object(&ACTION)),
            false,
            "Actions run once when a run fails (not when a `task` call of an orchestrator fails).",
        ),
        field(
            "tasks",
            Ty::Map(&Ty::Object(&TASK)),
            true,
            "The tasks, by id ([a-z][a-z0-9_]{0,62}).",
        ),
    ],
    exactly_one_of: &[],
    open: false,
};
