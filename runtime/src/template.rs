//! Renders task parameters with MiniJinja when a task starts (docs/pipeline-yaml.md, "Templates"), in
//! strict mode: an undefined variable fails the task instead of rendering
//! an empty string into a command line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate};
use minijinja::value::{Object, Serde, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// The work one template may do: about one unit per instruction and per
/// 64 bytes of data it makes (MiniJinja's fuel), so at most ~2 million
/// steps or ~128 MB; a template past it fails its task with a message
/// instead of stalling every other task of the run.
pub const FUEL: u64 = 2_000_000;

/// The run-wide part of the context.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    /// RFC 3339 date-times in the pipeline's zone.
    pub logical_date: String,
    pub data_interval_start: String,
    pub data_interval_end: String,
    /// `2026-11-24`.
    pub ds: String,
    pub params: serde_json::Value,
}

/// Outputs of finished tasks, by task id (and by `for_each` group, as a
/// list). Shared with the executor, read lazily by templates.
#[derive(Debug, Default)]
pub struct Outputs {
    pub by_task: Mutex<HashMap<String, serde_json::Value>>,
}

impl Outputs {
    /// `tasks.GROUP.output` of a `for_each` of `n` instances: a list of
    /// `null`s, each filled as its instance gives its output.
    pub fn start_group(&self, group: &str, n: usize) {
        if let Ok(mut map) = self.by_task.lock() {
            map.insert(
                group.to_string(),
                serde_json::Value::Array(vec![serde_json::Value::Null; n]),
            );
        }
    }
}

#[derive(Debug)]
struct TasksObject(Arc<Outputs>);

impl Object for TasksObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let id = key.as_str()?;
        let map = self.0.by_task.lock().ok()?;
        let output = map.get(id)?;
        Some(Value::from(Serde(serde_json::json!({ "output": output }))))
    }
}

#[derive(Debug)]
struct EnvObject;

impl Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        std::env::var(key.as_str()?).ok().map(Value::from)
    }
}

/// The environment variables a template reads (`env.NAME`,
/// `env["NAME"]`): their values are secrets when the template renders a
/// connection.
pub fn env_names(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = template.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while let Some(pos) = template[i..].find("env") {
        let at = i + pos;
        i = at + 3;
        if at > 0 && ident(bytes[at - 1]) {
            continue;
        }
        let rest = &template[at + 3..];
        let name: String = if let Some(r) = rest.strip_prefix('.') {
            r.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        } else if let Some(r) = rest.strip_prefix("[\"").or_else(|| rest.strip_prefix("['")) {
            r.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        } else {
            continue;
        };
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

/// A template environment with chime's filters.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template is rendered on the executor's thread: bound its work and
    // memory, whatever values (upstream outputs, params) it loops over.
    env.set_fuel(Some(FUEL));
    env.add_filter("ds_add", ds_add);
    env.add_filter("ds_format", ds_format);
    for name in crate::shell_quote::FILTER_NAMES {
        env.add_filter(*name, sh_quote);
    }
    env
}

/// `{{ tasks.x.output | sh_quote }}`: the value as one single-quoted `sh`
/// word (see [`crate::shell_quote`]); numbers and objects are quoted as
/// they would render.
fn sh_quote(value: Value) -> String {
    match value.as_str() {
        Some(s) => crate::shell_quote::sh_quote(s),
        None => crate::shell_quote::sh_quote(&value.to_string()),
    }
}

fn parse_ds(ds: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(ds.get(..10).unwrap_or(ds), "%Y-%m-%d").map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{ds}` is not a date: {e}"),
        )
    })
}

/// `{{ ds | ds_add(7) }}`: the date `days` days later (negative: earlier).
fn ds_add(ds: &str, days: i64) -> Result<String, Error> {
    let d = parse_ds(ds)?;
    let moved = Duration::try_days(days).and_then(|delta| d.checked_add_signed(delta));
    moved
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{ds} + {days} days is out of range"),
            )
        })
}

/// `{{ ds | ds_format("%d/%m/%Y") }}`.
fn ds_format(ds: &str, fmt: &str) -> Result<String, Error> {
    use std::fmt::Write;
    let d = parse_ds(ds)?;
    let mut out = String::new();
    write!(out, "{}", d.format(fmt)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("bad date format `{fmt}`"),
        )
    })?;
    Ok(out)
}

/// Renders every string in `params` (a JSON value) for one task.
pub fn render(
    env: &Environment<'static>,
    run: &RunContext,
    outputs: &Arc<Outputs>,
    item: Option<&serde_json::Value>,
    params: &serde_json::Value,
) -> Result<serde_json::Value, TemplateError> {
    if !needs_rendering(params) {
        return Ok(params.clone());
    }
    let ctx = context(run, outputs, item);
    let ctx = Value::from(ctx);
    render_value(env, &ctx, params)
}

/// Evaluates a `when:` expression in a task's context: its truth as
/// Jinja sees it (`false`, `0`, `""`, an empty list or mapping and
/// `none` are false). An undefined name is an error, as in templates.
pub fn condition(
    env: &Environment<'static>,
    run: &RunContext,
    outputs: &Arc<Outputs>,
    item: Option<&serde_json::Value>,
    expression: &str,
) -> Result<bool, TemplateError> {
    let value = eval(env, run, outputs, item, expression, "condition")?;
    Ok(value.is_true())
}

/// Evaluates an expression (a dynamic `for_each`'s list, an
/// `instance_key`) in a task's context, as JSON.
pub fn evaluate(
    env: &Environment<'static>,
    run: &RunContext,
    outputs: &Arc<Outputs>,
    item: Option<&serde_json::Value>,
    expression: &str,
) -> Result<serde_json::Value, TemplateError> {
    let value = eval(env, run, outputs, item, expression, "expression")?;
    serde_json::to_value(&value).map_err(|e| {
        expression_error(
            expression,
            Error::new(
                ErrorKind::InvalidOperation,
                format!("its value is not data: {e}"),
            ),
        )
    })
}

/// `expression`'s value in a task's context; undefined is an error,
/// named as `what` (a condition, an expression).
fn eval(
    env: &Environment<'static>,
    run: &RunContext,
    outputs: &Arc<Outputs>,
    item: Option<&serde_json::Value>,
    expression: &str,
    what: &str,
) -> Result<Value, TemplateError> {
    let failed = |error| expression_error(expression, error);
    let compiled = env.compile_expression(expression).map_err(failed)?;
    let ctx = Value::from(context(run, outputs, item));
    let value = compiled.eval(ctx).map_err(failed)?;
    if value.is_undefined() {
        let e = Error::new(
            ErrorKind::UndefinedError,
            format!("the {what} is undefined"),
        );
        return Err(failed(e));
    }
    Ok(value)
}

/// An expression's error, shown as the template `{{ expression }}`.
fn expression_error(expression: &str, error: Error) -> TemplateError {
    TemplateError {
        template: format!("{{{{ {expression} }}}}"),
        error,
    }
}

/// A task's template context: vocabulary::TEMPLATE_VARIABLES, valued.
fn context(
    run: &RunContext,
    outputs: &Arc<Outputs>,
    item: Option<&serde_json::Value>,
) -> std::collections::BTreeMap<&'static str, Value> {
    let mut ctx = std::collections::BTreeMap::new();
    ctx.insert("run_id", Value::from(run.run_id.clone()));
    ctx.insert("ds", Value::from(run.ds.clone()));
    ctx.insert("ds_nodash", Value::from(run.ds.replace('-', "")));
    ctx.insert("ts", Value::from(run.logical_date.clone()));
    ctx.insert("logical_date", Value::from(run.logical_date.clone()));
    ctx.insert(
        "data_interval_start",
        Value::from(run.data_interval_start.clone()),
    );
    ctx.insert(
        "data_interval_end",
        Value::from(run.data_interval_end.clone()),
    );
    ctx.insert("params", Value::from(Serde(&run.params)));
    ctx.insert("tasks", Value::from_object(TasksObject(outputs.clone())));
    ctx.insert("env", Value::from_object(EnvObject));
    if let Some(item) = item {
        ctx.insert("item", Value::from(Serde(item)));
    }
    ctx
}

fn needs_rendering(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains("{{") || s.contains("{%"),
        serde_json::Value::Array(a) => a.iter().any(needs_rendering),
        serde_json::Value::Object(o) => o.values().any(needs_rendering),
        _ => false,
    }
}

fn render_value(
    env: &Environment<'static>,
    ctx: &Value,
    v: &serde_json::Value,
) -> Result<serde_json::Value, TemplateError> {
    Ok(match v {
        serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let rendered = env.render_str(s, ctx).map_err(|error| TemplateError {
                template: s.clone(),
                error,
            })?;
            serde_json::Value::String(rendered)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|x| render_value(env, ctx, x))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_value(env, ctx, x)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// A template that did not render: the template and MiniJinja's error.
#[derive(Debug)]
pub struct TemplateError {
    pub template: String,
    pub error: Error,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.error;
        write!(f, "template `{}`: {}", self.template, e.kind())?;
        if let Some(detail) = e.detail() {
            write!(f, ": {detail}")?;
        }
        if e.kind() == ErrorKind::OutOfFuel {
            write!(
                f,
                " (a template may do about {FUEL} steps or make ~128 MB of text; loop over less, or do the work in a task)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunContext {
        RunContext {
            run_id: "manual__2026-11-24T00:00:00+00:00".into(),
            logical_date: "2026-11-24T00:00:00+00:00".into(),
            data_interval_start: "2026-11-24T00:00:00+00:00".into(),
            data_interval_end: "2026-11-25T00:00:00+00:00".into(),
            ds: "2026-11-24".into(),
            params: serde_json::json!({"region": "kr"}),
        }
    }

    #[test]
    fn the_context_holds_exactly_the_template_variables_check_knows() {
        let outputs = Arc::new(Outputs::default());
        let item = serde_json::json!("kr");
        let mut keys: Vec<&str> = context(&run(), &outputs, Some(&item)).into_keys().collect();
        let mut known = crate::vocabulary::TEMPLATE_VARIABLES.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
    }

    /// Conditions are Jinja's truth; `tojson` gives JSON (a new user's
    /// first try at passing an output on).
    #[test]
    fn conditions_and_expressions_evaluate_as_jinja_does() {
        let env = environment();
        let outputs = Arc::new(Outputs::default());
        outputs.by_task.lock().unwrap().insert(
            "check".into(),
            serde_json::json!({"rows": 0, "files": ["a", "b"]}),
        );
        let cond = |e: &str| condition(&env, &run(), &outputs, None, e);
        assert!(!cond("tasks.check.output.rows > 0").unwrap());
        assert!(cond("tasks.check.output.files").unwrap());
        assert!(!cond("[]").unwrap());
        assert!(cond("params.region == 'kr'").unwrap());
        let err = cond("tasks.check.output.nope").unwrap_err().to_string();
        assert!(err.contains("{{ tasks.check.output.nope }}"), "{err}");
        let list = evaluate(&env, &run(), &outputs, None, "tasks.check.output.files");
        assert_eq!(list.unwrap(), serde_json::json!(["a", "b"]));
        let rendered = render(
            &env,
            &run(),
            &outputs,
            None,
            &serde_json::json!("{{ tasks.check.output | tojson }}"),
        );
        let text = rendered.unwrap();
        let back: serde_json::Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
        assert_eq!(back, serde_json::json!({"rows": 0, "files": ["a", "b"]}));
    }

    #[test]
    fn env_names_finds_every_variable_a_template_reads() {
        assert_eq!(
            env_names("postgres://u:{{ env.PG_PASS }}@{{env['HOST']}}/{{ environment }}"),
            ["PG_PASS", "HOST"]
        );
        assert!(env_names("no variables, not even myenv.X").is_empty());
    }

    #[test]
    fn renders_the_context_and_filters() {
        let env = environment();
        let outputs = Arc::new(Outputs::default());
        outputs
            .by_task
            .lock()
            .unwrap()
            .insert("extract".into(), serde_json::json!({"rows": 12}));
        let p = serde_json::json!({
            "command": "x {{ ds_nodash }} {{ params.region }} {{ tasks.extract.output.rows }} {{ item }} {{ ds | ds_add(7) }} {{ ds | ds_format('%d/%m/%Y') }}"
        });
        let out = render(&env, &run(), &outputs, Some(&serde_json::json!("jp")), &p).unwrap();
        assert_eq!(out["command"], "x 20261124 kr 12 jp 2026-12-01 24/11/2026");
    }

    /// An upstream output `$(touch pwned)` piped through `sh_quote` (or its
    /// alias `quote`) reaches `sh -c` as data: nothing runs.
    #[test]
    fn sh_quote_filter_keeps_an_upstream_output_from_running_in_sh() {
        let env = environment();
        let outputs = Arc::new(Outputs::default());
        outputs.by_task.lock().unwrap().insert(
            "up".into(),
            serde_json::json!("$(touch pwned)'; touch pwned; '"),
        );
        let dir = std::env::temp_dir().join(format!("chime-template-quote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for filter in ["sh_quote", "quote"] {
            let p = serde_json::json!({
                "command": format!("printf %s {{{{ tasks.up.output | {filter} }}}}")
            });
            let out = render(&env, &run(), &outputs, None, &p).unwrap();
            let command = out["command"].as_str().unwrap();
            let ran = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ran.stdout),
                "$(touch pwned)'; touch pwned; '"
            );
            assert!(!dir.join("pwned").exists(), "{filter}: {command}");
        }
        let p = serde_json::json!({ "a": "{{ 42 | sh_quote }}", "b": "{{ item | quote }}" });
        let out = render(&env, &run(), &outputs, Some(&serde_json::json!("it's")), &p).unwrap();
        assert_eq!(out["a"], "'42'");
        assert_eq!(out["b"], r"'it'\''s'");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn strict_mode_fails_on_undefined() {
        let env = environment();
        let outputs = Arc::new(Outputs::default());
        let p = serde_json::json!({ "command": "{{ tasks.missing.output }}" });
        let err = render(&env, &run(), &outputs, None, &p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("undefined"), "{err}");
    }

    /// Issue 11, item 16: a template that loops for minutes (or builds
    /// gigabytes) fails fast instead of blocking the executor.
    #[test]
    fn a_runaway_template_fails_instead_of_blocking_the_run() {
        let env = environment();
        let outputs = Arc::new(Outputs::default());
        let slow = serde_json::json!(
            "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}"
        );
        let err = render(&env, &run(), &outputs, None, &slow)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ran out of fuel"), "{err}");
        assert!(err.contains("loop over less"), "{err}");
        let big = serde_json::json!("{{ 'x' * 1000000000 }}");
        let err = render(&env, &run(), &outputs, None, &big)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ran out of fuel"), "{err}");
        // An ordinary template is far from the limit.
        let ok = serde_json::json!("{% for i in range(1000) %}{{ params.region }}{% endfor %}");
        assert_eq!(
            render(&env, &run(), &outputs, None, &ok).unwrap(),
            serde_json::json!("kr".repeat(1000))
        );
    }
}
