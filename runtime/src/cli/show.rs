//! `runs`, `show` and `logs`: what the state store holds, read only.

use std::io::Write;
use std::process::ExitCode;

use chrono::DateTime;

use super::error::{CliError, CliResult};
use crate::runs::Runs;
use crate::state::TaskState;
use crate::store::{RunRecord, Store, TaskRecord};

/// `runs [--limit N]`: recent runs and their states.
pub fn runs(runs: &Runs, limit: usize) -> CliResult {
    let store = runs.open()?;
    let runs = store.runs(limit)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<48} {:<10} {:<25} {:<25}",
        "RUN ID", "STATE", "STARTED", "ENDED"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<48} {:<10} {:<25} {:<25}",
            r.run_id,
            r.state.as_str(),
            r.started_at.unwrap_or_default(),
            r.ended_at.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `run_id`, or the error naming the state file that lacks it.
pub fn get_run(runs: &Runs, store: &dyn Store, run_id: &str) -> Result<RunRecord, CliError> {
    store.get_run(run_id)?.ok_or_else(|| CliError::NoRun {
        run_id: run_id.to_string(),
        state: runs.describe(),
    })
}

/// `show RUN`: the run's tasks, state, attempts, duration, output.
pub fn show(runs: &Runs, run_id: &str) -> CliResult {
    let def = runs.def;
    let store = runs.open()?;
    let run = get_run(runs, &*store, run_id)?;
    let tasks = store.task_records(run_id)?;
    let attempts = store.attempts(run_id)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "run {}  state {}  logical date {}",
        run.run_id, run.state, run.logical_date
    );
    let _ = writeln!(
        out,
        "{:<32} {:<16} {:>8} {:>10}  OUTPUT / ERROR",
        "TASK", "STATE", "ATTEMPTS", "DURATION"
    );
    // Every task of the pipeline, in order; one never touched is `none`.
    let records: std::collections::HashMap<&str, &TaskRecord> =
        tasks.iter().map(|r| (r.task_id.as_str(), r)).collect();
    let untouched = |id: &str| TaskRecord {
        task_id: id.to_string(),
        state: TaskState::None,
        try_number: 0,
        output: None,
    };
    // Each dynamic `for_each` is followed by its instances; then come the
    // tasks a run of an older build had and this build does not.
    let mut by_task: std::collections::HashMap<&str, Vec<_>> = Default::default();
    for a in &attempts {
        by_task.entry(a.task_id.as_str()).or_default().push(a);
    }
    let rows = def.rows(tasks.iter().map(|r| r.task_id.as_str()));
    let rows = rows.into_iter().map(|(id, gone)| {
        let t = records
            .get(id)
            .map_or_else(|| untouched(id), |r| (*r).clone());
        (
            t,
            if gone {
                "(no longer in the pipeline) "
            } else {
                ""
            },
        )
    });
    for (t, note) in rows {
        let mine: Vec<_> = by_task.get(t.task_id.as_str()).cloned().unwrap_or_default();
        let last = mine.last();
        let duration = last
            .and_then(|a| {
                let s = DateTime::parse_from_rfc3339(&a.started_at).ok()?;
                let e = DateTime::parse_from_rfc3339(a.ended_at.as_deref()?).ok()?;
                Some(format!(
                    "{:.2}s",
                    (e - s).num_milliseconds() as f64 / 1000.0
                ))
            })
            .unwrap_or_default();
        let detail = match (&t.output, last.and_then(|a| a.error.clone())) {
            // Outputs are stored with their secrets sealed: shown as `***`.
            (Some(o), _) => crate::secrets::mask_sealed(o).into_owned(),
            (None, Some(e)) if t.state != TaskState::Success => e,
            _ => String::new(),
        };
        let line = format!(
            "{:<32} {:<16} {:>8} {:>10}  {note}{detail}",
            t.task_id,
            t.state.as_str(),
            t.try_number,
            duration
        );
        // Outputs and errors are the tasks' text: escaped, piped or not.
        let _ = writeln!(out, "{}", crate::terminal::escape_controls(&line));
    }
    Ok(ExitCode::SUCCESS)
}

/// `logs RUN TASK [--attempt N]`: a task's log (default: the last attempt).
pub fn logs(runs: &Runs, run_id: &str, task: &str, attempt: Option<u32>) -> CliResult {
    let store = runs.open()?;
    let attempts = store.attempts(run_id)?;
    if attempts.is_empty() {
        // No run of that id, rather than no attempt of the task.
        get_run(runs, &*store, run_id)?;
    }
    let mine: Vec<_> = attempts.iter().filter(|a| a.task_id == task).collect();
    if mine.is_empty() {
        return Err(CliError::NoAttempts {
            task: task.to_string(),
            run_id: run_id.to_string(),
        });
    }
    let chosen = match attempt {
        Some(n) => mine
            .iter()
            .find(|a| a.attempt == n)
            .ok_or_else(|| CliError::NoAttempt {
                task: task.to_string(),
                attempt: n,
            })?,
        None => mine[mine.len() - 1],
    };
    let mut out = std::io::stdout().lock();
    // On a terminal the task's text is shown escaped; into a pipe or a
    // file (`logs ... > file`) it is the log as written.
    let terminal = std::io::IsTerminal::is_terminal(&out);
    let shown = |text: &str| -> String {
        if terminal {
            crate::terminal::escape_controls(text).into_owned()
        } else {
            text.to_string()
        }
    };
    let _ = writeln!(
        out,
        "{}",
        shown(&format!(
            "== {task} attempt {} ({}{})",
            chosen.attempt,
            chosen.outcome.map_or("running", |o| o.as_str()),
            chosen
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))
    );
    match std::fs::File::open(&chosen.log_path) {
        Ok(file) if terminal => {
            // Streamed a piece at a time (a line, or 128 KiB of a longer
            // one in a log written before lines were cut), never whole.
            // Bytes that are not UTF-8 (older logs) are shown as U+FFFD.
            use std::io::{BufRead, Read};
            let mut file = std::io::BufReader::new(file);
            let mut piece = Vec::new();
            loop {
                piece.clear();
                match (&mut file).take(128 * 1024).read_until(b'\n', &mut piece) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = out.write_all(shown(&String::from_utf8_lossy(&piece)).as_bytes());
                    }
                }
            }
        }
        Ok(mut file) => {
            let _ = std::io::copy(&mut file, &mut out);
        }
        // Not on this machine (an orchestrator's worker ran it): the last
        // lines the state kept.
        Err(_) => match &chosen.log_tail {
            Some(tail) => {
                let _ = writeln!(
                    out,
                    "(the log {} is on the machine that ran this attempt; its last lines, from the state:)",
                    chosen.log_path
                );
                let _ = out.write_all(shown(tail).as_bytes());
            }
            None => {
                let _ = writeln!(out, "(no output)");
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
