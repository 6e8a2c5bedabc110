//! Notifications end to end: email received by a real SMTP server
//! (aiosmtpd, STARTTLS and AUTH required, its certificate from a CA the
//! test makes), Slack and http notices by a local HTTP receiver; each
//! event told once, the secrets in the log told to no one, and nothing
//! from an orchestrator's `task` call.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;

const AIOSMTPD: (&str, &str) = ("aiosmtpd-1.4.6", "aiosmtpd==1.4.6");
const SECRET: &str = "hunter2-not-for-mail";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

/// A local HTTP server that records every POST and answers 200.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(Received {
                path,
                headers,
                body: serde_json::from_slice(&body).unwrap_or_default(),
            });
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, got)
}

/// What the notices POSTed to `path` say, sorted (they are sent side by
/// side and may arrive in any order): each one's `event` (http), or its
/// `text` (Slack).
fn said(seen: &[Received], path: &str) -> Vec<String> {
    let mut got: Vec<String> = seen
        .iter()
        .filter(|r| r.path == path)
        .map(|r| {
            r.body["event"]
                .as_str()
                .or_else(|| r.body["text"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    got.sort();
    got
}

struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd with STARTTLS (a certificate for 127.0.0.1 from a new CA,
/// `dir/ca.crt`) and AUTH for `chime` / `password`.
fn smtp(dir: &Path, password: &str) -> Smtp {
    common::pg::make_ca(dir, "ca");
    common::pg::make_leaf(dir, "ca", "smtp", "/CN=127.0.0.1", Some("IP:127.0.0.1"));
    let out = dir.join("mail");
    std::fs::create_dir_all(&out).unwrap();
    let venv = python_tool(AIOSMTPD.0, AIOSMTPD.1);
    let mut child = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/notify/smtp_server.py"))
        .arg(&out)
        .arg(dir.join("smtp.crt"))
        .arg(dir.join("smtp.key"))
        .args(["chime", password])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aiosmtpd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the SMTP server's port");
    Smtp { child, port, out }
}

/// The messages the SMTP server accepted: (recipients, the message).
fn mails(out: &Path) -> Vec<(String, String)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            (
                std::fs::read_to_string(p.with_extension("rcpt")).unwrap(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect()
}

/// The message's text, its quoted-printable soft breaks undone.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

#[test]
fn failure_retry_success_and_recovery_are_told_once_each() {
    let bin = build("notify");
    let dir = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let server = smtp(certs.path(), "s3cret-pass");
    let (hooks, got) = receiver();
    let smtp_url = format!(
        "smtp://chime:s3cret-pass@127.0.0.1:{}?tls=required",
        server.port
    );
    let ca = certs.path().join("ca.crt");
    let env = |smtp_url: &str| {
        vec![
            ("CHIME_SMTP_URL", smtp_url.to_string()),
            ("SSL_CERT_FILE", ca.display().to_string()),
            ("SLACK_WEBHOOK", format!("{hooks}/slack")),
            ("HOOK_URL", hooks.clone()),
            ("HOOK_TOKEN", "tok-123".to_string()),
            ("DB_PASSWORD", SECRET.to_string()),
        ]
    };
    let run_with = |args: &[&str], smtp_url: &str| {
        let vars = env(smtp_url);
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_env(&bin, dir.path(), args, &pairs)
    };
    // 1. `load` fails, is retried, fails again: the run fails.
    let failed = run_with(&["run", "--date", "2026-11-20"], &smtp_url);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    assert!(
        failed
            .stdout
            .contains("notified (failure): email to oncall@example.com"),
        "{}",
        failed.stdout
    );
    let mail = mails(&server.out);
    assert_eq!(mail.len(), 1, "one email for the failure: {mail:?}");
    let (rcpt, text) = (&mail[0].0, unfolded(&mail[0].1));
    assert_eq!(rcpt, "oncall@example.com\ndata@example.com");
    for part in [
        "Subject: [chime] notify: run manual__2026-11-20T03:00:00+00:00 failed",
        "From: chime <chime@example.com>",
        "failed: load (attempt 2)",
        "error: the command exited with status 3",
        "no fixed.flag: nothing to load",
        "run page: http://chime.example:8080/runs/manual__2026-11-20T03%3A00%3A00%2B00%3A00",
        "connecting with ***",
    ] {
        assert!(
            text.contains(part),
            "{part} missing from the email:\n{text}"
        );
    }
    assert!(!text.contains(SECRET), "{text}");
    let seen = got.lock().unwrap().clone();
    assert_eq!(said(&seen, "/task"), ["failure", "retry"]);
    assert_eq!(said(&seen, "/run"), ["failure"]);
    let slack = said(&seen, "/slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(
        slack[1].starts_with("*[chime] notify: task load failed, retrying"),
        "{slack:?}"
    );
    assert!(
        slack[0].starts_with("*[chime] notify: run manual__2026-11-20T03:00:00+00:00 failed*"),
        "{slack:?}"
    );
    let hook = seen.iter().find(|r| r.path == "/run").unwrap();
    assert!(
        hook.headers.contains(&("x-token".into(), "tok-123".into())),
        "{hook:?}"
    );
    assert_eq!(hook.body["run_id"], "manual__2026-11-20T03:00:00+00:00");
    assert_eq!(hook.body["state"], "failed");
    for r in &seen {
        assert!(!r.body.to_string().contains(SECRET), "{r:?}");
    }
    // 2. Fixed: the next run succeeds, and recovers from the failure.
    std::fs::write(dir.path().join("fixed.flag"), "").unwrap();
    got.lock().unwrap().clear();
    let ok = run_with(&["run", "--date", "2026-11-21"], &smtp_url);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let seen = got.lock().unwrap().clone();
    let slack = said(&seen, "/slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack[0].contains("recovered"), "{slack:?}");
    assert!(slack[1].contains("succeeded"), "{slack:?}");
    assert!(slack[0].contains("<http://chime.example:8080/runs/manual__2026-11-21T03%3A00%3A00%2B00%3A00|Open the run>"), "{slack:?}");
    assert_eq!(said(&seen, "/task"), ["recovery"]);
    let mail = mails(&server.out);
    assert_eq!(mail.len(), 2);
    assert!(
        unfolded(&mail[1].1)
            .contains("Subject: [chime] notify: run manual__2026-11-21T03:00:00+00:00 recovered")
    );
    // 2b. The failed run, cleared and run again (fixed): it recovers too,
    //     and its `load` does.
    got.lock().unwrap().clear();
    let cleared = run_with(
        &[
            "clear",
            "manual__2026-11-20T03:00:00+00:00",
            "--task",
            "load",
        ],
        &smtp_url,
    );
    assert_eq!(cleared.code, 0, "{}", cleared.stdout);
    let rerun = run_with(&["run", "--date", "2026-11-20"], &smtp_url);
    assert_eq!(rerun.code, 0, "{}", rerun.stdout);
    let seen = got.lock().unwrap().clone();
    let slack = said(&seen, "/slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(
        slack[0].contains("run manual__2026-11-20T03:00:00+00:00 recovered"),
        "{slack:?}"
    );
    assert_eq!(said(&seen, "/task"), ["recovery"]);
    assert_eq!(mails(&server.out).len(), 3);
    // 3. An orchestrator's `task` call is not the whole run: no notice.
    std::fs::remove_file(dir.path().join("fixed.flag")).unwrap();
    got.lock().unwrap().clear();
    run_with(&["task", "extract", "--date", "2026-11-22"], &smtp_url);
    let call = run_with(
        &["task", "load", "--date", "2026-11-22", "--attempt", "1"],
        &smtp_url,
    );
    assert_eq!(call.code, 1, "{}", call.stdout);
    assert!(got.lock().unwrap().is_empty());
    assert_eq!(mails(&server.out).len(), 3);
    // 4. A wrong SMTP password: said on the console, password hidden; the
    //    run's own outcome stands.
    let wrong = format!(
        "smtp://chime:wrong-pass-42@127.0.0.1:{}?tls=required",
        server.port
    );
    let refused = run_with(&["run", "--date", "2026-11-23"], &wrong);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stdout.contains(
            "notify (email) for failure failed: email through smtp://chime:***@127.0.0.1"
        ),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stdout.contains("permanent error (535)"),
        "{}",
        refused.stdout
    );
    assert!(
        !refused.stdout.contains("wrong-pass-42"),
        "{}",
        refused.stdout
    );
    assert_eq!(mails(&server.out).len(), 3);
}
