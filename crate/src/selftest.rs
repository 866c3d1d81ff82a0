//! Proof that a compute backend computes: a small 2-D convolution with bias,
//! run on the backend and compared, value by value, with a direct f64
//! computation on the CPU.
//!
//! It runs in CI on WebGPU (SwiftShader) and on the wasm CPU backend, and a
//! user's browser can run it too: a GPU driver that returns wrong numbers is
//! better caught here than as a garbled video.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::formula::uniform;

/// Largest acceptable |backend - reference| for any output value.
pub const TOLERANCE: f64 = 1e-4;

/// A convolution problem: NCHW input, OIHW weight, square stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct ConvProblem {
    pub input: [usize; 4],
    pub weight: [usize; 4],
    pub stride: usize,
    pub padding: usize,
}

/// The check the foundation issue specifies: 1x4x16x16, 8 filters 3x3, stride 2, padding 1.
pub const CONV_CHECK: ConvProblem =
    ConvProblem { input: [1, 4, 16, 16], weight: [8, 4, 3, 3], stride: 2, padding: 1 };

impl ConvProblem {
    pub fn output_shape(&self) -> [usize; 4] {
        let [n, _, h, w] = self.input;
        let [o, _, kh, kw] = self.weight;
        let out = |size: usize, k: usize| (size + 2 * self.padding - k) / self.stride + 1;
        [n, o, out(h, kh), out(w, kw)]
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvCheck {
    pub output_shape: [usize; 4],
    pub values: usize,
    pub max_abs_error: f64,
    pub tolerance: f64,
    pub passed: bool,
}

/// Run `problem` on `device` with deterministic operands and compare with
/// [`reference_conv2d`]. `Err` means the backend failed to run at all.
pub async fn conv2d_check(device: &Device, problem: ConvProblem) -> Result<ConvCheck, String> {
    let input = operand(problem.input.iter().product(), 1);
    let weight = operand(problem.weight.iter().product(), 2);
    let bias = operand(problem.weight[0], 3);
    let expected = reference_conv2d(&input, &weight, &bias, problem);

    let to_tensor = |values: &[f32], shape: [usize; 4]| {
        Tensor::<4>::from_data(TensorData::new(values.to_vec(), shape), device)
    };
    let output = conv2d(
        to_tensor(&input, problem.input),
        to_tensor(&weight, problem.weight),
        Some(Tensor::<1>::from_data(TensorData::new(bias.clone(), [bias.len()]), device)),
        ConvOptions::new([problem.stride; 2], [problem.padding; 2], [1, 1], 1),
    );
    let dims = output.dims();
    let data = output.into_data_async().await.map_err(|e| format!("reading the result failed: {e:?}"))?;
    let got: Vec<f32> = data.try_into_vec::<f32>().map_err(|e| format!("unexpected result type: {e:?}"))?;

    let output_shape = problem.output_shape();
    if dims != output_shape || got.len() != expected.len() {
        return Err(format!("output shape {dims:?}, expected {output_shape:?}"));
    }
    let max_abs_error = got
        .iter()
        .zip(&expected)
        .map(|(&g, &e)| if g.is_finite() { (g as f64 - e).abs() } else { f64::INFINITY })
        .fold(0.0, f64::max);
    Ok(ConvCheck {
        output_shape,
        values: got.len(),
        max_abs_error,
        tolerance: TOLERANCE,
        passed: max_abs_error <= TOLERANCE,
    })
}

/// Direct (six nested loops) convolution in f64: slow, obvious, and shared
/// with nothing that runs on a backend.
pub fn reference_conv2d(input: &[f32], weight: &[f32], bias: &[f32], p: ConvProblem) -> Vec<f64> {
    let [n, c, h, w] = p.input;
    let [o, wc, kh, kw] = p.weight;
    assert_eq!(c, wc, "input channels and weight channels differ");
    let [_, _, oh, ow] = p.output_shape();
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for f in 0..o {
            for y in 0..oh {
                for x in 0..ow {
                    let mut acc = bias[f] as f64;
                    for ch in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * p.stride + ky) as isize - p.padding as isize;
                                let ix = (x * p.stride + kx) as isize - p.padding as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let i = ((b * c + ch) * h + iy as usize) * w + ix as usize;
                                let k = ((f * c + ch) * kh + ky) * kw + kx;
                                acc += input[i] as f64 * weight[k] as f64;
                            }
                        }
                    }
                    out[((b * o + f) * oh + y) * ow + x] = acc;
                }
            }
        }
    }
    out
}

/// `len` values in [-1, 1), a different sequence per `stream`.
fn operand(len: usize, stream: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| uniform(stream << 40, i))
        .collect()
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::block_on;

    #[test]
    fn reference_matches_a_hand_computed_convolution() {
        // 1x1x3x3 input 1..9, one 2x2 filter of ones, stride 1, padding 0:
        // each output is the sum of a 2x2 window, plus the bias 0.5.
        let p = ConvProblem { input: [1, 1, 3, 3], weight: [1, 1, 2, 2], stride: 1, padding: 0 };
        let input: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let out = reference_conv2d(&input, &[1.0; 4], &[0.5], p);
        assert_eq!(out, vec![12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn reference_pads_with_zeros_and_strides() {
        // 1x1x2x2 input, 3x3 filter of ones, stride 2, padding 1: output 1x1
        // covers the whole (zero-padded) input.
        let p = ConvProblem { input: [1, 1, 2, 2], weight: [1, 1, 3, 3], stride: 2, padding: 1 };
        assert_eq!(p.output_shape(), [1, 1, 1, 1]);
        assert_eq!(reference_conv2d(&[1.0, 2.0, 3.0, 4.0], &[1.0; 9], &[0.0], p), vec![10.0]);
    }

    #[test]
    fn the_check_has_the_specified_shape() {
        assert_eq!(CONV_CHECK.output_shape(), [1, 8, 8, 8]);
    }

    #[test]
    fn flex_backend_passes_the_conv_check() {
        let report = block_on(conv2d_check(&Device::flex(), CONV_CHECK)).unwrap();
        assert_eq!(report.values, 8 * 8 * 8);
        assert!(report.passed, "max abs error {}", report.max_abs_error);
    }
}
