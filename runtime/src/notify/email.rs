//! The `email` channel: a plain-text email through SMTP (lettre, with
//! rustls and ring: no OpenSSL).
//!
//! The server is a URL, from `smtp:` or `CHIME_SMTP_URL`, as lettre reads
//! it: `smtp://user:password@host:587?tls=required` (STARTTLS, refused
//! without it), `smtp://host:25?tls=opportunistic`, `smtps://host:465`
//! (TLS from the start), `smtp://localhost:25` (plain, for a local relay).
//! Certificates are checked against the system's roots (`SSL_CERT_FILE`
//! names another bundle).

use lettre::message::header::ContentType;
use lettre::{Message, SmtpTransport, Transport};

use super::{Notice, SEND_TIMEOUT, SMTP_ENV};

/// The recipients: `to` as one address or a list.
fn recipients(params: &serde_json::Value) -> Result<Vec<String>, String> {
    let to: Vec<String> = match params.get("to") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let to: Vec<String> = to
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if to.is_empty() {
        return Err("email: `to` names no address".into());
    }
    Ok(to)
}

/// `chime@<this host>` when `from` is not given.
fn default_from() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("chime <chime@{host}>")
}

pub fn send(params: &serde_json::Value, notice: &Notice) -> Result<String, String> {
    let to = recipients(params)?;
    let url = params
        .get("smtp")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .or_else(|| std::env::var(SMTP_ENV).ok().filter(|s| !s.trim().is_empty()))
        .ok_or_else(|| {
            format!(
                "email: no SMTP server: set {SMTP_ENV} (smtp://user:password@host:587?tls=required) or `smtp:`"
            )
        })?;
    let from = params
        .get("from")
        .and_then(serde_json::Value::as_str)
        .map(String::from)
        .unwrap_or_else(default_from);
    let mut message = Message::builder()
        .from(
            from.parse()
                .map_err(|e| format!("email: from `{from}`: {e}"))?,
        )
        .subject(notice.subject())
        .header(ContentType::TEXT_PLAIN);
    for t in &to {
        message = message.to(t.parse().map_err(|e| format!("email: to `{t}`: {e}"))?);
    }
    let message = message
        .body(notice.text())
        .map_err(|e| format!("email: {e}"))?;
    let server = crate::secrets::redact_url(&url);
    let mailer = SmtpTransport::from_url(&url)
        .map_err(|e| format!("email: the SMTP URL {server}: {e}"))?
        .timeout(Some(SEND_TIMEOUT))
        .build();
    mailer
        .send(&message)
        .map_err(|e| format!("email through {server}: {}", chain(&e)))?;
    Ok(format!("email to {}", to.join(", ")))
}

/// An error and its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
