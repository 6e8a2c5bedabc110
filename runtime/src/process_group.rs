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
//! - Right after the spawn, the group's id is written to
//!   `<attempt>.pgid` beside the attempt's log; the file is removed once
//!   the group has been stopped. A resume ([`stop_leftovers`]), before it
//!   runs the task again, kills the group named by any such file left
//!   behind.
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
//! carrying it, is not found; outside Linux only the group's records are
//! kept and nothing is killed on resume. The parent-death signal is tied
//! to the thread that spawned the child: the runner's tokio runtime is
//! single-threaded, so that thread is the runner's main thread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the process group of the attempt logging to `log` is recorded.
pub fn record_path(log: &Path) -> PathBuf {
    log.with_extension("pgid")
}

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

/// Records the attempt's process group (see the module doc).
pub fn record(log: &Path, pgid: i32) -> std::io::Result<()> {
    let path = record_path(log);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{pgid}\n"))
}

/// The group has been stopped: forgets its record.
pub fn forget(log: &Path) {
    let _ = std::fs::remove_file(record_path(log));
}

/// A group left running by an earlier runner and stopped now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub attempt: u32,
    pub pgid: i32,
    pub processes: usize,
    /// Some members were still alive when the wait for them ended.
    pub still_exiting: bool,
}

/// Kills the process groups that attempts of `task_id` recorded in
/// `task_dir` (`logs/<run>/<task>/`) and that still run, and removes their
/// records. Called on resume, before the task runs again.
pub fn stop_leftovers(task_dir: &Path, run_id: &str, task_id: &str) -> Vec<Stopped> {
    let Ok(entries) = std::fs::read_dir(task_dir) else {
        return Vec::new();
    };
    let mut stopped = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "pgid") {
            continue;
        }
        let attempt = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok());
        let pgid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let (Some(attempt), Some(pgid)) = (attempt, pgid) {
            if let Some(s) = stop_group(pgid, run_id, task_id, attempt) {
                stopped.push(s);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    stopped.sort_by_key(|s| s.attempt);
    stopped
}

#[cfg(target_os = "linux")]
fn stop_group(pgid: i32, run_id: &str, task_id: &str, attempt: u32) -> Option<Stopped> {
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
    Some(Stopped {
        attempt,
        pgid,
        processes: members.len(),
        still_exiting,
    })
}

#[cfg(not(target_os = "linux"))]
fn stop_group(_pgid: i32, _run_id: &str, _task_id: &str, _attempt: u32) -> Option<Stopped> {
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
        let log = dir.path().join("1.log");
        let spawn = |try_number: &str| {
            std::process::Command::new("sleep")
                .arg("300")
                .env("CHIME_RUN_ID", "r")
                .env("CHIME_TASK_ID", "t")
                .env("CHIME_TRY_NUMBER", try_number)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        // Another attempt's group (a reused id, as far as attempt 1 knows).
        let mut other = spawn("2");
        record(&log, other.id() as i32).unwrap();
        assert_eq!(stop_leftovers(dir.path(), "r", "t"), []);
        assert!(other.try_wait().unwrap().is_none(), "not ours: left alone");
        assert!(!record_path(&log).exists(), "the stale record is dropped");
        let _ = other.kill();
        let _ = other.wait();

        let mut ours = spawn("1");
        record(&log, ours.id() as i32).unwrap();
        let stopped = stop_leftovers(dir.path(), "r", "t");
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!(stopped[0].processes, 1);
        assert!(!stopped[0].still_exiting);
        assert!(ours.wait().unwrap().code().is_none(), "killed by SIGKILL");

        // Our own group is never a leftover.
        record(&log, nix::unistd::getpgrp().as_raw()).unwrap();
        assert_eq!(stop_leftovers(dir.path(), "r", "t"), []);
    }
}
