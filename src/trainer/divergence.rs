//! Divergence: telling a non-finite loss or gradient before the optimizer
//! spreads it into the weights, and naming the layer it came from.

use std::fmt;

use descent_autograd::{Anomaly, Parameter, Phase, Reduction, Tape, Tensor};
use descent_data::BatchTargets;
use descent_nn::Module;
use ndarray::Array2;

use super::loss::Loss;

/// Whether every gradient of `parameters` is finite.
///
/// One pass over the gradients, each already in cache from the backward
/// pass. `x * 0` is 0 for a finite `x` and NaN otherwise, and NaN survives
/// any sum, so sixteen independent partial sums (which the compiler
/// vectorises, unlike `iter().all(is_finite)`) say it at the end.
pub(crate) fn gradients_are_finite(parameters: &[(String, Parameter)]) -> bool {
    parameters
        .iter()
        .all(|(_, parameter)| is_finite(&parameter.grad()))
}

fn is_finite(tensor: &Tensor) -> bool {
    let Some(values) = tensor.as_slice_memory_order() else {
        return tensor.iter().all(|value| value.is_finite());
    };
    let mut lanes = [0.0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += value * 0.0;
        }
    }
    lanes.iter().all(|lane| *lane == 0.0) && chunks.remainder().iter().all(|v| v.is_finite())
}

/// A batch kept for the anomaly re-run: features and targets.
pub(crate) struct SavedBatch {
    pub(crate) features: Tensor,
    pub(crate) targets: SavedTargets,
}

pub(crate) enum SavedTargets {
    Classes(Vec<usize>),
    Values(Array2<f32>),
}

impl SavedTargets {
    pub(crate) fn from_batch(targets: &BatchTargets<'_>) -> Self {
        match targets {
            BatchTargets::Classes(labels) => SavedTargets::Classes(labels.to_vec()),
            BatchTargets::Values(values) => SavedTargets::Values((*values).clone()),
        }
    }

    fn as_batch(&self) -> BatchTargets<'_> {
        match self {
            SavedTargets::Classes(labels) => BatchTargets::Classes(labels),
            SavedTargets::Values(values) => BatchTargets::Values(values),
        }
    }
}

/// The first op that produced a NaN or infinity in the anomaly re-run of a
/// diverged step, with the layer it belongs to.
#[derive(Clone, Debug)]
pub struct AnomalyReport {
    /// The module path of the layer whose parameters the op reads (`fc3`),
    /// or of the nearest such layer before it.
    pub module: Option<String>,
    /// Whether the op comes after `module` rather than belonging to it.
    pub after_module: bool,
    /// What anomaly detection recorded.
    pub anomaly: Anomaly,
}

impl fmt::Display for AnomalyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let anomaly = &self.anomaly;
        let place = match (&self.module, self.after_module) {
            (Some(module), false) => format!("in `{module}`"),
            (Some(module), true) => format!("after `{module}`"),
            (None, _) => "before any layer with parameters".to_owned(),
        };
        let pass = match anomaly.phase {
            Phase::Forward => "forward value",
            Phase::Backward => "backward gradient",
        };
        write!(
            f,
            "the first non-finite value came from op '{}' {place}: {} in its {pass} of shape {:?} \
             at element {} (inputs of shapes {:?}; node {})",
            anomaly.op,
            anomaly.bad_value,
            anomaly.output_shape,
            anomaly.first_bad_index,
            anomaly.input_shapes,
            anomaly.node
        )
    }
}

/// The module path of a parameter: its dotted name without the last part
/// (`fc3.weight` → `fc3`).
pub(crate) fn module_of(
    parameters: &[(String, Parameter)],
    wanted: &[Parameter],
) -> Option<String> {
    let mut modules: Vec<String> = Vec::new();
    for parameter in wanted {
        if let Some((name, _)) = parameters.iter().find(|(_, p)| p.same_as(parameter)) {
            let module = name.rsplit_once('.').map_or(name.as_str(), |(m, _)| m);
            if !modules.iter().any(|m| m == module) {
                modules.push(module.to_owned());
            }
        }
    }
    (!modules.is_empty()).then(|| modules.join(", "))
}

/// Re-runs a diverged step's forward and backward passes with anomaly
/// detection on, on the parameters as they were before the step (the
/// optimizer never took it), and names the layer of the first bad op.
///
/// A model with dropout draws another mask in the re-run; the report is then
/// about a step like the one that failed, not the very same one.
pub(crate) fn rerun_with_anomaly_detection(
    model: &dyn Module,
    parameters: &[(String, Parameter)],
    loss: &Loss,
    tape: &mut Tape,
    batch: &SavedBatch,
) -> Option<AnomalyReport> {
    model.zero_grad();
    tape.set_anomaly_detection(true);
    {
        let input = tape.constant_copy(batch.features.view());
        let output = model.forward(input);
        let value = loss.compute(output, &batch.targets.as_batch(), Reduction::Mean);
        value.backward();
    }
    tape.reset();
    // Read after the reset: the anomaly survives it.
    let anomaly = tape.check_finite().err();
    tape.set_anomaly_detection(false);
    tape.clear_anomaly();
    model.zero_grad();
    let anomaly = anomaly?;
    let module = module_of(parameters, &anomaly.layer_parameters);
    let after_module = anomaly.after_layer;
    Some(AnomalyReport {
        module,
        after_module,
        anomaly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;

    #[test]
    fn one_nan_or_infinity_anywhere_is_found() {
        // 37 values: two chunks of 16 and a remainder of 5.
        let finite = Array1::from_shape_fn(37, |i| (i as f32 - 18.0) * 1e37).into_dyn();
        assert!(is_finite(&finite));
        assert!(is_finite(&Array1::from_elem(37, -0.0f32).into_dyn()));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for position in 0..37 {
                let mut tensor = finite.clone();
                tensor[[position]] = bad;
                assert!(!is_finite(&tensor), "{bad} at {position}");
            }
        }
        // A view that is not in memory order takes the plain path.
        let mut matrix = ndarray::Array2::<f32>::zeros((3, 5));
        matrix[[2, 1]] = f32::NAN;
        assert!(!is_finite(&matrix.reversed_axes().into_dyn()));
    }
}
