//! The built-in operators' parameter contracts (docs/pipeline-yaml.md,
//! "Built-in operators").
//!
//! Each operator is described once, here, as data. `chime check` validates
//! every task's `with:` against these descriptions (E021 missing, E022
//! unknown, E023 wrong type) and `chime schema` turns them into JSON Schema;
//! the executor will deserialise the rendered parameters against the same
//! list, so a parameter cannot be added to one side only.

use crate::vocabulary::{Object, Ty, field};

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "rt")]
pub mod noop;
#[cfg(feature = "predict")]
pub mod predict;
#[cfg(feature = "rt")]
pub mod registry;
#[cfg(feature = "rt")]
pub mod shell;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "rt")]
pub mod wait_for;

/// A built-in operator: its name, what it does, its parameters, and what
/// the compiler's checks and the executor need to know of it.
#[derive(Debug)]
pub struct OperatorSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static Object,
    /// Its parameters name connections: `connection` at the top of `with:`
    /// or inside `input:`/`output:` (E043 checks they exist).
    pub names_connections: bool,
    /// Parameters whose text is code (W002 warns when untrusted values
    /// reach them): the path under `with:`, and the language.
    pub code: &'static [(&'static [&'static str], Language)],
    /// The runtime features a pipeline using it compiles in: each
    /// always (`None`), or when `with:` holds that key (`wait_for`'s
    /// `sql` and `url`).
    pub features: &'static [(Option<&'static str>, &'static str)],
    /// It reads or writes rows files: a Parquet file named in its
    /// parameters compiles the `parquet` feature in as well.
    pub rows_files: bool,
    /// Does nothing with its parameters (noop): without a `timeout`, the
    /// executor records a success without rendering them or opening a log.
    pub inert: bool,
    /// Its parameters carry credentials (requests put tokens in URLs and
    /// headers): the values of the environment variables they read are
    /// secrets of the run.
    pub secret_env: bool,
}

/// What a parameter's text is run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Text run by `sh -c`.
    Shell,
    /// SQL text of an operator that takes `args:` (bound parameters).
    SqlWithArgs,
    /// SQL text of an operator that binds nothing.
    Sql,
}

const STRING_LIST: Ty = Ty::List(&Ty::String);
const STRING_MAP: Ty = Ty::Map(&Ty::String);
const WRITE_MODES: &[&str] = &["append", "replace", "replace_partition"];

/// Every built-in operator, sorted by name.
pub const BUILTINS: &[OperatorSpec] = &[
    OperatorSpec {
        name: "http",
        doc: "Sends one HTTP request; fails when the status is not expected.",
        params: &Object {
            what: "`http` parameters",
            fields: &[
                field("url", Ty::String, true, "The URL to request."),
                field(
                    "method",
                    Ty::Enum(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
                    false,
                    "The HTTP method (default GET).",
                ),
                field("headers", STRING_MAP, false, "Request headers."),
                field("body", Ty::String, false, "The request body."),
                field(
                    "expect_status",
                    Ty::List(&Ty::Integer { min: 100 }),
                    false,
                    "Statuses that count as success (default: any 2xx).",
                ),
                field(
                    "timeout",
                    Ty::Duration,
                    false,
                    "How long to wait for the answer.",
                ),
            ],
            exactly_one_of: &[],
            open: false,
        },
        names_connections: false,
        code: &[],
        features: &[(None, "http")],
        rows_files: false,
        inert: false,
        secret_env: true,
    },
    OperatorSpec {
        name: "noop",
        doc: "Does nothing; joins branches.",
        params: &Object {
            what: "`noop` parameters",
            fields: &[],
            exactly_one_of: &[],
            open: false,
        },
        names_connections: false,
        code: &[],
        features: &[],
        rows_files: false,
        inert: true,
        secret_env: false,
    },
    OperatorSpec {
        name: "predict",
        doc: "Batch inference: loads an ONNX model once, streams the input in batches and writes one row per input row.",
        params: &Object {
            what: "`predict` parameters",
            fields: &[
                field("model", Ty::String, true, "Path of the ONNX model."),
                field(
                    "input",
                    Ty::Object(&Object {
                        what: "`predict` input",
                        fields: &[
                            field("csv", Ty::String, false, "A CSV file."),
                            field("parquet", Ty::String, false, "A Parquet file."),
                            field("sql", Ty::String, false, "A query on `connection`."),
                            field(
                                "connection",
                                Ty::String,
                                false,
                                "The connection `sql` runs on.",
                            ),
                        ],
                        exactly_one_of: &[&["csv", "parquet", "sql"]],
                        open: false,
                    }),
                    true,
                    "Where the rows come from: csv, parquet or sql.",
                ),
                field(
                    "features",
                    Ty::Either(&Ty::Map(&STRING_LIST), &STRING_LIST),
                    true,
                    "Input columns fed to the model, in order; for a model with several inputs, a mapping from each input's name to its columns.",
                ),
                field(
                    "keep",
                    STRING_LIST,
                    false,
                    "Input columns copied to the output as they are.",
                ),
                field(
                    "batch_size",
                    Ty::Integer { min: 1 },
                    false,
                    "Rows per inference batch.",
                ),
                field(
                    "allow_nan",
                    Ty::Bool,
                    false,
                    "Pass NaN and infinite features to the model and write NaN or infinite predictions, instead of failing the task.",
                ),
                field(
                    "output",
                    Ty::Object(&Object {
                        what: "`predict` output",
                        fields: &[
                            field("csv", Ty::String, false, "A CSV file."),
                            field("parquet", Ty::String, false, "A Parquet file."),
                            field("table", Ty::TableName, false, "A table on `connection`."),
                            field(
                                "connection",
                                Ty::String,
                                false,
                                "The connection `table` is on.",
                            ),
                            field(
                                "mode",
                                Ty::Enum(WRITE_MODES),
                                false,
                                "How rows are written.",
                            ),
                        ],
                        exactly_one_of: &[&["csv", "parquet", "table"]],
                        open: false,
                    }),
                    true,
                    "Where predictions go: csv, parquet or a table.",
                ),
            ],
            exactly_one_of: &[],
            open: false,
        },
        names_connections: true,
        code: &[(&["input", "sql"], Language::Sql)],
        features: &[(None, "predict")],
        rows_files: true,
        inert: false,
        secret_env: false,
    },
    OperatorSpec {
        name: "shell",
        doc: "Runs a command; its output is the last stdout line when that line is JSON.",
        params: &Object {
            what: "`shell` parameters",
            fields: &[
                field(
                    "command",
                    Ty::String,
                    false,
                    "A command line, run by `sh -c`.",
                ),
                field(
                    "argv",
                    STRING_LIST,
                    false,
                    "A program and its arguments, run without a shell.",
                ),
                field("env", STRING_MAP, false, "Extra environment variables."),
                field("cwd", Ty::String, false, "The working directory."),
            ],
            exactly_one_of: &[&["command", "argv"]],
            open: false,
        },
        names_connections: false,
        code: &[(&["command"], Language::Shell)],
        features: &[],
        rows_files: false,
        inert: false,
        secret_env: false,
    },
    OperatorSpec {
        name: "sql",
        doc: "Runs SQL on a connection (SQLite, PostgreSQL); a query's rows can be written to a file or a table.",
        params: &Object {
            what: "`sql` parameters",
            fields: &[
                field("connection", Ty::String, true, "The name of a connection."),
                field("query", Ty::String, false, "The SQL to run."),
                field("file", Ty::String, false, "A file holding the SQL to run."),
                field(
                    "args",
                    Ty::List(&Ty::Json),
                    false,
                    "Values bound to the statement's parameters (`?` on SQLite, `$1` on PostgreSQL), in order.",
                ),
                field(
                    "output",
                    Ty::Either(
                        &Ty::String,
                        &Ty::Object(&Object {
                            what: "`sql` output",
                            fields: &[
                                field("table", Ty::TableName, true, "The table to write."),
                                field(
                                    "connection",
                                    Ty::String,
                                    false,
                                    "The connection of the table (default: the query's).",
                                ),
                                field(
                                    "mode",
                                    Ty::Enum(WRITE_MODES),
                                    false,
                                    "How rows are written.",
                                ),
                            ],
                            exactly_one_of: &[],
                            open: false,
                        }),
                    ),
                    false,
                    "A CSV/Parquet path, or a table, to write the query's rows to.",
                ),
            ],
            exactly_one_of: &[&["query", "file"]],
            open: false,
        },
        names_connections: true,
        code: &[(&["query"], Language::SqlWithArgs)],
        features: &[(None, "sql")],
        rows_files: true,
        inert: false,
        secret_env: false,
    },
    OperatorSpec {
        name: "wait_for",
        doc: "Sensor: polls until a file exists, a query returns rows or a URL answers 2xx.",
        params: &Object {
            what: "`wait_for` parameters",
            fields: &[
                field("file", Ty::String, false, "A path that must exist."),
                field("sql", Ty::String, false, "A query that must return rows."),
                field(
                    "connection",
                    Ty::String,
                    false,
                    "The connection `sql` runs on.",
                ),
                field("url", Ty::String, false, "A URL that must answer 2xx."),
                field(
                    "poke_interval",
                    Ty::Duration,
                    false,
                    "Time between two checks (default 30s).",
                ),
                field("timeout", Ty::Duration, false, "Give up after this long."),
            ],
            exactly_one_of: &[&["file", "sql", "url"]],
            open: false,
        },
        names_connections: true,
        code: &[(&["sql"], Language::Sql)],
        features: &[(Some("sql"), "sql"), (Some("url"), "http")],
        rows_files: false,
        inert: false,
        secret_env: true,
    },
];

/// The built-in operator called `name`.
pub fn builtin(name: &str) -> Option<&'static OperatorSpec> {
    BUILTINS.iter().find(|op| op.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_sorted_and_unique() {
        let names: Vec<_> = BUILTINS.iter().map(|op| op.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn exactly_one_of_names_real_fields() {
        for op in BUILTINS {
            for group in op.params.exactly_one_of {
                for name in *group {
                    assert!(op.params.field(name).is_some(), "{}: {name}", op.name);
                }
            }
        }
    }
}
