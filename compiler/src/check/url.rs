//! E044 bad-url: a URL chime cannot use, found before a run fails on it:
//! a connection's unknown scheme or PostgreSQL TLS option (`sslmode`,
//! client certificate) that is not libpq's, or an object-store URL in a
//! path (`model`, `csv`, `parquet`, `output`, `file`) with a scheme other
//! than s3://, a bucket name S3 refuses, or no object key. Values written
//! as templates are checked where their text is literal.

use runtime::object_url::{self, ObjectUrlError};
use runtime::pg_options::{self, OptionError};

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::locate::locate;
use crate::syntax::{Node, yaml::Value};

/// The parameters of built-in operators that take a file path.
const PATH_KEYS: [&str; 5] = ["model", "csv", "parquet", "output", "file"];

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    connections(ctx, diags);
    for task in &ctx.pipeline.tasks {
        let (Some(op), Some(with)) = (task.operator.and_then(Node::as_str), task.with) else {
            continue;
        };
        // The built-in operators that take paths; a `shell` task's `env:`
        // may hold anything.
        if !matches!(op, "predict" | "sql" | "wait_for") {
            continue;
        }
        // A sensor may wait for a prefix; everything else names an object.
        let prefix_ok = op == "wait_for";
        paths(task.id, &with.value, prefix_ok, diags);
    }
}

/// Checks the object-store URLs among `node`'s path parameters.
fn paths(task: &str, node: &Node, prefix_ok: bool, diags: &mut Diagnostics) {
    let Value::Map(entries) = &node.value else {
        return;
    };
    for e in entries {
        let Some(key) = e.key.as_str() else { continue };
        // `input:` and `output:` mappings hold `csv:`/`parquet:` paths.
        if matches!(e.value.value, Value::Map(_)) {
            if matches!(key, "input" | "output") {
                paths(task, &e.value, prefix_ok, diags);
            }
            continue;
        }
        let Some(text) = e.value.as_str().filter(|_| PATH_KEYS.contains(&key)) else {
            continue;
        };
        // Only the literal text before a template can be judged.
        let templated = text.find("{{").or_else(|| text.find("{%"));
        let literal = &text[..templated.unwrap_or(text.len())];
        let Some(parsed) = object_url::parse(literal) else {
            continue;
        };
        let problem = match parsed {
            Err(ObjectUrlError::NoBucket | ObjectUrlError::Bucket { .. })
                if templated.is_some()
                    && !literal["s3://".len().min(literal.len())..].contains('/') =>
            {
                // The bucket's name is still being written by a template.
                None
            }
            Err(e) => Some(e),
            Ok(url) if url.is_prefix() && !prefix_ok && templated.is_none() => {
                Some(ObjectUrlError::NoKey(url.bucket))
            }
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            diags.push(
                Diagnostic::new(
                    Code::E044,
                    e.value.span,
                    format!("task `{task}`: `{key}` is not an object chime can reach: {problem}"),
                )
                .label("here")
                .help("object storage is written s3://BUCKET/KEY (docs/pipeline-yaml.md#object-storage)"),
            );
        }
    }
}

fn connections(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    for entry in &ctx.pipeline.connections {
        let (Some(name), Some(url)) = (entry.key.as_str(), entry.value.as_str()) else {
            continue;
        };
        let templated = url.contains("{{") || url.contains("{%");
        let whole = |message: String, help: &str| {
            Diagnostic::new(Code::E044, entry.value.span, message)
                .label("here")
                .help(help.to_string())
        };
        if !pg_options::is_postgres(url) {
            let url = url.trim();
            if !templated && !url.starts_with("sqlite:") {
                let scheme = url.split_once("://").map_or(url, |(s, _)| s);
                diags.push(whole(
                    format!("the connection `{name}` is not a URL chime knows (`{scheme}`)"),
                    "use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB",
                ));
            } else if url == "sqlite://" {
                diags.push(whole(
                    format!("the connection `{name}` names no SQLite file"),
                    "give a path, as in sqlite://data/app.db",
                ));
            }
            continue;
        }
        let Err(e) = pg_options::split(url) else {
            continue;
        };
        // In a templated URL only a literal sslmode can be judged.
        let (key, literal) = match &e {
            OptionError::Mode(v) => ("sslmode", !v.contains('{')),
            OptionError::Allow => ("sslmode", true),
            OptionError::Half { given, .. } => (*given, !templated),
            OptionError::Empty(key) => (*key, !templated),
            OptionError::Quote => ("'", !templated),
            OptionError::SystemNeedsFull(_) => ("sslmode", true),
        };
        if !literal {
            continue;
        }
        let span = match url.find(key) {
            Some(at) => {
                let end = url[at..]
                    .find(|c: char| c == '&' || c.is_whitespace())
                    .map_or(url.len(), |n| at + n);
                locate(&ctx.source.text, &entry.value, at..end)
            }
            None => entry.value.span,
        };
        let help = match &e {
            // `verify` alone is as near to one verify mode as to the other:
            // say what each does rather than pick one.
            OptionError::Mode(v) => (!v.to_ascii_lowercase().starts_with("verify")
                || v.len() > "verify-".len())
            .then(|| {
                crate::diagnostic::did_you_mean(
                    &v.to_ascii_lowercase().replace('_', "-"),
                    pg_options::SSL_MODES.iter().map(|(n, _)| *n),
                )
            })
            .flatten()
            .unwrap_or_else(|| {
                "verify-full checks the server's certificate and host name, verify-ca its certificate, require only encrypts (docs/pipeline-yaml.md#connections)".into()
            }),
            OptionError::Allow => "prefer tries TLS first, then plain (docs/pipeline-yaml.md#connections)".into(),
            _ => "see docs/pipeline-yaml.md#connections".into(),
        };
        diags.push(
            Diagnostic::new(Code::E044, span, format!("the connection `{name}`: {e}"))
                .label("here")
                .help(help.to_string()),
        );
    }
}
