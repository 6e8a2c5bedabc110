//! Claims on PostgreSQL state (see `claim.rs` for what a claim is): session
//! advisory locks on the store's connection, keyed by a hash of the
//! pipeline, the logical date and the task. PostgreSQL drops them when the
//! connection ends, so a process killed on any machine never leaves one
//! behind. `chime.claims` keeps who took each key last, for the message a
//! refused process prints.

use super::{Conn, PgStore, Worker};
use crate::claim::{self, Busy, Claim, ClaimError};
use crate::scheduler::Clock;

/// Advisory locks held; released when dropped (or when the connection ends).
struct Held {
    worker: Worker,
    /// Each lock's key and whether it is shared.
    keys: Vec<(String, bool)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let keys = std::mem::take(&mut self.keys);
        // Waited for: whatever this process does next (or another process
        // told of it) finds the date free.
        let _ = self.worker.call(move |c| {
            for (key, shared) in keys {
                c.client.execute(
                    if shared {
                        "SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))"
                    } else {
                        "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
                    },
                    &[&key],
                )?;
            }
            Ok(())
        });
    }
}

/// What the lock attempts gave: the locks taken, or the key another holds.
enum Outcome {
    Taken(Vec<(String, bool)>),
    Refused { key: String, holder: Option<String> },
}

pub(super) fn claim(
    store: &PgStore,
    logical: &str,
    task: Option<&str>,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Claim, ClaimError> {
    let date = format!("chime:{}:{logical}", store.pipeline);
    let one = task.map(|t| format!("{date}:{t}"));
    let holder = format!(
        "{} (`{doing}`, since {})",
        claim::this_process(),
        clock.now().to_rfc3339()
    );
    let (date_key, task_key) = (date.clone(), one.clone());
    let outcome = store
        .worker
        .call(move |c| take(c, date_key, task_key, &holder))
        .map_err(|e| ClaimError::State(e.to_string()))?;
    match outcome {
        Outcome::Taken(keys) => Ok(Claim::guarded(Held {
            worker: store.worker.clone(),
            keys,
        })),
        Outcome::Refused { key, holder } => {
            let what = match (task, key == date) {
                (Some(t), false) => format!("task `{t}` of the run of {logical}"),
                _ => format!("the run of {logical}"),
            };
            Err(ClaimError::Busy(Busy {
                holder: holder.unwrap_or_else(|| "another process".into()),
                what,
            }))
        }
    }
}

/// Takes the date's lock (shared for a task) and the task's, or neither.
fn take(
    c: &mut Conn,
    date: String,
    task: Option<String>,
    holder: &str,
) -> Result<Outcome, postgres::Error> {
    let exclusive = c.statement("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")?;
    let shared = c.statement("SELECT pg_try_advisory_lock_shared(hashtextextended($1, 0))")?;
    let who = c.statement("SELECT holder FROM chime.claims WHERE key = $1")?;
    let record = c.statement(
        "INSERT INTO chime.claims (key, holder) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET holder = excluded.holder",
    )?;
    let date_lock = if task.is_some() { &shared } else { &exclusive };
    let got: bool = c.client.query_one(date_lock, &[&date])?.get(0);
    if !got {
        let holder = c.client.query_opt(&who, &[&date])?.map(|r| r.get(0));
        return Ok(Outcome::Refused { key: date, holder });
    }
    let mut keys = vec![(date.clone(), task.is_some())];
    if let Some(task) = task {
        let got: bool = c.client.query_one(&exclusive, &[&task])?.get(0);
        if !got {
            c.client.execute(
                "SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))",
                &[&date],
            )?;
            let holder = c.client.query_opt(&who, &[&task])?.map(|r| r.get(0));
            return Ok(Outcome::Refused { key: task, holder });
        }
        keys.push((task, false));
    }
    for (key, _) in &keys {
        c.client.execute(&record, &[key, &holder])?;
    }
    Ok(Outcome::Taken(keys))
}
