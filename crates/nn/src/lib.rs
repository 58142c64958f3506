//! Layers, initialisers, losses and metrics for descent, built on the autograd
//! tape.
//!
//! A model is a plain Rust struct of layers that derives [`Module`]: you write
//! its forward pass, and `visit`, which names its children, is generated
//! from the fields. Everything else — the named parameter list an optimizer
//! walks, the buffers and random generators a checkpoint saves, switching
//! between training and evaluation — is provided by the trait.
//!
//! ```
//! use descent_autograd::{Tape, Var};
//! use descent_nn::{loss, Linear, Module, ReLU};
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! #[derive(Module)]
//! struct Mlp {
//!     fc1: Linear,
//!     act: ReLU,
//!     fc2: Linear,
//! }
//!
//! impl Mlp {
//!     fn new(rng: &mut ChaCha8Rng) -> Self {
//!         Mlp {
//!             fc1: Linear::new(4, 16, rng),
//!             act: ReLU,
//!             fc2: Linear::new(16, 3, rng),
//!         }
//!     }
//!
//!     fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
//!         self.fc2.forward(self.act.forward(self.fc1.forward(x)))
//!     }
//! }
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(42);
//! let model = Mlp::new(&mut rng);
//! let parameters = model.parameters();
//! let names: Vec<&str> = parameters.iter().map(|(name, _)| name.as_str()).collect();
//! assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
//!
//! // Four samples of three classes, and plain gradient descent.
//! let inputs = ndarray::Array2::<f32>::eye(4).into_dyn();
//! let labels = [0, 1, 2, 1];
//! let mut tape = Tape::new();
//! let mut losses = Vec::new();
//! for _step in 0..50 {
//!     model.zero_grad();
//!     let x = tape.constant_copy(inputs.view());
//!     let loss = loss::cross_entropy(model.forward(x), &labels, loss::Reduction::Mean);
//!     loss.backward();
//!     losses.push(loss.item());
//!     for (_, parameter) in &parameters {
//!         let (mut value, grad) = parameter.value_and_grad();
//!         value.scaled_add(-0.5, &grad);
//!     }
//!     // One tape for the whole run: reset keeps its storage for the next step.
//!     tape.reset();
//! }
//! assert!(losses[49] < 0.1 * losses[0]);
//! ```
//!
//! # What is here
//!
//! - `#[derive(Module)]` for models of your own (see [`Module`] for the
//!   field rules), and [`ModuleSpec`]: the serialisable description of a
//!   library layer or a [`Sequential`] of them, from which a model is rebuilt
//!   without its source.
//! - Layers, each a [`Module`]: [`Linear`], the activations [`ReLU`],
//!   [`LeakyReLU`], [`Sigmoid`], [`Tanh`], [`GELU`], [`Softmax`] and
//!   [`LogSoftmax`], [`Flatten`], [`Dropout`] (on any shape), [`LayerNorm`],
//!   [`BatchNorm1d`], for images [`BatchNorm2d`], [`AvgPool2d`] and
//!   [`AdaptiveAvgPool2d`], and [`Sequential`] to chain them.
//! - [`init`]: zeros, constant, uniform, normal, Xavier and Kaiming
//!   initialisers, with PyTorch's fans and gains.
//! - [`loss`]: MSE, L1, Huber, smooth L1, cross-entropy, NLL and binary
//!   cross-entropy, with PyTorch's definitions and a [`Reduction`].
//! - [`metrics`]: predicted classes and accuracy.
//!
//! # Randomness
//!
//! Nothing here has a global RNG. Constructors that draw random numbers take
//! one (`Linear::new(in, out, &mut rng)`), so one seed fixes a whole model's
//! initial weights; [`Dropout`] owns a [`Generator`] seeded from yours. A
//! model whose weights are about to be loaded draws nothing:
//! [`Linear::zeros`], and [`ModuleSpec::build`] for a described model.
//!
//! # Checkpoints
//!
//! A checkpoint saves, by name, [`Module::parameters`], [`Module::buffers`]
//! (such as batch normalisation's running statistics: also [`Parameter`]
//! handles, loaded with [`Parameter::set_value`]) and the state of each of
//! [`Module::generators`] ([`Generator::state`], restored with
//! [`Generator::set_state`]). Names are stable: they come from `visit`, not
//! from memory addresses or creation order.

#![warn(missing_docs)]

// `::descent_nn` in the derive's generated code, inside this crate too.
extern crate self as descent_nn;

mod activation;
mod adaptive_avg_pool2d;
mod avg_pool2d;
mod batch_norm;
mod batch_norm2d;
#[doc(hidden)]
pub mod derive_support;
mod dropout;
mod flatten;
mod generator;
pub mod init;
mod layer_norm;
mod linear;
pub mod loss;
pub mod metrics;
mod module;
mod sequential;
mod spec;

/// The generated code of `#[derive(Module)]` refers to these paths.
#[doc(hidden)]
pub use derive_support as __derive;

pub use activation::{LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use adaptive_avg_pool2d::AdaptiveAvgPool2d;
pub use avg_pool2d::AvgPool2d;
pub use batch_norm::{BatchNorm1d, BatchNormConfig};
pub use batch_norm2d::BatchNorm2d;
pub use descent_autograd::AvgPool2dOptions;
pub use descent_autograd::{Parameter, Reduction};
/// Derives [`Module`](trait@Module) for a struct of layers: see the trait for
/// the field rules.
pub use descent_derive::Module;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use generator::Generator;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::Linear;
pub use module::{Module, Visitor};
pub use sequential::Sequential;
pub use spec::{LayerSpec, ModuleSpec, NamedLayerSpec, SpecError, SpecTensor};
