//! The generator on a burn `Device`: WebGPU in the browser, Vulkan/Metal
//! natively (and burn's own CPU backend, kept as a reference point for the
//! benchmarks). Activations stay on the device; only the output comes back.

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::layers::{self, Kind, Layers, Stages};

#[derive(Debug)]
struct Block {
    weight: Tensor<4>,
    bias: Tensor<1>,
    kind: Kind,
    residual: bool,
}

impl Block {
    fn new(block: layers::Block, device: &Device) -> Self {
        let shape = block.shape().to_vec();
        Self {
            weight: Tensor::from_data(TensorData::new(block.weight, shape), device),
            bias: Tensor::from_data(TensorData::new(block.bias, [block.cout]), device),
            kind: block.kind,
            residual: block.residual,
        }
    }

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

#[derive(Debug)]
pub struct Net {
    stages: Stages<Block>,
    output_conv: (Tensor<4>, Tensor<1>),
    /// Where the weights live; inputs are put there too.
    device: Device,
}

impl Net {
    pub fn new(layers: Layers, device: &Device) -> Self {
        let (weight, bias) = layers.output_conv;
        Self {
            stages: layers.stages.into_map(|b| Block::new(b, device)),
            output_conv: (
                Tensor::from_data(TensorData::new(weight, [3, 32, 1, 1]), device),
                Tensor::from_data(TensorData::new(bias, [3]), device),
            ),
            device: device.clone(),
        }
    }

    /// One batch from flat row-major values, read back to the CPU.
    pub async fn run(&self, mel: Vec<f32>, face: Vec<f32>, batch: usize) -> Result<Vec<f32>, String> {
        let mel = Tensor::<4>::from_data(TensorData::new(mel, [batch, 1, 80, 16]), &self.device);
        let face = Tensor::<4>::from_data(TensorData::new(face, [batch, 6, 96, 96]), &self.device);
        let x = self.stages.forward(mel, face, |b, x| b.forward(x), |x, skip| Tensor::cat(vec![x, skip], 1));
        let (weight, bias) = &self.output_conv;
        let out = sigmoid(conv2d(x, weight.clone(), Some(bias.clone()), ConvOptions::new([1, 1], [0, 0], [1, 1], 1)));
        let data = out.into_data_async().await.map_err(|e| format!("reading the result failed: {e:?}"))?;
        data.try_into_vec().map_err(|e| format!("unexpected result type: {e:?}"))
    }
}
