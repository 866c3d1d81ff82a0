//! The generator on a GPU through WGSL kernels of our own (`conv.wgsl`,
//! `concat.wgsl`), on the wgpu device and queue burn's runtime shares.
//!
//! burn 0.22 without autotune convolves by a direct kernel (two loads per
//! multiply-add), and its autotuned alternatives need cooperative-matrix
//! units that WebGPU does not expose; so, as on the CPU path, the
//! convolutions are ours: register tiles, BatchNorm folded at load, bias,
//! residual and activation fused into the convolution's store. A batch is
//! one submission; only the final frames come back.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use burn::tensor::wgpu::{WgpuSetup, wgpu};
use wgpu::util::DeviceExt;

use super::layers::{self, Kind, Layers};
use crate::nhwc::{Image, valid};

const TRANSPOSED: u32 = 1;
const RESIDUAL: u32 = 2;
const RELU: u32 = 4;
const SIGMOID: u32 = 8;
/// `@workgroup_size` of both kernels.
const GROUP: usize = 64;

/// A convolution block's packed weights on the device.
#[derive(Debug)]
struct Block {
    weight: wgpu::Buffer,
    bias: wgpu::Buffer,
    cin: usize,
    cout: usize,
    k: usize,
    kind: Kind,
    flags: u32,
}

/// An activation on the device: NHWC, channels padded to a multiple of 4.
#[derive(Clone)]
struct Activation {
    buffer: Rc<Pooled>,
    n: usize,
    h: usize,
    w: usize,
    c4: usize,
}

/// How weights and activations are stored on the device (arithmetic is
/// f32 either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    F32,
    /// Half the memory and memory traffic, where the GPU has `shader-f16`;
    /// outputs move by ~3e-3 (under one level of 8-bit colour; 2.7e-3 measured).
    F16,
}

impl Storage {
    /// F16 where the device has `shader-f16`, else F32.
    pub fn best(device: &wgpu::Device) -> Self {
        if device.features().contains(wgpu::Features::SHADER_F16) { Self::F16 } else { Self::F32 }
    }

    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }

    /// Values as the device stores them.
    fn bytes(self, values: &[f32]) -> Vec<u8> {
        match self {
            Self::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Self::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        }
    }

    fn values(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Self::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Self::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        }
    }

    /// The WGSL that declares `S`, the stored vec4, ahead of a kernel.
    fn declaration(self) -> &'static str {
        match self {
            Self::F32 => "alias S = vec4<f32>;\n",
            Self::F16 => "enable f16;\nalias S = vec4<f16>;\n",
        }
    }
}


/// Buffers whose activations are no longer needed, for later ones of the
/// same batch: a batch is recorded before it runs, and WebGPU orders each
/// dispatch's reads before a later one's writes, so a buffer is free for
/// reuse as soon as the recording has passed its last reader: 16 MB a
/// frame instead of 24 MB with every activation held at once.
type Pool = Rc<RefCell<Vec<wgpu::Buffer>>>;

struct Pooled {
    buffer: wgpu::Buffer,
    pool: Pool,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.borrow_mut().push(self.buffer.clone());
    }
}

/// One dispatch of a recorded batch.
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    invocations: usize,
}

#[derive(Debug)]
pub struct Net {
    device: wgpu::Device,
    queue: wgpu::Queue,
    conv: wgpu::ComputePipeline,
    concat: wgpu::ComputePipeline,
    stages: layers::Stages<Block>,
    /// The final 1×1 convolution with its sigmoid.
    output: Block,
    storage: Storage,
}

impl Net {
    /// `storage` F16 needs a device with `shader-f16` ([`Storage::best`]).
    pub fn new(layers: Layers, setup: &WgpuSetup, storage: Storage) -> Self {
        let (device, queue) = (setup.device.clone(), setup.queue.clone());
        let pipeline = |source: &str, entry: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(format!("{}{source}", storage.declaration()).into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let conv = pipeline(include_str!("conv.wgsl"), "conv");
        let concat = pipeline(include_str!("concat.wgsl"), "concat");
        let (weight, bias) = layers.output_conv;
        let output = layers::Block {
            cin: 32,
            cout: 3,
            k: 1,
            kind: Kind::Conv { stride: [1, 1], padding: 0 },
            residual: false,
            weight,
            bias,
        };
        let upload = |block: layers::Block, flags| {
            let (weight, bias) = pack(&block);
            let buffer = |contents: &[u8], label| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: wgpu::BufferUsages::STORAGE,
                })
            };
            Block {
                weight: buffer(&storage.bytes(&weight), "weights"),
                bias: buffer(&Storage::F32.bytes(&bias), "bias"),
                cin: block.cin,
                cout: block.cout,
                k: block.k,
                kind: block.kind,
                flags: flags
                    | if block.residual { RESIDUAL } else { 0 }
                    | if matches!(block.kind, Kind::Transposed { .. }) { TRANSPOSED } else { 0 },
            }
        };
        let stages = layers.stages.into_map(|b| upload(b, RELU));
        let output = upload(output, SIGMOID);
        Self { device, queue, conv, concat, stages, output, storage }
    }

    /// One batch, as [`super::Generator::run`]: NCHW in, NCHW out.
    pub async fn run(&self, mel: &[f32], face: &[f32], batch: usize) -> Result<Vec<f32>, String> {
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let recorded = RefCell::new(Vec::new());
        let pool = Pool::default();
        let mel = self.upload(mel, batch, 1, 80, 16, &pool);
        let face = self.upload(face, batch, 6, 96, 96, &pool);
        let x = self.stages.forward(mel, face, |b, x| self.block(b, &x, &pool, &recorded), |a, b| self.join(&a, &b, &pool, &recorded));
        let out = self.block(&self.output, &x, &pool, &recorded);
        drop(x);

        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("generator") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("generator"), timestamp_writes: None });
            for dispatch in recorded.into_inner() {
                pass.set_pipeline(&dispatch.pipeline);
                pass.set_bind_group(0, &dispatch.group, &[]);
                let (x, y) = grid(dispatch.invocations);
                pass.dispatch_workgroups(x, y, 1);
            }
        }
        let size = (out.n * out.h * out.w * out.c4 * 4 * self.storage.size()) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frames"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(&out.buffer.buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        if let Some(error) = memory.pop().await {
            return Err(format!("the GPU ran out of memory ({error}); a smaller batch may fit"));
        }
        if let Some(error) = validation.pop().await {
            return Err(format!("the GPU refused the generator's work: {error}"));
        }
        map(&self.device, &staging).await?;
        let nhwc = self.storage.values(&staging.get_mapped_range(..).map_err(|e| format!("reading the result failed: {e:?}"))?);
        staging.unmap();
        let frame = out.h * out.w * out.c4 * 4;
        Ok(nhwc.chunks_exact(frame).flat_map(|f| Image::new(out.h, out.w, out.c4 * 4, f.to_vec()).planes(3)).collect())
    }

    /// NCHW values to an NHWC activation with channels padded to 4.
    fn upload(&self, values: &[f32], n: usize, c: usize, h: usize, w: usize, pool: &Pool) -> Activation {
        let c4 = c.div_ceil(4);
        let nhwc: Vec<f32> = values
            .chunks_exact(c * h * w)
            .flat_map(|f| Image::from_planes(f, c, h, w).padded([(0, 0), (0, 0), (0, c4 * 4 - c)], 0.0).data)
            .collect();
        let x = self.activation(n, h, w, c4, pool);
        self.queue.write_buffer(&x.buffer.buffer, 0, &self.storage.bytes(&nhwc));
        x
    }

    /// Room for an activation: the smallest free buffer that holds it, or a new one.
    fn activation(&self, n: usize, h: usize, w: usize, c4: usize, pool: &Pool) -> Activation {
        let size = (n * h * w * c4 * 4 * self.storage.size()) as u64;
        let reused = {
            let mut free = pool.borrow_mut();
            let fit = free.iter().enumerate().filter(|(_, b)| b.size() >= size).min_by_key(|(_, b)| b.size()).map(|(i, _)| i);
            fit.map(|i| free.swap_remove(i))
        };
        let buffer = reused.unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("activation"),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        Activation { buffer: Rc::new(Pooled { buffer, pool: pool.clone() }), n, h, w, c4 }
    }

    fn uniform(&self, values: &[u32]) -> wgpu::Buffer {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &bytes,
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    fn group(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    fn block(&self, block: &Block, x: &Activation, pool: &Pool, recorded: &RefCell<Vec<Dispatch>>) -> Activation {
        debug_assert_eq!(x.c4, block.cin.div_ceil(4));
        let k = block.k;
        let (sy, sx, pad, h, w) = match block.kind {
            Kind::Conv { stride: [sy, sx], padding } => {
                (sy, sx, padding, valid(x.h + 2 * padding, k, sy), valid(x.w + 2 * padding, k, sx))
            }
            Kind::Transposed { stride, padding, output_padding } => (
                stride,
                stride,
                padding,
                (x.h - 1) * stride + k + output_padding - 2 * padding,
                (x.w - 1) * stride + k + output_padding - 2 * padding,
            ),
        };
        let (oc4, ob) = (block.cout.div_ceil(4), block.cout.div_ceil(8));
        let y = self.activation(x.n, h, w, oc4, pool);
        let params = self.uniform(&[
            x.n, x.h, x.w, x.c4, h, w, oc4, ob, k, sy, sx, pad, block.flags as usize, 0, 0, 0,
        ].map(|v| v as u32));
        // Without a residual the kernel never reads binding 3; the bias stands in.
        let residual = if block.flags & RESIDUAL != 0 { &x.buffer.buffer } else { &block.bias };
        let group = self.group(&self.conv, &[&x.buffer.buffer, &block.weight, &block.bias, residual, &y.buffer.buffer, &params]);
        recorded.borrow_mut().push(Dispatch { pipeline: self.conv.clone(), group, invocations: x.n * h * w.div_ceil(4) * ob });
        y
    }

    fn join(&self, a: &Activation, b: &Activation, pool: &Pool, recorded: &RefCell<Vec<Dispatch>>) -> Activation {
        debug_assert_eq!((a.n, a.h, a.w), (b.n, b.h, b.w));
        let y = self.activation(a.n, a.h, a.w, a.c4 + b.c4, pool);
        let pixels = a.n * a.h * a.w;
        let params = self.uniform(&[pixels as u32, a.c4 as u32, b.c4 as u32, 0]);
        let group = self.group(&self.concat, &[&a.buffer.buffer, &b.buffer.buffer, &y.buffer.buffer, &params]);
        recorded.borrow_mut().push(Dispatch { pipeline: self.concat.clone(), group, invocations: pixels * y.c4 });
        y
    }
}

/// Weights in `conv.wgsl`'s layout, `[cout/8][ky][kx][cin/4][ci 0..4][co 0..8]`
/// (zero-padded), and the bias padded to a multiple of 8.
fn pack(block: &layers::Block) -> (Vec<f32>, Vec<f32>) {
    let layers::Block { cin, cout, k, .. } = *block;
    let (c4, ob) = (cin.div_ceil(4), cout.div_ceil(8));
    let mut packed = vec![0.0; ob * k * k * c4 * 32];
    let mut i = 0;
    for o in 0..ob {
        for ky in 0..k {
            for kx in 0..k {
                for ci in 0..c4 * 4 {
                    for lane in 0..8 {
                        let co = o * 8 + lane;
                        if ci < cin && co < cout {
                            packed[i] = block.weight[match block.kind {
                                Kind::Conv { .. } => ((co * cin + ci) * k + ky) * k + kx,
                                Kind::Transposed { .. } => ((ci * cout + co) * k + ky) * k + kx,
                            }];
                        }
                        i += 1;
                    }
                }
            }
        }
    }
    let mut bias = block.bias.clone();
    bias.resize(ob * 8, 0.0);
    (packed, bias)
}

/// Workgroups for `invocations`, wrapping into a second dimension past the
/// 65 535 a dimension may hold.
fn grid(invocations: usize) -> (u32, u32) {
    let groups = invocations.div_ceil(GROUP);
    let x = groups.min(65_535);
    (x as u32, groups.div_ceil(x.max(1)) as u32)
}

/// Map `buffer` for reading; resolves when the GPU has finished with it.
async fn map(device: &wgpu::Device, buffer: &wgpu::Buffer) -> Result<(), String> {
    type Slot = (Option<Result<(), wgpu::BufferAsyncError>>, Option<Waker>);
    let slot: Arc<Mutex<Slot>> = Arc::default();
    let done = slot.clone();
    buffer.map_async(wgpu::MapMode::Read, .., move |result| {
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        done.0 = Some(result);
        if let Some(waker) = done.1.take() {
            waker.wake();
        }
    });
    // Natively nothing drives wgpu's callbacks but a poll; in the browser
    // the map's promise does, and this returns at once.
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| format!("the GPU stopped: {e}"))?;
    std::future::poll_fn(|cx| {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.0.take() {
            Some(result) => Poll::Ready(result.map_err(|e| format!("reading the result failed: {e}"))),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
