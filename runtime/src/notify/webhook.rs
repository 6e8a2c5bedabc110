//! The `slack` channel (an incoming webhook) and the `http` channel (a
//! JSON POST), through the `http` operator's client.

use super::{Notice, SEND_TIMEOUT};

fn text_param<'a>(
    params: &'a serde_json::Value,
    key: &str,
    channel: &str,
) -> Result<&'a str, String> {
    params
        .get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("{channel}: `{key}` is missing or empty"))
}

fn post(url: &str, headers: &[(String, String)], body: &serde_json::Value) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .user_agent(concat!("chime/", env!("CARGO_PKG_VERSION")))
        .timeout(SEND_TIMEOUT)
        .build();
    let mut req = agent.post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_json(body.clone()) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, resp)) => {
            let text: String = resp
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            Err(format!("the server answered {code}: {text}"))
        }
        // Not `t.to_string()`: ureq starts it with the whole URL, whose
        // credentials or query token no redaction would know.
        Err(ureq::Error::Transport(t)) => Err(match t.message() {
            Some(m) => format!("{}: {m}", t.kind()),
            None => t.kind().to_string(),
        }),
    }
}

/// Slack's mrkdwn: `&`, `<` and `>` escaped (Slack's own rule), so text
/// from the run cannot make links or mentions.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message: the subject in bold, what happened, the log's last
/// lines as code, and a link to the run's page.
pub fn slack_message(notice: &Notice) -> serde_json::Value {
    let mut lines = vec![format!("*{}*", mrkdwn(&notice.subject()))];
    if let Some(d) = &notice.detail {
        lines.push(mrkdwn(d));
    }
    if let Some(e) = &notice.error {
        lines.push(format!("error: {}", mrkdwn(e)));
    }
    if let Some(tail) = &notice.log_tail {
        lines.push(format!("```{}```", mrkdwn(tail).replace("```", "'''")));
    }
    if let Some(link) = &notice.link {
        lines.push(format!(
            "<{}|Open the run>",
            link.replace('|', "%7C").replace('>', "%3E")
        ));
    }
    serde_json::json!({ "text": lines.join("\n") })
}

pub fn slack(params: &serde_json::Value, notice: &Notice) -> Result<String, String> {
    let url = text_param(params, "webhook", "slack")?;
    post(url, &[], &slack_message(notice)).map_err(|e| format!("slack webhook: {e}"))?;
    Ok("slack".into())
}

pub fn post_json(params: &serde_json::Value, notice: &Notice) -> Result<String, String> {
    let url = text_param(params, "url", "http")?;
    let headers: Vec<(String, String)> = params
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), String::from),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    post(url, &headers, &notice.json()).map_err(|e| format!("http {}: {e}", shown(url)))?;
    Ok(format!("POST to {}", shown(url)))
}

/// A URL as messages show it: scheme, host and path; never its user
/// information or its query, where tokens go.
fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ureq's transport errors start with the whole URL: what is said
    /// keeps neither its password nor its query.
    #[test]
    fn a_failed_post_does_not_say_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let params = serde_json::json!({
            "url": format!("http://user:pw-secret@127.0.0.1:{port}/h?token=tok-secret")
        });
        let e = post_json(&params, &Notice::default()).unwrap_err();
        assert!(!e.contains("pw-secret") && !e.contains("tok-secret"), "{e}");
        assert!(e.contains("Connection") || e.contains("connect"), "{e}");
    }

    #[test]
    fn slack_text_cannot_make_links_or_mentions() {
        let notice = Notice {
            pipeline: "p".into(),
            event: "failure".into(),
            run_id: "r".into(),
            error: Some("<!channel> <http://evil|click> & more".into()),
            log_tail: Some("a ``` b".into()),
            link: Some("http://chime/runs/r".into()),
            ..Notice::default()
        };
        let text = slack_message(&notice)["text"].as_str().unwrap().to_string();
        assert!(
            text.contains("error: &lt;!channel&gt; &lt;http://evil|click&gt; &amp; more"),
            "{text}"
        );
        assert!(text.contains("```a ''' b```"), "{text}");
        assert!(
            text.ends_with("<http://chime/runs/r|Open the run>"),
            "{text}"
        );
    }
}
