//! Pools in the run's loop: a task of a pool starts only with one of the
//! pool's slots (see `pool.rs`), holds it while its attempt runs, and
//! gives it back when the attempt ends (a retry waits for a slot again,
//! as in Airflow). A task that finds every slot held waits: it is tried
//! again when a task of this run ends, and every [`POLL`] for slots held
//! by other runs and pipelines.

use std::collections::VecDeque;

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
                self.pools.waiting.entry(pool).or_default().push_back(t);
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

    /// Task `t`'s attempt ended: its slot is free, for the first task
    /// waiting for one of its pool (one slot, one task: a pool of 4 with
    /// 10,000 tasks waiting does not look at all of them at each end).
    pub(super) fn release_slot(&mut self, t: usize) {
        if self.pools.held.remove(&t).is_none() {
            return;
        }
        let Some((pool, _)) = self.tasks[t].def.pool else {
            return;
        };
        self.pools.full.remove(pool);
        if let Some(next) = self
            .pools
            .waiting
            .get_mut(pool)
            .and_then(VecDeque::pop_front)
        {
            self.ready.push_front(next);
        }
    }

    /// Every task waiting for a slot goes back to the ready queue, first
    /// (slots other runs and processes hold may have freed).
    pub(super) fn retry_waiting(&mut self) {
        self.pools.full.clear();
        for queue in self.pools.waiting.values_mut() {
            for t in queue.drain(..).rev() {
                self.ready.push_front(t);
            }
        }
    }

    /// Stopping: waiting tasks do not start.
    pub(super) fn forget_waiting(&mut self) {
        self.pools.waiting.clear();
    }
}
