//! What the [`Trainer`](crate::trainer::Trainer) does differently on each
//! rank of a data-parallel run: its shard of every batch, the gradient
//! exchange, the replica check.

use descent_autograd::Parameter;
use descent_data::{DataLoader, Shard};
use descent_nn::Module;

use super::{DistributedError, GradientExchange, World};
use crate::checkpoint::{module_tensors, Progress};

/// Floats after the gradients in the exchanged buffer: the batch's loss
/// times this rank's sample count, and a stop request (Ctrl-C or the stop
/// flag on any rank stops every rank after the same step).
const TAIL: usize = 2;

/// A step's figures agreed by all ranks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reduced {
    /// The whole batch's mean loss.
    pub(crate) loss: f32,
    /// Whether every gradient and the loss are finite.
    pub(crate) finite: bool,
    /// Whether any rank asked to stop.
    pub(crate) stop: bool,
}

/// One rank's side of data-parallel training: the world, this rank's shard
/// and the gradient buffer.
pub(crate) struct DataParallel<'w> {
    world: &'w World,
    exchange: GradientExchange,
}

impl<'w> DataParallel<'w> {
    /// For a model whose trainable parameters are `parameters`.
    pub(crate) fn new(world: &'w World, parameters: &[(String, Parameter)]) -> Self {
        let len: usize = parameters
            .iter()
            .map(|(_, parameter)| parameter.len())
            .sum();
        Self {
            world,
            exchange: GradientExchange::new(world, len + TAIL),
        }
    }

    pub(crate) fn world(&self) -> &'w World {
        self.world
    }

    pub(crate) fn shard(&self) -> Shard {
        Shard::new(self.world.rank(), self.world.size())
    }

    /// Before training: rank 0's weights and buffers on every rank, and a
    /// check that every rank has the same loader, progress and model shape
    /// (a rank started with another seed or dataset is refused by name).
    pub(crate) fn synchronise(
        &self,
        model: &dyn Module,
        loader: &DataLoader,
        progress: Progress,
        epochs: u64,
    ) -> Result<(), DistributedError> {
        let tensors = module_tensors(model);
        let shapes: Vec<(&str, Vec<usize>)> = tensors
            .iter()
            .map(|(name, tensor)| (name.as_str(), tensor.shape()))
            .collect();
        self.world
            .check_same(&shapes, "the model's tensors (names or shapes)")?;
        let loader_state =
            bincode::serde::encode_to_vec(loader.state(), bincode::config::standard())
                .expect("a loader state encodes");
        self.world.check_same(
            &loader_state,
            "the data loader (dataset length, batch size, seed or position)",
        )?;
        self.world.check_same(
            &(progress.epoch, progress.step, epochs),
            "the progress or the number of epochs",
        )?;
        let mut flat: Vec<f32> = Vec::with_capacity(tensors.iter().map(|(_, t)| t.len()).sum());
        for (_, tensor) in &tensors {
            flat.extend(tensor.value().iter());
        }
        self.world.broadcast_f32(&mut flat);
        let mut offset = 0;
        for (_, tensor) in &tensors {
            let mut value = tensor.value_mut();
            let len = value.len();
            for (target, &source) in value.iter_mut().zip(&flat[offset..offset + len]) {
                *target = source;
            }
            offset += len;
        }
        Ok(())
    }

    /// Sums every rank's gradients weighted by its share of the batch
    /// (`local_samples / batch_len`, so that the result is the whole
    /// batch's mean gradient, however unevenly it was split) into every
    /// rank's gradients, with the loss and the stop requests.
    ///
    /// # Errors
    /// As [`GradientExchange::sum`].
    pub(crate) fn reduce(
        &mut self,
        parameters: &[(String, Parameter)],
        local_loss: f32,
        local_samples: usize,
        batch_len: usize,
        stop: bool,
        step: u64,
    ) -> Result<Reduced, DistributedError> {
        let weight = local_samples as f32 / batch_len as f32;
        let buffer = self.exchange.buffer();
        let mut offset = 0;
        for (_, parameter) in parameters {
            let gradient = parameter.grad();
            let len = gradient.len();
            let target = &mut buffer[offset..offset + len];
            if local_samples == 0 {
                // No sample, no gradient: the tape never ran this step.
                target.fill(0.0);
            } else {
                for (target, &source) in target.iter_mut().zip(gradient.iter()) {
                    *target = source * weight;
                }
            }
            offset += len;
        }
        buffer[offset] = if local_samples == 0 {
            0.0
        } else {
            local_loss * local_samples as f32
        };
        buffer[offset + 1] = f32::from(u8::from(stop));
        self.exchange.sum(self.world, step)?;
        let buffer = self.exchange.buffer();
        let mut offset = 0;
        let mut finite = true;
        for (_, parameter) in parameters {
            let mut gradient = parameter.grad_mut();
            let len = gradient.len();
            let source = &buffer[offset..offset + len];
            finite &= source.iter().all(|value| value.is_finite());
            for (target, &value) in gradient.iter_mut().zip(source) {
                *target = value;
            }
            offset += len;
        }
        let loss = buffer[offset] / batch_len as f32;
        Ok(Reduced {
            loss,
            finite: finite && loss.is_finite(),
            stop: buffer[offset + 1] > 0.0,
        })
    }

    /// Compares a hash of every rank's weights and buffers.
    ///
    /// # Errors
    /// [`DistributedError::ReplicasDiverged`] naming the ranks that differ
    /// from rank 0.
    pub(crate) fn check_replicas(
        &self,
        model: &dyn Module,
        step: u64,
    ) -> Result<(), DistributedError> {
        if self.world.size() == 1 {
            return Ok(());
        }
        let hash = weights_hash(model);
        let hashes = self.world.all_gather_u64(hash);
        let differing: Vec<usize> = (0..hashes.len())
            .filter(|&rank| hashes[rank] != hashes[0])
            .collect();
        if differing.is_empty() {
            Ok(())
        } else {
            Err(DistributedError::ReplicasDiverged {
                step,
                hashes,
                differing,
            })
        }
    }
}

/// A hash of the bits of every weight and buffer, in the model's order.
///
/// Four FNV-1a-style lanes of multiply and xor per tensor, which the
/// compiler vectorises, rather than std's SipHash: this runs after every
/// step in debug builds, and SipHash costs about 10x more per float.
pub fn weights_hash(model: &dyn Module) -> u64 {
    use std::hash::{Hash, Hasher};
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, tensor) in module_tensors(model) {
        let mut lanes = [0xcbf2_9ce4_8422_2325u64; 4];
        let value = tensor.value();
        let mut fold = |chunk: &[f32]| {
            for (lane, value) in lanes.iter_mut().zip(chunk) {
                *lane = (*lane ^ u64::from(value.to_bits())).wrapping_mul(PRIME);
            }
        };
        match value.as_slice_memory_order() {
            Some(values) => values.chunks(4).for_each(&mut fold),
            None => value.iter().for_each(|&single| fold(&[single])),
        }
        name.hash(&mut hasher);
        lanes.hash(&mut hasher);
    }
    hasher.finish()
}
