//! Writing a batch of changes: the run's and tasks' integer keys, new
//! task rows numbered under the write lock, one transaction.

use rusqlite::params;

use super::{RunSeqs, SqliteStore, db};
use crate::state::RunState;
use crate::store::{Change, StoreError};

impl SqliteStore {
    /// [`crate::store::Store::apply`]: the batch in one transaction.
    pub(super) fn apply_batch(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        // Batches hold one run's changes: its integer key is looked up once.
        let mut last: Option<(&str, i64)> = None;
        let mut keys = Vec::with_capacity(changes.len());
        for change in changes {
            let run_id = change.run_id();
            let k = match last {
                Some((id, k)) if id == run_id => k,
                _ => {
                    let k = match self.keys.get(run_id) {
                        Some(&k) => k,
                        None => {
                            let k = self.key(run_id)?;
                            self.keys.insert(run_id.to_string(), k);
                            k
                        }
                    };
                    last = Some((run_id, k));
                    k
                }
            };
            keys.push(k);
        }
        // One writer at a time from here (another `task` process may add
        // rows to the same run): new rows are numbered under the lock.
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        let result = self.numbered_write(changes, &keys);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(db);
        if result.is_err() || ended.is_err() {
            // Rows numbered in this batch were not written: number them again.
            self.seqs.clear();
        }
        result.and(ended)
    }

    /// The row number of task `task_id` in run `key`, and whether it is new
    /// (then `apply` creates its row). Existing rows are found by task id.
    fn seq(&mut self, key: i64, task_id: &str) -> Result<(u32, bool), StoreError> {
        let run = match self.seqs.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut stmt = self
                    .conn
                    .prepare_cached(
                        "SELECT task_id, seq FROM task_instances WHERE run = ?1 ORDER BY seq",
                    )
                    .map_err(db)?;
                let mut run = RunSeqs::default();
                let rows = stmt
                    .query_map([key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(db)?;
                for row in rows {
                    let (id, seq) = row.map_err(db)?;
                    let seq = seq.clamp(0, u32::MAX as i64 - 1) as u32;
                    run.next = run.next.max(seq + 1);
                    // A file damaged by hand may repeat an id: the first row wins.
                    run.by_id.entry(id).or_insert(seq);
                }
                v.insert(run)
            }
        };
        if let Some(&seq) = run.by_id.get(task_id) {
            return Ok((seq, false));
        }
        let seq = run.next;
        run.next = seq.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: "a task row number past 2^32".into(),
        })?;
        run.by_id.insert(task_id.to_string(), seq);
        Ok((seq, true))
    }

    /// Numbers the batch's task rows and writes it, inside the transaction
    /// `apply` holds.
    fn numbered_write(&mut self, changes: &[Change], keys: &[i64]) -> Result<(), StoreError> {
        // A cached numbering is dropped when another process added rows.
        let mut checked: Vec<i64> = Vec::new();
        for &key in keys {
            if checked.contains(&key) {
                continue;
            }
            checked.push(key);
            if let Some(cached) = self.seqs.get(&key) {
                let next: i64 = self
                    .conn
                    .prepare_cached(
                        "SELECT coalesce(max(seq) + 1, 0) FROM task_instances WHERE run = ?1",
                    )
                    .and_then(|mut st| st.query_row([key], |r| r.get(0)))
                    .map_err(db)?;
                if next != i64::from(cached.next) {
                    self.seqs.remove(&key);
                }
            }
        }
        let mut seqs = Vec::with_capacity(changes.len());
        let mut new_rows = Vec::new();
        for (change, &key) in changes.iter().zip(keys) {
            let Some(task_id) = change.task_id() else {
                seqs.push(0);
                continue;
            };
            let (seq, new) = self.seq(key, task_id)?;
            // A new task's row is made by its state change; an attempt
            // written without one needs the row made first.
            if new && !matches!(change, Change::Task { .. }) {
                new_rows.push((key, seq, task_id));
            }
            seqs.push(seq);
        }
        self.write(changes, keys, &seqs, &new_rows)
    }

    fn write(
        &mut self,
        changes: &[Change],
        keys: &[i64],
        seqs: &[u32],
        new_rows: &[(i64, u32, &str)],
    ) -> Result<(), StoreError> {
        let tx = &self.conn;
        {
            // A new task's row exists before its attempts refer to it.
            let mut placeholder = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO task_instances (run, seq, task_id, state, try_number) VALUES (?1, ?2, ?3, 'none', 0)",
                )
                .map_err(db)?;
            for (key, seq, task_id) in new_rows {
                placeholder
                    .execute(params![key, seq, task_id])
                    .map_err(db)?;
            }
            // Prepared once per batch, not once per change.
            let mut task = tx
                .prepare_cached(
                    "INSERT INTO task_instances (run, seq, task_id, state, try_number, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (run, seq) DO UPDATE SET state = excluded.state, try_number = excluded.try_number, output = excluded.output",
                )
                .map_err(db)?;
            let mut attempt_whole = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO attempts (run, seq, attempt, started_at, ended_at, outcome, log_path, log_tail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(db)?;
            for ((change, &key), &seq) in changes.iter().zip(keys).zip(seqs) {
                match change {
                    Change::Run { run_id, state, at } => {
                        let column = match state {
                            RunState::Running => {
                                "started_at = coalesce(started_at, ?3), ended_at = NULL"
                            }
                            RunState::Success | RunState::Failed => "ended_at = ?3",
                            RunState::Queued => "ended_at = ?3",
                        };
                        tx.execute(
                            &format!("UPDATE runs SET state = ?2, {column} WHERE run_id = ?1"),
                            params![run_id, state.as_str(), at],
                        )
                        .map_err(db)?;
                    }
                    Change::Task {
                        task_id,
                        state,
                        try_number,
                        output,
                        ..
                    } => {
                        task.execute(params![
                            key,
                            seq,
                            task_id,
                            state.as_str(),
                            try_number,
                            output
                        ])
                        .map_err(db)?;
                    }
                    Change::AttemptStarted {
                        attempt,
                        at,
                        log_path,
                        ..
                    } => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO attempts (run, seq, attempt, started_at, log_path) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )
                        .and_then(|mut st| st.execute(params![key, seq, attempt, at, log_path]))
                        .map_err(db)?;
                    }
                    Change::AttemptEnded {
                        attempt,
                        at,
                        outcome,
                        exit_code,
                        error,
                        log_tail,
                        ..
                    } => {
                        tx.prepare_cached(
                            "UPDATE attempts SET ended_at = ?4, outcome = ?5, exit_code = ?6, error = ?7, log_tail = ?8 WHERE run = ?1 AND seq = ?2 AND attempt = ?3",
                        )
                        .and_then(|mut st| st.execute(params![key, seq, attempt, at, outcome.as_str(), exit_code, error, log_tail]))
                        .map_err(db)?;
                    }
                    Change::Attempt {
                        attempt,
                        started_at,
                        ended_at,
                        outcome,
                        log_path,
                        log_tail,
                        ..
                    } => {
                        attempt_whole
                            .execute(params![
                                key,
                                seq,
                                attempt,
                                started_at,
                                ended_at,
                                outcome.as_str(),
                                log_path,
                                log_tail
                            ])
                            .map_err(db)?;
                    }
                }
            }
        }
        Ok(())
    }
}
