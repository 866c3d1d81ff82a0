//! The Wav2Lip generator (`shared/WAV2LIP.md`), written once against burn's
//! runtime `Device`: the same code runs on WebGPU, Vulkan and the CPU.
//!
//! Inference only, so each BatchNorm is folded into the convolution before it
//! when the weights are loaded: one conv (+ residual) + ReLU per block.

use std::collections::HashMap;

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};

const BN_EPS: f32 = 1e-5;

/// Named tensors `(shape, values)` in the released state_dict's names.
pub type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Conv { stride: [usize; 2], padding: usize },
    Transposed { stride: usize, padding: usize, output_padding: usize },
}

/// conv → (BatchNorm, folded) → (+ input) → ReLU.
#[derive(Debug)]
struct Block {
    weight: Tensor<4>,
    bias: Tensor<1>,
    kind: Kind,
    residual: bool,
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = match self.kind {
            Kind::Conv { stride, padding } => conv2d(
                x.clone(),
                self.weight.clone(),
                Some(self.bias.clone()),
                ConvOptions::new(stride, [padding; 2], [1, 1], 1),
            ),
            Kind::Transposed { stride, padding, output_padding } => conv_transpose2d(
                x.clone(),
                self.weight.clone(),
                Some(self.bias.clone()),
                ConvTransposeOptions::new([stride; 2], [padding; 2], [output_padding; 2], [1, 1], 1),
            ),
        };
        relu(if self.residual { y + x } else { y })
    }
}

/// Block specs as WAV2LIP.md tables them: (cin, cout, kernel, kind, residual).
type Spec = (usize, usize, usize, Kind, bool);

const fn conv(cin: usize, cout: usize, k: usize, s: [usize; 2], p: usize) -> Spec {
    (cin, cout, k, Kind::Conv { stride: s, padding: p }, false)
}
const fn res(c: usize) -> Spec {
    (c, c, 3, Kind::Conv { stride: [1, 1], padding: 1 }, true)
}
const fn up(cin: usize, cout: usize, s: usize, p: usize, op: usize) -> Spec {
    (cin, cout, 3, Kind::Transposed { stride: s, padding: p, output_padding: op }, false)
}

fn face_encoder() -> Vec<Vec<Spec>> {
    vec![
        vec![conv(6, 16, 7, [1, 1], 3)],
        vec![conv(16, 32, 3, [2, 2], 1), res(32), res(32)],
        vec![conv(32, 64, 3, [2, 2], 1), res(64), res(64), res(64)],
        vec![conv(64, 128, 3, [2, 2], 1), res(128), res(128)],
        vec![conv(128, 256, 3, [2, 2], 1), res(256), res(256)],
        vec![conv(256, 512, 3, [2, 2], 1), res(512)],
        vec![conv(512, 512, 3, [1, 1], 0), conv(512, 512, 1, [1, 1], 0)],
    ]
}

fn audio_encoder() -> Vec<Spec> {
    vec![
        conv(1, 32, 3, [1, 1], 1), res(32), res(32),
        conv(32, 64, 3, [3, 1], 1), res(64), res(64),
        conv(64, 128, 3, [3, 3], 1), res(128), res(128),
        conv(128, 256, 3, [3, 2], 1), res(256),
        conv(256, 512, 3, [1, 1], 0), conv(512, 512, 1, [1, 1], 0),
    ]
}

fn face_decoder() -> Vec<Vec<Spec>> {
    vec![
        vec![conv(512, 512, 1, [1, 1], 0)],
        vec![up(1024, 512, 1, 0, 0), res(512)],
        vec![up(1024, 512, 2, 1, 1), res(512), res(512)],
        vec![up(768, 384, 2, 1, 1), res(384), res(384)],
        vec![up(512, 256, 2, 1, 1), res(256), res(256)],
        vec![up(320, 128, 2, 1, 1), res(128), res(128)],
        vec![up(160, 64, 2, 1, 1), res(64), res(64)],
    ]
}

#[derive(Debug)]
pub struct Generator {
    face_encoder: Vec<Vec<Block>>,
    audio_encoder: Vec<Block>,
    face_decoder: Vec<Vec<Block>>,
    output_block: Block,
    output_conv: (Tensor<4>, Tensor<1>),
    /// Where the weights live; inputs are put there too.
    device: Device,
}

/// Values in one frame of each input and of the output.
pub const MEL_VALUES: usize = 80 * 16;
pub const FACE_VALUES: usize = 6 * 96 * 96;

impl Generator {
    /// Build from the released state_dict's tensors (names without `module.`).
    pub fn from_weights(weights: &Weights, device: &Device) -> Result<Self, String> {
        let loader = Loader { weights, device };
        let stages = |prefix: &str, specs: Vec<Vec<Spec>>| -> Result<Vec<Vec<Block>>, String> {
            specs
                .into_iter()
                .enumerate()
                .map(|(s, blocks)| {
                    blocks.into_iter().enumerate().map(|(b, spec)| loader.block(&format!("{prefix}.{s}.{b}"), spec)).collect()
                })
                .collect()
        };
        let audio_encoder = audio_encoder()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| loader.block(&format!("audio_encoder.{i}"), spec))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            face_encoder: stages("face_encoder_blocks", face_encoder())?,
            audio_encoder,
            face_decoder: stages("face_decoder_blocks", face_decoder())?,
            output_block: loader.block("output_block.0", conv(80, 32, 3, [1, 1], 1))?,
            output_conv: (
                loader.tensor::<4>("output_block.1.weight", &[3, 32, 1, 1])?,
                loader.tensor::<1>("output_block.1.bias", &[3])?,
            ),
            device: device.clone(),
        })
    }

    /// One batch from flat row-major values, read back to the CPU: `batch`
    /// frames of mel `[1,80,16]` and face `[6,96,96]` → `[batch,3,96,96]`.
    pub async fn run(&self, mel: Vec<f32>, face: Vec<f32>, batch: usize) -> Result<Vec<f32>, String> {
        if batch == 0 || mel.len() != batch * MEL_VALUES || face.len() != batch * FACE_VALUES {
            return Err(format!(
                "a batch of {batch} needs {} mel and {} face values; got {} and {}",
                batch * MEL_VALUES,
                batch * FACE_VALUES,
                mel.len(),
                face.len()
            ));
        }
        let mel = Tensor::<4>::from_data(TensorData::new(mel, [batch, 1, 80, 16]), &self.device);
        let face = Tensor::<4>::from_data(TensorData::new(face, [batch, 6, 96, 96]), &self.device);
        let out = self.forward(mel, face);
        let data = out.into_data_async().await.map_err(|e| format!("reading the result failed: {e:?}"))?;
        data.try_into_vec().map_err(|e| format!("unexpected result type: {e:?}"))
    }

    /// `mel [B,1,80,16]`, `face [B,6,96,96]` (BGR, 0..1) → `[B,3,96,96]` (BGR, 0..1).
    pub fn forward(&self, mel: Tensor<4>, face: Tensor<4>) -> Tensor<4> {
        let audio = self.audio_encoder.iter().fold(mel, |x, block| block.forward(x));
        let mut skips = Vec::with_capacity(self.face_encoder.len());
        let mut x = face;
        for stage in &self.face_encoder {
            x = stage.iter().fold(x, |x, block| block.forward(x));
            skips.push(x.clone());
        }
        let mut x = audio;
        for stage in &self.face_decoder {
            x = stage.iter().fold(x, |x, block| block.forward(x));
            x = Tensor::cat(vec![x, skips.pop().expect("one skip per stage")], 1);
        }
        let x = self.output_block.forward(x);
        let (weight, bias) = &self.output_conv;
        sigmoid(conv2d(x, weight.clone(), Some(bias.clone()), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)))
    }
}

struct Loader<'a> {
    weights: &'a Weights,
    device: &'a Device,
}

impl Loader<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32], String> {
        let (got, values) = self.weights.get(name).ok_or_else(|| format!("the weights have no {name}"))?;
        if got != shape {
            return Err(format!("{name} has shape {got:?}, expected {shape:?}"));
        }
        Ok(values)
    }

    fn tensor<const D: usize>(&self, name: &str, shape: &[usize]) -> Result<Tensor<D>, String> {
        let values = self.get(name, shape)?.to_vec();
        Ok(Tensor::from_data(TensorData::new(values, shape.to_vec()), self.device))
    }

    /// A block with its BatchNorm folded in: per output channel o,
    /// `scale = gamma / sqrt(var + eps)`, `w' = w * scale`, `b' = (b - mean) * scale + beta`.
    fn block(&self, prefix: &str, (cin, cout, k, kind, residual): Spec) -> Result<Block, String> {
        let conv = format!("{prefix}.conv_block.0");
        let bn = format!("{prefix}.conv_block.1");
        // Transposed conv weights are stored [cin, cout, kh, kw].
        let shape = match kind {
            Kind::Conv { .. } => [cout, cin, k, k],
            Kind::Transposed { .. } => [cin, cout, k, k],
        };
        let mut weight = self.get(&format!("{conv}.weight"), &shape)?.to_vec();
        let bias = self.get(&format!("{conv}.bias"), &[cout])?;
        let gamma = self.get(&format!("{bn}.weight"), &[cout])?;
        let beta = self.get(&format!("{bn}.bias"), &[cout])?;
        let mean = self.get(&format!("{bn}.running_mean"), &[cout])?;
        let var = self.get(&format!("{bn}.running_var"), &[cout])?;

        let scale: Vec<f32> = (0..cout).map(|o| gamma[o] / (var[o] + BN_EPS).sqrt()).collect();
        // Each output channel's weights are runs of `cin*k*k` (conv) or `k*k`
        // (transposed, channels cycling) values.
        let kk = k * k;
        let run = match kind {
            Kind::Conv { .. } => cin * kk,
            Kind::Transposed { .. } => kk,
        };
        for (i, chunk) in weight.chunks_mut(run).enumerate() {
            let s = scale[i % cout];
            chunk.iter_mut().for_each(|w| *w *= s);
        }
        let bias: Vec<f32> = (0..cout).map(|o| (bias[o] - mean[o]) * scale[o] + beta[o]).collect();
        Ok(Block {
            weight: Tensor::from_data(TensorData::new(weight, shape.to_vec()), self.device),
            bias: Tensor::from_data(TensorData::new(bias, [cout]), self.device),
            kind,
            residual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::block_on;
    use crate::formula;
    use crate::testdata::npy;

    /// Max abs difference from `gen_out.npy`, which the authors' code produced
    /// from `gen_mel.npy` and `gen_face.npy` with the formula weights of seed 7.
    pub(super) fn error_against_the_original(weights: &Weights) -> f32 {
        let generator = Generator::from_weights(weights, &Device::flex()).unwrap();
        let (mel_shape, mel) = npy("gen_mel.npy");
        let (_, face) = npy("gen_face.npy");
        let got = block_on(generator.run(mel, face, mel_shape[0])).unwrap();
        let (_, expected) = npy("gen_out.npy");
        assert_eq!(got.len(), expected.len());
        got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn matches_the_original_on_the_cpu_backend() {
        let max_err = error_against_the_original(&formula::weights(7));
        println!("generator parity (flex, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-4, "max abs error {max_err}");
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::tests::error_against_the_original;
    use crate::checkpoint::safetensors::{Precision, write_generator};
    use crate::checkpoint::writer::legacy_checkpoint;
    use crate::checkpoint::{Checkpoint, Entry, Format};
    use crate::formula;

    /// The formula weights written in the released layout (legacy format, with
    /// an optimizer to skip) and read back: the same tensors, bit for bit.
    #[test]
    fn a_legacy_checkpoint_in_the_released_layout_loads_the_same_weights() {
        let weights: Vec<_> = formula::generator(7).collect();
        let entries: Vec<Entry> =
            weights.iter().map(|(name, shape, values)| Entry { name, shape, values }).collect();
        let file = legacy_checkpoint(&entries, 1000);
        let checkpoint = Checkpoint::open(file.as_slice()).unwrap();
        assert_eq!(checkpoint.format, Format::Legacy);
        let summary = checkpoint.summary();
        assert_eq!((summary.tensors, summary.parameters), (352, 36_298_035));
        let loaded = checkpoint.generator_weights().unwrap();
        assert_eq!(loaded, formula::weights(7));
    }

    /// `wav2lip convert`'s output (and the app's cached copy): f32 keeps every
    /// bit; f16 halves the file and moves the output by a bounded amount.
    #[test]
    fn converted_safetensors_load_the_same_generator() {
        let weights = formula::weights(7);
        let convert = |precision| {
            let mut file = Vec::new();
            write_generator(&weights, precision, &[("source", "test")], |b| {
                file.extend_from_slice(b);
                Ok::<_, ()>(())
            })
            .unwrap();
            let checkpoint = Checkpoint::open(file.as_slice()).unwrap();
            assert_eq!(checkpoint.format, Format::Safetensors);
            (file.len(), checkpoint.generator_weights().unwrap())
        };
        let (size32, exact) = convert(Precision::F32);
        assert_eq!(exact, weights, "f32 conversion is lossless");
        let (size16, half) = convert(Precision::F16);
        assert!(size16 * 2 < size32 + 100_000, "f16: {size16} bytes vs f32 {size32}");
        let max_err = error_against_the_original(&half);
        println!("generator parity with f16 weights (flex, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-2, "f16 weights: max abs error {max_err}");
    }
}
