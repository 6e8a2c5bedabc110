//! What a run holds of pools and what waits for them (see `pools.rs`).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::claim::Claim;

/// The slots this run holds and the tasks waiting for one.
#[derive(Debug, Default)]
pub(super) struct Pools {
    /// By task: the slot its running attempt holds.
    pub held: HashMap<usize, Claim>,
    /// Ready tasks whose pool was full, by pool, in the order they were
    /// ready.
    pub waiting: HashMap<&'static str, VecDeque<usize>>,
    /// Pools found full since slots were last looked at: their other
    /// tasks wait without trying every slot again.
    pub full: HashSet<&'static str>,
    /// Tasks already said to be waiting (said once per task).
    pub told: HashSet<usize>,
}

impl Pools {
    pub fn waiting(&self) -> bool {
        self.waiting.values().any(|q| !q.is_empty())
    }
}
