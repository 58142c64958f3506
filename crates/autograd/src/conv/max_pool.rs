//! Max pooling over the spatial axes of NCHW planes, with the position of
//! each maximum kept for the backward pass.

use super::Window;
use crate::kernels::PARALLEL_THRESHOLD;
use crate::workers::join_active;

/// Where the planes of a pooling live and what the window is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pooling {
    pub(crate) planes: usize,
    pub(crate) input: [usize; 2],
    pub(crate) output: [usize; 2],
    pub(crate) window: Window,
}

impl Pooling {
    fn input_plane(&self) -> usize {
        self.input[0] * self.input[1]
    }

    fn output_plane(&self) -> usize {
        self.output[0] * self.output[1]
    }
}

/// Runs `work(first_plane, planes, outputs, argmax)` on the planes, in two
/// halves on two tasks when there is enough work. Planes are independent,
/// so the cut changes no result.
fn by_planes(
    pooling: &Pooling,
    first: usize,
    planes: usize,
    outputs: &mut [f32],
    argmax: Option<&mut [usize]>,
    work: &(impl Fn(usize, &mut [f32], Option<&mut [usize]>) + Sync),
) {
    if planes < 2 || planes * pooling.output_plane() * pooling.window.kernel[0] < PARALLEL_THRESHOLD
    {
        return work(first, outputs, argmax);
    }
    let half = planes / 2;
    let (left, right) = outputs.split_at_mut(half * pooling.output_plane());
    let (argmax_left, argmax_right) = match argmax {
        Some(argmax) => {
            let (l, r) = argmax.split_at_mut(half * pooling.output_plane());
            (Some(l), Some(r))
        }
        None => (None, None),
    };
    join_active(
        || by_planes(pooling, first, half, left, argmax_left, work),
        || {
            by_planes(
                pooling,
                first + half,
                planes - half,
                right,
                argmax_right,
                work,
            )
        },
    );
}

/// `output[p, oh, ow]` = the largest `input[p, ·, ·]` under the window, and,
/// when `argmax` is given, its index in `input`. As in PyTorch, padding
/// counts as −∞, a NaN wins over any number, and of equal values the first
/// (in row-major order) is kept.
pub(crate) fn forward(
    pooling: &Pooling,
    input: &[f32],
    output: &mut [f32],
    argmax: Option<&mut [usize]>,
) {
    let [height, width] = pooling.input;
    let [out_h, out_w] = pooling.output;
    let Window {
        kernel: [kh, kw],
        stride: [sh, sw],
        padding: [ph, pw],
        dilation: [dh, dw],
    } = pooling.window;
    // The pooling of nearly every CNN: 2 × 2 windows, stride 2, no padding,
    // each window inside the image.
    let halving = [kh, kw, sh, sw] == [2; 4]
        && [ph, pw] == [0; 2]
        && [dh, dw] == [1; 2]
        && 2 * out_h <= height
        && 2 * out_w <= width;
    by_planes(
        pooling,
        0,
        pooling.planes,
        output,
        argmax,
        &|first, outputs, mut argmax| {
            if halving {
                return halve(pooling, input, first, outputs, argmax);
            }
            for (p, out_plane) in outputs.chunks_exact_mut(out_h * out_w).enumerate() {
                let plane_start = (first + p) * pooling.input_plane();
                let plane = &input[plane_start..plane_start + pooling.input_plane()];
                let mut argmax_plane = argmax
                    .as_deref_mut()
                    .map(|argmax| &mut argmax[p * out_h * out_w..(p + 1) * out_h * out_w]);
                for oh in 0..out_h {
                    let best = &mut out_plane[oh * out_w..(oh + 1) * out_w];
                    best.fill(f32::NEG_INFINITY);
                    let mut best_index = argmax_plane
                        .as_deref_mut()
                        .map(|argmax| &mut argmax[oh * out_w..(oh + 1) * out_w]);
                    if let Some(best_index) = best_index.as_deref_mut() {
                        best_index.fill(usize::MAX);
                    }
                    // Taps in row-major order, each a pass along the output
                    // row: a value replaces the best so far when larger or
                    // NaN, and the first tap inside the image is always
                    // taken (it is what an all −∞ window points to). Without
                    // positions to keep, starting from −∞ gives the same
                    // values.
                    for i in 0..kh {
                        let Some(ih) = (oh * sh + i * dh).checked_sub(ph).filter(|&ih| ih < height)
                        else {
                            continue;
                        };
                        let line = &plane[ih * width..(ih + 1) * width];
                        for j in 0..kw {
                            let valid = valid_range(j * dw, sw, pw, width, out_w);
                            let column = |ow: usize| ow * sw + j * dw - pw;
                            match best_index.as_deref_mut() {
                                Some(best_index) => {
                                    for ow in valid {
                                        let value = line[column(ow)];
                                        if best_index[ow] == usize::MAX
                                            || value > best[ow]
                                            || value.is_nan()
                                        {
                                            best[ow] = value;
                                            best_index[ow] = plane_start + ih * width + column(ow);
                                        }
                                    }
                                }
                                None => {
                                    for ow in valid {
                                        let value = line[column(ow)];
                                        if value > best[ow] || value.is_nan() {
                                            best[ow] = value;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
}

/// [`forward`] for 2 × 2 windows at stride 2 that all lie inside the
/// image, on planes `first..` (as many as `outputs` holds). The same rule,
/// taps in row-major order, a tap replacing the best so far when larger or
/// NaN, written as selections instead of branches: the general loop's
/// branch on `value > best` is a coin toss on real data, and its
/// mispredictions made the pooling a tenth of C1's training step.
fn halve(
    pooling: &Pooling,
    input: &[f32],
    first: usize,
    outputs: &mut [f32],
    mut argmax: Option<&mut [usize]>,
) {
    let [_, width] = pooling.input;
    let [out_h, out_w] = pooling.output;
    for (p, out_plane) in outputs.chunks_exact_mut(out_h * out_w).enumerate() {
        let plane_start = (first + p) * pooling.input_plane();
        for oh in 0..out_h {
            let top = plane_start + 2 * oh * width;
            let taps = [top, top + 1, top + width, top + width + 1];
            let row = oh * out_w..(oh + 1) * out_w;
            let mut best_index = argmax
                .as_deref_mut()
                .map(|argmax| &mut argmax[p * out_h * out_w..][row.clone()]);
            for (ow, best) in out_plane[row].iter_mut().enumerate() {
                let mut value = input[taps[0] + 2 * ow];
                let mut at = taps[0] + 2 * ow;
                for &tap in &taps[1..] {
                    let candidate = input[tap + 2 * ow];
                    let take = (candidate > value) | candidate.is_nan();
                    // Without the hint the compiler turns the selections
                    // back into the branch this path exists to avoid; the
                    // value is selected as bits, in an integer register
                    // (baseline x86-64 has no conditional move for floats).
                    value = f32::from_bits(std::hint::select_unpredictable(
                        take,
                        candidate.to_bits(),
                        value.to_bits(),
                    ));
                    at = std::hint::select_unpredictable(take, tap + 2 * ow, at);
                }
                *best = value;
                if let Some(best_index) = best_index.as_deref_mut() {
                    best_index[ow] = at;
                }
            }
        }
    }
}

/// The output positions `o` whose tap at `offset` (`o · stride + offset −
/// padding`) falls inside a line of `len`.
#[inline]
fn valid_range(
    offset: usize,
    stride: usize,
    padding: usize,
    len: usize,
    outputs: usize,
) -> std::ops::Range<usize> {
    let first = padding.saturating_sub(offset).div_ceil(stride);
    let end = (padding + len).saturating_sub(offset).div_ceil(stride);
    first.min(outputs)..end.min(outputs).max(first.min(outputs))
}

/// Adds each output gradient into the input position its maximum came from;
/// `input_grad` is overwritten first unless `accumulate`.
pub(crate) fn backward(
    pooling: &Pooling,
    grad_output: &[f32],
    argmax: &[usize],
    input_grad: &mut [f32],
    accumulate: bool,
) {
    if !accumulate {
        input_grad.fill(0.0);
    }
    // Each plane's maxima lie in its own input plane, so planes split
    // cleanly; within a plane they are added in output order.
    let input_plane = pooling.input_plane();
    let output_plane = pooling.output_plane();
    let work = |first: usize, grads: &mut [f32]| {
        for (p, plane_grad) in grads.chunks_exact_mut(input_plane).enumerate() {
            let plane = first + p;
            let outputs = plane * output_plane..(plane + 1) * output_plane;
            let base = plane * input_plane;
            for (&g, &index) in grad_output[outputs.clone()].iter().zip(&argmax[outputs]) {
                plane_grad[index - base] += g;
            }
        }
    };
    fn split(
        first: usize,
        planes: usize,
        grads: &mut [f32],
        input_plane: usize,
        parallel: bool,
        work: &(impl Fn(usize, &mut [f32]) + Sync),
    ) {
        if !parallel || planes < 2 {
            return work(first, grads);
        }
        let half = planes / 2;
        let (left, right) = grads.split_at_mut(half * input_plane);
        join_active(
            || split(first, half, left, input_plane, false, work),
            || split(first + half, planes - half, right, input_plane, false, work),
        );
    }
    let parallel = grad_output.len() >= PARALLEL_THRESHOLD;
    split(0, pooling.planes, input_grad, input_plane, parallel, &work);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_pooling_keeps_the_general_rule() {
        // Ties (values on a coarse grid), NaNs, −∞ and an odd width whose
        // last column no window covers, on enough planes to be split.
        let (planes, height, width) = (40, 8, 9);
        let mut state = 7u32;
        let input: Vec<f32> = (0..planes * height * width)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match (state >> 24) % 11 {
                    0 if i % 3 == 0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    r => (r % 4) as f32 - 1.5,
                }
            })
            .collect();
        let window = Window {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
            dilation: [1, 1],
        };
        let pooling = Pooling {
            planes,
            input: [height, width],
            output: [4, 4],
            window,
        };
        let mut output = vec![0.0; planes * 16];
        let mut argmax = vec![0; planes * 16];
        forward(&pooling, &input, &mut output, Some(&mut argmax));
        let mut values_only = vec![0.0; planes * 16];
        forward(&pooling, &input, &mut values_only, None);
        for p in 0..planes {
            for (oh, ow) in (0..4).flat_map(|oh| (0..4).map(move |ow| (oh, ow))) {
                // Taps in row-major order; the first is taken, then a later
                // one when larger or NaN.
                let mut best: Option<(f32, usize)> = None;
                for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let at = p * height * width + (2 * oh + i) * width + 2 * ow + j;
                    let value = input[at];
                    if best.is_none_or(|(b, _)| value > b || value.is_nan()) {
                        best = Some((value, at));
                    }
                }
                let (value, at) = best.unwrap();
                let o = p * 16 + oh * 4 + ow;
                assert_eq!(
                    output[o].to_bits(),
                    value.to_bits(),
                    "plane {p} ({oh}, {ow})"
                );
                assert_eq!(values_only[o].to_bits(), value.to_bits());
                assert_eq!(argmax[o], at, "plane {p} ({oh}, {ow})");
            }
        }
    }
}
