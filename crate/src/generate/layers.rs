//! The generator's layers as WAV2LIP.md tables them, read out of the
//! released state_dict with each BatchNorm folded into the convolution
//! before it (inference only): one conv (+ residual) + ReLU per block.
//! Both backends build from this; neither knows about checkpoint names.

use super::Weights;

const BN_EPS: f32 = 1e-5;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Conv { stride: [usize; 2], padding: usize },
    Transposed { stride: usize, padding: usize, output_padding: usize },
}

/// conv → (BatchNorm, folded) → (+ input) → ReLU, with its weights.
#[derive(Clone, Debug)]
pub struct Block {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub kind: Kind,
    pub residual: bool,
    /// PyTorch's layout: `[cout][cin][k][k]`, or `[cin][cout][k][k]` when
    /// transposed.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Block {
    /// The weight tensor's shape, in PyTorch's layout.
    pub fn shape(&self) -> [usize; 4] {
        match self.kind {
            Kind::Conv { .. } => [self.cout, self.cin, self.k, self.k],
            Kind::Transposed { .. } => [self.cin, self.cout, self.k, self.k],
        }
    }
}

/// The generator's blocks in their stages, whatever a block is on a
/// backend (its weights here; its kernels or device tensors there).
#[derive(Debug)]
pub struct Stages<B> {
    pub audio_encoder: Vec<B>,
    pub face_encoder: Vec<Vec<B>>,
    pub face_decoder: Vec<Vec<B>>,
    pub output_block: B,
}

impl<B> Stages<B> {
    /// The same stages with each block made into a backend's, one at a
    /// time: each block's weights are freed as soon as its replacement
    /// exists, so loading never holds the model twice over.
    pub fn into_map<C>(self, mut f: impl FnMut(B) -> C) -> Stages<C> {
        let mut stages = |stages: Vec<Vec<B>>| -> Vec<Vec<C>> { stages.into_iter().map(|s| s.into_iter().map(&mut f).collect()).collect() };
        let face_encoder = stages(self.face_encoder);
        let face_decoder = stages(self.face_decoder);
        Stages {
            audio_encoder: self.audio_encoder.into_iter().map(&mut f).collect(),
            face_encoder,
            face_decoder,
            output_block: f(self.output_block),
        }
    }

    /// The data flow, once for every backend: the mel through the audio
    /// encoder; the face through the face encoder, keeping each stage's
    /// output; the decoder from the audio code, each stage's output followed
    /// by the encoder's skip of the same size (channels concatenated); then
    /// the output block. The final 1×1 convolution and sigmoid are the
    /// caller's.
    pub fn forward<X: Clone>(&self, mel: X, face: X, block: impl Fn(&B, X) -> X, concat: impl Fn(X, X) -> X) -> X {
        let audio = self.audio_encoder.iter().fold(mel, |x, b| block(b, x));
        let mut skips = Vec::with_capacity(self.face_encoder.len());
        let mut x = face;
        for stage in &self.face_encoder {
            x = stage.iter().fold(x, |x, b| block(b, x));
            skips.push(x.clone());
        }
        let mut x = audio;
        for stage in &self.face_decoder {
            x = stage.iter().fold(x, |x, b| block(b, x));
            x = concat(x, skips.pop().expect("one skip per stage"));
        }
        block(&self.output_block, x)
    }
}

/// The whole network with its weights.
#[derive(Debug)]
pub struct Layers {
    pub stages: Stages<Block>,
    /// The final 1×1 convolution (32 → 3, then a sigmoid): no BatchNorm.
    pub output_conv: (Vec<f32>, Vec<f32>),
}

/// (cin, cout, kernel, kind, residual).
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

impl Layers {
    /// From the released state_dict's tensors (names without `module.`),
    /// taken out of `weights` as they are folded.
    pub fn from_weights(mut weights: Weights) -> Result<Self, String> {
        let weights = &mut weights;
        let mut stages = |prefix: &str, specs: Vec<Vec<Spec>>| -> Result<Vec<Vec<Block>>, String> {
            specs
                .into_iter()
                .enumerate()
                .map(|(s, blocks)| blocks.into_iter().enumerate().map(|(b, spec)| block(weights, &format!("{prefix}.{s}.{b}"), spec)).collect())
                .collect()
        };
        let face_encoder = stages("face_encoder_blocks", face_encoder())?;
        let face_decoder = stages("face_decoder_blocks", face_decoder())?;
        let audio_encoder = audio_encoder()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| block(weights, &format!("audio_encoder.{i}"), spec))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            stages: Stages { audio_encoder, face_encoder, face_decoder, output_block: block(weights, "output_block.0", conv(80, 32, 3, [1, 1], 1))? },
            output_conv: (take(weights, "output_block.1.weight", &[3, 32, 1, 1])?, take(weights, "output_block.1.bias", &[3])?),
        })
    }
}

fn take(weights: &mut Weights, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let (got, values) = weights.remove(name).ok_or_else(|| format!("the weights have no {name}"))?;
    if got != shape {
        return Err(format!("{name} has shape {got:?}, expected {shape:?}"));
    }
    Ok(values)
}

/// A block with its BatchNorm folded in: per output channel o,
/// `scale = gamma / sqrt(var + eps)`, `w' = w * scale`, `b' = (b - mean) * scale + beta`.
fn block(weights: &mut Weights, prefix: &str, (cin, cout, k, kind, residual): Spec) -> Result<Block, String> {
    let conv = format!("{prefix}.conv_block.0");
    let bn = format!("{prefix}.conv_block.1");
    let mut block = Block { cin, cout, k, kind, residual, weight: Vec::new(), bias: Vec::new() };
    let mut weight = take(weights, &format!("{conv}.weight"), &block.shape())?;
    let bias = take(weights, &format!("{conv}.bias"), &[cout])?;
    let gamma = take(weights, &format!("{bn}.weight"), &[cout])?;
    let beta = take(weights, &format!("{bn}.bias"), &[cout])?;
    let mean = take(weights, &format!("{bn}.running_mean"), &[cout])?;
    let var = take(weights, &format!("{bn}.running_var"), &[cout])?;

    let scale: Vec<f32> = (0..cout).map(|o| gamma[o] / (var[o] + BN_EPS).sqrt()).collect();
    // Each output channel's weights are runs of `cin*k*k` (conv) or `k*k`
    // (transposed, channels cycling) values.
    let run = match kind {
        Kind::Conv { .. } => cin * k * k,
        Kind::Transposed { .. } => k * k,
    };
    for (i, chunk) in weight.chunks_mut(run).enumerate() {
        let s = scale[i % cout];
        chunk.iter_mut().for_each(|w| *w *= s);
    }
    block.bias = (0..cout).map(|o| (bias[o] - mean[o]) * scale[o] + beta[o]).collect();
    block.weight = weight;
    Ok(block)
}
