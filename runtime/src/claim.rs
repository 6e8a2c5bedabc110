//! One process at a time executes a given logical date on a state store.
//!
//! Every command that executes tasks (`run`, `task`, `backfill`,
//! `scheduler`) claims the logical date of each run it executes before it
//! starts a task, so two `run --date D` (or a backfill and a manual run of
//! the same date) never run the same tasks at the same moment. `task`
//! claims the date shared and the task exclusively: an external
//! orchestrator may run different tasks of one run in parallel, never one
//! task twice, and never beside a whole `run` of that date.
//!
//! A claim is an advisory `flock` on a file in `<state>.claims/`, which the
//! kernel releases when the process ends, however it ends (`kill -9`
//! included): a crash never leaves a stale claim. The file holds a line
//! naming the holder, for the message a refused process prints. flock
//! works between processes of one machine; on a network file system it may
//! not, so keep the state on a local disk (docs/security.md).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::scheduler::Clock;

/// A held claim; dropping it releases the lock.
#[derive(Debug)]
pub struct Claim {
    _locks: Vec<Flock<File>>,
    /// A lock held elsewhere (PostgreSQL state's advisory locks), released
    /// when dropped.
    _guard: Option<Box<dyn std::any::Any>>,
}

impl Claim {
    /// A claim held by the file lock `lock` until it is dropped.
    pub(crate) fn file(lock: Flock<File>) -> Claim {
        Claim {
            _locks: vec![lock],
            _guard: None,
        }
    }

    /// A claim held by `guard` until it is dropped.
    pub fn guarded(guard: impl std::any::Any) -> Claim {
        Claim {
            _locks: Vec::new(),
            _guard: Some(Box::new(guard)),
        }
    }
}

/// Why a claim was refused.
#[derive(Debug)]
pub struct Busy {
    /// What the holder wrote: `pid 123, `run --date 2026-11-24`, since ...`.
    pub holder: String,
    pub what: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is already being executed by {}; wait for it to finish (or stop that process), then try again. One process executes a date at a time",
            self.what, self.holder
        )
    }
}

/// What this process is doing, for the message a refused one prints: its
/// command line without the program (`run --date 2026-11-24`).
pub fn doing() -> String {
    // args() would panic on an argument that is not UTF-8.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    described(&args)
}

/// A command line for other processes to read: a `--state` URL's
/// password hidden (it is kept in the claims, and printed by the refused).
fn described(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut state_next = false;
    for a in args {
        let shown = if state_next {
            crate::secrets::redact_url(a)
        } else if let Some(url) = a.strip_prefix("--state=") {
            format!("--state={}", crate::secrets::redact_url(url))
        } else {
            a.clone()
        };
        state_next = a == "--state";
        out.push(shown);
    }
    out.join(" ")
}

/// This process, for other processes' messages: `pid 123 on HOST`.
pub fn this_process() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("pid {} on {host}", std::process::id())
}

/// The folder of claim files of the state file `state`.
fn dir(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".claims");
    state.with_file_name(name)
}

/// The longest claim file name kept whole (a task's claim joins two).
const MAX_NAME: usize = 100;

/// A file name for a logical date or task id: letters, digits and `-`
/// kept, anything else as `_` plus its code point, so distinct names stay
/// distinct and no name leaves the folder. A name longer than
/// [`MAX_NAME`] (a long instance key, whose non-ASCII characters take up
/// to 8 bytes each) is cut there and ends in a SHA-256 of the whole key:
/// still distinct, and within the 255 bytes a file name may have.
pub(crate) fn file_name(key: &str) -> String {
    use sha2::Digest;
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}_", c as u32));
        }
    }
    if out.len() > MAX_NAME {
        out.truncate(MAX_NAME);
        out.push('.');
        let digest = sha2::Sha256::digest(key.as_bytes());
        for b in &digest[..16] {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Claims logical date `logical` (RFC 3339) exclusively, for a whole run;
/// the holder's line says since when by `clock`.
pub fn run(
    state: &Path,
    logical: &str,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Claim, ClaimError> {
    let date = lock(
        state,
        &file_name(logical),
        FlockArg::LockExclusiveNonblock,
        doing,
        clock,
    )
    .map_err(|e| e.named(format!("the run of {logical}")))?;
    Ok(Claim {
        _locks: vec![date],
        _guard: None,
    })
}

/// Claims task `task` of the run of `logical`: the date shared, the task
/// exclusively.
pub fn task(
    state: &Path,
    logical: &str,
    task: &str,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Claim, ClaimError> {
    let date = lock(
        state,
        &file_name(logical),
        FlockArg::LockSharedNonblock,
        doing,
        clock,
    )
    .map_err(|e| e.named(format!("the run of {logical}")))?;
    let name = format!("{}__{}", file_name(logical), file_name(task));
    let one = lock(state, &name, FlockArg::LockExclusiveNonblock, doing, clock)
        .map_err(|e| e.named(format!("task `{task}` of the run of {logical}")))?;
    Ok(Claim {
        _locks: vec![date, one],
        _guard: None,
    })
}

/// A claim that could not be taken.
#[derive(Debug)]
pub enum ClaimError {
    Busy(Busy),
    /// The folder of claim files could not be made (permissions, disk).
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// A claim file could not be opened.
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A claim file could not be locked, for another reason than a holder.
    Lock {
        path: PathBuf,
        source: Errno,
    },
    /// The state database failed while claiming (PostgreSQL state).
    State(String),
}

impl ClaimError {
    fn named(self, what: String) -> ClaimError {
        match self {
            ClaimError::Busy(b) => ClaimError::Busy(Busy { what, ..b }),
            other => other,
        }
    }
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::Busy(b) => b.fmt(f),
            ClaimError::CreateDir { dir, source } => {
                write!(f, "cannot create {}: {source}", dir.display())
            }
            ClaimError::Open { path, source } => {
                write!(f, "cannot open {}: {source}", path.display())
            }
            ClaimError::Lock { path, source } => {
                write!(f, "cannot lock {}: {source}", path.display())
            }
            ClaimError::State(e) => write!(f, "cannot claim: {e}"),
        }
    }
}

impl std::error::Error for ClaimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClaimError::Busy(_) | ClaimError::State(_) => None,
            ClaimError::CreateDir { source, .. } | ClaimError::Open { source, .. } => Some(source),
            ClaimError::Lock { source, .. } => Some(source),
        }
    }
}

fn lock(
    state: &Path,
    name: &str,
    how: FlockArg,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Flock<File>, ClaimError> {
    lock_in(&dir(state), name, how, doing, clock)
}

/// Locks the file `name` in folder `dir` (made if missing) as `how` says,
/// writing who holds it when the lock is exclusive.
pub(crate) fn lock_in(
    dir: &Path,
    name: &str,
    how: FlockArg,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Flock<File>, ClaimError> {
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|source| ClaimError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| ClaimError::Open {
            path: path.clone(),
            source,
        })?;
    match Flock::lock(file, how) {
        Ok(mut locked) => {
            if matches!(how, FlockArg::LockExclusiveNonblock) {
                // Who holds it, for the message of the one refused.
                let line = format!(
                    "pid {} (`{doing}`, since {})",
                    std::process::id(),
                    clock.now().format("%Y-%m-%dT%H:%M:%SZ")
                );
                let _ = locked.set_len(0);
                let _ = locked.rewind();
                let _ = locked.write_all(line.as_bytes());
            }
            Ok(locked)
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = (&mut file).take(1024).read_to_string(&mut holder);
            let holder = holder.trim();
            Err(ClaimError::Busy(Busy {
                holder: if holder.is_empty() {
                    "another process".into()
                } else {
                    holder.to_string()
                },
                what: String::new(),
            }))
        }
        Err((_, source)) => Err(ClaimError::Lock { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{ManualClock, SystemClock};

    /// The holder's line is stored and printed: no password in it.
    #[test]
    fn a_state_urls_password_never_reaches_the_holders_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let line = described(&args(&[
            "--state",
            "postgres://u:hunter2@db/x",
            "task",
            "a",
        ]));
        assert!(
            !line.contains("hunter2") && line.contains("task a"),
            "{line}"
        );
        let line = described(&args(&["task", "a", "--state=postgres://u:hunter2@db/x"]));
        assert!(!line.contains("hunter2"), "{line}");
    }

    #[test]
    fn a_second_claim_of_a_date_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("p.state.db");
        let d = "2026-11-24T00:00:00+00:00";
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z").unwrap();
        let clock = ManualClock::new(at.into());
        let first = run(&state, d, "run --date 2026-11-24", &clock).unwrap();
        let err = run(&state, d, "run", &SystemClock).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        // Since when, by the clock of the holder.
        assert!(
            err.contains("(`run --date 2026-11-24`, since 2026-11-24T03:00:00Z)"),
            "{err}"
        );
        assert!(
            err.contains("the run of 2026-11-24T00:00:00+00:00"),
            "{err}"
        );
        // Tasks of a date that a whole run holds are refused too.
        assert!(task(&state, d, "a", "task a", &SystemClock).is_err());
        // Another date is free.
        let _other = run(&state, "2026-11-25T00:00:00+00:00", "run", &SystemClock).unwrap();
        drop(first);
        let a = task(&state, d, "a", "task a", &SystemClock).unwrap();
        let _b = task(&state, d, "b", "task b", &SystemClock).unwrap();
        let err = task(&state, d, "a", "task a", &SystemClock)
            .unwrap_err()
            .to_string();
        assert!(err.contains("task `a` of the run of"), "{err}");
        assert!(
            run(&state, d, "run", &SystemClock).is_err(),
            "a run waits for its tasks"
        );
        drop(a);
    }

    #[test]
    fn a_claim_folder_that_cannot_be_made_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not_a_dir");
        std::fs::write(&file, "").unwrap();
        let state = file.join("p.state.db");
        let err = run(&state, "2026-11-24T00:00:00+00:00", "run", &SystemClock).unwrap_err();
        assert!(matches!(err, ClaimError::CreateDir { .. }), "{err}");
        let expected = format!(
            "cannot create {}: ",
            file.join("p.state.db.claims").display()
        );
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    /// Issue 17: an instance key of 64 `é` (139 bytes of log folder name,
    /// which a dynamic for_each takes) made a task claim's file name 308
    /// bytes long, and every `task` call of that instance failed to open it.
    #[test]
    fn a_long_non_ascii_task_id_can_be_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("p.state.db");
        let logical = "2026-11-24T00:00:00+00:00";
        let one = format!("per_store[{}]", "é".repeat(64));
        let other = format!("per_store[{}a]", "é".repeat(63));
        let held = task(&state, logical, &one, "task", &SystemClock).unwrap();
        // Another id with the same long start is another claim.
        task(&state, logical, &other, "task", &SystemClock).unwrap();
        let again = task(&state, logical, &one, "task", &SystemClock).unwrap_err();
        assert!(matches!(again, ClaimError::Busy(_)), "{again}");
        drop(held);
        assert!(file_name(&one).len() <= MAX_NAME + 33);
        assert_ne!(file_name(&one), file_name(&other));
    }

    #[test]
    fn claim_file_names_stay_in_their_folder_and_apart() {
        assert_eq!(file_name("../x"), "_2e__2e__2f_x");
        assert_ne!(
            file_name("2026-11-24T00:00:00+01:00"),
            file_name("2026-11-24T00:00:00-01:00")
        );
    }
}
