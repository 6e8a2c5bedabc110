//! `http`: one HTTP request. Fails when the status is not expected
//! (`expect_status`, default any 2xx) with the status and the start of the
//! body; the output is the response body parsed as JSON, or
//! `{"status": N, "body": "..."}` when it is not JSON. Retries are the
//! task's (`retries:`), as for any operator.

use std::sync::Arc;
use std::time::Duration;

use crate::context::{TaskContext, TaskError, TaskResult};

/// The default time an answer may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bodies kept in messages and non-JSON outputs.
const SHOWN_BODY: usize = 2000;

/// A client with chime's User-Agent.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .user_agent(concat!("chime/", env!("CARGO_PKG_VERSION")))
        .timeout(DEFAULT_TIMEOUT)
        .build()
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(SHOWN_BODY) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    crate::operator::blocking(move || {
        request(&ctx, &params)
            .map(crate::context::Output)
            .map_err(Into::into)
    })
    .await
}

fn request(ctx: &TaskContext, p: &serde_json::Value) -> TaskResult {
    let url = p
        .get("url")
        .and_then(|v| v.as_str())
        .ok_or_else(|| TaskError::failed("`http` needs `url`"))?;
    let method = p.get("method").and_then(|v| v.as_str()).unwrap_or("GET");
    let mut req = agent().request(method, url);
    if let Some(t) = p.get("timeout").and_then(|v| v.as_str()) {
        let d = crate::vocabulary::parse_duration(t)
            .ok_or_else(|| TaskError::failed(format!("`timeout: {t}` is not a duration")))?;
        req = req.timeout(d);
    }
    if let Some(headers) = p.get("headers").and_then(|v| v.as_object()) {
        for (k, v) in headers {
            req = req.set(k, v.as_str().unwrap_or(&v.to_string()));
        }
    }
    let expected: Vec<u16> = p
        .get("expect_status")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_u64())
                .map(|s| s as u16)
                .collect()
        })
        .unwrap_or_default();
    let sent = match p.get("body") {
        Some(serde_json::Value::String(b)) => req.send_string(b),
        Some(serde_json::Value::Null) | None => req.call(),
        Some(other) => req.send_json(other.clone()),
    };
    let response = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            return Err(TaskError::failed(format!("{method} {url}: {t}")));
        }
    };
    let status = response.status();
    let body = response
        .into_string()
        .map_err(|e| TaskError::failed(format!("{method} {url}: cannot read the answer: {e}")))?;
    let ok = if expected.is_empty() {
        (200..300).contains(&status)
    } else {
        expected.contains(&status)
    };
    ctx.log(format!("{method} {url}: {status} ({} bytes)", body.len()));
    if !ok {
        let want = if expected.is_empty() {
            "2xx".to_string()
        } else {
            expected
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(TaskError::failed(format!(
            "{method} {url} answered {status}, expected {want}: {}",
            clip(body.trim())
        )));
    }
    Ok(Some(match serde_json::from_str(&body) {
        Ok(json) => json,
        Err(_) => serde_json::json!({ "status": status, "body": clip(&body) }),
    }))
}
