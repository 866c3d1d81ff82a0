//! Work shared over every core: one pool of threads on one memory, so the
//! model is held once however many cores compute with it.
//!
//! A caller hands the pool `count` independent tasks ([`for_each`]); the
//! pool's threads and the caller itself take them one by one until none
//! is left, and the call returns when all are done. The tasks borrow the
//! caller's data (the model, a batch's frames): nothing is copied.
//!
//! Natively the threads are spawned on first use, one per spare core. In
//! the browser a thread is a Web Worker running the same wasm module on
//! the same shared memory (a build with wasm atomics; `www/core.js` starts
//! them, `www/thread-worker.js` is one),
//! which joins by calling [`serve`]; where the page is not cross-origin
//! isolated there is no shared memory, no thread joins, and every call
//! runs on the caller alone.
//!
//! Only the blocking primitives of `std::sync` are used (on wasm they are
//! `memory.atomic.wait32` / `notify`, allowed in workers), so the same code
//! runs natively, where the tests exercise it.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// The task of the job under way, its lifetime erased: [`for_each`] does
/// not return before every thread that took part has let go of it.
#[derive(Clone, Copy)]
struct Task(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and outlives every use (see `Task`).
unsafe impl Send for Task {}
unsafe impl Sync for Task {}

struct Job {
    task: Task,
    count: usize,
    next: AtomicUsize,
}

impl Job {
    /// Take tasks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.count {
                return;
            }
            // SAFETY: the job's caller waits for this thread to finish.
            unsafe { (*self.task.0)(i) };
        }
    }
}

#[derive(Default)]
struct State {
    /// The job threads may join; `None` once its caller waits for the end.
    job: Option<Arc<Job>>,
    /// Counts jobs, so a thread joins each one at most once.
    generation: u64,
    /// Threads inside the current job.
    working: usize,
    /// Threads that have joined the pool.
    threads: usize,
    /// A thread's task panicked: what it said (the caller panics with it).
    failed: Option<String>,
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    /// Threads wait here for a job.
    work: Condvar,
    /// The caller waits here for the threads to finish.
    done: Condvar,
    /// One caller at a time; a second one runs its tasks alone.
    caller: Mutex<()>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        #[cfg(not(target_family = "wasm"))]
        spawn_native();
        Pool::default()
    })
}

/// Natively: one thread per spare core (`WAV2LIP_THREADS` overrides the
/// total, this one included).
#[cfg(not(target_family = "wasm"))]
fn spawn_native() {
    let cores = std::env::var("WAV2LIP_THREADS").ok().and_then(|n| n.parse().ok()).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    for _ in 1..cores.max(1) {
        std::thread::Builder::new().name("wav2lip-pool".into()).spawn(serve).expect("a thread for the pool");
    }
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // A task's panic is caught before it could poison the lock.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    /// Inside a task: a nested call runs its tasks on this thread alone.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// This thread serves the pool.
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

/// How many threads compute a job: the pool's and the caller.
pub fn threads() -> usize {
    lock(&pool().state).threads + 1
}

/// This thread joins the pool and works on its jobs; it never returns.
pub fn serve() {
    let pool = pool();
    SERVING.with(|s| s.set(true));
    IN_TASK.with(|t| t.set(true));
    let mut seen = {
        let mut state = lock(&pool.state);
        state.threads += 1;
        state.generation
    };
    loop {
        let job = {
            let mut state = lock(&pool.state);
            while state.job.is_none() || state.generation == seen {
                state = pool.work.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            seen = state.generation;
            state.working += 1;
            state.job.clone().expect("checked above")
        };
        let outcome = run_caught(|| job.work());
        drop(job);
        let mut state = lock(&pool.state);
        if let Err(message) = outcome {
            state.failed.get_or_insert(message);
        }
        state.working -= 1;
        if state.working == 0 {
            pool.done.notify_all();
        }
    }
}

/// Natively a task's panic is caught and handed to the caller. In wasm a
/// panic aborts the thread (`panic = "abort"`): [`thread_panicked`], from
/// the panic hook, tells the caller instead.
fn run_caught(work: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|payload| {
        payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a task panicked".into())
    })
}

/// From a panic hook: if this thread serves the pool, it is about to stop
/// for good (wasm aborts on panic), so it leaves the pool and the caller
/// waiting on it fails with `message` rather than waiting forever.
pub fn thread_panicked(message: &str) {
    if !SERVING.with(|s| s.get()) {
        return;
    }
    let pool = pool();
    let mut state = lock(&pool.state);
    state.failed.get_or_insert_with(|| message.to_string());
    state.threads = state.threads.saturating_sub(1);
    state.working = state.working.saturating_sub(1);
    pool.done.notify_all();
}

/// `task(i)` for every `i` in `0..count`, on the pool's threads and this
/// one, in no particular order; returns when all are done. Panics if a
/// task did.
pub fn for_each(count: usize, task: impl Fn(usize) + Sync) {
    share(count, &task, false);
}

/// [`for_each`]; where another caller holds the pool, wait for it
/// (`wait`) or run alone. Whether the pool's threads took part.
fn share(count: usize, task: &(dyn Fn(usize) + Sync), wait: bool) -> bool {
    let pool = pool();
    let alone = || {
        (0..count).for_each(task);
        false
    };
    if count <= 1 || IN_TASK.with(|t| t.get()) {
        return alone();
    }
    let _caller = match pool.caller.try_lock() {
        Ok(caller) => caller,
        Err(_) if wait => pool.caller.lock().unwrap_or_else(|p| p.into_inner()),
        Err(_) => return alone(),
    };
    if lock(&pool.state).threads == 0 {
        return alone();
    }
    // SAFETY (lifetime erased): this function waits below until no thread
    // is inside the job, and a thread that has not joined by then never will.
    let task = Task(unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(task) });
    let job = Arc::new(Job { task, count, next: AtomicUsize::new(0) });
    {
        let mut state = lock(&pool.state);
        state.job = Some(job.clone());
        state.generation += 1;
        pool.work.notify_all();
    }
    IN_TASK.with(|t| t.set(true));
    let mine = run_caught(|| job.work());
    IN_TASK.with(|t| t.set(false));
    let failed = {
        let mut state = lock(&pool.state);
        state.job = None;
        while state.working > 0 {
            state = pool.done.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.failed.take()
    };
    if let Err(message) = mine {
        panic!("{message}");
    }
    if let Some(message) = failed {
        panic!("a task on another thread failed: {message}");
    }
    true
}

/// `task(i, &mut items[i])` for every item, as [`for_each`] runs tasks.
pub fn for_each_mut<T: Send>(items: &mut [T], task: impl Fn(usize, &mut T) + Sync) {
    struct Items<T>(*mut T);
    // SAFETY: each index is visited once, so no item is reached twice.
    unsafe impl<T: Send> Sync for Items<T> {}
    let base = Items(items.as_mut_ptr());
    let base = &base;
    for_each(items.len(), move |i| task(i, unsafe { &mut *base.0.add(i) }));
}

/// `f(i)` for every `i` in `0..count`, computed as [`for_each`] does, in order.
pub fn map<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    for_each_mut(&mut slots, |i, slot| *slot = Some(f(i)));
    slots.into_iter().map(|slot| slot.expect("every task ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_and_results_come_in_order() {
        let runs: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        for_each(runs.len(), |i| {
            runs[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        assert_eq!(map(100, |i| i * i), (0..100).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn tasks_run_on_several_threads() {
        if threads() < 2 && std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return; // one core: nothing to share
        }
        // Each task waits a little, so a single thread would take them all
        // only if no other thread ever joined.
        let ids: Vec<Mutex<String>> = (0..64).map(|_| Mutex::default()).collect();
        // Waits for the pool where another test holds it.
        let shared = share(ids.len(), &|i| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            *ids[i].lock().unwrap() = format!("{:?}", std::thread::current().id());
        }, true);
        assert!(shared);
        let distinct: std::collections::HashSet<_> = ids.iter().map(|id| id.lock().unwrap().clone()).collect();
        assert!(distinct.len() >= 2, "all 64 tasks ran on one thread");
    }

    #[test]
    fn a_nested_call_runs_on_its_own_thread() {
        let sums = map(8, |i| map(10, |j| i * j).iter().sum::<usize>());
        assert_eq!(sums, (0..8).map(|i| i * 45).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_task_fails_the_call_and_the_pool_goes_on() {
        let result = std::panic::catch_unwind(|| for_each(64, |i| assert!(i != 33, "task 33 fails")));
        assert!(result.is_err());
        assert_eq!(map(16, |i| i + 1).iter().sum::<usize>(), 136);
    }

    #[test]
    fn each_item_is_reached_once() {
        let mut items: Vec<usize> = (0..500).collect();
        for_each_mut(&mut items, |i, item| *item += i);
        assert_eq!(items, (0..500).map(|i| 2 * i).collect::<Vec<_>>());
    }
}
