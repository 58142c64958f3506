//! `join_active` allocates nothing, on any pool size: a training step calls
//! it for every large product and elementwise loop, and a steady step must
//! not allocate (see the workspace's `tests/allocations.rs`, which counts
//! whole steps on one thread).
//!
//! A test binary of its own, because the counting allocator is global.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use descent_autograd::join_active;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the measured pool's workers only: the threads of a pool built
    /// earlier may still be exiting, and allocating, during a measurement.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn join_active_allocates_nothing() {
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // Every worker allocates its queues when it starts: wait for them.
        pool.broadcast(|_| COUNTED.set(true));
        let allocations = pool.install(|| {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let mut total = 0u64;
            for round in 0..1000u64 {
                let (a, (b, c)) = join_active(
                    || (0..round).sum::<u64>(),
                    || join_active(|| round * 2, || round % 7),
                );
                total += a + b + c;
            }
            assert!(total > 0);
            ALLOCATIONS.load(Ordering::SeqCst) - before
        });
        pool.broadcast(|_| COUNTED.set(false));
        assert_eq!(allocations, 0, "{threads} thread(s)");
    }
}
