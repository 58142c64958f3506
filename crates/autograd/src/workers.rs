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
    // Set on the way out even if `work` panics, or the scope would wait for
    // the spinning tasks forever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
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
        let _stop = StopOnDrop(&stop);
        work()
    })
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
