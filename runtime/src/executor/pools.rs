//! Pools in the run's loop: a task of a pool starts only with one of the
//! pool's slots (see `pool.rs`), holds it while its attempt runs, and
//! gives it back when the attempt ends (a retry waits for a slot again,
//! as in Airflow). A task that finds every slot held waits: it is tried
//! again when a task of this run ends, and every [`POLL`] for slots held
//! by other runs and pipelines.

use std::collections::HashMap;

use super::{Exec, ExecError};
use crate::claim::Claim;
use crate::store::StoreError;

pub(super) use crate::pool::POLL;

/// The slots this run holds and the tasks waiting for one.
#[derive(Debug, Default)]
pub(super) struct Pools {
    /// By task: the slot its running attempt holds.
    held: HashMap<usize, Claim>,
    /// Ready tasks whose pool was full, in the order they were ready.
    waiting: Vec<usize>,
    /// Tasks already said to be waiting (said once per task).
    told: Vec<usize>,
}

impl Pools {
    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}

impl Exec<'_> {
    /// Takes a slot of task `t`'s pool, if it has one: false (and `t`
    /// waits) while the pool is full.
    pub(super) fn take_slot(&mut self, t: usize) -> Result<bool, ExecError> {
        let Some((pool, size)) = self.tasks[t].def.pool else {
            return Ok(true);
        };
        let doing = crate::claim::doing();
        let slot = self
            .store
            .pool_slot(pool, size, &doing, &*self.opts.clock)
            .map_err(|e| StoreError::Database(format!("pool `{pool}`: {e}")))?;
        match slot {
            Some(claim) => {
                self.pools.held.insert(t, claim);
                Ok(true)
            }
            None => {
                self.pools.waiting.push(t);
                if !self.pools.told.contains(&t) {
                    self.pools.told.push(t);
                    let id = self.tasks[t].def.id;
                    self.say(|| format!("{id} waits for a slot of pool `{pool}` ({size} in use)"));
                }
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
        for t in self.pools.waiting.drain(..).rev() {
            self.ready.push_front(t);
        }
    }

    /// Stopping: waiting tasks do not start.
    pub(super) fn forget_waiting(&mut self) {
        self.pools.waiting.clear();
    }
}
