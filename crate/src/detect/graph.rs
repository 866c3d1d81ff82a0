//! A TFLite graph run on the CPU: the handful of operators BlazeFace and
//! Face Mesh use,
//! translated once into [`kernels`] calls with their weights rearranged.
//!
//! Why the CPU and not the generator's device: the whole network is ~31 M
//! multiply-adds in ~40 small operators; on a GPU the launches and the read
//! back cost more than the arithmetic, and on the CPU a dedicated loop beats
//! a general tensor library several times over (see `kernels`). It also
//! leaves the GPU to the generator.
//!
//! Values stay in TFLite's NHWC layout, so RESHAPE to `[1, rows, values]`
//! is free: such a value is held as an image of height 1.

use super::kernels::{self, Conv, Depthwise};
use crate::nhwc::Image;
use super::tflite::{Activation, Model, OpKind, Options, Padding, TfliteError};

#[derive(Debug)]
enum Step {
    /// Boxed: the weights make it large.
    Conv(Box<Conv>),
    Depthwise(Box<Depthwise>),
    MaxPool { kernel: (usize, usize), stride: (usize, usize) },
    Add { relu: bool },
    Relu,
    /// α per channel.
    Prelu(Vec<f32>),
    /// Only the node's border.
    Pad,
    /// Reinterpret as `[1, rows, values]`.
    Reshape { rows: usize, values: usize },
    /// Along H, W or C (0, 1, 2).
    Concat(usize),
    /// To this height and width.
    Resize { h: usize, w: usize, align_corners: bool, half_pixel_centers: bool },
}

#[derive(Debug)]
struct Node {
    step: Step,
    inputs: Vec<usize>,
    output: usize,
    /// Zero (or -inf for pooling) border added to the first input: H, W, C.
    pad: [(usize, usize); 3],
}

/// The graph with its weights, ready to run one image at a time.
pub struct Network {
    nodes: Vec<Node>,
    input: usize,
    /// The input's height, width and channels.
    pub input_shape: [usize; 3],
    outputs: Vec<usize>,
    /// For each node, the values it was the last to read (freed after it).
    last_uses: Vec<Vec<usize>>,
    slots: usize,
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

fn window_pads(padding: Padding, [h, w]: [usize; 2], kernel: (usize, usize), stride: (usize, usize)) -> [(usize, usize); 3] {
    match padding {
        Padding::Same => [same(h, kernel.0, stride.0), same(w, kernel.1, stride.1), (0, 0)],
        Padding::Valid => [(0, 0); 3],
    }
}

impl Network {
    pub fn new(model: &Model) -> Result<Self, TfliteError> {
        let [input] = model.inputs[..] else { return err("the graph must have one input") };
        let &[1, h, w, c] = &model.tensors[input].shape[..] else { return err("the input must be one NHWC image") };
        // DEQUANTIZE of a constant is done here, once: its output becomes a constant.
        let mut constants: Vec<Option<Vec<f32>>> = (0..model.tensors.len()).map(|t| model.constant(t)).collect::<Result<_, _>>()?;
        let mut nodes = Vec::new();
        for op in &model.operators {
            // Every input an operator kind reads below is there (a damaged
            // file may list fewer: found by `make fuzz`).
            let arity = match op.kind {
                OpKind::Dequantize | OpKind::Relu | OpKind::Reshape | OpKind::MaxPool2d | OpKind::Concatenation => 1,
                OpKind::Conv2d | OpKind::DepthwiseConv2d | OpKind::Add | OpKind::Pad | OpKind::Prelu | OpKind::ResizeBilinear => 2,
            };
            if op.inputs.len() < arity {
                return err(format!("{:?} with {} inputs", op.kind, op.inputs.len()));
            }
            let shape = |i: usize| &model.tensors[op.inputs[i]].shape;
            let &[output] = &op.outputs[..] else { return err("an operator with several outputs") };
            let constant = |i: usize, constants: &[Option<Vec<f32>>]| {
                constants[op.inputs[i]].clone().map_or_else(|| err(format!("{:?} expects constant weights", op.kind)), Ok)
            };
            let out_shape = &model.tensors[output].shape;
            let mut pad = [(0, 0); 3];
            let step = match (op.kind, &op.options) {
                (OpKind::Dequantize, _) => {
                    constants[output] = Some(constant(0, &constants)?);
                    continue;
                }
                (kind @ (OpKind::Conv2d | OpKind::DepthwiseConv2d), &Options::Conv { padding, stride, activation }) => {
                    let (&[_, ih, iw, cin], &[a, kh, kw, b]) = (&shape(0)[..], &shape(1)[..]) else { return err("convolution shapes") };
                    let values = constant(1, &constants)?;
                    let cout = if kind == OpKind::Conv2d { a } else { b };
                    let bias = match op.inputs.get(2) {
                        Some(_) => constant(2, &constants)?,
                        None => vec![0.0; cout],
                    };
                    if bias.len() != cout || Some(values.len()) != [a, kh, kw, b].iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
                        return err("a convolution's bias or weights have the wrong size");
                    }
                    pad = window_pads(padding, [ih, iw], (kh, kw), stride);
                    let relu = activation == Activation::Relu;
                    if kind == OpKind::Conv2d {
                        if b != cin {
                            return err("a convolution's weights do not match its input");
                        }
                        Step::Conv(Box::new(Conv::from_ohwi(&values, [cout, kh, kw, cin], stride, bias, relu)))
                    } else {
                        if a != 1 || b != cin {
                            return err("depthwise convolutions with a channel multiplier are not supported");
                        }
                        // TFLite [1, KH, KW, C] is already [KH, KW, C].
                        Step::Depthwise(Box::new(Depthwise { kh, kw, stride, weights: values, bias, relu }))
                    }
                }
                (OpKind::MaxPool2d, &Options::Pool { padding, stride, filter, activation: Activation::None }) => {
                    let &[_, ih, iw, _] = &shape(0)[..] else { return err("pooling shapes") };
                    pad = window_pads(padding, [ih, iw], filter, stride);
                    Step::MaxPool { kernel: filter, stride }
                }
                (OpKind::Add, &Options::Add { activation }) => Step::Add { relu: activation == Activation::Relu },
                (OpKind::Relu, _) => Step::Relu,
                (OpKind::Prelu, _) => {
                    let alpha = constant(1, &constants)?;
                    if shape(0).last() != Some(&alpha.len()) {
                        return err("PRELU's α is not one value per channel");
                    }
                    Step::Prelu(alpha)
                }
                (OpKind::Pad, _) => {
                    let pads = constant(1, &constants)?;
                    let Ok::<[f32; 8], _>(pads) = pads[..].try_into() else { return err("PAD expects 4 pairs") };
                    let [n0, n1, h0, h1, w0, w1, c0, c1] = pads.map(|p| p as usize);
                    if n0 + n1 > 0 {
                        return err("padding the batch axis");
                    }
                    pad = [(h0, h1), (w0, w1), (c0, c1)];
                    Step::Pad
                }
                (OpKind::Reshape, _) => match &out_shape[..] {
                    &[1, rows, values] => Step::Reshape { rows, values },
                    _ => return err("RESHAPE to other than [1, rows, values]"),
                },
                (OpKind::Concatenation, &Options::Concat { axis, activation: Activation::None }) => {
                    let rank = shape(0).len() as i32;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    // Rank 3 values are held as images of height 1.
                    match (rank, axis) {
                        (4, 1..=3) => Step::Concat(axis as usize - 1),
                        (3, 1 | 2) => Step::Concat(axis as usize),
                        _ => return err(format!("concatenation along axis {axis} of a rank-{rank} value")),
                    }
                }
                (OpKind::ResizeBilinear, &Options::Resize { align_corners, half_pixel_centers }) => match (&shape(0)[..], &out_shape[..]) {
                    (&[1, _, _, c], &[1, h, w, oc]) if c == oc && h > 0 && w > 0 => Step::Resize { h, w, align_corners, half_pixel_centers },
                    _ => return err("RESIZE_BILINEAR of other than one NHWC image to another"),
                },
                (kind, options) => return err(format!("{kind:?} with options {options:?}")),
            };
            nodes.push(Node { step, inputs: op.inputs.clone(), output, pad });
        }
        // Weights are not graph values: only image inputs are read at run time.
        for node in &mut nodes {
            if !matches!(node.step, Step::Add { .. } | Step::Concat(_)) {
                node.inputs.truncate(1);
            }
        }
        fuse_relus(&mut nodes, &model.outputs);
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
        Ok(Self { nodes, input, input_shape: [h, w, c], outputs: model.outputs.clone(), last_uses, slots: model.tensors.len() })
    }

    /// Run on one image; returns the graph's outputs as `[rows, values]`
    /// images of height 1.
    pub fn forward(&self, image: Image) -> Result<Vec<Image>, TfliteError> {
        let [h, w, c] = self.input_shape;
        if (image.h, image.w, image.c) != (h, w, c) {
            return err(format!("the network takes {h}×{w}×{c} images, got {}×{}×{}", image.h, image.w, image.c));
        }
        let mut slots: Vec<Option<Image>> = vec![None; self.slots];
        slots[self.input] = Some(image);
        for (node, frees) in self.nodes.iter().zip(&self.last_uses) {
            let out = match node.step {
                Step::Add { relu } => add_in_place(&mut slots, node, frees, relu)?,
                Step::Prelu(ref alpha) => {
                    let x = owned(&mut slots, node.inputs[0], frees)?;
                    if x.c != alpha.len() {
                        return err("PRELU got the wrong number of channels");
                    }
                    kernels::prelu(x, alpha)
                }
                _ => apply(&slots, node)?,
            };
            slots[node.output] = Some(out);
            for &t in frees {
                slots[t] = None;
            }
        }
        self.outputs.iter().map(|&o| slots[o].take().ok_or_else(|| TfliteError("an output of the graph was never computed".into()))).collect()
    }
}

fn missing() -> TfliteError {
    TfliteError("a value is read before it is computed".into())
}

/// A value to be overwritten: its storage when nobody reads it after this
/// node, else a copy.
fn owned(slots: &mut [Option<Image>], t: usize, frees: &[usize]) -> Result<Image, TfliteError> {
    if frees.contains(&t) { slots[t].take() } else { slots[t].clone() }.ok_or_else(missing)
}

/// ADD into the storage of an input nobody reads after this node (sums
/// commute), else into a copy.
fn add_in_place(slots: &mut [Option<Image>], node: &Node, frees: &[usize], relu: bool) -> Result<Image, TfliteError> {
    let (mut a, mut b) = (node.inputs[0], node.inputs[1]);
    if !frees.contains(&a) {
        std::mem::swap(&mut a, &mut b);
    }
    let x = if a != b { owned(slots, a, frees)? } else { slots[a].clone().ok_or_else(missing)? };
    let y = slots[b].as_ref().ok_or_else(missing)?;
    if (x.h, x.w, x.c) != (y.h, y.w, y.c) {
        return err("ADD of values of different shapes");
    }
    Ok(kernels::add(x, y, relu))
}

/// Every step but ADD: reads its inputs, pads the first as the node says.
fn apply(slots: &[Option<Image>], node: &Node) -> Result<Image, TfliteError> {
    let take = |i: usize| slots[node.inputs[i]].as_ref().ok_or_else(missing);
    let first = take(0)?;
    let fill = if matches!(node.step, Step::MaxPool { .. }) { f32::NEG_INFINITY } else { 0.0 };
    let mut padded = node.pad.iter().any(|&(a, b)| a + b > 0).then(|| first.padded(node.pad, fill));
    let x = padded.as_ref().unwrap_or(first);
    Ok(match &node.step {
        Step::Conv(k) => {
            if x.c != k.input_channels() {
                return err("a convolution got the wrong number of channels");
            }
            kernels::conv(x, k)
        }
        Step::Depthwise(k) => {
            if x.c * k.kh * k.kw != k.weights.len() {
                return err("a depthwise convolution got the wrong number of channels");
            }
            kernels::depthwise(x, k)
        }
        Step::MaxPool { kernel, stride } => kernels::max_pool(x, *kernel, *stride),
        Step::Add { .. } | Step::Prelu(_) => unreachable!("ADD and PRELU run in place"),
        Step::Relu => Image::new(x.h, x.w, x.c, x.data.iter().map(|v| v.max(0.0)).collect()),
        Step::Pad => padded.take().unwrap_or_else(|| first.clone()),
        Step::Reshape { rows, values } => {
            if rows * values != x.data.len() {
                return err("RESHAPE to a different number of values");
            }
            Image::new(1, *rows, *values, x.data.clone())
        }
        &Step::Resize { h, w, align_corners, half_pixel_centers } => kernels::resize_bilinear(x, (h, w), align_corners, half_pixel_centers),
        Step::Concat(axis) => {
            let parts: Vec<&Image> = (0..node.inputs.len()).map(take).collect::<Result<_, _>>()?;
            concat(&parts, *axis)?
        }
    })
}

/// ADD then RELU (BlazeFace's residual joins) in one pass: the RELU goes
/// when it is the only reader of the sum.
fn fuse_relus(nodes: &mut Vec<Node>, outputs: &[usize]) {
    let mut n = 0;
    while n < nodes.len() {
        if let Step::Relu = nodes[n].step {
            let sum = nodes[n].inputs[0];
            let readers = nodes.iter().filter(|m| m.inputs.contains(&sum)).count();
            let producer = nodes[..n].iter().rposition(|m| m.output == sum);
            if let (1, false, Some(p)) = (readers, outputs.contains(&sum), producer)
                && let Step::Add { relu: relu @ false } = &mut nodes[p].step
            {
                *relu = true;
                nodes[p].output = nodes[n].output;
                nodes.remove(n);
                continue;
            }
        }
        n += 1;
    }
}

/// Along H, W or C; along H and W only where the axes before are 1 thick,
/// so that the values simply follow one another.
fn concat(parts: &[&Image], axis: usize) -> Result<Image, TfliteError> {
    let first = parts[0];
    let mut out = (*first).clone();
    for part in &parts[1..] {
        match axis {
            0 if part.w == first.w && part.c == first.c => {
                out.h += part.h;
                out.data.extend_from_slice(&part.data);
            }
            1 if out.h == 1 && part.h == 1 && part.c == first.c => {
                out.w += part.w;
                out.data.extend_from_slice(&part.data);
            }
            2 if part.h == first.h && part.w == first.w => {
                let c = out.c + part.c;
                let mut data = Vec::with_capacity(out.h * out.w * c);
                for (a, b) in out.data.chunks_exact(out.c).zip(part.data.chunks_exact(part.c)) {
                    data.extend_from_slice(a);
                    data.extend_from_slice(b);
                }
                out = Image::new(out.h, out.w, c, data);
            }
            _ => return err("CONCATENATION of values whose shapes do not line up"),
        }
    }
    Ok(out)
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

    #[test]
    fn an_operator_with_too_few_inputs_or_weights_too_large_to_count_is_refused() {
        // The fuzzer's finding: a damaged model whose convolution listed one input.
        let bytes = crate::testdata::detector_model();
        let mut model = Model::parse(&bytes).unwrap();
        let conv = model.operators.iter().position(|op| op.kind == OpKind::Conv2d).unwrap();
        model.operators[conv].inputs.truncate(1);
        let error = Network::new(&model).err().expect("built a convolution without weights");
        assert!(error.0.contains("Conv2d with 1 inputs"), "{error}");
        // Weights whose declared shape overflows when multiplied out.
        let mut model = Model::parse(&bytes).unwrap();
        let weights = model.operators[conv].inputs[1];
        model.tensors[weights].shape = vec![1 << 20, 1 << 20, 1 << 20, 1 << 20];
        assert!(Network::new(&model).is_err());
    }

    #[test]
    fn concatenation_follows_the_axis() {
        let a = Image::new(1, 2, 1, vec![1.0, 2.0]);
        let b = Image::new(1, 1, 1, vec![3.0]);
        assert_eq!(concat(&[&a, &b], 1).unwrap().data, [1.0, 2.0, 3.0]);
        let c = Image::new(1, 2, 2, vec![4.0, 5.0, 6.0, 7.0]);
        let joined = concat(&[&a, &c], 2).unwrap();
        assert_eq!((joined.c, joined.data), (3, vec![1.0, 4.0, 5.0, 2.0, 6.0, 7.0]));
        assert!(concat(&[&a, &c], 1).is_err());
    }
}
