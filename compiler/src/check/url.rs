//! E044 bad-url: a connection URL chime cannot use, found before a run
//! fails on it: an unknown scheme, or a PostgreSQL TLS option (`sslmode`,
//! client certificate) that is not libpq's. Values written as templates
//! are checked where their text is literal.

use runtime::pg_options::{self, OptionError};

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::locate::locate;

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
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
        let help = match e {
            OptionError::Mode(_) | OptionError::Allow => {
                "verify-full checks the server's certificate and host name, verify-ca its certificate, require only encrypts (docs/pipeline-yaml.md#connections)"
            }
            _ => "see docs/pipeline-yaml.md#connections",
        };
        diags.push(
            Diagnostic::new(Code::E044, span, format!("the connection `{name}`: {e}"))
                .label("here")
                .help(help.to_string()),
        );
    }
}
