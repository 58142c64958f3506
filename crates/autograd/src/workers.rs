//! Keeping rayon's workers awake through a training loop.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `work` while the other threads of the current rayon pool wait for
/// tasks actively instead of sleeping.
///
/// A training step has a few parallel sections (large matrix products, the
/// optimizer update) separated by short sequential ones. An idle rayon worker
/// goes to sleep after a few microseconds, and waking it costs more than the
/// half of a matrix product it was woken for: measured here, a join of two
/// 10 µs tasks took 33 µs once the gap between joins exceeded 20 µs, and 11 µs
/// with the workers kept busy. This is OpenMP's active wait policy, for the
/// duration of `work` only: the other cores spin while `work` runs, so call it
/// around a training loop, not around idle time.
///
/// With a one-thread pool it just calls `work`. Results never depend on it:
/// it changes who runs a task, not how the work is cut.
pub fn with_active_workers<R>(work: impl FnOnce() -> R) -> R {
    let helpers = rayon::current_num_threads().saturating_sub(1);
    if helpers == 0 {
        return work();
    }
    let stop = AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| {
                while !stop.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        // Poll the other threads' queues less often than we
                        // spin, so as not to fight over their cache lines.
                        for _ in 0..64 {
                            spin_loop();
                        }
                    }
                }
            });
        }
        // Set on the way out even if `work` panics, or the scope would wait
        // for the spinning tasks forever.
        let _stop = SetOnDrop(&stop);
        work()
    })
}

/// `rayon::join`, except that the calling thread waits for `b` by polling.
///
/// `rayon::join` runs `a` on the calling thread while another thread may take
/// `b`; if `b` is still running when `a` ends, the caller soon goes to sleep,
/// and waking it costs more than the split gains on a sub-millisecond task
/// (measured here: 26 µs on a 570 µs matrix product). This caller instead
/// keeps running other rayon tasks, or spins, until `b` is done. Use it for
/// the two halves of one short computation; results are the same as running
/// `a` then `b`, and nothing is allocated.
pub fn join_active<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let done = AtomicBool::new(false);
    rayon::join(
        || {
            let a_result = a();
            // If nobody took `b`, it is still in this thread's queue and the
            // first `yield_now` runs it here.
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    spin_loop();
                }
            }
            a_result
        },
        || {
            // Set even if `b` panics, so the wait above ends; `join` then
            // re-raises the panic.
            let _done = SetOnDrop(&done);
            b()
        },
    )
}

/// Sets its flag when dropped, on a normal exit or an unwind.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_and_returns_on_any_pool_size() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let total = pool.install(|| {
                with_active_workers(|| {
                    let (a, b) = rayon::join(|| (0..1000u64).sum::<u64>(), || 7u64);
                    a + b
                })
            });
            assert_eq!(total, 499_507);
        }
    }

    #[test]
    fn join_active_returns_both_results_on_any_pool_size() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (a, b) = pool.install(|| {
                join_active(
                    || (0..1000u64).sum::<u64>(),
                    || join_active(|| 7u64, || String::from("b")),
                )
            });
            assert_eq!((a, b), (499_500, (7, String::from("b"))));
        }
        // Outside any pool, on the global one.
        assert_eq!(join_active(|| 1, || 2), (1, 2));
    }

    #[test]
    fn a_panic_in_either_half_of_join_active_propagates_without_hanging() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for panicking_half in 0..2 {
            let result = pool.install(|| {
                std::panic::catch_unwind(|| {
                    join_active(
                        || assert_ne!(panicking_half, 0, "in a"),
                        || assert_ne!(panicking_half, 1, "in b"),
                    )
                })
            });
            assert!(result.is_err());
        }
    }

    #[test]
    fn a_panic_in_the_work_does_not_hang() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let result = pool.install(|| {
            std::panic::catch_unwind(|| with_active_workers(|| panic!("inside the work")))
        });
        assert!(result.is_err());
    }
}
