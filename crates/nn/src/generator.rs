//! `Generator`: a seeded random number generator whose state can be saved.

use std::cell::RefCell;
use std::rc::Rc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random number generator owned by a layer (such as
/// [`Dropout`](crate::Dropout)), whose state a checkpoint can save and restore.
///
/// Like [`Parameter`](descent_autograd::Parameter), a `Generator` is a cheap,
/// cloneable handle: the layer and the list returned by
/// [`Module::generators`](crate::Module::generators) share one generator, so
/// restoring a state through the list restores the layer's.
///
/// The state is a [`ChaCha8Rng`], which is `Clone`, `PartialEq` and serde
/// serialisable: a checkpoint stores [`Generator::state`] as it is.
#[derive(Clone)]
pub struct Generator {
    rng: Rc<RefCell<ChaCha8Rng>>,
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Generator::from_state(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator seeded from `rng`, so that one user seed determines every
    /// layer's generator.
    pub fn from_rng(rng: &mut impl Rng) -> Self {
        Generator::from_state(ChaCha8Rng::from_rng(rng))
    }

    /// A generator that continues from `state`.
    pub fn from_state(state: ChaCha8Rng) -> Self {
        Generator {
            rng: Rc::new(RefCell::new(state)),
        }
    }

    /// A copy of the current state: the generator continues from it after
    /// [`Generator::set_state`].
    pub fn state(&self) -> ChaCha8Rng {
        self.rng.borrow().clone()
    }

    /// Continues from `state`, as saved by [`Generator::state`].
    pub fn set_state(&self, state: ChaCha8Rng) {
        *self.rng.borrow_mut() = state;
    }

    /// Calls `draw` with the generator, advancing its state.
    pub fn with_rng<R>(&self, draw: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
        draw(&mut self.rng.borrow_mut())
    }

    /// Whether two handles refer to the same generator.
    pub fn same_as(&self, other: &Generator) -> bool {
        Rc::ptr_eq(&self.rng, &other.rng)
    }
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("word_position", &self.rng.borrow().get_word_pos())
            .finish()
    }
}
