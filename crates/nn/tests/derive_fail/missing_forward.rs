// A derived model must have a `forward` of its own: without one the build
// fails rather than recursing forever at run time.
use descent_nn::{Linear, Module};

#[derive(Module)]
struct Model {
    fc1: Linear,
}

fn main() {}
