#!/usr/bin/env python3
"""Regenerates docs/checks.md: for every code, what it catches, an example
pipeline and chime's exact output for it. compiler/tests/docs.rs checks
that the outputs in the page still match what chime prints.

usage: cargo build && python3 docs/gen_checks.py
"""
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHIME = os.path.join(ROOT, "target", "debug", "chime")

CHECKS = [
    ("E001", """The file is not valid YAML, holds more than one document, nests deeper
than 64 levels, expands through aliases to more than 5,000,000 nodes or
64 MiB of text ("billion laughs", also with long strings), or contains a
Unicode bidirectional control (U+200E, U+200F, U+202A-U+202E,
U+2066-U+2069: invisible, they make text display in another order than it
is read, "Trojan Source"; refused anywhere, comments included, as rustc
does). Checking stops for that file: nothing after the error can be
trusted.""", """pipeline: broken
tasks:
  a: { operator: noop, depends_on: [b }
"""),
    ("E002", """Keys are closed everywhere: a key the language does not define is an error,
with the nearest valid key, or the level where the key belongs.""", """pipeline: typo
retries: 2
tasks:
  a:
    operator: noop
    retires: 2
"""),
    ("E003", """A value of the wrong type or malformed: a duration without a unit, an id
that is not `[a-z][a-z0-9_]{0,62}`, a negative count, an unknown trigger
rule, a `for_each` that is not a literal list, a `for_each` item that
cannot name a task instance (empty, over 128 bytes, or holding `/`, `\\`,
`..` or a control character: the instance id is a log directory's
name).""", """pipeline: types
defaults:
  retry_delay: 5 minutes
tasks:
  Load-Data:
    operator: noop
    trigger_rule: all_sucess
"""),
    ("E004", """A required key is absent: `pipeline` and `tasks` in the file, `operator`
in a task or an `on_failure` action.""", """pipeline: incomplete
tasks:
  a:
    depends_on: []
"""),
    ("E010", """A task id defined twice, or any key repeated in one mapping. Most YAML
loaders silently keep the last one; chime keeps the first and reports the
second. Two `for_each` items of a task that name the same instance (`kr`
twice, or `1` and `"1"`) are reported too.""", """pipeline: twice
tasks:
  a: { operator: noop }
  a: { operator: noop }
"""),
    ("E011", """`depends_on` names a task that does not exist; the nearest task id is
suggested.""", """pipeline: dangling
tasks:
  extract: { operator: noop }
  load: { operator: noop, depends_on: [extrct] }
"""),
    ("E012", """Tasks depend on each other in a ring. The whole ring is listed, starting at
its earliest task in the file; `a -> b` means `b` depends on `a`. Not
reported while any dependency is unresolved (E011).""", """pipeline: ring
tasks:
  a: { operator: noop, depends_on: [c] }
  b: { operator: noop, depends_on: [a] }
  c: { operator: noop, depends_on: [b] }
"""),
    ("E020", """A task uses an operator that is neither built in (noop, shell, http, sql,
predict, wait_for) nor defined by a crate under `operators:` (read from
the crate's sources: every `#[chime::operator]` function). The nearest
name, built-in or custom, is suggested.""", """pipeline: ops
tasks:
  a: { operator: shel, with: { command: "true" } }
"""),
    ("E021", """An operator's required parameter is missing, or none of a set of
alternatives (`shell` needs `command` or `argv`). For a custom operator,
the fields of its parameters struct are required unless they are an
`Option` or `#[serde(default)]`.""", """pipeline: params
tasks:
  fetch:
    operator: http
    with: { method: GET }
"""),
    ("E022", """A parameter the operator does not take, with the nearest one. For a
custom operator this is reported whether or not its parameters struct has
`#[serde(deny_unknown_fields)]` (serde would otherwise drop a misspelt
optional parameter silently), except when the struct has a
`#[serde(flatten)]` field, which captures every other key.""", """pipeline: params
tasks:
  run:
    operator: shell
    with: { comand: ./run.sh }
"""),
    ("E023", """A parameter of the wrong type, or two alternatives set at once. A string
containing `{{` is accepted where a number, boolean or duration is
expected: it is only known once rendered.""", """pipeline: params
tasks:
  score:
    operator: predict
    with:
      model: model.onnx
      input: { csv: in.csv }
      features: [a, b]
      batch_size: 0
      output: { table: scores }
"""),
    ("E030", """The schedule is not a 5-field cron expression (minute hour day-of-month
month day-of-week) or one of @hourly, @daily, @weekly, @monthly, @yearly.
The message names the field and its range and the caret points at it; an
expression that can never fire (`0 0 30 2 *`) is reported too.""", """pipeline: nightly
schedule: "0 25 * * *"
start_date: 2026-01-01
tasks:
  a: { operator: noop }
"""),
    ("E031", """`timezone` is not an IANA time zone name.""", """pipeline: zoned
schedule: "@daily"
timezone: Asia/Seol
start_date: 2026-01-01
tasks:
  a: { operator: noop }
"""),
    ("E032", """A scheduled pipeline without `start_date`, a date that does not parse
(dates are `2026-01-31` or RFC 3339 date-times), a year outside 1-9999
(`0000-01-01`, `+99999-01-01`), or an `end_date` before `start_date`.""", """pipeline: dated
schedule: "@daily"
start_date: 2026-06-01
end_date: 2026-01-31
tasks:
  a: { operator: noop }
"""),
    ("E040", """A template (any string under `with:`, `connections:` or `on_failure:`)
that MiniJinja cannot parse. The caret is on the template's line, inside
block scalars too.""", """pipeline: templates
tasks:
  report:
    operator: shell
    with:
      command: |
        echo "day {{ ds }}"
        echo "next {{ ds | ds_add(1 }}"
"""),
    ("E041", """A template names a variable the run will not have: an unknown name, a
param not declared under `params:`, `item` outside a `for_each` task,
`tasks.X` where X is not a task, or `tasks.X.<anything but output>`.
Templates are rendered in strict mode, so each of these would fail the
task at run time.""", """pipeline: variables
params:
  region: kr
tasks:
  extract:
    operator: shell
    with: { command: "extract --day {{ dss }} --region {{ params.regoin }}" }
"""),
    ("E042", """A task's template reads `tasks.X.output` where X is not upstream of the
task (directly or through other tasks): X may not have run yet.""", """pipeline: upstream
tasks:
  extract: { operator: shell, with: { command: "echo 1" } }
  report: { operator: shell, with: { command: "echo {{ tasks.extract.output }}" } }
"""),
    ("E043", """A `sql`, `predict` or `wait_for` task (or `on_failure` action) names a
connection, at the top of `with:` or in its `input:`/`output:`, that
`connections:` does not define. A name written as a template is checked
when the task runs.""", """pipeline: conn
connections:
  warehouse: "{{ env.WAREHOUSE_URL }}"
tasks:
  extract:
    operator: sql
    with: { connection: warehous, query: "SELECT 1" }
"""),
    ("E044", """A URL chime cannot use. In `connections:`: a scheme it does not know
(it connects to `sqlite://` and `postgres://`), or a PostgreSQL TLS
option that is not libpq's: an unknown `sslmode`, `sslmode=allow`, a
client certificate (`sslcert`) without its key (`sslkey`) or the other
way round, an empty file name. In a built-in operator's path (`model`,
`csv`, `parquet`, `output`, `file`): an object-store URL whose scheme is
not `s3://` (`gs://`, `S3://`, `s3:/`), whose bucket name S3 refuses
(3-63 lower-case letters, digits, dots and hyphens, not an IP address),
or that names a bucket or prefix where an object is needed (a sensor may
wait for a prefix). A value written as a template is checked where its
text is literal: a literal `sslmode` in a templated URL, the bucket of
`s3://lake/{{ ds }}/x.csv`.""", """pipeline: tls
connections:
  warehouse: "postgres://etl:{{ env.PGPASSWORD }}@db.example.com/sales?sslmode=verify"
tasks:
  load:
    operator: sql
    with: { connection: warehouse, query: "SELECT 1" }
"""),
    ("E045", """A notification that cannot be sent as written, found before the first
failure it was meant to report: an email address (`to`, `from`) that is
not `name@host` or `Name <name@host>`; an `http` URL that is not http or
https; a Slack webhook written into the file (its URL is a secret: read it
from the environment with `{{ env.SLACK_WEBHOOK }}`); `sla_miss` in a
task's `notify:` (deadlines are the run's: it belongs in the pipeline's);
a `ui: {url}` that is not an http(s) URL. Values written as templates are
checked only where fully literal.""", """pipeline: alerts
notify:
  - on: [failure]
    email: { to: oncall-at-example.com }
tasks:
  load: { operator: noop }
"""),
    ("E046", """A run deadline that cannot work as written: `sla: {finish_by}` that is not
a time of day on a 24-hour clock (`HH:MM`, in the pipeline's timezone);
`sla:` with neither `max_duration` nor `finish_by`; `sla:` on a pipeline
without a schedule (only scheduled runs have an SLA; `timeout:` bounds
every run); `sla_miss` in `notify:` on a pipeline without `sla:`, which
would never be sent. Durations (`timeout`, `max_duration`) that are not
durations are E003.""", """pipeline: nightly
schedule: "30 6 * * *"
timezone: Europe/Paris
start_date: 2026-01-01
sla: { finish_by: "8:30" }
tasks:
  load: { operator: noop }
"""),
    ("E047", """A task's `when:` that is not one expression in braces, `"{{ expression
}}"`: a bare expression (`when: tasks.check.output.rows > 0`) or text
around a template. The expression inside is checked as templates are:
its syntax (E040), its names (E041), and the outputs it reads must be
upstream (E042).""", """pipeline: branch
tasks:
  check: { operator: shell, with: { command: "echo '{\\"rows\\": 3}'" } }
  load:
    operator: noop
    depends_on: [check]
    when: tasks.check.output.rows > 0
"""),
    ("E048", """A task's `pool:` names a pool that `pools:` does not declare (the help
names the closest declared one), or a pool has more than 10,000 slots,
which limits nothing.""", """pipeline: nightly
pools:
  warehouse: 4
tasks:
  load:
    operator: noop
    pool: warehous
"""),
    ("E049", """A dynamic `for_each` (a string) that cannot work: not one `"{{ expression
}}"`; an expression that reads no upstream's output (`"{{ [1, 2] }}"`: the
list is known when the file is written, so write it as a list);
`instance_key` that is not one expression; `instance_key` or
`max_instances` on a task without a dynamic `for_each`; `max_instances`
over 100,000. The expressions are checked as templates too (E040-E042):
the output the list comes from must be an upstream's.""", """pipeline: fanout
tasks:
  per_region:
    operator: noop
    for_each: "{{ ['kr', 'jp', 'us'] }}"
"""),
    ("E050", """A crate under `operators:` is missing, is not a crate (no Cargo.toml), has
no src/lib.rs, does not parse (the note names the Rust file and line),
keeps operators in a private module, or defines two operators with one
name. Paths are relative to the pipeline file.""", """pipeline: custom
operators:
  - path: ./ops
tasks:
  features: { operator: build_features }
"""),
    ("E060", """A `predict` task's `model:` is a literal path to a file that is missing or
is not an ONNX model (its protobuf does not parse, or it has no graph).
A relative path is resolved from the pipeline file's directory, where
the pipeline binary is meant to run. `chime check` only parses the file
(milliseconds; files over 256 MiB, a network's weights, are left to the
task); a templated path is checked when the task starts, with the same
message.""", """pipeline: churn
connections:
  results: sqlite://out/results.db
tasks:
  score:
    operator: predict
    with:
      model: models/churn_v2.onnx
      input: { csv: data/customers.csv }
      features: [age, income]
      output: { connection: results, table: churn_scores }
"""),
    ("E061", """The model uses an operator chime cannot run: the message names the
operator and its domain, the label the node. For a graph chime evaluates
itself (one with ai.onnx.ml operators) every node is also built from its
attributes, as the task will: an attribute chime does not support (a
post_transform or node mode ONNX does not define, a Scan over another
axis) is reported with the node. Without this check the task would fail
at its first run. docs/models.md lists the operators chime
evaluates and the converters and options whose exports stay within them.
A model file that cannot be loaded at all is E060.""", """pipeline: odd_model
connections:
  results: sqlite://out/results.db
tasks:
  score:
    operator: predict
    with:
      model: models/hardmax.onnx
      input: { csv: data/points.csv }
      features: [x, y]
      output: { connection: results, table: picks }
"""),
    ("E062", """`features` does not fit the model's inputs: a list of columns of another
width than the model's one input, a mapping that names an input the
model does not have or leaves one out, or a list for a model with
several inputs that are not named like the columns. The note lists the
model's inputs, their element types and shapes (`N` is the rows).""", """pipeline: churn
connections:
  results: sqlite://out/results.db
tasks:
  score:
    operator: predict
    with:
      model: models/churn.onnx
      input: { csv: data/customers.csv }
      features: [age, income, tenure]
      output: { connection: results, table: churn_scores }
"""),
    ("W001", """A warning: a task with no dependencies and no dependents, in a pipeline of
several tasks whose graph is not connected. Usually a forgotten
`depends_on`. Not reported in a file that has errors.""", """pipeline: islands
tasks:
  extract: { operator: noop }
  load: { operator: noop, depends_on: [extract] }
  forgotten: { operator: noop }
"""),
    ("W002", """A warning: a value chime does not control (`params.*`, set with
`--param`; `tasks.X.output`; `env.*`; `item`) is rendered into shell or SQL
text: `shell`'s `command`, `sql`'s `query`, `wait_for`'s `sql`, `predict`'s
`input.sql`. An output `$(touch pwned)` would run; a `'` would end an SQL
literal. For a shell command, pass the value through `argv:` (no shell) or
the task's `env:` (and `"$VAR"`), or quote it with `| sh_quote` (alias
`quote`) as the expression's last filter. SQL binds values with `args:`;
quoting does not make SQL safe. The YAML and the dates chime computes
(`ds`, `ts`, `run_id`, ...) are trusted. Not reported in a file that has
errors.""", """pipeline: injection
params:
  region: kr
connections:
  warehouse: "sqlite://warehouse.db"
tasks:
  extract:
    operator: sql
    with:
      connection: warehouse
      query: "SELECT * FROM sales WHERE region = '{{ params.region }}'"
  report:
    operator: shell
    depends_on: [extract]
    with: { command: "echo {{ tasks.extract.output }} > report.txt" }
"""),
]


# Files the examples' directory holds (the E06x examples read models).
FIXTURES = {
    "models/churn.onnx": "tests/data/logreg16.onnx",
    "models/hardmax.onnx": "tests/data/hardmax.onnx",
}


def run(example):
    with tempfile.TemporaryDirectory() as d:
        for dest, src in FIXTURES.items():
            os.makedirs(os.path.dirname(os.path.join(d, dest)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, src), os.path.join(d, dest))
        with open(os.path.join(d, "pipeline.yaml"), "w") as f:
            f.write(example)
        out = subprocess.run([CHIME, "check", "pipeline.yaml", "--color", "never"], cwd=d, capture_output=True, text=True)
        return out.stderr


def main():
    parts = ["""# Checks

Every problem `chime check` reports has a stable code. This page lists them
all: what each catches, an example `pipeline.yaml`, and chime's exact
output for it. `chime explain CODE` prints one section of this page.

Exit status: 0 when there is no error (warnings allowed), 1 when there is
at least one error, 2 for bad usage or unreadable input (a missing file,
a file that is not UTF-8 or is over 64 MiB).

This page is generated by `docs/gen_checks.py`; `cargo test` checks that
every output below is still what chime prints. The examples run in a
directory that also holds `models/churn.onnx` (a logistic regression over
16 features) and `models/hardmax.onnx` (a graph with an operator chime
does not run).
"""]
    # The names come from chime's table of codes (`chime explain` lists it).
    names = dict(
        line.split(" ", 1)
        for line in subprocess.run([CHIME, "explain"], capture_output=True, text=True, check=True).stdout.splitlines()
    )
    for code, what, example in CHECKS:
        name = names[code]
        parts.append(f"""
## {code} {name}

{what}

```yaml
{example.rstrip()}
```

```text
{run(example).rstrip()}
```
""")
    with open(os.path.join(ROOT, "docs", "checks.md"), "w") as f:
        f.write("".join(parts))


if __name__ == "__main__":
    main()
