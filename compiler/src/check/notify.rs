//! E045 bad-notify: a notification that cannot be sent as written, found
//! before the first failure it was meant to report:
//! - an email address that is not one (`to`, `from`: `name@host` or
//!   `Name <name@host>`);
//! - a webhook or `http` URL that is not http(s), or a Slack webhook
//!   written into the YAML (a secret in version control: read it from the
//!   environment);
//! - `sla_miss` on a task (deadlines are the run's), or `on: []`;
//! - an email's literal `smtp` that is not an smtp:// or smtps:// URL;
//! - `ui: {url}` that is not an http(s) URL.
//!
//! Values written as templates are checked only where fully literal.

use crate::analysis::Analysis;
use crate::ast::Notify;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::{Node, yaml::Value};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    for n in &p.notify {
        entry(n, None, diags);
    }
    for task in &p.tasks {
        for n in &task.notify {
            entry(n, Some(task.id), diags);
        }
    }
    if let Some(url) = p
        .ui_key
        .and_then(|e| e.value.get("url"))
        .map(|e| &e.value)
        .filter(|n| n.as_str().is_some_and(|u| !http_url(u)))
    {
        diags.push(
            Diagnostic::new(
                Code::E045,
                url.span,
                "`ui: url` is not an http(s) URL".to_string(),
            )
            .label("here")
            .help("write the page's address as people reach it: http://batch-host:8080"),
        );
    }
}

fn literal(node: &Node) -> Option<&str> {
    node.as_str()
        .filter(|t| !t.contains("{{") && !t.contains("{%"))
}

fn http_url(text: &str) -> bool {
    let t = text.trim();
    ["http://", "https://"]
        .iter()
        .any(|s| t.len() > s.len() && t.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
}

fn entry(n: &Notify<'_>, task: Option<&str>, diags: &mut Diagnostics) {
    let whose = task.map_or("the pipeline's".to_string(), |t| format!("task `{t}`'s"));
    if let Some(on) = n.node.get("on")
        && on.value.as_seq().is_some_and(|s| s.is_empty())
    {
        diags.push(
            Diagnostic::new(
                Code::E045,
                on.value.span,
                format!("{whose} notification is for no event"),
            )
            .label("here")
            .help("list its events: on: [failure, recovery] (failure, retry, success, recovery, sla_miss)"),
        );
    }
    if let Some(task) = task {
        for e in n.on.iter().filter(|e| e.as_str() == Some("sla_miss")) {
            diags.push(
                Diagnostic::new(
                    Code::E045,
                    e.span,
                    format!("task `{task}`: `sla_miss` is a run's event, not a task's"),
                )
                .label("here")
                .help("move this entry to the pipeline's `notify:` (beside `sla:`)"),
            );
        }
    }
    let Some(channel) = n.channel else { return };
    let get = |key: &str| channel.value.get(key).map(|e| &e.value);
    match channel.key.as_str() {
        Some("email") => {
            let to: Vec<&Node> = match get("to").map(|n| &n.value) {
                Some(Value::Seq(items)) => items.iter().collect(),
                Some(_) => get("to").into_iter().collect(),
                None => Vec::new(),
            };
            if let Some(node) = get("smtp")
                && let Some(text) = literal(node)
                && !["smtp://", "smtps://"]
                    .iter()
                    .any(|s| text.trim().starts_with(s))
            {
                diags.push(
                    Diagnostic::new(
                        Code::E045,
                        node.span,
                        format!("{whose} email: `smtp` is not an smtp:// or smtps:// URL"),
                    )
                    .label("here")
                    .help("write smtp://user:password@host:587?tls=required, or smtps://host:465 (read the password from the environment)"),
                );
            }
            for node in to.into_iter().chain(get("from")) {
                if let Some(text) = literal(node)
                    && let Err(why) = address(text)
                {
                    diags.push(
                        Diagnostic::new(
                            Code::E045,
                            node.span,
                            format!("{whose} email: `{text}` is not an email address: {why}"),
                        )
                        .label("here")
                        .help("write name@example.com, or Name <name@example.com>"),
                    );
                }
            }
        }
        Some("slack") => {
            if let Some(node) = get("webhook")
                && let Some(text) = literal(node)
            {
                let help = "read it from the environment: webhook: \"{{ env.SLACK_WEBHOOK }}\"";
                let message = if http_url(text) {
                    format!("{whose} Slack webhook is written in the file: its URL is a secret")
                } else {
                    format!("{whose} Slack webhook `{text}` is not an https URL")
                };
                diags.push(
                    Diagnostic::new(Code::E045, node.span, message)
                        .label("here")
                        .help(help),
                );
            }
        }
        Some("http") => {
            if let Some(node) = get("url")
                && let Some(text) = literal(node)
                && !http_url(text)
            {
                diags.push(
                    Diagnostic::new(
                        Code::E045,
                        node.span,
                        format!("{whose} http notification: `{text}` is not an http(s) URL"),
                    )
                    .label("here")
                    .help("notices are POSTed as JSON to an http:// or https:// URL"),
                );
            }
        }
        _ => {}
    }
}

/// Whether `text` is an address lettre will take: `local@domain`, or a
/// display name and `<local@domain>`. `Err` says what is wrong.
fn address(text: &str) -> Result<(), &'static str> {
    let t = text.trim();
    let addr = match (t.rfind('<'), t.ends_with('>')) {
        (Some(open), true) => &t[open + 1..t.len() - 1],
        (None, false) => t,
        _ => return Err("an unclosed <...>"),
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("no @");
    };
    if local.is_empty() || domain.is_empty() {
        return Err("nothing before or after the @");
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a space in the address");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err("the domain has an empty part");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses() {
        for ok in ["a@b.c", "Ops <ops@example.com>", "x.y+z@h"] {
            assert_eq!(super::address(ok), Ok(()), "{ok}");
        }
        for bad in ["ops", "@b", "a@", "a b@c", "Ops <ops@x", "a@b..c"] {
            assert!(super::address(bad).is_err(), "{bad}");
        }
    }
}
