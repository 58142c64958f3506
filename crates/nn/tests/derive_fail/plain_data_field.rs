// Fields the derive refuses itself, each named in its error: plain data that
// is not marked #[module(skip)], and a buffer mark on a layer.
use descent_autograd::Var;
use descent_nn::{Linear, Module};

#[derive(Module)]
struct Model {
    fc1: Linear,
    hidden: usize,
    #[module(buffer)]
    fc2: Linear,
}

impl Model {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc2.forward(self.fc1.forward(x))
    }
}

fn main() {}
