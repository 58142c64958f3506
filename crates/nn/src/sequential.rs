//! `Sequential`: a chain of modules, each feeding the next.

use descent_autograd::Var;

use crate::{Module, ModuleSpec, Visitor};

/// Modules applied one after the other, as PyTorch's `nn.Sequential`.
///
/// Children are named by their position (`"0"`, `"1"`, …), so parameters are
/// named `"0.weight"`, `"2.bias"` as in PyTorch, unless a name is given with
/// [`Sequential::add_named_layer`].
///
/// ```
/// use descent_nn::{Linear, Module, ReLU, Sequential};
/// use rand::SeedableRng;
/// use rand_chacha::ChaCha8Rng;
///
/// let mut rng = ChaCha8Rng::seed_from_u64(0);
/// let model = Sequential::new()
///     .add_layer(Linear::new(784, 128, &mut rng))
///     .add_layer(ReLU)
///     .add_layer(Linear::new(128, 10, &mut rng));
/// let names: Vec<String> = model.parameters().into_iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    /// An empty chain: the identity.
    pub fn new() -> Self {
        Sequential::default()
    }

    /// The chain with `layer` appended, named by its position.
    ///
    /// # Panics
    /// If an earlier layer was given that position as its name.
    pub fn add_layer(self, layer: impl Module + 'static) -> Self {
        let name = self.layers.len().to_string();
        self.add_named_layer(name, layer)
    }

    /// The chain with `layer` appended under `name`, so that its parameters
    /// are named `"{name}.weight"`.
    ///
    /// # Panics
    /// If `name` is empty, contains a dot, or is taken by an earlier layer.
    pub fn add_named_layer(
        mut self,
        name: impl Into<String>,
        layer: impl Module + 'static,
    ) -> Self {
        let name = name.into();
        assert!(
            !name.is_empty() && !name.contains('.'),
            "Sequential: layer name `{name}` must be non-empty and contain no dot"
        );
        assert!(
            self.layers.iter().all(|(taken, _)| *taken != name),
            "Sequential: the layer name `{name}` is already taken"
        );
        self.layers.push((name, Box::new(layer)));
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain has no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers with their names, in order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.layers
            .iter()
            .map(|(name, layer)| (name.as_str(), layer.as_ref()))
    }
}

impl Module for Sequential {
    /// Each layer's output feeds the next; a layer followed by a [`ReLU`] runs
    /// both at once through [`Module::forward_relu`] (for a [`Linear`], one
    /// fused op), with the same values and gradients.
    ///
    /// # Panics
    /// If a layer cannot take what the layer before it gives
    /// ([`Module::input_error`]), with a message that starts with the
    /// layer's name in the chain: "Sequential layer `fc1`: Linear(9216 → 128)
    /// expects 9216 input features, got 10816 …".
    ///
    /// [`ReLU`]: crate::ReLU
    /// [`Linear`]: crate::Linear
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let mut x = input;
        let mut layers = self.layers.iter().peekable();
        while let Some((name, layer)) = layers.next() {
            if let Some(problem) = layer.input_error(&x) {
                panic!("Sequential layer `{name}`: {problem}");
            }
            x = match layers.next_if(|(_, next)| next.is_relu() && !layer.is_relu()) {
                Some(_relu) => layer.forward_relu(x),
                None => layer.forward(x),
            };
        }
        x
    }

    // By hand: the children are a list built at run time, named by the
    // caller, not fields.
    fn visit(&self, visitor: &mut dyn Visitor) {
        for (name, layer) in &self.layers {
            visitor.module(name, layer.as_ref());
        }
    }

    /// The chain's layers with their names, kinds, sizes and options, if
    /// every layer is a library layer ([`ModuleSpec::Sequential`]); `None`
    /// if one is a model of your own or a nested `Sequential`.
    fn describe(&self) -> Option<ModuleSpec> {
        ModuleSpec::of_sequential(self.layers())
    }
}
