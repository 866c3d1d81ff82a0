//! The oracle's "formula weights": a deterministic, full-size Wav2Lip
//! generator, so the whole network can be tested (and a test checkpoint
//! written) without the authors' research-licensed file. The recipe is
//! `shared/oracle/README.md`'s; `gen_out.npy` is the authors' code run with it.

use crate::checkpoint::Entry;
use crate::checkpoint::identify::generator_entries;

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Element `i` of a stream: uniform in [-1, 1) on a 2^-23 grid.
pub fn uniform(base: u64, i: u64) -> f32 {
    let r = splitmix64(i ^ base) >> 40;
    (r as f64 / (1u64 << 23) as f64 - 1.0) as f32
}

/// One state_dict entry of the formula generator for `seed`.
pub fn entry(seed: u64, index: usize, name: &str, shape: &[usize]) -> Vec<f32> {
    let base = (seed << 32) ^ ((index as u64) << 40);
    let n: usize = shape.iter().product(); // 1 for a scalar
    let scale: Box<dyn Fn(f32) -> f32> = if shape.len() == 4 {
        let fan = (shape[1] * shape[2] * shape[3]) as f32;
        let k = (5.0 / fan).sqrt();
        Box::new(move |u| u * k)
    } else if name.ends_with("num_batches_tracked") {
        Box::new(|_| 0.0)
    } else if name.ends_with("running_var") {
        Box::new(|u| 1.0 + 0.25 * (u + 1.0))
    } else if name.ends_with("running_mean") {
        Box::new(|u| 0.1 * u)
    } else if name.ends_with("conv_block.1.weight") {
        Box::new(|u| 1.0 + 0.2 * u) // BatchNorm weight
    } else {
        Box::new(|u| 0.1 * u) // conv and BatchNorm biases
    };
    (0..n as u64).map(|i| scale(uniform(base, i))).collect()
}

/// All 352 entries of the formula generator: `(name, shape, values)`.
pub fn generator(seed: u64) -> impl Iterator<Item = (&'static str, Vec<usize>, Vec<f32>)> {
    generator_entries().enumerate().map(move |(index, (name, shape))| {
        let values = entry(seed, index, name, &shape);
        (name, shape, values)
    })
}

/// The same, keyed by name, as the generator loads them.
pub fn weights(seed: u64) -> crate::generate::Weights {
    generator(seed).map(|(name, shape, values)| (name.to_string(), (shape, values))).collect()
}

/// The formula generator as a checkpoint in the released layout (the 2020
/// legacy format), with `optimizer_floats` of optimizer state for a reader
/// to skip.
pub fn legacy_checkpoint(seed: u64, optimizer_floats: usize) -> Vec<u8> {
    let weights: Vec<_> = generator(seed).collect();
    let entries: Vec<Entry> = weights.iter().map(|(name, shape, values)| Entry { name, shape, values }).collect();
    crate::checkpoint::writer::legacy_checkpoint(&entries, optimizer_floats)
}
