//! Once its state exists, an optimizer step allocates nothing; neither do
//! zero_grad, clipping or a scheduler step.
//!
//! Counts heap allocations made by the test's own thread through a counting
//! global allocator. The parameters are small, so the sequential path runs
//! (rayon's fork/join bookkeeping on the parallel path is not ours).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{configured, Problem};
use descent_optim::{clip_grad_norm, clip_grad_value, CosineAnnealingLr, LrScheduler};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn steps_allocate_nothing_once_state_exists() {
    let counted = allocations_during(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(64));
    });
    assert_eq!(
        counted, 1,
        "the counting allocator must see a plain allocation"
    );

    let problem = Problem::load();
    for (label, mut optimizer) in configured() {
        let params = problem.parameters();
        let mut scheduler =
            LrScheduler::new(optimizer.as_mut(), CosineAnnealingLr::new(10)).unwrap();
        problem.compute_gradients(&params);
        optimizer.step(&params); // creates the state

        let count = allocations_during(|| {
            for _ in 0..3 {
                optimizer.zero_grad(&params);
                params[0].1.grad_mut().fill(0.25);
                params[1].1.grad_mut().fill(-4.0);
                clip_grad_value(&params, 3.0);
                clip_grad_norm(&params, 1.0);
                optimizer.step(&params);
                scheduler.step(optimizer.as_mut());
            }
        });
        assert_eq!(count, 0, "{label}: {count} allocations in 3 steps");
    }
}
