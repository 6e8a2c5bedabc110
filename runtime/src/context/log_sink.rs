//! Where an attempt's log lines go.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::error::{TaskError, TaskResult};
use crate::secrets::Secrets;

/// Where a task's output lines go: its attempt's log file (created on the
/// first line, so silent tasks cost no file) and the console, prefixed by
/// the task id, with control characters escaped
/// ([`crate::terminal::escape_controls`]).
///
/// A write that fails (a full disk, a removed directory) is not retried:
/// the first error is kept, and the executor fails the attempt with it
/// ([`LogSink::fail_on_write_error`]) rather than letting a task succeed
/// with a truncated log.
#[derive(Debug)]
pub struct LogSink {
    pub path: PathBuf,
    task_id: String,
    file: Mutex<LogFile>,
    echo: bool,
    secrets: Secrets,
}

#[derive(Debug, Default)]
enum LogFile {
    #[default]
    Unopened,
    Open(std::fs::File),
    /// Opening or writing failed: the message names the path and the error.
    Failed(String),
}

impl LogSink {
    pub fn new(path: PathBuf, task_id: &str, echo: bool) -> LogSink {
        LogSink {
            path,
            task_id: task_id.to_string(),
            file: Mutex::new(LogFile::Unopened),
            echo,
            secrets: Secrets::default(),
        }
    }

    /// The same sink, redacting `secrets` from every line.
    pub fn with_secrets(mut self, secrets: Secrets) -> LogSink {
        self.secrets = secrets;
        self
    }

    /// Writes one line (without its newline).
    pub fn line(&self, line: &str) {
        let line = self.secrets.redact(line);
        if let Ok(mut slot) = self.file.lock() {
            if let LogFile::Unopened = *slot {
                *slot = match self.open() {
                    Ok(f) => LogFile::Open(f),
                    Err(e) => LogFile::Failed(self.write_failed(&e)),
                };
            }
            if let LogFile::Open(f) = &mut *slot {
                // One write per line: lines of concurrent writers do not mix.
                let mut bytes = Vec::with_capacity(line.len() + 1);
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
                if let Err(e) = f.write_all(&bytes) {
                    *slot = LogFile::Failed(self.write_failed(&e));
                }
            }
        }
        if self.echo {
            // The log keeps the task's text; the terminal gets it escaped.
            let line = crate::terminal::escape_controls(&line);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{} | {line}", self.task_id);
        }
    }
}

impl LogSink {
    fn open(&self) -> std::io::Result<std::fs::File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }

    fn write_failed(&self, e: &std::io::Error) -> String {
        format!(
            "cannot write the log {}: {e}; the log is incomplete (free disk space, or check the directory's permissions)",
            self.path.display()
        )
    }

    /// Why the log could not be written, if a write failed.
    pub fn write_error(&self) -> Option<String> {
        match &*self.file.lock().ok()? {
            LogFile::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// `result`, failed if the log could not be written: a task does not
    /// succeed with a truncated log. A failure keeps its own message, with
    /// the log's error after it; a timeout or an interruption is kept as
    /// it is.
    pub fn fail_on_write_error(&self, result: TaskResult) -> TaskResult {
        let Some(e) = self.write_error() else {
            return result;
        };
        match result {
            Ok(_) => Err(TaskError::failed(e)),
            Err(TaskError::Failed { message, exit_code }) => Err(TaskError::Failed {
                message: format!("{message}; {e}"),
                exit_code,
            }),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_log_write_that_fails_is_reported_with_the_path_and_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let log = LogSink::new(path.clone(), "t", false);
        assert_eq!(
            log.fail_on_write_error(Ok(None)),
            Ok(None),
            "nothing written yet"
        );
        log.line("a line");
        let e = log.write_error().expect("an error");
        assert!(
            e.starts_with(&format!("cannot write the log {}: ", path.display()))
                && e.contains("No space left on device"),
            "{e}"
        );
        assert_eq!(
            log.fail_on_write_error(Ok(None)),
            Err(TaskError::failed(e.clone()))
        );
        assert_eq!(
            log.fail_on_write_error(Err(TaskError::Failed {
                message: "exit 3".into(),
                exit_code: Some(3)
            })),
            Err(TaskError::Failed {
                message: format!("exit 3; {e}"),
                exit_code: Some(3)
            })
        );
        assert_eq!(
            log.fail_on_write_error(Err(TaskError::TimedOut)),
            Err(TaskError::TimedOut)
        );
    }

    #[test]
    fn a_log_directory_that_cannot_be_made_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a file");
        std::fs::write(&file, "").unwrap();
        let log = LogSink::new(file.join("t").join("1.log"), "t", false);
        log.line("x");
        assert!(
            log.write_error()
                .is_some_and(|e| e.contains("cannot write the log"))
        );
    }
}
