//! Batch normalisation per channel of `[batch, channels, …]` inputs: the op
//! behind both `BatchNorm1d` (`[batch, features]`) and `BatchNorm2d`
//! (`[batch, channels, height, width]`).
//!
//! One op rather than a composition of means, subtractions and divisions: the
//! statistics take two passes over the input, the output one, and the
//! backward pass two (per-channel sums, then the input gradient), with the
//! per-channel statistics saved in a `[channels, 3]` tensor.

use ndarray::ArrayViewD;

use super::planes::in_logical_order;
use crate::backward::GradientSink;
use crate::kernels::{in_pieces, PARALLEL_THRESHOLD};
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// Running statistics that a training-mode [`Var::batch_norm`] moves
/// towards the batch's: `running = (1 - momentum) · running + momentum ·
/// batch`, with the batch's *unbiased* variance, as PyTorch.
#[derive(Debug)]
pub struct RunningStatistics<'a> {
    /// The running mean per channel, `[channels]`.
    pub mean: &'a mut Tensor,
    /// The running variance per channel, `[channels]`.
    pub variance: &'a mut Tensor,
    /// The weight of this batch.
    pub momentum: f32,
}

/// Which statistics [`Var::batch_norm`] normalises with.
#[derive(Debug)]
pub enum BatchStatistics<'a> {
    /// The batch's own mean and biased variance (training mode); the
    /// running statistics, if given, are updated from them.
    Batch(Option<RunningStatistics<'a>>),
    /// Fixed statistics (evaluation mode): a mean and a variance per channel.
    Running {
        /// The mean per channel, `[channels]`.
        mean: ArrayViewD<'a, f32>,
        /// The variance per channel, `[channels]`.
        variance: ArrayViewD<'a, f32>,
    },
}

/// Where the columns of the saved `[channels, 3]` statistics are.
const MEAN: usize = 0;
const INVERSE_STD: usize = 1;
const VARIANCE: usize = 2;
const SAVED_COLUMNS: usize = 3;

/// The sizes of an input `[batch, channels, inner…]`.
#[derive(Clone, Copy)]
struct Layout {
    batch: usize,
    channels: usize,
    /// Elements per sample and channel: 1 for `[batch, features]`, `h·w`
    /// for an image.
    inner: usize,
}

impl Layout {
    fn of(shape: &[usize]) -> Layout {
        Layout {
            batch: shape[0],
            channels: shape[1],
            inner: shape[2..].iter().product(),
        }
    }

    /// Elements per channel: the count the statistics average over.
    fn count(&self) -> usize {
        self.batch * self.inner
    }

    /// The elements of `channel` in sample `sample`.
    fn run<'a>(&self, values: &'a [f32], sample: usize, channel: usize) -> &'a [f32] {
        let start = (sample * self.channels + channel) * self.inner;
        &values[start..start + self.inner]
    }
}

/// `Σ f(a[i], b[i])` over two runs of one length, in eight interleaved
/// partial sums: a fixed order, so the same on every thread count, that the
/// compiler can vectorise.
fn run_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += f(a[lane], b[lane]);
        }
    }
    let mut tail = 0.0f32;
    for (&a, &b) in a_tail.iter().zip(b_tail) {
        tail += f(a, b);
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + tail
}

/// `Σ f(a, b)` over every element of `channel`, the runs' sums added in f64
/// (as PyTorch accumulates its statistics in double on the CPU).
fn channel_sum(
    layout: &Layout,
    a: &[f32],
    b: &[f32],
    channel: usize,
    f: impl Fn(f32, f32) -> f32 + Copy,
) -> f64 {
    (0..layout.batch)
        .map(|sample| {
            let a = layout.run(a, sample, channel);
            let b = layout.run(b, sample, channel);
            run_sum(a, b, f) as f64
        })
        .sum()
}

/// Calls `work(channel, row)` for each row of a `[channels, columns]` table,
/// cut into ranges of channels, one per thread, when `elements` (the size of
/// the tensor the work reads) is large. Each channel is computed whole by one
/// thread, so results do not depend on the number of threads.
fn for_each_channel<'a>(
    table: &'a mut [f32],
    columns: usize,
    elements: usize,
    work: impl Fn(usize, &mut [f32]) + Sync,
) {
    let run = |(rows, first): (&mut [f32], usize)| {
        for (offset, row) in rows.chunks_exact_mut(columns).enumerate() {
            work(first + offset, row);
        }
    };
    let channels = table.len() / columns;
    if elements >= PARALLEL_THRESHOLD && channels >= 2 {
        let split = |(rows, first): (&'a mut [f32], usize)| {
            let half = rows.len() / columns / 2;
            let (left, right) = rows.split_at_mut(half * columns);
            ((left, first), (right, first + half))
        };
        in_pieces((table, 0), &split, &run);
    } else {
        run((table, 0));
    }
}

/// Calls `work(input_sample, output_sample)` for each sample, cut into ranges
/// of samples, one per thread, when the tensors are large: the elementwise
/// passes, whose results do not depend on the cut.
fn for_each_sample<'a>(
    input: &'a [f32],
    output: &'a mut [f32],
    sample_len: usize,
    work: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    let run = |(input, output): (&[f32], &mut [f32])| {
        for (input, output) in input
            .chunks_exact(sample_len)
            .zip(output.chunks_exact_mut(sample_len))
        {
            work(input, output);
        }
    };
    let samples = input.len() / sample_len.max(1);
    if input.len() >= PARALLEL_THRESHOLD && samples >= 2 {
        let split = |(input, output): (&'a [f32], &'a mut [f32])| {
            let half = input.len() / sample_len / 2 * sample_len;
            let (input_left, input_right) = input.split_at(half);
            let (output_left, output_right) = output.split_at_mut(half);
            ((input_left, output_left), (input_right, output_right))
        };
        in_pieces((input, output), &split, &run);
    } else if sample_len > 0 {
        run((input, output));
    }
}

/// The value of an optional per-channel operand as a slice, checked against
/// the number of channels.
fn per_channel<'a>(
    operand: Option<&'a Tensor>,
    name: &str,
    input_shape: &[usize],
) -> Option<std::borrow::Cow<'a, [f32]>> {
    operand.map(|value| {
        assert!(
            value.shape() == [input_shape[1]],
            "batch_norm: {name} of shape {:?} does not fit input of shape {input_shape:?}; \
             expected [{}], one per channel",
            value.shape(),
            input_shape[1]
        );
        in_logical_order(value)
    })
}

impl<'t> Var<'t> {
    /// Batch normalisation of a `[batch, channels, …]` input per channel (axis
    /// 1), as PyTorch's `F.batch_norm`:
    ///
    /// `y = (x - mean) / √(var + eps) · weight + bias`
    ///
    /// where the mean and variance are taken over the batch and every other
    /// axis (`[batch, features]` for `BatchNorm1d`, `[batch, channels,
    /// height, width]` for `BatchNorm2d`). With [`BatchStatistics::Batch`]
    /// (training) they are the batch's mean and biased variance, and the
    /// running statistics given are moved towards the batch's mean and
    /// unbiased variance; with [`BatchStatistics::Running`] (evaluation) they
    /// are the given ones, and the output of a sample does not depend on the
    /// rest of the batch. `weight` and `bias` (`[channels]`) are optional.
    ///
    /// # Panics
    /// If the input has fewer than two axes, an operand does not have one
    /// value per channel, or, with batch statistics, a channel has a single
    /// element (its variance would be 0/0); each message names the shapes.
    pub fn batch_norm(
        self,
        weight: Option<Var<'t>>,
        bias: Option<Var<'t>>,
        statistics: BatchStatistics<'_>,
        eps: f32,
    ) -> Var<'t> {
        for operand in weight.iter().chain(&bias) {
            self.same_tape(operand, "batch_norm");
        }
        let tape = self.tape;
        let batch_statistics = matches!(statistics, BatchStatistics::Batch(_));
        let (out, saved) = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let shape = x.shape();
            assert!(
                shape.len() >= 2,
                "batch_norm: expects input of shape [batch, channels, …], got {shape:?}"
            );
            let layout = Layout::of(shape);
            let weight_value = weight.map(|w| nodes[w.id].value.get());
            let bias_value = bias.map(|b| nodes[b.id].value.get());
            let weight_values = per_channel(weight_value.as_deref(), "weight", shape);
            let bias_values = per_channel(bias_value.as_deref(), "bias", shape);
            let input = in_logical_order(&x);

            let mut saved = tape.take_uninit(&[layout.channels, SAVED_COLUMNS]);
            let table = saved.as_slice_mut().expect("pooled tensors are contiguous");
            match &statistics {
                BatchStatistics::Batch(_) => {
                    assert!(
                        layout.count() > 1,
                        "batch_norm: needs more than one value per channel to compute batch \
                         statistics, got input of shape {shape:?}"
                    );
                    let count = layout.count() as f64;
                    for_each_channel(table, SAVED_COLUMNS, input.len(), |channel, row| {
                        let mean = channel_sum(&layout, &input, &input, channel, |x, _| x) / count;
                        let mean_f32 = mean as f32;
                        // Two passes: the squares of the deviations, not
                        // Σx² - n·mean², which cancels when the mean is large.
                        let squares = channel_sum(&layout, &input, &input, channel, |x, _| {
                            (x - mean_f32) * (x - mean_f32)
                        });
                        let variance = squares / count;
                        row[MEAN] = mean_f32;
                        row[INVERSE_STD] = (1.0 / (variance + eps as f64).sqrt()) as f32;
                        row[VARIANCE] = variance as f32;
                    });
                }
                BatchStatistics::Running { mean, variance } => {
                    for (name, value) in [("running mean", mean), ("running variance", variance)] {
                        assert!(
                            value.shape() == [layout.channels],
                            "batch_norm: {name} of shape {:?} does not fit input of shape \
                             {shape:?}; expected [{}], one per channel",
                            value.shape(),
                            layout.channels
                        );
                    }
                    for ((row, &mean), &variance) in table
                        .chunks_exact_mut(SAVED_COLUMNS)
                        .zip(mean.iter())
                        .zip(variance.iter())
                    {
                        row[MEAN] = mean;
                        row[INVERSE_STD] = (1.0 / (variance as f64 + eps as f64).sqrt()) as f32;
                        row[VARIANCE] = variance;
                    }
                }
            }

            let mut out = tape.take_uninit(shape);
            let target = out.as_slice_mut().expect("pooled tensors are contiguous");
            let table = &*table;
            let sample_len = layout.channels * layout.inner;
            for_each_sample(&input, target, sample_len, |x, y| {
                for (channel, (x, y)) in x
                    .chunks_exact(layout.inner)
                    .zip(y.chunks_exact_mut(layout.inner))
                    .enumerate()
                {
                    let row = &table[channel * SAVED_COLUMNS..][..SAVED_COLUMNS];
                    let scale =
                        row[INVERSE_STD] * weight_values.as_ref().map_or(1.0, |w| w[channel]);
                    let shift = bias_values.as_ref().map_or(0.0, |b| b[channel]);
                    let mean = row[MEAN];
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = (x - mean) * scale + shift;
                    }
                }
            });

            if let BatchStatistics::Batch(Some(running)) = statistics {
                update_running(running, table, layout.count());
            }
            (out, saved)
        };
        tape.record(
            out,
            Op::BatchNorm {
                input: self.id,
                weight: weight.map(|w| w.id),
                bias: bias.map(|b| b.id),
                batch_statistics,
                statistics: saved,
            },
        )
    }
}

/// Moves the running statistics towards the batch's, from the saved table.
fn update_running(running: RunningStatistics<'_>, table: &[f32], count: usize) {
    let channels = table.len() / SAVED_COLUMNS;
    for (name, value) in [("mean", &*running.mean), ("variance", &*running.variance)] {
        assert!(
            value.shape() == [channels],
            "batch_norm: running {name} of shape {:?} does not fit {channels} channels",
            value.shape()
        );
    }
    let momentum = running.momentum as f64;
    let unbiased = count as f64 / (count - 1) as f64;
    for ((row, mean), variance) in table
        .chunks_exact(SAVED_COLUMNS)
        .zip(running.mean.iter_mut())
        .zip(running.variance.iter_mut())
    {
        *mean = ((1.0 - momentum) * *mean as f64 + momentum * row[MEAN] as f64) as f32;
        *variance = ((1.0 - momentum) * *variance as f64
            + momentum * row[VARIANCE] as f64 * unbiased) as f32;
    }
}

/// Columns of the backward pass's per-channel table.
const GRADIENT_SUM: usize = 0;
const GRADIENT_DOT: usize = 1;

// With x̂ = (x - mean)·s, s = 1/√(var + eps), and y = x̂·w + b:
//   dL/db = Σ g,   dL/dw = Σ g·x̂,
// and, with fixed statistics, dL/dx = g·w·s. With batch statistics the mean
// and variance depend on x too, and over the n elements of a channel
//   dL/dx = w·s · (g - Σg/n - (x - mean)·s²·Σ g·(x - mean)/n).
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    weight: Option<NodeId>,
    bias: Option<NodeId>,
    batch_statistics: bool,
    statistics: &Tensor,
) {
    let wants = |id: Option<NodeId>| id.is_some_and(|id| GradientSink::wants(nodes, id));
    let wants_input = GradientSink::wants(nodes, input);
    let needs_sums = wants(weight) || wants(bias) || (wants_input && batch_statistics);
    let x = nodes[input].value.get();
    let layout = Layout::of(x.shape());
    let x = in_logical_order(&x);
    let g = in_logical_order(g);
    let table = statistics
        .as_slice()
        .expect("pooled tensors are contiguous");
    let weight_value = weight.map(|w| nodes[w].value.get());
    let weight_values = weight_value.as_deref().map(in_logical_order);

    let mut sums = sink.pool.take_uninit(&[layout.channels, 2]);
    if needs_sums {
        let sums = sums.as_slice_mut().expect("pooled tensors are contiguous");
        for_each_channel(sums, 2, x.len(), |channel, row| {
            let mean = table[channel * SAVED_COLUMNS + MEAN];
            row[GRADIENT_SUM] = channel_sum(&layout, &g, &g, channel, |g, _| g) as f32;
            row[GRADIENT_DOT] = channel_sum(&layout, &g, &x, channel, |g, x| g * (x - mean)) as f32;
        });
    }
    let sums_table = sums.as_slice().expect("pooled tensors are contiguous");
    let per_channel_gradient = |id: Option<NodeId>, sink: &mut GradientSink<'_>, column| {
        let Some(id) = id else { return };
        sink.with_gradient(nodes, id, |target, accumulate| {
            for (channel, t) in target.iter_mut().enumerate() {
                let inverse_std = table[channel * SAVED_COLUMNS + INVERSE_STD];
                let value = match column {
                    GRADIENT_SUM => sums_table[channel * 2 + GRADIENT_SUM],
                    _ => sums_table[channel * 2 + GRADIENT_DOT] * inverse_std,
                };
                if accumulate {
                    *t += value;
                } else {
                    *t = value;
                }
            }
        });
    };
    per_channel_gradient(weight, sink, GRADIENT_DOT);
    per_channel_gradient(bias, sink, GRADIENT_SUM);

    if wants_input {
        let count = layout.count() as f32;
        let sample_len = layout.channels * layout.inner;
        sink.with_gradient(nodes, input, |target, accumulate| {
            let target = target.as_slice_mut().expect("gradients are contiguous");
            for_each_sample_pair(&g, &x, target, sample_len, |g, x, t| {
                for (channel, ((g, x), t)) in g
                    .chunks_exact(layout.inner)
                    .zip(x.chunks_exact(layout.inner))
                    .zip(t.chunks_exact_mut(layout.inner))
                    .enumerate()
                {
                    let row = &table[channel * SAVED_COLUMNS..][..SAVED_COLUMNS];
                    let inverse_std = row[INVERSE_STD];
                    let scale = inverse_std * weight_values.as_ref().map_or(1.0, |w| w[channel]);
                    let (mean, mean_gradient, projection) = if batch_statistics {
                        let sums = &sums_table[channel * 2..][..2];
                        (
                            row[MEAN],
                            sums[GRADIENT_SUM] / count,
                            sums[GRADIENT_DOT] * inverse_std * inverse_std / count,
                        )
                    } else {
                        (row[MEAN], 0.0, 0.0)
                    };
                    let gradient =
                        |g: f32, x: f32| (g - mean_gradient - (x - mean) * projection) * scale;
                    if accumulate {
                        for ((t, &g), &x) in t.iter_mut().zip(g).zip(x) {
                            *t += gradient(g, x);
                        }
                    } else {
                        for ((t, &g), &x) in t.iter_mut().zip(g).zip(x) {
                            *t = gradient(g, x);
                        }
                    }
                }
            });
        });
    }
    sink.pool.give(sums);
}

/// Two inputs and an output, cut at the same sample.
type Piece<'a> = (&'a [f32], &'a [f32], &'a mut [f32]);

/// [`for_each_sample`] over two inputs of one shape.
fn for_each_sample_pair<'a>(
    a: &'a [f32],
    b: &'a [f32],
    output: &'a mut [f32],
    sample_len: usize,
    work: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) {
    let run = |(a, b, output): Piece<'_>| {
        for ((a, b), output) in a
            .chunks_exact(sample_len)
            .zip(b.chunks_exact(sample_len))
            .zip(output.chunks_exact_mut(sample_len))
        {
            work(a, b, output);
        }
    };
    let samples = a.len() / sample_len.max(1);
    if a.len() >= PARALLEL_THRESHOLD && samples >= 2 {
        let split = |(a, b, output): Piece<'a>| {
            let half = a.len() / sample_len / 2 * sample_len;
            let (a_left, a_right) = a.split_at(half);
            let (b_left, b_right) = b.split_at(half);
            let (output_left, output_right) = output.split_at_mut(half);
            (
                (a_left, b_left, output_left),
                (a_right, b_right, output_right),
            )
        };
        in_pieces((a, b, output), &split, &run);
    } else if sample_len > 0 {
        run((a, b, output));
    }
}
