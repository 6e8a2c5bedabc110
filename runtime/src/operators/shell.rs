//! `shell`: runs `command` with `sh -c`, or `argv` without a shell, in a
//! process group of its own, so that a timeout or SIGTERM stops the command
//! and everything it started; the group is recorded so that a resume
//! after `kill -9` of the runner stops what is left of it (see
//! [`crate::process_group`]). Output lines (bytes, decoded lossily: see
//! [`crate::pipe_lines`], cut after 64 KiB) go to the attempt's log; the
//! task's output is the last stdout line when that line is JSON, of at most
//! [`MAX_OUTPUT_BYTES`].

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;

use crate::context::{MAX_OUTPUT_BYTES, TaskContext, TaskError, TaskResult};
use crate::pipe_lines::{MAX_LINE, read_lines};
use crate::process_group;

/// How long a stopped command gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let mut cmd = match (
        params.get("command").and_then(|v| v.as_str()),
        params.get("argv").and_then(|v| v.as_array()),
    ) {
        (Some(command), _) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(command);
            c
        }
        (None, Some(argv)) => {
            let words: Vec<String> = argv
                .iter()
                .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_string))
                .collect();
            let Some((program, args)) = words.split_first() else {
                return Err(TaskError::failed("`argv` is empty"));
            };
            let mut c = Command::new(program);
            c.args(args);
            c
        }
        (None, None) => return Err(TaskError::failed("`shell` needs `command` or `argv`")),
    };
    if let Some(env) = params.get("env").and_then(|v| v.as_object()) {
        for (k, v) in env {
            cmd.env(k, v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
    }
    if let Some(cwd) = params.get("cwd").and_then(|v| v.as_str()) {
        cmd.current_dir(cwd);
    }
    cmd.env("CHIME_RUN_ID", &ctx.run_id)
        .env("CHIME_TASK_ID", &ctx.task_id)
        .env("CHIME_TRY_NUMBER", ctx.try_number.to_string());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    process_group::die_with_runner(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| TaskError::failed(format!("cannot start the command: {e}")))?;
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    if let Some(pgid) = pgid {
        // Recorded before anything is read: a runner killed from here on
        // leaves a record for the resume to stop the group by.
        if let Err(e) =
            process_group::record(&ctx.log.path, &ctx.task_id, ctx.try_number, pgid.as_raw())
        {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait().await;
            return Err(TaskError::failed(format!(
                "cannot record the command's process group in {}: {e}",
                process_group::record_path(&ctx.log.path).display()
            )));
        }
    }

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let log = ctx.log.clone();
    let out_task = tokio::spawn(async move {
        // The last non-blank line, up to the output limit: the output.
        let mut last = LastLine::default();
        if let Some(out) = stdout {
            read_lines(out, MAX_OUTPUT_BYTES + 1, |line| {
                let text = line.for_log();
                log.line(&text);
                if !text.trim().is_empty() {
                    last.bytes.clear();
                    last.bytes.extend_from_slice(line.kept);
                    last.len = line.len;
                }
            })
            .await;
        }
        last
    });
    let log = ctx.log.clone();
    let err_task = tokio::spawn(async move {
        if let Some(err) = stderr {
            read_lines(err, MAX_LINE, |line| log.line(&line.for_log())).await;
        }
    });

    let mut cancel = ctx.cancel.clone();
    let status = tokio::select! {
        status = child.wait() => status,
        reason = cancel.cancelled() => {
            stop_group(pgid, &mut child).await;
            let _ = err_task.await;
            let _ = out_task.await;
            return Err(reason.into());
        }
    };
    let status = status.map_err(|e| TaskError::failed(format!("waiting for the command: {e}")))?;
    // The command is done; whatever it left in the background goes with it.
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let last = out_task.await.unwrap_or_default();
    let _ = err_task.await;
    if !status.success() {
        let code = status.code();
        let message = match code {
            Some(c) => format!("the command exited with status {c}"),
            None => "the command was killed by a signal".to_string(),
        };
        return Err(TaskError::Failed {
            message,
            exit_code: code,
        });
    }
    last.output()
}

/// The last non-blank stdout line: its first bytes and its length.
#[derive(Default)]
struct LastLine {
    bytes: Vec<u8>,
    len: usize,
}

impl LastLine {
    /// The task's output: the line parsed as JSON. A line over the output
    /// limit that starts like JSON fails the task: cut JSON would not
    /// parse, and silently passing nothing downstream would hide it.
    fn output(self) -> TaskResult {
        if self.len > MAX_OUTPUT_BYTES {
            let start = self.bytes.iter().find(|b| !b.is_ascii_whitespace());
            if matches!(start, Some(b'{' | b'[' | b'"')) {
                return Err(TaskError::failed(format!(
                    "the last line of stdout (the task's output) is {} bytes, over the limit of {MAX_OUTPUT_BYTES} bytes for an output; write large results to a file and print its path",
                    self.len
                )));
            }
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&self.bytes);
        Ok(serde_json::from_str(text.trim()).ok())
    }
}

/// SIGTERM to the whole group, then SIGKILL after [`KILL_GRACE`].
async fn stop_group(pgid: Option<Pid>, child: &mut tokio::process::Child) {
    let Some(pgid) = pgid else { return };
    let _ = killpg(pgid, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The leader left; children that ignored SIGTERM still get SIGKILL.
        let _ = killpg(pgid, Signal::SIGKILL);
    }
}
