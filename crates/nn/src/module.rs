//! The `Module` trait: a forward pass plus a named walk over a model's state.

use std::collections::HashSet;

use descent_autograd::{Parameter, Var};

use crate::Generator;

/// A layer or a model: a forward pass on the tape, and the state it owns, listed
/// by name.
///
/// A module implements two methods. [`Module::forward`] computes the output from
/// an input recorded on a tape. [`Module::visit`] hands each parameter, buffer,
/// random generator and child module to a [`Visitor`], each under a name that is
/// unique within the module (`"weight"`, `"fc1"`). Every other method is
/// provided and walks the tree through `visit`, joining the names with dots:
/// [`Module::parameters`] of a model with a child `fc1` holding a `weight` lists
/// `"fc1.weight"`.
///
/// Forward takes `&self`, so the few layers whose state changes during a forward
/// pass (the running statistics of [`BatchNorm1d`](crate::BatchNorm1d), the
/// generator of [`Dropout`](crate::Dropout)) keep it in shared cells.
///
/// A model of your own is a struct of layers:
///
/// ```
/// use descent_nn::{Linear, Module, ReLU, Visitor};
/// use descent_autograd::Var;
///
/// struct Mlp {
///     fc1: Linear,
///     act: ReLU,
///     fc2: Linear,
/// }
///
/// impl Module for Mlp {
///     fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
///         self.fc2.forward(self.act.forward(self.fc1.forward(x)))
///     }
///
///     fn visit(&self, visitor: &mut dyn Visitor) {
///         visitor.module("fc1", &self.fc1);
///         visitor.module("act", &self.act);
///         visitor.module("fc2", &self.fc2);
///     }
/// }
/// ```
pub trait Module {
    /// The output for `input`, recorded on the input's tape.
    ///
    /// # Panics
    /// Layers panic on an input of the wrong shape, naming themselves and the
    /// shape they got: that is a bug in the model, not a runtime condition.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t>;

    /// Hands this module's own parameters, buffers and generators, and its
    /// child modules, to `visitor`, in a fixed order and each under a name
    /// unique within this module. The order is the order of
    /// [`Module::parameters`], so it should follow the forward pass.
    ///
    /// A module with no state and no children has an empty body.
    fn visit(&self, visitor: &mut dyn Visitor);

    /// The output for `input` followed by a ReLU: what [`Sequential`] runs
    /// for this module when a [`ReLU`] comes next. The provided method is
    /// `forward` then `relu`; [`Linear`] overrides it with one fused op
    /// ([`descent_autograd::Var::linear_relu`]), which saves a pass over the
    /// output. A model of your own can call it the same way.
    ///
    /// [`Sequential`]: crate::Sequential
    /// [`ReLU`]: crate::ReLU
    /// [`Linear`]: crate::Linear
    fn forward_relu<'t>(&self, input: Var<'t>) -> Var<'t> {
        self.forward(input).relu()
    }

    /// Whether this module is a plain ReLU, which [`Sequential`] folds into
    /// the module before it ([`Module::forward_relu`]).
    ///
    /// [`Sequential`]: crate::Sequential
    fn is_relu(&self) -> bool {
        false
    }

    /// Switches between training mode (`true`, the mode every module starts
    /// in) and evaluation mode, for this module and every module below it.
    ///
    /// The provided method forwards the call to each child. A layer that
    /// behaves differently in the two modes (dropout, batch normalisation)
    /// overrides it to record the mode; a model of your own normally keeps the
    /// provided method.
    fn set_training(&self, training: bool) {
        struct SetTraining(bool);
        impl Visitor for SetTraining {
            fn module(&mut self, _name: &str, module: &dyn Module) {
                module.set_training(self.0);
            }
        }
        self.visit(&mut SetTraining(training));
    }

    /// The mode set by [`Module::set_training`]: `Some(true)` in training
    /// mode, `Some(false)` in evaluation mode, `None` for a module that
    /// behaves the same in both (no dropout, no batch normalisation).
    ///
    /// The provided method reports the first child that has a mode; a layer
    /// that records its mode overrides it. Inference reads it to put the
    /// model back in the mode it found.
    fn training_mode(&self) -> Option<bool> {
        struct FirstMode(Option<bool>);
        impl Visitor for FirstMode {
            fn module(&mut self, _name: &str, module: &dyn Module) {
                if self.0.is_none() {
                    self.0 = module.training_mode();
                }
            }
        }
        let mut first = FirstMode(None);
        self.visit(&mut first);
        first.0
    }

    /// The trainable parameters, with dotted names such as `"fc1.weight"`, in
    /// the order of [`Module::visit`]: what an optimizer's `step` walks and what
    /// a checkpoint saves.
    ///
    /// # Panics
    /// If two parameters get the same name, which means two children were
    /// given one name in `visit`.
    fn parameters(&self) -> Vec<(String, Parameter)> {
        collect(self, "parameter", |state| match state {
            State::Parameter(parameter) => Some(parameter.clone()),
            _ => None,
        })
    }

    /// The buffers: state that is saved in a checkpoint but not trained, such
    /// as batch normalisation's running statistics, with dotted names such as
    /// `"bn.running_mean"`.
    ///
    /// Buffers are [`Parameter`] handles so that a checkpoint saves and loads
    /// them exactly as it does parameters; only their gradients go unused.
    ///
    /// # Panics
    /// If two buffers get the same name.
    fn buffers(&self) -> Vec<(String, Parameter)> {
        collect(self, "buffer", |state| match state {
            State::Buffer(buffer) => Some(buffer.clone()),
            _ => None,
        })
    }

    /// The random generators (one per [`Dropout`](crate::Dropout) layer), with
    /// dotted names such as `"dropout.generator"`: a checkpoint saves each one's
    /// [`Generator::state`] and restores it with [`Generator::set_state`], so
    /// that a resumed run draws the same masks.
    ///
    /// # Panics
    /// If two generators get the same name.
    fn generators(&self) -> Vec<(String, Generator)> {
        collect(self, "generator", |state| match state {
            State::Generator(generator) => Some(generator.clone()),
            _ => None,
        })
    }

    /// Sets the gradient of every parameter to zero.
    fn zero_grad(&self) {
        // A walk of its own rather than `parameters()`: called every step, it
        // should not build the names.
        struct ZeroGrad;
        impl Visitor for ZeroGrad {
            fn parameter(&mut self, _name: &str, parameter: &Parameter) {
                parameter.zero_grad();
            }
            fn module(&mut self, _name: &str, module: &dyn Module) {
                module.visit(self);
            }
        }
        self.visit(&mut ZeroGrad);
    }
}

/// Receives what a [`Module::visit`] lists. Every method has an empty default,
/// so a walk implements only what it looks at.
///
/// A module calls these methods; the walks of [`Module`]'s provided methods
/// implement them.
pub trait Visitor {
    /// A trainable parameter named `name` within the visited module.
    fn parameter(&mut self, _name: &str, _parameter: &Parameter) {}

    /// A buffer: saved in checkpoints but not trained.
    fn buffer(&mut self, _name: &str, _buffer: &Parameter) {}

    /// A random generator whose state a checkpoint saves.
    fn generator(&mut self, _name: &str, _generator: &Generator) {}

    /// A child module; its own state is named `"{name}.{its name}"`.
    fn module(&mut self, _name: &str, _module: &dyn Module) {}
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        (**self).forward(input)
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        (**self).visit(visitor)
    }

    fn set_training(&self, training: bool) {
        (**self).set_training(training)
    }

    fn training_mode(&self) -> Option<bool> {
        (**self).training_mode()
    }

    fn forward_relu<'t>(&self, input: Var<'t>) -> Var<'t> {
        (**self).forward_relu(input)
    }

    fn is_relu(&self) -> bool {
        (**self).is_relu()
    }
}

/// One piece of state met on a walk.
enum State<'a> {
    Parameter(&'a Parameter),
    Buffer(&'a Parameter),
    Generator(&'a Generator),
}

/// A depth-first walk that calls `action` with each piece of state and its full
/// dotted name.
struct NamedWalk<F> {
    /// The names of the modules entered so far, each followed by a dot; one
    /// string reused for the whole walk.
    prefix: String,
    action: F,
}

impl<F: FnMut(&str, State<'_>)> NamedWalk<F> {
    fn emit(&mut self, name: &str, state: State<'_>) {
        let length = self.prefix.len();
        self.prefix.push_str(name);
        (self.action)(&self.prefix, state);
        self.prefix.truncate(length);
    }
}

impl<F: FnMut(&str, State<'_>)> Visitor for NamedWalk<F> {
    fn parameter(&mut self, name: &str, parameter: &Parameter) {
        self.emit(name, State::Parameter(parameter));
    }

    fn buffer(&mut self, name: &str, buffer: &Parameter) {
        self.emit(name, State::Buffer(buffer));
    }

    fn generator(&mut self, name: &str, generator: &Generator) {
        self.emit(name, State::Generator(generator));
    }

    fn module(&mut self, name: &str, module: &dyn Module) {
        let length = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        module.visit(self);
        self.prefix.truncate(length);
    }
}

/// The pieces of state `pick` keeps, by full name, refusing duplicate names:
/// a checkpoint could not tell two entries of one name apart.
fn collect<M: Module + ?Sized, T>(
    module: &M,
    kind: &str,
    mut pick: impl FnMut(State<'_>) -> Option<T>,
) -> Vec<(String, T)> {
    let mut found = Vec::new();
    let mut walk = NamedWalk {
        prefix: String::new(),
        action: |name: &str, state: State<'_>| {
            if let Some(item) = pick(state) {
                found.push((name.to_owned(), item));
            }
        },
    };
    module.visit(&mut walk);
    let mut seen = HashSet::with_capacity(found.len());
    for (name, _) in &found {
        assert!(
            seen.insert(name.as_str()),
            "Module: the {kind} name `{name}` is used twice; give each child module \
             its own name in `visit`"
        );
    }
    found
}
