//! `chime export`: the pipeline for an existing engine (Airflow, Argo
//! Workflows), each task running one attempt of the pipeline's binary.
//! Files are rendered from the IR as text, deterministically: the same
//! YAML gives the same bytes.

use std::collections::BTreeSet;

use serde_json::Value as Json;

pub mod airflow;
mod airflow_head;
pub mod argo;

/// A Python string literal of `s` (double quotes; escapes for `\`, `"`
/// and control characters; other characters as they are, in UTF-8).
pub fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a Python literal (`true` as `True`, objects as dicts).
pub fn py_literal(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => py_str(s),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(py_literal).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A Jinja (and Python) string literal in single quotes, which read
/// better inside the double-quoted Python strings of a DAG file.
pub fn jinja_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Text an engine's Jinja renders back as `s` (Airflow renders every
/// templated field): as is, unless it holds template syntax, then as a
/// Jinja string literal.
pub fn jinja_literal(s: &str) -> String {
    if s.contains('{') || s.contains('%') || s.contains('#') {
        format!("{{{{ {} }}}}", jinja_str(s))
    } else {
        s.to_string()
    }
}

/// `s` with every character outside `allowed` as `sep`, made unique
/// among `used` (a `{sep}2`, `{sep}3`... suffix), and remembered there.
pub fn unique_name(
    s: &str,
    allowed: impl Fn(char) -> bool,
    sep: char,
    used: &mut BTreeSet<String>,
) -> String {
    let mut base: String = s
        .chars()
        .map(|c| if allowed(c) { c } else { sep })
        .collect();
    if base.is_empty() {
        base.push(sep);
    }
    let mut name = base.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{base}{sep}{n}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

/// Python's keywords and the names the DAG file defines itself.
const PY_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "dag",
    "datetime",
    "pendulum",
    "BINARY",
    "IMAGE",
    "COMMAND",
    "ENV",
    "STATE",
    "ARGS",
    "INTERVAL",
    "WORKDIR",
    "json",
    "BashOperator",
    "KubernetesPodOperator",
    "DAG",
    "TaskGroup",
    "CronDataIntervalTimetable",
    "Secret",
    "on_failure",
];

/// A Python variable name for task `id`, unique in `used`.
pub fn py_name(id: &str, used: &mut BTreeSet<String>) -> String {
    if used.is_empty() {
        used.extend(PY_RESERVED.iter().map(|s| s.to_string()));
    }
    // `per_region[kr]` reads as `per_region_kr`: runs of other characters
    // are one `_`, none at the end.
    let mut s = String::with_capacity(id.len());
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    while s.len() > 1 && s.ends_with('_') {
        s.pop();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    unique_name(&s, |c| c.is_ascii_alphanumeric() || c == '_', '_', used)
}

/// Text for a Python docstring or a comment line: backslashes and quotes
/// escaped (no `"""` can end the docstring), control characters as `?`.
pub fn py_doc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\\' => "\\\\".to_string(),
            '"' => "\\\"".to_string(),
            '\n' | '\r' | '\t' => " ".to_string(),
            c if c.is_control() => "?".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A duration in milliseconds as Python: `datetime.timedelta(seconds=30)`.
pub fn py_timedelta(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("datetime.timedelta(seconds={})", ms / 1000)
    } else {
        format!("datetime.timedelta(milliseconds={ms})")
    }
}

/// The pools the pipeline's tasks use, with their sizes, by name.
pub fn pools(ir: &crate::ir::Ir) -> Vec<(String, u32)> {
    let set: BTreeSet<(String, u32)> = ir.tasks.iter().filter_map(|t| t.pool.clone()).collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_survive_python_and_jinja() {
        assert_eq!(py_str("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(
            py_literal(&serde_json::json!({"n": 7, "ok": true, "x": null, "l": ["a"]})),
            r#"{"l": ["a"], "n": 7, "ok": True, "x": None}"#
        );
        assert_eq!(jinja_literal("per_region[kr]"), "per_region[kr]");
        assert_eq!(jinja_literal("x[{{ 1 }}]"), "{{ 'x[{{ 1 }}]' }}");
        assert_eq!(jinja_str("it's"), r"'it\'s'");
        let mut used = BTreeSet::new();
        assert_eq!(py_name("class", &mut used), "class_2");
        assert_eq!(py_name("per_region[kr]", &mut used), "per_region_kr");
        assert_eq!(py_name("per_region(kr)", &mut used), "per_region_kr_2");
        assert_eq!(py_name("7up", &mut used), "_7up");
        // A task must not shadow what the DAG file defines or imports.
        for taken in ["json", "WORKDIR", "ARGS", "INTERVAL", "BINARY", "dag"] {
            assert_eq!(py_name(taken, &mut used), format!("{taken}_2"));
        }
        assert_eq!(py_timedelta(30_000), "datetime.timedelta(seconds=30)");
        assert_eq!(py_timedelta(1_500), "datetime.timedelta(milliseconds=1500)");
        assert_eq!(py_doc("a \"\"\"b\\U\n"), r#"a \"\"\"b\\U "#);
    }
}
