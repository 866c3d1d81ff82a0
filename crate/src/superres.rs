//! Super-resolution, tried against the blend's bicubic + adaptive
//! sharpening: idealo's RDN as the npm package `@upscalerjs/esrgan-slim`
//! ships it (a TensorFlow.js layers model: `model.json` and one weight
//! shard), read here and run on the detector's CPU convolution loops
//! ([`crate::detect::kernels`]). `wav2lip bench enhance` measures it; the
//! app does not use it, because it does not beat the cheaper way (README,
//! "Faces").
//!
//! The graph is Keras's: Conv2D (3×3, 5×5 or 1×1, stride 1), ReLU,
//! Concatenate (channels), Add, nearest UpSampling2D; pixels in 0–255.

use std::collections::HashMap;

use serde::Deserialize;

use crate::detect::kernels::{self, Conv};
use crate::nhwc::Image;

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "modelTopology")]
    topology: Topology,
    #[serde(rename = "weightsManifest")]
    manifest: Vec<Group>,
}

#[derive(Deserialize)]
struct Topology {
    model_config: ModelConfig,
}

#[derive(Deserialize)]
struct ModelConfig {
    config: GraphConfig,
}

#[derive(Deserialize)]
struct GraphConfig {
    layers: Vec<LayerJson>,
    output_layers: Vec<(String, usize, usize)>,
}

#[derive(Deserialize)]
struct LayerJson {
    class_name: String,
    config: serde_json::Value,
    inbound_nodes: Vec<Vec<(String, usize, usize, serde_json::Value)>>,
}

#[derive(Deserialize)]
struct Group {
    weights: Vec<WeightSpec>,
}

#[derive(Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
}

enum Op {
    Input,
    /// The convolution and its SAME border.
    Conv(Box<Conv>, usize),
    Relu,
    Concat,
    Add,
    Upsample(usize),
}

struct Layer {
    name: String,
    op: Op,
    inputs: Vec<String>,
}

pub struct Rdn {
    layers: Vec<Layer>,
    output: String,
    /// How many times larger the output is.
    pub scale: usize,
}

fn bad<T>(what: impl Into<String>) -> Result<T, String> {
    Err(format!("not a usable RDN model: {}", what.into()))
}

impl Rdn {
    /// From `model.json` and its weight shard (`group1-shard1of1.bin`).
    pub fn new(model_json: &str, shard: &[u8]) -> Result<Self, String> {
        let model: ModelJson = serde_json::from_str(model_json).or_else(|e| bad(format!("model.json: {e}")))?;
        // The shard holds the manifest's tensors one after another (in the
        // manifest's order, which is by name, not by layer).
        let mut weights: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
        let mut at = 0usize;
        for spec in model.manifest.iter().flat_map(|g| &g.weights) {
            if spec.dtype != "float32" {
                return bad(format!("{} is {}, not float32", spec.name, spec.dtype));
            }
            let count = spec.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| format!("{} is impossibly large", spec.name))?;
            let Some(bytes) = shard.get(at..at.saturating_add(count.saturating_mul(4))) else { return bad(format!("the shard ends inside {}", spec.name)) };
            at += count * 4;
            weights.insert(spec.name.clone(), (spec.shape.clone(), bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()));
        }
        let mut layers = Vec::new();
        let mut scale = 1;
        for layer in &model.topology.model_config.config.layers {
            let config = &layer.config;
            let name = config["name"].as_str().unwrap_or_default().to_owned();
            let inputs = layer.inbound_nodes.first().map(|node| node.iter().map(|n| n.0.clone()).collect()).unwrap_or_default();
            let op = match layer.class_name.as_str() {
                "InputLayer" => Op::Input,
                "Conv2D" => {
                    let (Some((kshape, kernel)), Some((_, bias))) = (weights.get(&format!("{name}/kernel")), weights.get(&format!("{name}/bias"))) else {
                        return bad(format!("no weights for {name}"));
                    };
                    let &[kh, kw, cin, cout] = &kshape[..] else { return bad(format!("{name}'s kernel is not 4-D")) };
                    let strides = config["strides"].as_array().map(|s| s.iter().filter_map(|v| v.as_u64()).collect::<Vec<_>>());
                    if strides.is_some_and(|s| s.iter().any(|&v| v != 1)) || kh != kw || kh % 2 == 0 || bias.len() != cout {
                        return bad(format!("{name}: only odd square kernels at stride 1 are read"));
                    }
                    // Keras's [kh][kw][cin][cout] → TFLite's [cout][kh][kw][cin].
                    let mut ohwi = vec![0.0; kernel.len()];
                    for t in 0..kh * kw * cin {
                        for o in 0..cout {
                            ohwi[o * kh * kw * cin + t] = kernel[t * cout + o];
                        }
                    }
                    let same = config["padding"].as_str() == Some("same");
                    let relu = config["activation"].as_str() == Some("relu");
                    Op::Conv(Box::new(Conv::from_ohwi(&ohwi, [cout, kh, kw, cin], (1, 1), bias.clone(), relu)), if same { kh / 2 } else { 0 })
                }
                "Activation" if config["activation"].as_str() == Some("relu") => Op::Relu,
                "Concatenate" if matches!(config["axis"].as_i64(), Some(3 | -1)) => Op::Concat,
                "Add" => Op::Add,
                "UpSampling2D" if config["interpolation"].as_str() != Some("bilinear") => {
                    let size = config["size"].as_array().and_then(|s| s.first()).and_then(|v| v.as_u64()).unwrap_or(2) as usize;
                    scale *= size;
                    Op::Upsample(size)
                }
                other => return bad(format!("layer {name} is a {other}")),
            };
            layers.push(Layer { name, op, inputs });
        }
        let output = model.topology.model_config.config.output_layers.first().map(|o| o.0.clone()).ok_or("not a usable RDN model: no output")?;
        Ok(Self { layers, output, scale })
    }

    /// `rgb` (0..1, `w`×`h`, interleaved) `scale` times larger, 0..1.
    pub fn upscale(&self, rgb: &[f32], w: usize, h: usize) -> Result<Vec<f32>, String> {
        let mut values: HashMap<&str, Image> = HashMap::new();
        let missing = |name: &str| format!("not a usable RDN model: {name} is read before it is made");
        for layer in &self.layers {
            let input = |i: usize| layer.inputs.get(i).and_then(|n| values.get(n.as_str())).ok_or_else(|| missing(&layer.name));
            let out = match &layer.op {
                Op::Input => Image::new(h, w, 3, rgb.iter().map(|v| v * 255.0).collect()),
                Op::Conv(conv, pad) => {
                    let x = input(0)?;
                    let padded = if *pad > 0 { x.padded([(*pad, *pad), (*pad, *pad), (0, 0)], 0.0) } else { x.clone() };
                    kernels::conv(&padded, conv)
                }
                Op::Relu => {
                    let x = input(0)?;
                    Image::new(x.h, x.w, x.c, x.data.iter().map(|v| v.max(0.0)).collect())
                }
                Op::Add => kernels::add(input(0)?.clone(), input(1)?, false),
                Op::Concat => {
                    let (a, b) = (input(0)?, input(1)?);
                    let mut data = Vec::with_capacity(a.data.len() + b.data.len());
                    for (p, q) in a.data.chunks_exact(a.c).zip(b.data.chunks_exact(b.c)) {
                        data.extend_from_slice(p);
                        data.extend_from_slice(q);
                    }
                    Image::new(a.h, a.w, a.c + b.c, data)
                }
                Op::Upsample(s) => {
                    let x = input(0)?;
                    let mut data = Vec::with_capacity(x.data.len() * s * s);
                    for y in 0..x.h * s {
                        for xx in 0..x.w * s {
                            data.extend_from_slice(&x.data[((y / s) * x.w + xx / s) * x.c..][..x.c]);
                        }
                    }
                    Image::new(x.h * s, x.w * s, x.c, data)
                }
            };
            values.insert(&layer.name, out);
        }
        let out = values.remove(self.output.as_str()).ok_or_else(|| missing(&self.output))?;
        Ok(out.data.iter().map(|v| (v / 255.0).clamp(0.0, 1.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A three-layer model in the package's format: a 3×3 convolution that
    /// passes each channel through doubled, a ReLU, nearest ×2.
    fn tiny() -> (String, Vec<u8>) {
        let json = r#"{"format": "layers-model", "modelTopology": {"model_config": {"config": {
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "LR"}, "inbound_nodes": []},
                {"class_name": "Conv2D", "config": {"name": "C", "padding": "same", "strides": [1, 1], "activation": "linear"}, "inbound_nodes": [[["LR", 0, 0, {}]]]},
                {"class_name": "Activation", "config": {"name": "R", "activation": "relu"}, "inbound_nodes": [[["C", 0, 0, {}]]]},
                {"class_name": "UpSampling2D", "config": {"name": "U", "size": [2, 2], "interpolation": "nearest"}, "inbound_nodes": [[["R", 0, 0, {}]]]}
            ],
            "output_layers": [["U", 0, 0]]}}},
            "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [
                {"name": "C/bias", "shape": [3], "dtype": "float32"},
                {"name": "C/kernel", "shape": [3, 3, 3, 3], "dtype": "float32"}]}]}"#;
        let mut kernel = vec![0.0f32; 81];
        for c in 0..3 {
            kernel[((1 * 3 + 1) * 3 + c) * 3 + c] = 2.0; // the centre tap, channel c → c
        }
        let bytes = [0.0f32, 0.0, -20.0].iter().chain(&kernel).flat_map(|v| v.to_le_bytes()).collect();
        (json.into(), bytes)
    }

    #[test]
    fn reads_the_layers_format_and_runs_its_graph() {
        let (json, shard) = tiny();
        let rdn = Rdn::new(&json, &shard).unwrap();
        assert_eq!(rdn.scale, 2);
        // One pixel (0.1, 0.3, 0.02): doubled; the last channel's bias (−20 of 255) takes it under 0.
        let out = rdn.upscale(&[0.1, 0.3, 0.02], 1, 1).unwrap();
        assert_eq!(out.len(), 4 * 3);
        for pixel in out.chunks_exact(3) {
            assert!((pixel[0] - 0.2).abs() < 1e-6 && (pixel[1] - 0.6).abs() < 1e-6 && pixel[2] == 0.0, "{pixel:?}");
        }
        // A shard cut short, and an unknown layer, are refused.
        assert!(Rdn::new(&json, &shard[..shard.len() - 4]).is_err());
        assert!(Rdn::new(&json.replace("UpSampling2D", "Lambda"), &shard).is_err());
    }
}
