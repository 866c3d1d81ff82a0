//! The Wav2Lip generator (`shared/WAV2LIP.md`): its [`layers`] read out of
//! a checkpoint's weights, run either on the CPU by loops of our own
//! ([`cpu`]: the wasm CPU path and native), on a GPU by WGSL kernels of
//! our own ([`gpu`]: WebGPU in the browser, Vulkan/Metal natively), or on a
//! burn device ([`device`]: burn's kernels, the reference point).

pub mod batch;
pub mod cpu;
pub mod device;
#[cfg(any(feature = "webgpu", feature = "gpu"))]
pub mod gpu;
pub mod layers;

use burn::tensor::Device;

/// What the generator is built from: a checkpoint's tensors.
pub use crate::checkpoint::Weights;

/// Values in one frame of each input and of the output.
pub const MEL_VALUES: usize = 80 * 16;
pub const FACE_VALUES: usize = 6 * 96 * 96;

/// Runs batches through the generator: the generator itself, or something
/// sharing each batch out (the web layer's helper workers, one per spare
/// CPU core). Same contract as [`Generator::run`].
pub trait Runner {
    fn run(&self, mel: Vec<f32>, face: Vec<f32>, batch: usize) -> impl Future<Output = Result<Vec<f32>, String>>;
}

impl Runner for Generator {
    fn run(&self, mel: Vec<f32>, face: Vec<f32>, batch: usize) -> impl Future<Output = Result<Vec<f32>, String>> {
        Generator::run(self, mel, face, batch)
    }
}

#[derive(Debug)]
pub enum Generator {
    Cpu(cpu::Net),
    #[cfg(any(feature = "webgpu", feature = "gpu"))]
    Gpu(gpu::Net),
    Device(device::Net),
}

impl Generator {
    /// On the CPU, from the released state_dict's tensors (names without
    /// `module.`), consumed as they are used.
    pub fn on_cpu(weights: Weights) -> Result<Self, String> {
        Ok(Self::Cpu(cpu::Net::new(layers::Layers::from_weights(weights)?)))
    }

    /// On the GPU burn's wgpu runtime shares through `setup`, storing
    /// weights and activations as `storage` says.
    #[cfg(any(feature = "webgpu", feature = "gpu"))]
    pub fn on_gpu(weights: Weights, setup: &burn::tensor::wgpu::WgpuSetup, storage: gpu::Storage) -> Result<Self, String> {
        Ok(Self::Gpu(gpu::Net::new(layers::Layers::from_weights(weights)?, setup, storage)))
    }

    /// On a burn device (burn's own CPU backend included).
    pub fn on_device(weights: Weights, device: &Device) -> Result<Self, String> {
        Ok(Self::Device(device::Net::new(layers::Layers::from_weights(weights)?, device)))
    }

    /// One batch from flat row-major values, read back to the CPU: `batch`
    /// frames of mel `[1,80,16]` and face `[6,96,96]` (BGR, 0..1) →
    /// `[batch,3,96,96]` (BGR, 0..1).
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
        match self {
            Self::Cpu(net) => Ok(net.run(&mel, &face, batch)),
            #[cfg(any(feature = "webgpu", feature = "gpu"))]
            Self::Gpu(net) => net.run(&mel, &face, batch).await,
            Self::Device(net) => net.run(mel, face, batch).await,
        }
    }
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::block_on;
    use crate::formula;
    use crate::testdata::npy;

    /// Max abs difference from `gen_out.npy`, which the authors' code produced
    /// from `gen_mel.npy` and `gen_face.npy` with the formula weights of seed 7.
    pub(super) fn error_against_the_original(weights: Weights) -> f32 {
        error_of(&Generator::on_cpu(weights).unwrap())
    }

    fn error_of(generator: &Generator) -> f32 {
        let (mel_shape, mel) = npy("gen_mel.npy");
        let (_, face) = npy("gen_face.npy");
        let got = block_on(generator.run(mel, face, mel_shape[0])).unwrap();
        let (_, expected) = npy("gen_out.npy");
        assert_eq!(got.len(), expected.len());
        got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn matches_the_original_on_the_cpu() {
        let max_err = error_against_the_original(formula::weights(7));
        println!("generator parity (own CPU kernels, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-4, "max abs error {max_err}");
    }

    /// Needs a wgpu adapter: `cargo test --features gpu` on a machine with a
    /// Vulkan or Metal driver (Mesa's lavapipe, on the CPU, will do).
    #[cfg(feature = "gpu")]
    #[test]
    fn matches_the_original_on_our_gpu_kernels() {
        use gpu::Storage;
        let (_, setup) = Device::wgpu_options().init_with_setup().expect("no wgpu adapter");
        let name = setup.adapter.get_info().name;
        let max_err = error_of(&Generator::on_gpu(formula::weights(7), &setup, Storage::F32).unwrap());
        println!("generator parity (own WGSL kernels on {name}, f32, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-4, "max abs error {max_err}");
        if Storage::best(&setup.device) == Storage::F16 {
            let max_err = error_of(&Generator::on_gpu(formula::weights(7), &setup, Storage::F16).unwrap());
            println!("generator parity (own WGSL kernels on {name}, f16 storage, batch 4): max abs error {max_err:.3e}");
            assert!(max_err <= 1e-2, "max abs error {max_err}");
        }
    }

    /// One frame a call, as live mode runs it: each layer is shared over
    /// the thread pool's pieces (a batch shares frames instead).
    #[test]
    fn matches_the_original_one_frame_at_a_time() {
        let generator = Generator::on_cpu(formula::weights(7)).unwrap();
        let (mel_shape, mel) = npy("gen_mel.npy");
        let (_, face) = npy("gen_face.npy");
        let (_, expected) = npy("gen_out.npy");
        let frames = mel_shape[0];
        let mut max_err = 0.0f32;
        for b in 0..frames {
            let one = |values: &[f32]| values.chunks_exact(values.len() / frames).nth(b).unwrap().to_vec();
            let got = block_on(generator.run(one(&mel), one(&face), 1)).unwrap();
            max_err = got.iter().zip(&one(&expected)).map(|(a, b)| (a - b).abs()).fold(max_err, f32::max);
        }
        println!("generator parity (own CPU kernels, one frame a call, {} threads): max abs error {max_err:.3e}", crate::pool::threads());
        assert!(max_err <= 1e-4, "max abs error {max_err}");
    }

    #[test]
    fn matches_the_original_on_burns_cpu_backend() {
        let max_err = error_of(&Generator::on_device(formula::weights(7), &Device::flex()).unwrap());
        println!("generator parity (burn flex, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-4, "max abs error {max_err}");
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::tests::error_against_the_original;
    use crate::checkpoint::safetensors::{Precision, write_generator};
    use crate::checkpoint::{Checkpoint, Format};
    use crate::formula;

    /// The formula weights written in the released layout (legacy format, with
    /// an optimizer to skip) and read back: the same tensors, bit for bit.
    #[test]
    fn a_legacy_checkpoint_in_the_released_layout_loads_the_same_weights() {
        let file = formula::legacy_checkpoint(7, 1000);
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
        let max_err = error_against_the_original(half);
        println!("generator parity with f16 weights (CPU, batch 4): max abs error {max_err:.3e}");
        assert!(max_err <= 1e-2, "f16 weights: max abs error {max_err}");
    }
}
