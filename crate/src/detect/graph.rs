//! A TFLite graph run with burn: the handful of operators BlazeFace uses,
//! on whatever device the generator uses (WebGPU, Vulkan or the CPU).
//!
//! TFLite lays images out NHWC; burn's convolutions want NCHW. Images stay
//! NCHW here and each operator translates its NHWC axes; only RESHAPE,
//! which flattens in NHWC order, permutes back first.

use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use super::tflite::{Activation, Model, OpKind, Options, Padding, TfliteError};

/// A value flowing through the graph.
#[derive(Clone)]
enum Value {
    /// An NHWC image, held as NCHW.
    Image(Tensor<4>),
    /// Anything flattened by RESHAPE, in TFLite's own layout.
    Rows(Tensor<3>),
}

#[derive(Debug)]
struct Conv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    pad: [(usize, usize); 2],
    groups: usize,
    relu: bool,
}

#[derive(Debug)]
enum Step {
    /// Boxed: burn's tensors are large values.
    Conv(Box<Conv>),
    MaxPool { kernel: [usize; 2], stride: [usize; 2], pad: [(usize, usize); 2] },
    Add { relu: bool },
    Relu,
    /// (before, after) per NCHW axis.
    Pad([(usize, usize); 4]),
    /// To `[batch, rest...]` (TFLite's shape with the batch left free).
    Reshape(Vec<usize>),
    /// Along an axis of the values' own layout.
    Concat(usize),
}

#[derive(Debug)]
struct Node {
    step: Step,
    inputs: Vec<usize>,
    output: usize,
}

/// The graph, its weights on the device, ready to run on batches.
pub struct Network {
    nodes: Vec<Node>,
    input: usize,
    /// The input's height, width and channels.
    pub input_shape: [usize; 3],
    outputs: Vec<usize>,
    /// For each node, the values it was the last to read (freed after it).
    last_uses: Vec<Vec<usize>>,
    slots: usize,
    device: Device,
}

fn err<T>(what: impl Into<String>) -> Result<T, TfliteError> {
    Err(TfliteError(what.into()))
}

/// TFLite's SAME padding for one axis: out = ceil(in / stride), the odd
/// pixel after.
fn same(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride).max(1);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

impl Network {
    pub fn new(model: &Model, device: &Device) -> Result<Self, TfliteError> {
        let [input] = model.inputs[..] else { return err("the graph must have one input") };
        let &[1, h, w, c] = &model.tensors[input].shape[..] else { return err("the input must be one NHWC image") };
        // DEQUANTIZE of a constant is done here, once: its output becomes a constant.
        let mut constants: Vec<Option<Vec<f32>>> = (0..model.tensors.len()).map(|t| model.constant(t)).collect::<Result<_, _>>()?;
        let mut nodes = Vec::new();
        for op in &model.operators {
            let shape = |i: usize| &model.tensors[op.inputs[i]].shape;
            let &[output] = &op.outputs[..] else { return err("an operator with several outputs") };
            let constant = |i: usize, constants: &[Option<Vec<f32>>]| {
                constants[op.inputs[i]].clone().map_or_else(|| err(format!("{:?} expects constant weights", op.kind)), Ok)
            };
            let (step, inputs) = match (op.kind, &op.options) {
                (OpKind::Dequantize, _) => {
                    constants[output] = Some(constant(0, &constants)?);
                    continue;
                }
                (kind @ (OpKind::Conv2d | OpKind::DepthwiseConv2d), &Options::Conv { padding, stride, activation }) => {
                    let (&[_, ih, iw, cin], &[a, kh, kw, b]) = (&shape(0)[..], &shape(1)[..]) else { return err("convolution shapes") };
                    let values = constant(1, &constants)?;
                    // TFLite: conv [O, KH, KW, I], depthwise [1, KH, KW, C]; burn: [O, I/groups, KH, KW].
                    let (cout, groups, per_group) = if kind == OpKind::Conv2d { (a, 1, b) } else { (b, cin, 1) };
                    if kind == OpKind::Conv2d && b != cin {
                        return err("a convolution's weights do not match its input");
                    }
                    let mut weight = vec![0.0; values.len()];
                    for o in 0..cout {
                        for y in 0..kh {
                            for x in 0..kw {
                                for i in 0..per_group {
                                    let from = if kind == OpKind::Conv2d { ((o * kh + y) * kw + x) * b + i } else { (y * kw + x) * b + o };
                                    weight[((o * per_group + i) * kh + y) * kw + x] = values[from];
                                }
                            }
                        }
                    }
                    let bias = match op.inputs.get(2) {
                        Some(_) => constant(2, &constants)?,
                        None => vec![0.0; cout],
                    };
                    let pad = match padding {
                        Padding::Same => [same(ih, kh, stride.0), same(iw, kw, stride.1)],
                        Padding::Valid => [(0, 0); 2],
                    };
                    let step = Step::Conv(Box::new(Conv {
                        weight: Tensor::from_data(TensorData::new(weight, [cout, per_group, kh, kw]), device),
                        bias: Tensor::from_data(TensorData::new(bias, [cout]), device),
                        stride: [stride.0, stride.1],
                        pad,
                        groups,
                        relu: activation == Activation::Relu,
                    }));
                    (step, vec![op.inputs[0]])
                }
                (OpKind::MaxPool2d, &Options::Pool { padding, stride, filter, activation: Activation::None }) => {
                    let &[_, ih, iw, _] = &shape(0)[..] else { return err("pooling shapes") };
                    let pad = match padding {
                        Padding::Same => [same(ih, filter.0, stride.0), same(iw, filter.1, stride.1)],
                        Padding::Valid => [(0, 0); 2],
                    };
                    (Step::MaxPool { kernel: [filter.0, filter.1], stride: [stride.0, stride.1], pad }, vec![op.inputs[0]])
                }
                (OpKind::Add, &Options::Add { activation }) => (Step::Add { relu: activation == Activation::Relu }, op.inputs.clone()),
                (OpKind::Relu, _) => (Step::Relu, op.inputs.clone()),
                (OpKind::Pad, _) => {
                    let pads = constant(1, &constants)?;
                    let Ok::<[f32; 8], _>(pads) = pads[..].try_into() else { return err("PAD expects 4 pairs") };
                    let [n0, n1, h0, h1, w0, w1, c0, c1] = pads.map(|p| p as usize);
                    if n0 + n1 > 0 {
                        return err("padding the batch axis");
                    }
                    (Step::Pad([(0, 0), (c0, c1), (h0, h1), (w0, w1)]), vec![op.inputs[0]])
                }
                (OpKind::Reshape, _) => (Step::Reshape(model.tensors[output].shape[1..].to_vec()), vec![op.inputs[0]]),
                (OpKind::Concatenation, &Options::Concat { axis, activation: Activation::None }) => {
                    let rank = shape(0).len() as i32;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    let axis = match (rank, axis) {
                        (4, 1) => 2,
                        (4, 2) => 3,
                        (4, 3) => 1,
                        (3, 1 | 2) => axis as usize,
                        _ => return err(format!("concatenation along axis {axis} of a rank-{rank} value")),
                    };
                    (Step::Concat(axis), op.inputs.clone())
                }
                (kind, options) => return err(format!("{kind:?} with options {options:?}")),
            };
            nodes.push(Node { step, inputs, output });
        }
        // Free each value after the last node that reads it.
        let mut last = vec![usize::MAX; model.tensors.len()];
        for (n, node) in nodes.iter().enumerate() {
            for &i in &node.inputs {
                last[i] = n;
            }
        }
        let mut last_uses = vec![Vec::new(); nodes.len()];
        for (t, &n) in last.iter().enumerate() {
            if n != usize::MAX && !model.outputs.contains(&t) {
                last_uses[n].push(t);
            }
        }
        Ok(Self { nodes, input, input_shape: [h, w, c], outputs: model.outputs.clone(), last_uses, slots: model.tensors.len(), device: device.clone() })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Run on `images`, `[B, C, H, W]`; returns the graph's outputs, each
    /// `[B, rows, values]`.
    pub fn forward(&self, images: Tensor<4>) -> Result<Vec<Tensor<3>>, TfliteError> {
        let mut slots: Vec<Option<Value>> = vec![None; self.slots];
        slots[self.input] = Some(Value::Image(images));
        for (node, frees) in self.nodes.iter().zip(&self.last_uses) {
            let take = |i: usize| slots[node.inputs[i]].clone().ok_or_else(|| TfliteError("a value is read before it is computed".into()));
            let image = |v: Value| match v {
                Value::Image(t) => Ok(t),
                Value::Rows(_) => err("an image operator got flattened values"),
            };
            let out = match &node.step {
                Step::Conv(conv) => {
                    let Conv { weight, bias, stride, pad, groups, relu: with_relu } = conv.as_ref();
                    let mut x = image(take(0)?)?;
                    if pad.iter().any(|&(a, b)| a + b > 0) {
                        x = x.pad([(0, 0), (0, 0), pad[0], pad[1]], PadMode::Constant(0.0));
                    }
                    let y = conv2d(x, weight.clone(), Some(bias.clone()), ConvOptions::new(*stride, [0, 0], [1, 1], *groups));
                    Value::Image(if *with_relu { relu(y) } else { y })
                }
                Step::MaxPool { kernel, stride, pad } => {
                    let options = MaxPoolOptions::new(*kernel).with_stride(*stride).with_padding_pairs(*pad);
                    Value::Image(max_pool2d(image(take(0)?)?, options))
                }
                Step::Add { relu: with_relu } => {
                    let sum = image(take(0)?)? + image(take(1)?)?;
                    Value::Image(if *with_relu { relu(sum) } else { sum })
                }
                Step::Relu => match take(0)? {
                    Value::Image(t) => Value::Image(relu(t)),
                    Value::Rows(t) => Value::Rows(relu(t)),
                },
                Step::Pad(pads) => Value::Image(image(take(0)?)?.pad(*pads, PadMode::Constant(0.0))),
                Step::Reshape(shape) => {
                    let x = image(take(0)?)?;
                    let batch = x.dims()[0];
                    let &[rows, values] = &shape[..] else { return err("RESHAPE to other than [B, rows, values]") };
                    Value::Rows(x.permute([0, 2, 3, 1]).reshape([batch, rows, values]))
                }
                Step::Concat(axis) => {
                    let values: Vec<Value> = (0..node.inputs.len()).map(take).collect::<Result<_, _>>()?;
                    match &values[0] {
                        Value::Image(_) => Value::Image(Tensor::cat(values.into_iter().map(image).collect::<Result<_, _>>()?, *axis)),
                        Value::Rows(_) => {
                            let rows = values
                                .into_iter()
                                .map(|v| match v {
                                    Value::Rows(t) => Ok(t),
                                    Value::Image(_) => err("concatenating images with flattened values"),
                                })
                                .collect::<Result<_, _>>()?;
                            Value::Rows(Tensor::cat(rows, *axis))
                        }
                    }
                }
            };
            slots[node.output] = Some(out);
            for &t in frees {
                slots[t] = None;
            }
        }
        self.outputs
            .iter()
            .map(|&o| match slots[o].take() {
                Some(Value::Rows(t)) => Ok(t),
                _ => err("an output of the graph is not a flattened value"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        assert_eq!(same(128, 5, 2), (1, 2));
        assert_eq!(same(64, 3, 2), (0, 1));
        assert_eq!(same(64, 3, 1), (1, 1));
        assert_eq!(same(16, 1, 1), (0, 0));
    }
}
