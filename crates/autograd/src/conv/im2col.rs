//! Unrolling an image's receptive fields into a matrix, and the way back.

use super::Window;

/// The shape of one image and of its convolution's output, in the order the
/// loops need it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImageShape {
    pub(crate) channels: usize,
    pub(crate) input: [usize; 2],
    pub(crate) output: [usize; 2],
}

impl ImageShape {
    pub(crate) fn input_len(&self) -> usize {
        self.channels * self.input[0] * self.input[1]
    }

    pub(crate) fn output_pixels(&self) -> usize {
        self.output[0] * self.output[1]
    }
}

/// For output index `o` along one axis, the input index its kernel tap `tap`
/// reads, or `None` where that falls in the padding.
#[inline]
fn input_index(
    o: usize,
    tap: usize,
    stride: usize,
    dilation: usize,
    padding: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + tap * dilation)
        .checked_sub(padding)
        .filter(|&i| i < len)
}

/// The output positions `o` along one axis whose tap `tap` reads inside the
/// input (not the padding): a range, since the input index grows with `o`.
#[inline]
fn valid_outputs(
    tap: usize,
    stride: usize,
    dilation: usize,
    padding: usize,
    len: usize,
    outputs: usize,
) -> std::ops::Range<usize> {
    let offset = tap * dilation;
    // Smallest o with o·stride + offset ≥ padding.
    let first = padding.saturating_sub(offset).div_ceil(stride);
    // Smallest o with o·stride + offset ≥ padding + len.
    let end = (padding + len).saturating_sub(offset).div_ceil(stride);
    first.min(outputs)..end.min(outputs)
}

/// Writes `columns[(c, i, j), (oh, ow)] = image[c, oh·sh − ph + i·dh, ow·sw −
/// pw + j·dw]` (0 in the padding), a `[channels · kh · kw, oh · ow]`
/// row-major matrix, for a `[channels, h, w]` image.
pub(crate) fn im2col(image: &[f32], shape: ImageShape, window: &Window, columns: &mut [f32]) {
    let [height, width] = shape.input;
    let [out_h, out_w] = shape.output;
    let [kh, kw] = window.kernel;
    let [sh, sw] = window.stride;
    let [ph, pw] = window.padding;
    let [dh, dw] = window.dilation;
    debug_assert_eq!(image.len(), shape.input_len());
    debug_assert_eq!(columns.len(), shape.channels * kh * kw * out_h * out_w);
    let mut rows = columns.chunks_exact_mut(out_h * out_w);
    for channel in image.chunks_exact(height * width) {
        for i in 0..kh {
            for j in 0..kw {
                let row = rows.next().expect("one row per channel and tap");
                let valid = valid_outputs(j, sw, dw, pw, width, out_w);
                if valid.is_empty() {
                    row.fill(0.0);
                    continue;
                }
                for (oh, out_row) in row.chunks_exact_mut(out_w).enumerate() {
                    let Some(ih) = input_index(oh, i, sh, dh, ph, height) else {
                        out_row.fill(0.0);
                        continue;
                    };
                    let line = &channel[ih * width..(ih + 1) * width];
                    out_row[..valid.start].fill(0.0);
                    out_row[valid.end..].fill(0.0);
                    let first = valid.start * sw + j * dw - pw;
                    let inside = &mut out_row[valid.clone()];
                    if sw == 1 {
                        inside.copy_from_slice(&line[first..first + inside.len()]);
                    } else {
                        for (k, value) in inside.iter_mut().enumerate() {
                            *value = line[first + k * sw];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry into the image pixel it
/// was read from (`image` holds the gradient so far, or zeros). Entries are
/// added in a fixed order, so the sums are the same on any thread.
pub(crate) fn col2im(columns: &[f32], shape: ImageShape, window: &Window, image: &mut [f32]) {
    let [height, width] = shape.input;
    let [out_h, out_w] = shape.output;
    let [kh, kw] = window.kernel;
    let [sh, sw] = window.stride;
    let [ph, pw] = window.padding;
    let [dh, dw] = window.dilation;
    debug_assert_eq!(image.len(), shape.input_len());
    debug_assert_eq!(columns.len(), shape.channels * kh * kw * out_h * out_w);
    let mut rows = columns.chunks_exact(out_h * out_w);
    for channel in image.chunks_exact_mut(height * width) {
        for i in 0..kh {
            for j in 0..kw {
                let row = rows.next().expect("one row per channel and tap");
                let valid = valid_outputs(j, sw, dw, pw, width, out_w);
                if valid.is_empty() {
                    continue;
                }
                for (oh, out_row) in row.chunks_exact(out_w).enumerate() {
                    let Some(ih) = input_index(oh, i, sh, dh, ph, height) else {
                        continue;
                    };
                    let line = &mut channel[ih * width..(ih + 1) * width];
                    let first = valid.start * sw + j * dw - pw;
                    let inside = &out_row[valid.clone()];
                    if sw == 1 {
                        line[first..first + inside.len()]
                            .iter_mut()
                            .zip(inside)
                            .for_each(|(pixel, value)| *pixel += value);
                    } else {
                        for (k, value) in inside.iter().enumerate() {
                            line[first + k * sw] += value;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// im2col by its definition, one element at a time.
    fn naive(image: &[f32], shape: ImageShape, window: &Window) -> Vec<f32> {
        let [height, width] = shape.input;
        let [out_h, out_w] = shape.output;
        let mut out = Vec::new();
        for c in 0..shape.channels {
            for i in 0..window.kernel[0] {
                for j in 0..window.kernel[1] {
                    for oh in 0..out_h {
                        for ow in 0..out_w {
                            let ih = (oh * window.stride[0] + i * window.dilation[0]) as isize
                                - window.padding[0] as isize;
                            let iw = (ow * window.stride[1] + j * window.dilation[1]) as isize
                                - window.padding[1] as isize;
                            let inside = (0..height as isize).contains(&ih)
                                && (0..width as isize).contains(&iw);
                            out.push(if inside {
                                image[c * height * width + ih as usize * width + iw as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn im2col_and_col2im_match_their_definitions_and_are_adjoint() {
        for (channels, input, kernel, stride, padding, dilation) in [
            (1, [5, 6], [3, 3], [1, 1], [0, 0], [1, 1]),
            (2, [7, 5], [3, 2], [2, 1], [1, 2], [1, 2]),
            (3, [6, 6], [2, 3], [3, 2], [2, 0], [2, 1]),
            (1, [4, 4], [1, 1], [1, 1], [0, 0], [1, 1]),
            (2, [3, 9], [3, 3], [1, 3], [3, 3], [1, 1]),
        ] {
            let window = Window {
                kernel,
                stride,
                padding,
                dilation,
            };
            let output = window.output_size(input).unwrap();
            let shape = ImageShape {
                channels,
                input,
                output,
            };
            let image: Vec<f32> = (0..shape.input_len()).map(|k| k as f32 + 1.0).collect();
            let mut columns =
                vec![f32::NAN; channels * kernel[0] * kernel[1] * output[0] * output[1]];
            im2col(&image, shape, &window, &mut columns);
            assert_eq!(
                columns,
                naive(&image, shape, &window),
                "{window:?} {input:?}"
            );
            // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩, exactly on small integers.
            let y: Vec<f32> = (0..columns.len()).map(|k| (k % 7) as f32 - 3.0).collect();
            let mut back = vec![0.0; image.len()];
            col2im(&y, shape, &window, &mut back);
            let left: f32 = columns.iter().zip(&y).map(|(a, b)| a * b).sum();
            let right: f32 = image.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(left, right, "{window:?} {input:?}");
        }
    }
}
