//! Pools (`pools: {warehouse: 4}`, a task's `pool: warehouse`): a named
//! limit on attempts running at once, shared by every run and pipeline
//! on one state, so that a backfill cannot overload a database.
//!
//! A pool of size N is N slots; an attempt holds one while it runs. On
//! SQLite state a slot is an advisory `flock` on a file in `chime-pools/`
//! beside the state file, so pipelines whose state files share a folder
//! share their pools; on PostgreSQL state it is a session advisory lock,
//! shared by every pipeline on the database (`store/postgres/claims.rs`).
//! Either way the lock goes with the process that holds it, however it
//! ends (`kill -9` included): a crash never leaves a slot taken.

use std::path::{Path, PathBuf};

use nix::fcntl::FlockArg;

use crate::claim::{self, Claim, ClaimError};
use crate::scheduler::Clock;

pub use crate::vocabulary::MAX_POOL_SIZE;

/// How often a task waiting for a slot held by another process tries
/// again (a slot freed in this process is retried at once).
pub const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The folder of pool slots of the SQLite state file `state`.
pub fn dir(state: &Path) -> PathBuf {
    state.with_file_name("chime-pools")
}

/// A free slot of pool `pool` of `size` slots, held until the claim is
/// dropped; `None` while every slot is held.
pub fn slot(
    state: &Path,
    pool: &str,
    size: u32,
    doing: &str,
    clock: &dyn Clock,
) -> Result<Option<Claim>, ClaimError> {
    let dir = dir(state);
    let base = claim::file_name(pool);
    for i in 0..size.min(MAX_POOL_SIZE) {
        let name = format!("{base}.{i}");
        match claim::lock_in(&dir, &name, FlockArg::LockExclusiveNonblock, doing, clock) {
            Ok(lock) => return Ok(Some(Claim::file(lock))),
            Err(ClaimError::Busy(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::SystemClock;

    #[test]
    fn a_pool_gives_as_many_slots_as_its_size_across_state_files_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.state.db"), dir.path().join("b.state.db"));
        let first = slot(&a, "warehouse", 2, "run", &SystemClock).unwrap();
        let second = slot(&b, "warehouse", 2, "run", &SystemClock).unwrap();
        assert!(first.is_some() && second.is_some());
        assert!(
            slot(&a, "warehouse", 2, "run", &SystemClock)
                .unwrap()
                .is_none()
        );
        // Another pool is another limit.
        assert!(slot(&a, "api", 1, "run", &SystemClock).unwrap().is_some());
        drop(first);
        let third = slot(&b, "warehouse", 2, "run", &SystemClock).unwrap();
        assert!(third.is_some(), "a released slot is free again");
        // A state file elsewhere has its own pools.
        let other = tempfile::tempdir().unwrap();
        let c = other.path().join("c.state.db");
        assert!(
            slot(&c, "warehouse", 2, "run", &SystemClock)
                .unwrap()
                .is_some()
        );
    }
}
