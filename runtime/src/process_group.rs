//! A task's process group: started so that it dies with the runner, and
//! recorded so that a resume stops whatever survived a `kill -9`.
//!
//! A `shell` task runs in a process group of its own (timeouts and SIGTERM
//! stop the whole group). When the runner itself is killed with SIGKILL it
//! cannot stop anything, so:
//!
//! - On Linux the task's direct child (`sh`, or the `argv` program) gets
//!   the parent-death signal SIGKILL: it dies with the runner. Processes it
//!   started do not inherit that signal.
//! - Right after the spawn, a line `<attempt> <pgid> <task id>` is appended
//!   to the run's record, `logs/<run_id>/process_groups` (one write to one
//!   file per task: no file is created per task). A resume
//!   ([`stop_leftovers`]), before it runs any task again, kills the
//!   recorded groups of the tasks it will run that still live, then starts
//!   the record afresh.
//!
//! Process ids are reused, so a recorded group is killed only when one of
//! its live members still carries the attempt's own environment
//! (`CHIME_RUN_ID`, `CHIME_TASK_ID`, `CHIME_TRY_NUMBER`), read from
//! `/proc/<pid>/environ`, and never when it is the runner's own group. A
//! group id cannot be handed to a new group while a member of the old one
//! lives, so a group with such a member is the attempt's.
//!
//! Limits: a process that left the group (`setsid`, its own `setpgid`), or
//! whose environment cannot be read (another user, a set-user-ID program),
//! or that cleared its whole environment with no other member left
//! carrying it, is not found; outside Linux the records are kept but
//! nothing is killed on resume. The parent-death signal is tied to the
//! thread that spawned the child: the runner's tokio runtime is
//! single-threaded, so that thread is the runner's main thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The run's record of its tasks' process groups, from an attempt's log
/// path (`logs/<run_id>/<task>/<attempt>.log`).
pub fn record_path(log: &Path) -> PathBuf {
    let run_dir = log
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    run_dir.join(RECORD)
}

const RECORD: &str = "process_groups";

/// Makes the command's direct child die with the runner (Linux).
pub fn die_with_runner(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    set_parent_death_signal(cmd);
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut tokio::process::Command) {
    use nix::sys::signal::Signal;
    let runner = nix::unistd::getpid();
    // SAFETY: `pre_exec` is unsafe because the closure runs in the forked
    // child before `exec`, where only async-signal-safe operations are
    // sound. This one makes two system calls (prctl, getppid) and builds an
    // io::Error from a raw errno: no allocation, no lock, no shared state.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The runner died between fork and prctl: the signal was
            // never sent, so do not start the command at all.
            if nix::unistd::getppid() != runner {
                return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Records the process group of attempt `attempt` of `task_id`, whose log
/// is `log` (see the module doc).
pub fn record(log: &Path, task_id: &str, attempt: u32, pgid: i32) -> std::io::Result<()> {
    let path = record_path(log);
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
    };
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    // One write: lines of tasks starting together do not mix.
    file.write_all(format!("{attempt} {pgid} {task_id}\n").as_bytes())
}

/// A group left running by an earlier runner and stopped now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub task_id: String,
    pub attempt: u32,
    pub pgid: i32,
    pub processes: usize,
    /// Some members were still alive when the wait for them ended.
    pub still_exiting: bool,
}

/// Kills the recorded process groups, in run directory `run_dir`
/// (`logs/<run_id>/`), of the tasks for which `runs_again` holds, that
/// still run; then removes the record (the groups of the other tasks
/// ended with their attempts). Called on resume, before any task runs.
pub fn stop_leftovers(
    run_dir: &Path,
    run_id: &str,
    runs_again: impl Fn(&str) -> bool,
) -> Vec<Stopped> {
    let path = run_dir.join(RECORD);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let mut stopped = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ' ');
        let (Some(attempt), Some(pgid), Some(task_id)) = (
            fields.next().and_then(|a| a.parse::<u32>().ok()),
            fields.next().and_then(|p| p.parse::<i32>().ok()),
            fields.next(),
        ) else {
            continue;
        };
        if !runs_again(task_id) {
            continue;
        }
        if let Some((processes, still_exiting)) = stop_group(pgid, run_id, task_id, attempt) {
            stopped.push(Stopped {
                task_id: task_id.to_string(),
                attempt,
                pgid,
                processes,
                still_exiting,
            });
        }
    }
    let _ = std::fs::remove_file(&path);
    stopped
}

#[cfg(target_os = "linux")]
fn stop_group(pgid: i32, run_id: &str, task_id: &str, attempt: u32) -> Option<(usize, bool)> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::{Pid, getpgrp};
    if pgid <= 1 || Pid::from_raw(pgid) == getpgrp() {
        return None;
    }
    // The group is gone (the common case): nothing to read in /proc.
    killpg(Pid::from_raw(pgid), None).ok()?;
    let markers = [
        format!("CHIME_RUN_ID={run_id}"),
        format!("CHIME_TASK_ID={task_id}"),
        format!("CHIME_TRY_NUMBER={attempt}"),
    ];
    let members = live_members(pgid);
    if !members.iter().any(|&pid| carries(pid, &markers)) {
        return None;
    }
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    // SIGKILL is delivered at once, but a process in uninterruptible sleep
    // exits only when it wakes: wait a bounded time for the group to go.
    let start = Instant::now();
    let mut still_exiting = true;
    while start.elapsed() < Duration::from_secs(5) {
        if live_members(pgid).is_empty() {
            still_exiting = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Some((members.len(), still_exiting))
}

#[cfg(not(target_os = "linux"))]
fn stop_group(_pgid: i32, _run_id: &str, _task_id: &str, _attempt: u32) -> Option<(usize, bool)> {
    None
}

/// The processes of group `pgid` that are alive (zombies are not).
#[cfg(target_os = "linux")]
fn live_members(pgid: i32) -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| group_of(&stat))
                .is_some_and(|(state, group)| group == pgid && state != 'Z' && state != 'X')
        })
        .collect()
}

/// The state and process group of a `/proc/<pid>/stat` line. The command
/// name (in parentheses) may hold spaces and parentheses: the fields are
/// read after its last `)`.
fn group_of(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether process `pid` was started with every one of `markers`
/// (`NAME=value`) in its environment.
#[cfg(target_os = "linux")]
fn carries(pid: i32, markers: &[String]) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    markers.iter().all(|m| {
        environ
            .split(|&b| b == 0)
            .any(|entry| entry == m.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        assert_eq!(
            group_of("42 (a) b (c) S 1 4242 4242 0 -1"),
            Some(('S', 4242))
        );
        assert_eq!(group_of("42 (sleep) Z 1 7 7"), Some(('Z', 7)));
        assert_eq!(group_of("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_recorded_group_is_killed_only_when_it_carries_the_attempts_environment() {
        let dir = tempfile::tempdir().unwrap();
        let log = |task: &str| dir.path().join(task).join("1.log");
        let spawn = |task: &str, try_number: &str| {
            let child = std::process::Command::new("sleep")
                .arg("300")
                .env("CHIME_RUN_ID", "r")
                .env("CHIME_TASK_ID", task)
                .env("CHIME_TRY_NUMBER", try_number)
                .process_group(0)
                .spawn()
                .unwrap();
            // Until it execs, the child has the test's environment.
            let marker = [format!("CHIME_TASK_ID={task}")];
            let start = Instant::now();
            while !carries(child.id() as i32, &marker) {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "sleep never started"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            child
        };
        // Another attempt's group (a reused id, as far as attempt 1 knows).
        let mut other = spawn("t", "2");
        record(&log("t"), "t", 1, other.id() as i32).unwrap();
        // A task that does not run again, and our own group.
        let mut kept = spawn("done", "1");
        record(&log("done"), "done", 1, kept.id() as i32).unwrap();
        record(&log("t"), "t", 1, nix::unistd::getpgrp().as_raw()).unwrap();
        assert_eq!(stop_leftovers(dir.path(), "r", |t| t == "t"), []);
        assert!(other.try_wait().unwrap().is_none(), "not ours: left alone");
        assert!(
            kept.try_wait().unwrap().is_none(),
            "not run again: left alone"
        );
        assert!(!record_path(&log("t")).exists(), "the record starts afresh");
        for mut c in [other, kept] {
            let _ = c.kill();
            let _ = c.wait();
        }

        let mut ours = spawn("t", "1");
        record(&log("t"), "t", 1, ours.id() as i32).unwrap();
        let stopped = stop_leftovers(dir.path(), "r", |t| t == "t");
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!(
            (stopped[0].task_id.as_str(), stopped[0].processes),
            ("t", 1)
        );
        assert!(!stopped[0].still_exiting);
        assert!(ours.wait().unwrap().code().is_none(), "killed by SIGKILL");
    }
}
