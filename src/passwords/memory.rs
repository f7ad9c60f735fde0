//! Work memory for argon2 (19 MiB per hash at Gatehouse's parameters), kept between hashes and
//! handed back to the operating system after a quiet second.
//!
//! Allocating it for every hash makes the kernel fault in and zero 4,864 fresh pages each time,
//! and freeing it through the process allocator (mimalloc) leaves it resident on the blocking
//! thread that ran the hash until that thread allocates again, so a node that signed one person
//! in kept 19 MiB more for as long as it idled. Here a hash borrows a buffer from a small pool
//! (never more buffers than hashes may run at once), gives it back, and a reaper drops whatever
//! has lain unused for [`QUIET`].
//!
//! The buffers come from the system allocator, not the global one, each on a mapping of its own
//! that is unmapped on free, so a released buffer leaves the process's RSS at once. glibc maps an
//! allocation on its own only at or above a threshold that it raises to the size of every mapped
//! chunk freed, up to 32 MiB; a second 19 MiB buffer would then land in a malloc arena and stay
//! there after its free. So a buffer asks for just over 32 MiB of address space, which glibc
//! always maps alone, and touches only the blocks argon2 uses: RSS is the 19 MiB, not 32.

use std::alloc::System;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::Block;

/// How long a buffer may lie unused before it goes back to the system.
pub const QUIET: Duration = Duration::from_secs(1);

/// One hash's work memory, from the system allocator.
pub type Blocks = allocator_api2::vec::Vec<Block, System>;

/// The fewest blocks reserved per buffer: more than 32 MiB, above any threshold glibc sets.
const ALWAYS_MAPPED: usize = 32 * 1024 * 1024 / Block::SIZE + 1;

/// The pool of work memory of one [`super::Passwords`].
#[derive(Debug, Clone)]
pub struct WorkMemory {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// How long an unused buffer is kept.
    quiet: Duration,
    /// The most unused buffers kept (as many as hashes may run at once).
    capacity: usize,
    state: Mutex<Pool>,
}

#[derive(Debug, Default)]
struct Pool {
    /// Buffers not in use, each with the moment it came back.
    idle: Vec<(Blocks, Instant)>,
    /// The reaper task waiting to release them, if one runs (it clears this as it ends; a
    /// reaper lost with its runtime shows as finished and is replaced).
    reaper: Option<tokio::task::JoinHandle<()>>,
}

impl WorkMemory {
    /// An empty pool that keeps at most `capacity` unused buffers, each for at most `quiet`.
    pub fn new(quiet: Duration, capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                quiet,
                capacity,
                state: Mutex::new(Pool::default()),
            }),
        }
    }

    /// A buffer of exactly `blocks` blocks: a pooled one of that size, or a new one.
    ///
    /// A reused buffer still holds the previous hash's memory; argon2 overwrites every block
    /// before it reads one, so nothing of it reaches the new hash.
    pub fn take(&self, blocks: usize) -> Blocks {
        let reused = {
            let mut pool = self.lock();
            let found = pool.idle.iter().position(|(b, _)| b.len() == blocks);
            found.map(|i| pool.idle.swap_remove(i).0)
        };
        reused.unwrap_or_else(|| {
            let mut fresh = Blocks::with_capacity_in(blocks.max(ALWAYS_MAPPED), System);
            fresh.resize(blocks, Block::default());
            fresh
        })
    }

    /// Returns a buffer to the pool and makes sure a reaper will release it once it has lain
    /// unused for the quiet time. Outside a Tokio runtime there is no reaper, and a full pool
    /// has no room: then the buffer is dropped at once (the caller is a blocking thread).
    pub fn give_back(&self, blocks: Blocks) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut pool = self.lock();
        if pool.idle.len() >= self.shared.capacity {
            drop(pool);
            return;
        }
        pool.idle.push((blocks, Instant::now()));
        if pool.reaper.as_ref().is_none_or(|r| r.is_finished()) {
            // Spawned under the lock: the reaper's first look at the pool waits for it.
            pool.reaper = Some(runtime.spawn(self.clone().reap()));
        }
    }

    /// How many buffers the pool holds now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.lock().idle.len()
    }

    /// Waits until the oldest buffer has been unused for the quiet time, releases every buffer
    /// that has, and goes on while any remain; when none is left it clears its handle under the
    /// same lock a returning buffer takes, so a buffer is never left without a reaper.
    async fn reap(self) {
        loop {
            let oldest = {
                let pool = self.lock();
                pool.idle.iter().map(|(_, at)| *at).min()
            };
            if let Some(at) = oldest {
                tokio::time::sleep_until((at + self.shared.quiet).into()).await;
            }
            let (stale, done) = {
                let mut pool = self.lock();
                let now = Instant::now();
                let (stale, fresh): (Vec<_>, Vec<_>) = std::mem::take(&mut pool.idle)
                    .into_iter()
                    .partition(|(_, at)| now.duration_since(*at) >= self.shared.quiet);
                pool.idle = fresh;
                let done = pool.idle.is_empty();
                if done {
                    pool.reaper = None;
                }
                (stale, done)
            };
            if !stale.is_empty() {
                // Unmapping 19 MiB per buffer is kernel work: off the async workers.
                let _ = tokio::task::spawn_blocking(move || drop(stale)).await;
            }
            if done {
                return;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // The pool holds no invariant a panicking holder could break half-way.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_buffer_is_reused_while_busy_and_released_after_the_quiet_time() {
        let memory = WorkMemory::new(Duration::from_millis(150), 2);
        let first = memory.take(64);
        let address = first.as_ptr();
        memory.give_back(first);
        assert_eq!(memory.held(), 1);

        // Taken again before the quiet time: the same memory, not a new allocation.
        let again = memory.take(64);
        assert_eq!(again.as_ptr(), address, "the pooled buffer is reused");
        assert_eq!(memory.held(), 0);
        // Another size is never served from a buffer of the wrong length.
        memory.give_back(again);
        let other = memory.take(32);
        assert_eq!(other.len(), 32);
        assert_eq!(memory.held(), 1);
        memory.give_back(other);
        assert_eq!(memory.held(), 2);
        // Full: a third buffer is not kept.
        memory.give_back(memory.take(16));
        assert_eq!(memory.held(), 2);

        // Unused for the quiet time: both go back to the system.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(memory.held(), 0, "the reaper released the idle buffers");

        // A buffer returned after the reaper finished gets a reaper of its own.
        memory.give_back(memory.take(64));
        assert_eq!(memory.held(), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(memory.held(), 0);
    }

    #[tokio::test]
    async fn a_buffer_in_use_again_is_kept_past_the_first_deadline() {
        let memory = WorkMemory::new(Duration::from_millis(600), 2);
        memory.give_back(memory.take(8));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Used again at 300 ms: its quiet time starts over (until 900 ms).
        memory.give_back(memory.take(8));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(memory.held(), 1, "kept: unused for only 300 ms");
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(memory.held(), 0);
    }

    #[test]
    fn a_reaper_lost_with_its_runtime_is_replaced() {
        let memory = WorkMemory::new(Duration::from_millis(100), 2);
        let first = tokio::runtime::Runtime::new().unwrap();
        first.block_on(async { memory.give_back(memory.take(8)) });
        // The runtime goes away with its reaper still waiting.
        drop(first);
        assert_eq!(memory.held(), 1);
        let second = tokio::runtime::Runtime::new().unwrap();
        second.block_on(async {
            memory.give_back(memory.take(8));
            tokio::time::sleep(Duration::from_millis(500)).await;
        });
        assert_eq!(memory.held(), 0, "a new reaper released the buffer");
    }

    #[test]
    fn outside_a_runtime_a_buffer_is_not_kept() {
        let memory = WorkMemory::new(QUIET, 2);
        memory.give_back(memory.take(8));
        assert_eq!(memory.held(), 0);
    }
}
