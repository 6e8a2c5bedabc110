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

/// Keys of pool slots this process holds: a session advisory lock is
/// re-entrant, so the database would grant one twice to one connection.
static HELD_SLOTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A held pool slot: unlocked (and forgotten) when dropped.
struct Slot {
    worker: Worker,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let key = self.key.clone();
        let _ = self.worker.call(move |c| {
            c.client
                .execute(
                    "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                    &[&key],
                )
                .map(|_| ())
        });
        if let Ok(mut held) = HELD_SLOTS.lock() {
            held.retain(|k| *k != self.key);
        }
    }
}

/// A free slot of pool `pool`: one of `size` advisory locks, shared by
/// every pipeline on the database (the key has no pipeline in it).
pub(super) fn pool_slot(
    store: &PgStore,
    pool: &str,
    size: u32,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Option<Claim>, ClaimError> {
    let holder = format!(
        "{} (`{doing}`, since {})",
        claim::this_process(),
        clock.now().to_rfc3339()
    );
    let mut held = HELD_SLOTS
        .lock()
        .map_err(|_| ClaimError::State("pool slots: a thread panicked".into()))?;
    for i in 0..size.min(crate::pool::MAX_POOL_SIZE) {
        let key = format!("chime:pool:{pool}:{i}");
        if held.contains(&key) {
            continue;
        }
        let (k, h) = (key.clone(), holder.clone());
        let got = store
            .worker
            .call(move |c| {
                let got: bool = c
                    .client
                    .query_one("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", &[&k])?
                    .get(0);
                if got {
                    // Who holds it, for messages: the slot is held whatever
                    // becomes of this row (an error here must not leave the
                    // lock taken and unrecorded).
                    let _ = c.client.execute(
                        "INSERT INTO chime.claims (key, holder) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET holder = excluded.holder",
                        &[&k, &h],
                    );
                }
                Ok(got)
            })
            .map_err(|e| ClaimError::State(e.to_string()))?;
        if got {
            held.push(key.clone());
            return Ok(Some(Claim::guarded(Slot {
                worker: store.worker.clone(),
                key,
            })));
        }
    }
    Ok(None)
}
