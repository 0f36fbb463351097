//! The model's thread pool: persistent workers that spin briefly for the
//! next job and then sleep.
//!
//! A decode step of SmolLM2-135M is about 200 matrix products of 10–50 µs
//! each. Waking a sleeping thread costs a futex system call and a few
//! microseconds of scheduling per product; with rayon that was a third of
//! the run time (perf: `try_to_wake_up`, `sched_yield`,
//! `LockLatch::wait_and_reset`). Here workers that have just finished a job
//! poll for the next one for [`SPIN`] (the gap between two products of one
//! step is a few µs), and park only after that, so between steps and when
//! idle they cost nothing: a pool that does not spin when the model is not
//! running, and spins only within a step when it is.
//!
//! A job is `tasks` calls of one closure, `f(0) … f(tasks − 1)`, taken from
//! a shared counter by the caller and the workers alike; [`Pool::run`]
//! returns when every call has returned. The caller's thread always works,
//! so a pool of one thread runs everything inline and a busy machine where
//! workers are descheduled still makes progress on the caller.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker polls for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// One job on the caller's stack.
struct Job<'f> {
    f: &'f (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    /// Workers inside `work` on this job; the caller waits for 0.
    inside: AtomicUsize,
    /// A call of `f` on a worker panicked.
    panicked: AtomicBool,
}

impl Job<'_> {
    fn work(&self) {
        loop {
            let task = self.next.fetch_add(1, Ordering::Relaxed);
            if task >= self.tasks {
                return;
            }
            (self.f)(task);
        }
    }
}

/// The job pointer as workers see it: lifetime erased, see [`Pool::run`].
#[derive(Clone, Copy)]
struct JobRef(*const Job<'static>);

// SAFETY: a `JobRef` is only dereferenced while the `Job` it points at is
// alive (the caller of `Pool::run` waits for `inside == 0` after clearing
// the slot), and `Job` is `Sync`: its closure is `Sync`, the rest atomics.
unsafe impl Send for JobRef {}

struct Slot {
    /// Bumped for every job.
    epoch: u64,
    job: Option<JobRef>,
    sleepers: usize,
    shutdown: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    /// `slot.epoch`, readable without the lock by spinning workers.
    epoch: AtomicU64,
}

/// A fixed set of worker threads plus the caller's.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: usize,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    /// A pool running jobs on `threads` threads (the caller's included):
    /// `threads − 1` workers.
    pub(crate) fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot { epoch: 0, job: None, sleepers: 0, shutdown: false }),
            wake: Condvar::new(),
            epoch: AtomicU64::new(0),
        });
        let workers = (1..threads)
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                // A worker that cannot be started only makes the pool
                // smaller: the caller does the work.
                std::thread::Builder::new().name(format!("trellis-model-{i}")).spawn(move || worker(&shared)).ok()
            })
            .collect::<Vec<_>>();
        Pool { shared, threads: workers.len() + 1, workers }
    }

    /// Threads that run a job, the caller's included.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `f(task)` for every task in `0..tasks`, spread over the pool,
    /// and returns when all have returned. A panic in `f`, on any thread,
    /// is raised again here once no thread is still inside the job.
    pub(crate) fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if tasks == 0 {
            return;
        }
        if tasks == 1 || self.workers.is_empty() {
            (0..tasks).for_each(f);
            return;
        }
        let job =
            Job { f, tasks, next: AtomicUsize::new(0), inside: AtomicUsize::new(0), panicked: AtomicBool::new(false) };
        // SAFETY of the erased lifetime: workers reach `job` only through
        // the slot, and only after incrementing `job.inside` under the
        // slot's lock while the slot holds it. Below, the slot is cleared
        // under the lock and then `inside` is awaited to reach 0, so no
        // worker holds the pointer when `job` goes out of scope.
        let erased = JobRef((&job as *const Job<'_>).cast::<Job<'static>>());
        let wake = {
            let mut slot = self.lock();
            slot.epoch += 1;
            slot.job = Some(erased);
            self.shared.epoch.store(slot.epoch, Ordering::Release);
            slot.sleepers > 0
        };
        if wake {
            self.shared.wake.notify_all();
        }
        // Caught, so that the wait below happens before `job` is dropped
        // even when the caller's own share panics.
        let own = catch_unwind(AssertUnwindSafe(|| job.work()));
        self.lock().job = None;
        let mut spins = 0u32;
        while job.inside.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(panic) = own {
            resume_unwind(panic);
        }
        if job.panicked.load(Ordering::Acquire) {
            panic!("a model kernel panicked on a worker thread");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // The slot holds plain data that every writer leaves consistent,
        // so a poisoned lock (a panic elsewhere) is still usable.
        self.shared.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.lock().shutdown = true;
        self.shared.wake.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker(shared: &Shared) {
    let lock = || shared.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut seen = 0u64;
    loop {
        // Poll for a new epoch, then sleep on the condvar.
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.epoch.load(Ordering::Acquire) == seen {
            spins += 1;
            if spins.is_multiple_of(64) && started.elapsed() > SPIN {
                break;
            }
            std::hint::spin_loop();
        }
        let job = {
            let mut slot = lock();
            while slot.epoch == seen && !slot.shutdown {
                slot.sleepers += 1;
                slot = shared.wake.wait(slot).unwrap_or_else(|poisoned| poisoned.into_inner());
                slot.sleepers -= 1;
            }
            if slot.shutdown {
                return;
            }
            seen = slot.epoch;
            let job = slot.job;
            if let Some(JobRef(job)) = job {
                // SAFETY: the slot holds the job, so its caller has not
                // cleared it yet and is not past waiting for `inside`.
                unsafe { &*job }.inside.fetch_add(1, Ordering::AcqRel);
            }
            job
        };
        if let Some(JobRef(job)) = job {
            // SAFETY: `inside` counts this worker, so the caller of
            // `Pool::run` keeps the job alive until the decrement below.
            let job = unsafe { &*job };
            if catch_unwind(AssertUnwindSafe(|| job.work())).is_err() {
                job.panicked.store(true, Ordering::Release);
            }
            job.inside.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A slice cut into consecutive chunks of `chunk` elements (the last may be
/// shorter), for the tasks of one job to write one chunk each.
pub(crate) struct Shards<'a, T> {
    ptr: *mut T,
    len: usize,
    chunk: usize,
    _slice: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: a `Shards` hands out disjoint `&mut` chunks of a slice it
// borrows mutably; sharing it across threads is sending those chunks,
// which is sound for `T: Send`.
unsafe impl<T: Send> Sync for Shards<'_, T> {}

impl<'a, T> Shards<'a, T> {
    pub(crate) fn new(slice: &'a mut [T], chunk: usize) -> Shards<'a, T> {
        Shards { ptr: slice.as_mut_ptr(), len: slice.len(), chunk: chunk.max(1), _slice: std::marker::PhantomData }
    }

    /// Chunk `index` (empty past the end).
    ///
    /// # Safety
    ///
    /// No other reference to chunk `index` may be live: each index must be
    /// taken at most once at a time (one task of a [`Pool::run`] job each).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn shard(&self, index: usize) -> &mut [T] {
        let start = index.saturating_mul(self.chunk).min(self.len);
        let end = start.saturating_add(self.chunk).min(self.len);
        // SAFETY: `start..end` lies inside the borrowed slice, and the
        // caller guarantees no other live reference to this chunk.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }
}

/// Calls `f(i, row)` for every row `i` of `rows` (rows of `row_len`
/// values), spread over the global pool in runs of at least `min_rows`
/// rows: the elementwise passes of a batched step (quantizing
/// activations, SiLU, log-softmax), which on one thread left the other
/// cores idle for a fifth of a 64-sequence step.
pub(crate) fn for_rows<T: Send>(rows: &mut [T], row_len: usize, min_rows: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let count = rows.len() / row_len.max(1);
    let pool = global();
    let per_task = min_rows.max(count.div_ceil(pool.threads())).max(1);
    let shards = Shards::new(rows, per_task * row_len);
    pool.run(count.div_ceil(per_task), &|task| {
        // SAFETY: one task per index.
        let shard = unsafe { shards.shard(task) };
        for (i, row) in shard.chunks_exact_mut(row_len).enumerate() {
            f(task * per_task + i, row);
        }
    });
}

/// The process-wide pool, sized by [`set_threads`] or, by default, one
/// thread per core.
pub(crate) fn global() -> &'static Pool {
    GLOBAL.get_or_init(|| Pool::new(std::thread::available_parallelism().map_or(1, |n| n.get())))
}

static GLOBAL: OnceLock<Pool> = OnceLock::new();

/// Sizes the global pool; `false` if it already exists.
pub(crate) fn set_threads(threads: usize) -> bool {
    GLOBAL.set(Pool::new(threads)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_slice() {
        let pool = Pool::new(3);
        let mut data = vec![0usize; 103];
        let shards = Shards::new(&mut data, 10);
        pool.run(11, &|t| {
            // SAFETY: one task per index.
            for x in unsafe { shards.shard(t) } {
                *x += t + 1;
            }
        });
        assert!(data.iter().enumerate().all(|(i, &x)| x == i / 10 + 1));
    }

    #[test]
    fn every_task_runs_exactly_once() {
        for threads in [1, 2, 3, 8] {
            let pool = Pool::new(threads);
            for tasks in [0, 1, 2, 7, 100, 1000] {
                let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                pool.run(tasks, &|t| {
                    counts[t].fetch_add(1, Ordering::Relaxed);
                });
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "{threads} threads, {tasks} tasks");
            }
        }
    }

    /// Jobs back to back, with borrowed data that dies after each: the
    /// lifetime erasure must never let a worker see a finished job.
    #[test]
    fn many_short_jobs_with_borrowed_data() {
        let pool = Pool::new(4);
        for round in 0..2000usize {
            let data: Vec<usize> = (0..8).map(|i| i + round).collect();
            let sum = AtomicUsize::new(0);
            pool.run(8, &|t| {
                sum.fetch_add(data[t], Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), 28 + 8 * round);
        }
    }

    #[test]
    fn a_panicking_task_is_raised_on_the_caller_and_the_pool_lives_on() {
        let pool = Pool::new(2);
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.run(100, &|t| {
                if t == 57 {
                    panic!("task 57");
                }
            })
        }));
        assert!(result.is_err());
        let ran = AtomicUsize::new(0);
        pool.run(10, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn workers_that_slept_wake_for_the_next_job() {
        let pool = Pool::new(2);
        std::thread::sleep(SPIN * 5);
        let ran = AtomicUsize::new(0);
        pool.run(64, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 64);
        drop(pool);
    }
}
