//! The `Module` trait: a forward pass plus a named walk over a model's state.

use std::collections::HashSet;

use descent_autograd::{Parameter, Var};

use crate::{Generator, ModuleSpec};

/// A layer or a model: a forward pass on the tape, and the state it owns, listed
/// by name.
///
/// A module has two methods of its own. [`Module::forward`] computes the output
/// from an input recorded on a tape. [`Module::visit`] hands each parameter,
/// buffer, random generator and child module to a [`Visitor`], each under a
/// name that is unique within the module (`"weight"`, `"fc1"`). Every other
/// method is provided and walks the tree through `visit`, joining the names
/// with dots: [`Module::parameters`] of a model with a child `fc1` holding a
/// `weight` lists `"fc1.weight"`.
///
/// Forward takes `&self`, so the few layers whose state changes during a forward
/// pass (the running statistics of [`BatchNorm1d`](crate::BatchNorm1d), the
/// generator of [`Dropout`](crate::Dropout)) keep it in shared cells.
///
/// # A model of your own: `#[derive(Module)]`
///
/// A model is a struct of layers. Derive `Module` and write `forward` as a
/// method of the struct, as in burn; `visit` is generated from the fields, in
/// field order, under the field names, so no child can be left out:
///
/// ```
/// use descent_autograd::Var;
/// use descent_nn::{Dropout, Linear, Module, Parameter, ReLU};
///
/// #[derive(Module)]
/// struct Mlp {
///     fc1: Linear,        // a child: "fc1.weight", "fc1.bias"
///     act: ReLU,
///     drop: Option<Dropout>, // a child when present
///     blocks: Vec<Linear>,   // children "blocks.0", "blocks.1", … (ModuleList)
///     fc2: Linear,
///     scale: Parameter,      // a parameter: "scale"
///     #[module(buffer)]
///     seen: Parameter,       // a buffer: saved, not trained
///     #[module(skip)]
///     hidden: usize,         // plain data: left out
/// }
///
/// impl Mlp {
///     fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
///         let mut x = self.act.forward(self.fc1.forward(x));
///         if let Some(drop) = &self.drop {
///             x = drop.forward(x);
///         }
///         for block in &self.blocks {
///             x = block.forward_relu(x);
///         }
///         self.fc2.forward(x) * x.tape().parameter(&self.scale)
///     }
/// }
/// # use rand::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// # let model = Mlp {
/// #     fc1: Linear::new(4, 8, &mut rng),
/// #     act: ReLU,
/// #     drop: None,
/// #     blocks: vec![Linear::new(8, 8, &mut rng), Linear::new(8, 8, &mut rng)],
/// #     fc2: Linear::new(8, 2, &mut rng),
/// #     scale: Parameter::new(descent_autograd::Tensor::ones(vec![1])),
/// #     seen: Parameter::new(descent_autograd::Tensor::zeros(vec![])),
/// #     hidden: 8,
/// # };
/// let names: Vec<String> = model.parameters().into_iter().map(|(name, _)| name).collect();
/// assert_eq!(
///     names,
///     ["fc1.weight", "fc1.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
///      "blocks.1.bias", "fc2.weight", "fc2.bias", "scale"]
/// );
/// assert_eq!(model.buffers()[0].0, "seen");
/// ```
///
/// The field rules: a [`Parameter`] (or `Option<Parameter>`) field is a
/// parameter, or a buffer when marked `#[module(buffer)]`; a
/// [`Generator`] field is a random generator; a `Vec<M>` field holds children
/// named `name.0`, `name.1`, … as PyTorch's `ModuleList`; an `Option<M>` field
/// is a child when present; `#[module(skip)]` leaves a field out. **Every other
/// field must implement `Module`**: a derive cannot see whether a type does,
/// so it treats the field as a child and the compiler checks it, with an error
/// at the field that says what to do. Numbers, strings, references, arrays,
/// tuples and cells are refused by the derive itself, naming the field. The
/// names are exactly those a hand-written `visit` with `visitor.module("fc1",
/// &self.fc1)` per field gives, so checkpoints and safetensors files from
/// either load into the other.
///
/// The generated `forward` calls the struct's own `forward` (`Mlp::forward`),
/// which must have the signature above; without one, the derive's call would
/// name itself and the build fails with "function cannot return without
/// recursing". The provided methods ([`Module::set_training`],
/// [`Module::forward_relu`], …) keep their defaults; to override one,
/// implement `Module` by hand.
///
/// The generated code names the trait as `::descent::nn::Module`, or as
/// `::descent_nn::Module` in a crate that depends on descent-nn and not on
/// descent; `#[module(crate = path::to::nn)]` on the struct overrides that (for
/// a renamed dependency).
///
/// # Writing `visit` by hand
///
/// Library layers ([`Linear`](crate::Linear), [`Sequential`](crate::Sequential))
/// write `visit` by hand because their state is not one field per entry. A
/// hand-written `visit` must list every parameter, buffer, generator and child:
/// **a child it misses is not trained** (absent from [`Module::parameters`],
/// so no optimizer sees it), **not saved or loaded** by checkpoints and
/// safetensors files, **not zeroed** by [`Module::zero_grad`], and **not
/// switched by [`Module::set_training`]** (a missed [`Dropout`](crate::Dropout)
/// keeps dropping in evaluation mode). Nothing can detect the omission at run
/// time, which is why models should derive `Module`.
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Module`",
    label = "not a module",
    note = "in a #[derive(Module)] struct, every field that is not a `Parameter` or a \
            `Generator` must be a module (or a `Vec`/`Option` of modules): mark plain \
            data and configuration #[module(skip)], and buffers #[module(buffer)]"
)]
pub trait Module {
    /// The output for `input`, recorded on the input's tape.
    ///
    /// # Panics
    /// Layers panic on an input of the wrong shape, naming themselves and the
    /// shape they got: that is a bug in the model, not a runtime condition.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t>;

    /// Why this module cannot take `input`: a message naming the module and
    /// the shapes it expects and got, or `None` if the input fits.
    ///
    /// A library layer's `forward` panics with this message; a
    /// [`Sequential`](crate::Sequential) asks each layer before running it,
    /// so that its panic also names the layer's place in the chain. The
    /// provided method accepts every input.
    fn input_error(&self, _input: &Var<'_>) -> Option<String> {
        None
    }

    /// Hands this module's own parameters, buffers and generators, and its
    /// child modules, to `visitor`, in a fixed order and each under a name
    /// unique within this module. The order is the order of
    /// [`Module::parameters`], so it should follow the forward pass.
    ///
    /// `#[derive(Module)]` writes it from the struct's fields. Written by hand,
    /// it must list everything: a child left out is not trained, not saved,
    /// not zeroed and not switched by [`Module::set_training`] (see
    /// [Writing `visit` by hand](Module#writing-visit-by-hand)).
    ///
    /// A module with no state and no children has an empty body.
    fn visit(&self, visitor: &mut dyn Visitor);

    /// A serialisable description of this module (layer kind, sizes and
    /// options) from which [`ModuleSpec::build`] makes an equal module with
    /// the same parameter names, or `None` for a module that cannot describe
    /// itself, such as a struct of your own.
    ///
    /// The library layers and a [`Sequential`](crate::Sequential) of them
    /// describe themselves; that is what lets `descent::load_model` rebuild a
    /// model from a file alone.
    fn describe(&self) -> Option<ModuleSpec> {
        None
    }

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

    // By hand: a box is its content, under the same names.
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

    fn describe(&self) -> Option<ModuleSpec> {
        (**self).describe()
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        (**self).input_error(input)
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
