//! Pools in the run's loop: a task of a pool starts only with one of the
//! pool's slots (see `pool.rs`), holds it while its attempt runs, and
//! gives it back when the attempt ends (a retry waits for a slot again,
//! as in Airflow). A task that finds every slot held waits: it is tried
//! again when a task of this run ends, and every [`POLL`] for slots held
//! by other runs and pipelines.

use super::launch::Inline;
use super::{Exec, ExecError};
use crate::context::TaskError;

pub(super) use crate::pool::POLL;

impl Exec<'_> {
    /// Takes a slot of task `t`'s pool, if it has one: false while the
    /// pool is full (`t` waits), or when no slot could be taken at all (its
    /// attempt fails with the reason). Under an orchestrator (`task
    /// --engine`) its pool is the orchestrator's (Airflow's `pool=`, Argo's
    /// semaphore), not taken twice.
    pub(super) fn take_slot(&mut self, t: usize) -> Result<bool, ExecError> {
        let Some((pool, size)) = self.tasks[t].def.pool else {
            return Ok(true);
        };
        // A dynamic `for_each` runs nothing itself: its instances take slots.
        if self.engine || self.tasks[t].expands() {
            return Ok(true);
        }
        let slot = if self.pools.full.contains(pool) {
            Ok(None)
        } else {
            let doing = crate::claim::doing();
            self.store.pool_slot(pool, size, &doing, &*self.opts.clock)
        };
        match slot {
            Ok(Some(claim)) => {
                self.pools.held.insert(t, claim);
                Ok(true)
            }
            Ok(None) => {
                self.pools.full.insert(pool);
                self.pools.waiting.push(t);
                if self.pools.told.insert(t) {
                    let id = self.tasks[t].id;
                    self.say(|| format!("{id} waits for a slot of pool `{pool}` ({size} in use)"));
                }
                Ok(false)
            }
            Err(e) => {
                // No slot can be had (the folder of slots cannot be
                // written, the database failed): the attempt fails, and
                // retries apply.
                let attempt = self.tasks[t]
                    .instance
                    .start_attempt()
                    .map_err(|bug| ExecError::transition(self.tasks[t].id, bug))?;
                let failed = Err(TaskError::failed(format!("pool `{pool}`: {e}")));
                let inline = Inline::new(super::now(), String::new());
                self.complete(t, attempt, failed, std::time::Duration::ZERO, Some(inline))?;
                Ok(false)
            }
        }
    }

    /// Task `t`'s attempt ended: its slot is free, and the tasks waiting
    /// for one are tried again.
    pub(super) fn release_slot(&mut self, t: usize) {
        if self.pools.held.remove(&t).is_some() {
            self.retry_waiting();
        }
    }

    /// The tasks waiting for a slot go back to the ready queue, first.
    pub(super) fn retry_waiting(&mut self) {
        self.pools.full.clear();
        for t in self.pools.waiting.drain(..).rev() {
            self.ready.push_front(t);
        }
    }

    /// Stopping: waiting tasks do not start.
    pub(super) fn forget_waiting(&mut self) {
        self.pools.waiting.clear();
    }
}
