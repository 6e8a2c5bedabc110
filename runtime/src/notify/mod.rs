//! Notifications (docs/monitoring.md): an email, a Slack message or a JSON
//! POST when a run or a task fails, is retried, succeeds, recovers, or
//! misses its SLA.
//!
//! What is sent is a [`Notice`]: pipeline, run, task, attempt, error, the
//! last lines of the log and a link to the run's page, every text already
//! redacted by the run's secrets. Sending happens on a blocking thread, off
//! the run's loop; the run waits for its notices (at most
//! [`SEND_TIMEOUT`] each) before it ends, and a notice that cannot be sent
//! is said on the console, never fails the run.
//!
//! The channels' clients are compiled in only when a pipeline uses them:
//! email (lettre) with the `email` feature, Slack and HTTP (ureq) with
//! `http`.

use std::time::Duration;

use crate::compiled::NotifyDef;
use crate::vocabulary::{Channel, NotifyEvent};

#[cfg(feature = "email")]
mod email;
#[cfg(feature = "http")]
mod webhook;

/// The environment variable holding the SMTP server's URL.
pub const SMTP_ENV: &str = "CHIME_SMTP_URL";
/// How long one notification may take to send.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How many of a log's last lines a notice carries.
const LOG_LINES: usize = 20;

/// What happened, as a notification tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notice {
    pub pipeline: String,
    /// `failure`, `retry`, `success`, `recovery`, `sla_miss`.
    pub event: String,
    pub run_id: String,
    pub logical_date: String,
    /// The task, for a task's event (and a run's failure: its first failed
    /// task).
    pub task: Option<String>,
    pub attempt: Option<u32>,
    /// The run's or the task's state after the event.
    pub state: String,
    pub error: Option<String>,
    /// The last lines of the attempt's log.
    pub log_tail: Option<String>,
    /// The run's page (`ui: {url}`).
    pub link: Option<String>,
    /// More to say (`the run has not finished 2h after 06:30`).
    pub detail: Option<String>,
}

impl Notice {
    /// `[chime] daily_report: task load failed (run manual__...)`.
    pub fn subject(&self) -> String {
        let what = match NotifyEvent::parse(&self.event) {
            Some(NotifyEvent::Failure) => "failed",
            Some(NotifyEvent::Retry) => "failed, retrying",
            Some(NotifyEvent::Success) => "succeeded",
            Some(NotifyEvent::Recovery) => "recovered",
            Some(NotifyEvent::SlaMiss) => "missed its SLA",
            None => "changed",
        };
        match &self.task {
            Some(task) if self.event != NotifyEvent::SlaMiss.as_str() => format!(
                "[chime] {}: task {task} {what} (run {})",
                self.pipeline, self.run_id
            ),
            _ => format!("[chime] {}: run {} {what}", self.pipeline, self.run_id),
        }
    }

    /// The message as plain text.
    pub fn text(&self) -> String {
        let mut lines = vec![
            format!("pipeline: {}", self.pipeline),
            format!("event: {}", self.event),
            format!("run: {}", self.run_id),
            format!("logical date: {}", self.logical_date),
            format!("state: {}", self.state),
        ];
        if let Some(t) = &self.task {
            lines.push(format!("task: {t}"));
        }
        if let Some(a) = self.attempt {
            lines.push(format!("attempt: {a}"));
        }
        if let Some(d) = &self.detail {
            lines.push(d.clone());
        }
        if let Some(e) = &self.error {
            lines.push(format!("error: {e}"));
        }
        if let Some(l) = &self.link {
            lines.push(format!("run page: {l}"));
        }
        let mut text = lines.join("\n");
        if let Some(tail) = &self.log_tail {
            text.push_str(&format!("\n\nlast lines of the log:\n{tail}"));
        }
        text.push('\n');
        text
    }

    /// The notice as JSON (the `http` channel's body).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "event": self.event,
            "run_id": self.run_id,
            "logical_date": self.logical_date,
            "state": self.state,
            "task": self.task,
            "attempt": self.attempt,
            "error": self.error,
            "log_tail": self.log_tail,
            "link": self.link,
            "detail": self.detail,
            "subject": self.subject(),
        })
    }
}

/// The last [`LOG_LINES`] lines of a log's tail.
pub fn last_lines(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
}

/// The entries of `defs` that are for `event`.
pub fn matching(defs: &'static [NotifyDef], event: NotifyEvent) -> Vec<&'static NotifyDef> {
    defs.iter().filter(|d| d.on.contains(&event)).collect()
}

/// Sends `notice` through `channel` with its rendered `params` (blocking:
/// call it on a blocking thread). `Err` says why, for the console.
pub fn send(
    channel: Channel,
    params: &serde_json::Value,
    notice: &Notice,
) -> Result<String, String> {
    match channel {
        #[cfg(feature = "email")]
        Channel::Email => email::send(params, notice),
        #[cfg(feature = "http")]
        Channel::Slack => webhook::slack(params, notice),
        #[cfg(feature = "http")]
        Channel::Http => webhook::post_json(params, notice),
        #[allow(unreachable_patterns)]
        other => {
            let _ = (params, notice);
            Err(format!(
                "this binary was built without the `{}` channel; build it again with chime build",
                other.as_str()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            pipeline: "nightly".into(),
            event: "failure".into(),
            run_id: "scheduled__2026-11-24T00:00:00+00:00".into(),
            logical_date: "2026-11-24T00:00:00+00:00".into(),
            task: Some("load".into()),
            attempt: Some(2),
            state: "failed".into(),
            error: Some("the command exited with status 3".into()),
            log_tail: Some("loading\nno such table".into()),
            link: Some("http://chime:8080/runs/x".into()),
            detail: None,
        }
    }

    #[test]
    fn the_message_names_everything_that_happened() {
        let n = notice();
        assert_eq!(
            n.subject(),
            "[chime] nightly: task load failed (run scheduled__2026-11-24T00:00:00+00:00)"
        );
        let text = n.text();
        for part in [
            "pipeline: nightly",
            "run: scheduled__2026-11-24T00:00:00+00:00",
            "task: load",
            "attempt: 2",
            "error: the command exited with status 3",
            "run page: http://chime:8080/runs/x",
            "last lines of the log:\nloading\nno such table",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
        let run = Notice {
            task: None,
            event: "recovery".into(),
            ..notice()
        };
        assert_eq!(
            run.subject(),
            "[chime] nightly: run scheduled__2026-11-24T00:00:00+00:00 recovered"
        );
    }

    #[test]
    fn a_notice_carries_the_last_twenty_lines() {
        let log: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        let last = last_lines(&log.join("\n"));
        assert!(
            last.starts_with("line 11\n") && last.ends_with("line 30"),
            "{last}"
        );
    }
}
