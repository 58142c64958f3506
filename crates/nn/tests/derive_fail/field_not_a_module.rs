// A field of a type of your own that is not a module: the compiler's error
// points at the field and says what to do.
use descent_autograd::Var;
use descent_nn::{Linear, Module};

struct Settings {
    width: usize,
}

#[derive(Module)]
struct Model {
    fc1: Linear,
    settings: Settings,
}

impl Model {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc1.forward(x)
    }
}

fn main() {}
