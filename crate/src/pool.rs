//! Work shared over every core: one pool of threads on one memory, so the
//! model is held once however many cores compute with it.
//!
//! A caller hands the pool `count` independent tasks ([`for_each`]); the
//! pool's threads and the caller itself take them one by one until none
//! is left, and the call returns when all are done. The tasks borrow the
//! caller's data (the model, a batch's frames): nothing is copied.
//!
//! Calls nest: a task may itself call [`for_each`], and any thread with
//! nothing to do — one of the pool's, or a caller waiting for its last
//! tasks — takes tasks from the newest call that has some left (unless
//! the caller asked for its inner calls to run [`alone`]).
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

/// The tasks of a call under way, their lifetime erased: [`for_each`]
/// does not return before every task taken has finished, and a task not
/// taken by then never will be (`next` is past `count`).
#[derive(Clone, Copy)]
struct Task(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and outlives every use (see `Task`).
unsafe impl Send for Task {}
unsafe impl Sync for Task {}

/// One call's tasks.
struct Job {
    task: Task,
    count: usize,
    /// The next task to take.
    next: AtomicUsize,
    /// Tasks finished.
    done: AtomicUsize,
    /// A task panicked: what it said (the caller panics with it).
    failed: Mutex<Option<String>>,
}

impl Job {
    fn open(&self) -> bool {
        self.next.load(Ordering::Relaxed) < self.count
    }

    fn finished(&self) -> bool {
        self.done.load(Ordering::Acquire) == self.count
    }

    /// Take tasks until none is left; wakes the caller after the last.
    fn work(&self, pool: &Pool) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.count {
                return;
            }
            // SAFETY: the job's caller waits until this task is done.
            if let Err(message) = run_caught(|| unsafe { (*self.task.0)(i) }) {
                self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(message);
            }
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.count {
                // Under the lock, so a caller that saw it unfinished is
                // already waiting and hears this.
                pool.wake(&lock(&pool.state));
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// Calls with tasks left, oldest first.
    jobs: Vec<Arc<Job>>,
    /// Threads that have joined the pool.
    threads: usize,
    /// Threads blocked on `changed` (waking none costs a system call or
    /// an `atomic.notify` per layer, so it is skipped).
    asleep: usize,
    /// A pool thread stopped for good in a task (wasm aborts on panic):
    /// what it said; every call under way fails with it.
    lost: Option<String>,
}

impl State {
    /// The newest call with tasks left (the innermost, in nested calls);
    /// calls out of tasks are dropped from the list on the way.
    fn open_job(&mut self) -> Option<Arc<Job>> {
        while let Some(job) = self.jobs.last() {
            if job.open() {
                return Some(job.clone());
            }
            self.jobs.pop();
        }
        None
    }
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    /// A call was posted or finished.
    changed: Condvar,
    /// Calls posted so far: a thread out of work watches it for a while
    /// before it blocks ([`spin`]).
    posted: AtomicUsize,
}

/// Watch `until` for a while (tens of microseconds) before blocking: the
/// generator posts a call per layer, and a thread woken from
/// `atomic.wait` in a browser takes longer than the gap between layers.
/// Whether `until` came true.
fn spin(until: impl Fn() -> bool) -> bool {
    for _ in 0..1 << 14 {
        if until() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

impl Pool {
    /// Wake every thread blocked in [`Pool::idle`] (the caller holds the lock).
    fn wake(&self, state: &State) {
        if state.asleep > 0 {
            self.changed.notify_all();
        }
    }

    /// Nothing to take: wait until a call is posted or `ready()`, first
    /// watching for a while ([`spin`]), then blocked until [`Pool::wake`].
    fn idle<'a>(&'a self, state: MutexGuard<'a, State>, ready: impl Fn() -> bool) -> MutexGuard<'a, State> {
        let seen = self.posted.load(Ordering::Acquire);
        drop(state);
        let changed = spin(|| ready() || self.posted.load(Ordering::Acquire) != seen);
        let mut state = lock(&self.state);
        if changed || ready() || state.open_job().is_some() {
            return state;
        }
        state.asleep += 1;
        let mut state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        state.asleep -= 1;
        state
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool = Pool::default();
        // Counted now, so the first call already shares its tasks.
        #[cfg(not(target_family = "wasm"))]
        {
            lock(&pool.state).threads = spawn_native();
        }
        pool
    })
}

/// Natively: one thread per spare core (`WAV2LIP_THREADS` overrides the
/// total, this one included). How many were spawned.
#[cfg(not(target_family = "wasm"))]
fn spawn_native() -> usize {
    let cores = std::env::var("WAV2LIP_THREADS").ok().and_then(|n| n.parse().ok()).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    for _ in 1..cores.max(1) {
        std::thread::Builder::new().name("wav2lip-pool".into()).spawn(|| work_for(pool())).expect("a thread for the pool");
    }
    cores.max(1) - 1
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // A task's panic is caught before it could poison the lock.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    /// This thread serves the pool.
    static SERVING: Cell<bool> = const { Cell::new(false) };
    /// Calls made here run on this thread alone ([`alone`]).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// `f()`, with the calls it makes run on this thread alone: where the
/// caller already shares coarser work (a frame of a batch per task), its
/// finer calls (a layer's pieces) would only add waiting — every thread
/// waits for a layer's last piece, and a thread the browser gives to its
/// video encoder for a while holds them all up.
pub fn alone<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ALONE.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(ALONE.with(|a| a.replace(true)));
    f()
}

/// How many threads compute a call: the pool's and the caller.
pub fn threads() -> usize {
    lock(&pool().state).threads + 1
}

/// This thread joins the pool and works on its calls; it never returns.
pub fn serve() {
    let pool = pool();
    lock(&pool.state).threads += 1;
    work_for(pool)
}

fn work_for(pool: &Pool) -> ! {
    SERVING.with(|s| s.set(true));
    loop {
        let job = {
            let mut state = lock(&pool.state);
            loop {
                if let Some(job) = state.open_job() {
                    break job;
                }
                state = pool.idle(state, || false);
            }
        };
        job.work(pool);
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
/// for good (wasm aborts on panic) with a task unfinished, so it leaves
/// the pool and the callers waiting fail with `message` rather than
/// waiting forever.
pub fn thread_panicked(message: &str) {
    if !SERVING.with(|s| s.get()) {
        return;
    }
    let pool = pool();
    let mut state = lock(&pool.state);
    state.lost.get_or_insert_with(|| message.to_string());
    state.threads = state.threads.saturating_sub(1);
    pool.wake(&state);
}

/// `task(i)` for every `i` in `0..count`, on the pool's threads and this
/// one, in no particular order; returns when all are done. Panics if a
/// task did.
pub fn for_each(count: usize, task: impl Fn(usize) + Sync) {
    let pool = pool();
    if count <= 1 || ALONE.with(Cell::get) || lock(&pool.state).threads == 0 {
        return (0..count).for_each(task);
    }
    let task: &(dyn Fn(usize) + Sync) = &task;
    // SAFETY (lifetime erased): this function waits below until every task
    // taken is done, and none is taken after.
    let task = Task(unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(task) });
    let job = Arc::new(Job { task, count, next: AtomicUsize::new(0), done: AtomicUsize::new(0), failed: Mutex::new(None) });
    {
        let mut state = lock(&pool.state);
        state.jobs.push(job.clone());
        pool.posted.fetch_add(1, Ordering::Release);
        pool.wake(&state);
    }
    job.work(pool);
    // Until the tasks on other threads are done, help with any other call
    // (the ones they make inside those tasks, first).
    let mut state = lock(&pool.state);
    while !job.finished() {
        if let Some(lost) = &state.lost {
            panic!("a thread of the pool stopped: {lost}");
        }
        match state.open_job() {
            Some(other) => {
                drop(state);
                other.work(pool);
                state = lock(&pool.state);
            }
            None => state = pool.idle(state, || job.finished()),
        }
    }
    drop(state);
    if let Some(message) = job.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        panic!("{message}");
    }
}

/// `task(i, &mut items[i])` for every item, as [`for_each`] runs tasks.
pub fn for_each_mut<T: Send>(items: &mut [T], task: impl Fn(usize, &mut T) + Sync) {
    let base = Shared::new(items);
    // SAFETY: each index is visited once, so no item is reached twice.
    for_each(base.len(), move |i| task(i, unsafe { &mut base.slice(i, 1)[0] }));
}

/// `f(i)` for every `i` in `0..count`, computed as [`for_each`] does, in order.
pub fn map<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    for_each_mut(&mut slots, |i, slot| *slot = Some(f(i)));
    slots.into_iter().map(|slot| slot.expect("every task ran")).collect()
}

/// A slice whose disjoint parts tasks write at once: the layers' output
/// arrays, written by ranges of pixels and channels.
pub struct Shared<'a, T> {
    base: *mut T,
    len: usize,
    _items: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: callers of `slice` promise disjoint ranges (see there).
unsafe impl<T: Send> Sync for Shared<'_, T> {}
unsafe impl<T: Send> Send for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    pub fn new(items: &'a mut [T]) -> Self {
        Self { base: items.as_mut_ptr(), len: items.len(), _items: std::marker::PhantomData }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// `items[start..start + len]`.
    ///
    /// # Safety
    /// No two slices alive at once overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "a part past the end of a shared slice");
        unsafe { std::slice::from_raw_parts_mut(self.base.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn several_cores() -> bool {
        threads() >= 2
    }

    /// The threads that ran tasks `0..count`: each task waits (up to a
    /// minute) until a second thread has taken one, so all run on one
    /// thread only if no other ever joins. (Other tests share the pool and
    /// may keep its threads busy for a while.)
    fn thread_ids(count: usize) -> std::collections::HashSet<std::thread::ThreadId> {
        let seen = Mutex::new(std::collections::HashSet::new());
        let started = std::time::Instant::now();
        for_each(count, |_| {
            seen.lock().unwrap().insert(std::thread::current().id());
            while seen.lock().unwrap().len() < 2 && started.elapsed().as_secs() < 60 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        seen.into_inner().unwrap()
    }

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
        if !several_cores() {
            return; // one core: nothing to share
        }
        assert!(thread_ids(64).len() >= 2, "all 64 tasks ran on one thread");
    }

    #[test]
    fn nested_calls_are_shared_too() {
        let sums = map(8, |i| map(10, |j| i * j).iter().sum::<usize>());
        assert_eq!(sums, (0..8).map(|i| i * 45).collect::<Vec<_>>());
        if !several_cores() {
            return;
        }
        // One task of two: its inner call's tasks are taken by the other
        // threads as well (the outer call's other task is done at once).
        let inner = map(2, |i| if i == 0 { thread_ids(64).len() } else { 0 });
        assert!(inner[0] >= 2, "a nested call ran on one thread");
    }

    #[test]
    fn calls_made_alone_stay_on_their_thread() {
        let here = std::thread::current().id();
        let ids = alone(|| map(64, |_| std::thread::current().id()));
        assert!(ids.iter().all(|&id| id == here));
        // And sharing resumes after.
        if several_cores() {
            assert!(thread_ids(64).len() >= 2);
        }
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
