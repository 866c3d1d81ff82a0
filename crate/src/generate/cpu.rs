//! The generator on the CPU with loops of its own: NHWC, f32, one frame at
//! a time, every convolution a register tile of 4 output pixels × 8 output
//! channels accumulated over the window and the input channels ([`F32x4`];
//! `simd128` in wasm).
//!
//! Why not burn's CPU backend: it runs the generator at ~1.3 s per frame in
//! wasm; this runs it at ~0.26 s on one core. What the tile
//! does that a general library does not:
//! - bias, the residual add and ReLU are applied to the registers before
//!   the one store (no extra passes over the activations);
//! - weights are packed per 8 output channels, `[tap][cin][8]`, so the
//!   innermost loop reads them strictly in order;
//! - a transposed convolution runs as `stride²` small convolutions, one per
//!   output phase, over the input itself: no zeros inserted between pixels
//!   (which would waste three quarters of the work at stride 2);
//! - the tile runs over pixels in row-major order across row ends, so the
//!   3×3 and 6×6 layers fill it too.

use crate::nhwc::{Image, valid, windows};
use crate::simd::F32x4;

use super::layers::{self, Kind, Layers, Stages};

/// Output channels per tile (two registers).
const LANES: usize = 8;
/// Output pixels per tile. On paper 6 (12 accumulators + 2 weights + 1
/// input) fit x86-64's 16 SIMD registers, but V8 keeps fewer free and
/// spills: measured in Chromium, 4 pixels run at 261 ms/frame, 3 at 283, 5
/// at 409, 6 at 350 (natively, 6 gave 157).
const PIXELS: usize = 4;

/// Weights packed for the tile: `[cout / 8][kh][kw][cin][8]`, zeros past
/// `cout`; the bias rounded up to 8 the same way.
#[derive(Debug)]
struct Kernel {
    kh: usize,
    kw: usize,
    cin: usize,
    cout: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Kernel {
    /// `weight(o, ky, kx, ci)` reads the unpacked weights.
    fn pack(kh: usize, kw: usize, cin: usize, cout: usize, bias: &[f32], weight: impl Fn(usize, usize, usize, usize) -> f32) -> Self {
        let wide = cout.next_multiple_of(LANES);
        let mut weights = vec![0.0; wide * kh * kw * cin];
        for o in 0..cout {
            let (block, lane) = (o / LANES, o % LANES);
            for ky in 0..kh {
                for kx in 0..kw {
                    for ci in 0..cin {
                        weights[(((block * kh + ky) * kw + kx) * cin + ci) * LANES + lane] = weight(o, ky, kx, ci);
                    }
                }
            }
        }
        let mut bias = bias.to_vec();
        bias.resize(wide, 0.0);
        Self { kh, kw, cin, cout, weights, bias }
    }
}

/// Where a convolution reads and writes: output pixel `(y, x)` of `rows ×
/// cols` reads the window at `origin + (y, x) * stride` of the (padded)
/// input and lands at `offset + (y, x) * step` of an output `width` pixels
/// wide.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    rows: usize,
    cols: usize,
    stride: (usize, usize),
    origin: (usize, usize),
    width: usize,
    step: usize,
    offset: (usize, usize),
}

/// One convolution: over `x` by `kernel` where `geometry` says, written
/// `base` values into the output array, `residual` (laid out like that
/// output from `base`) added before ReLU.
#[derive(Clone, Copy)]
struct Pass<'a> {
    x: &'a Image,
    kernel: &'a Kernel,
    geometry: Geometry,
    base: usize,
    residual: Option<&'a [f32]>,
    relu: bool,
}

/// Multiply-adds per piece of a layer shared over the pool: small enough
/// that a layer makes a few pieces per thread (a thread that joins late,
/// or finishes early, still finds some), large enough that taking one
/// costs little beside its work.
const PIECE_WORK: usize = 1 << 20;

/// The convolutions `passes` (independent: their outputs do not overlap),
/// written into `out`, shared over the pool by pieces: 8 output channels ×
/// a run of output pixels.
fn convolve(passes: &[Pass], out: &mut [f32]) {
    // (pass, channel block, first pixel, pixels)
    let mut pieces = Vec::new();
    for (i, pass) in passes.iter().enumerate() {
        let (k, g) = (pass.kernel, pass.geometry);
        assert_eq!(pass.x.c, k.cin, "a convolution's input has the wrong channel count");
        let pixels = g.rows * g.cols;
        if pixels == 0 {
            continue;
        }
        // Every read below stays inside `x` and every write inside `out`.
        let last_read = ((g.origin.0 + (g.rows - 1) * g.stride.0 + k.kh - 1) * pass.x.w + g.origin.1 + (g.cols - 1) * g.stride.1 + k.kw - 1) * k.cin + k.cin;
        assert!(last_read <= pass.x.data.len(), "a convolution window reads past its input");
        let last_write = ((g.offset.0 + (g.rows - 1) * g.step) * g.width + g.offset.1 + (g.cols - 1) * g.step) * k.cout + k.cout;
        assert!(pass.base + last_write <= out.len(), "a convolution writes past its output");
        assert!(pass.residual.is_none_or(|r| r.len() >= last_write && k.cout % LANES == 0));
        let per_pixel = k.kh * k.kw * k.cin * LANES;
        let run = (PIECE_WORK / per_pixel).next_multiple_of(PIXELS).max(PIXELS);
        for block in 0..k.cout.div_ceil(LANES) {
            for first in (0..pixels).step_by(run) {
                pieces.push((i, block, first, run.min(pixels - first)));
            }
        }
    }
    let out = crate::pool::Shared::new(out);
    crate::pool::for_each(pieces.len(), |p| {
        let (i, block, first, count) = pieces[p];
        tiles(&passes[i], block, first..first + count, &out);
    });
}

/// Output channels `8 block ..` of output pixels `pixels` of one pass.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
fn tiles(pass: &Pass, block: usize, pixels: std::ops::Range<usize>, out: &crate::pool::Shared<f32>) {
    let Pass { x, kernel: k, geometry: g, base, residual, relu } = *pass;
    let (cin, cout) = (k.cin, k.cout);
    let block_len = k.kh * k.kw * cin * LANES;
    let tap_len = cin * LANES;
    let weights = &k.weights[block * block_len..][..block_len];
    let bias = &k.bias[block * LANES..][..LANES];
    let bias = [F32x4::load(bias), F32x4::load(&bias[4..])];
    let lanes = LANES.min(cout - block * LANES);
    for first in pixels.clone().step_by(PIXELS) {
        let count = PIXELS.min(pixels.end - first);
        // Tail tiles repeat their last pixel; its results are not stored.
        let at: [(usize, usize); PIXELS] = std::array::from_fn(|p| {
            let i = first + p.min(count - 1);
            (i / g.cols, i % g.cols)
        });
        let reads = at.map(|(y, x_)| ((g.origin.0 + y * g.stride.0) * x.w + g.origin.1 + x_ * g.stride.1) * cin);
        let mut acc = [bias; PIXELS];
        for ky in 0..k.kh {
            for kx in 0..k.kw {
                let shift = (ky * x.w + kx) * cin;
                let weights = &weights[(ky * k.kw + kx) * tap_len..][..tap_len];
                let taps = reads.map(|r| &x.data[r + shift..][..cin]);
                accumulate(&mut acc, &taps, weights);
            }
        }
        for (p, [mut lo, mut hi]) in acc.into_iter().enumerate().take(count) {
            let (y, x_) = at[p];
            let o = ((g.offset.0 + y * g.step) * g.width + g.offset.1 + x_ * g.step) * cout + block * LANES;
            if let Some(r) = residual {
                lo = lo.add(F32x4::load(&r[o..]));
                hi = hi.add(F32x4::load(&r[o + 4..]));
            }
            if relu {
                (lo, hi) = (lo.relu(), hi.relu());
            }
            // SAFETY: pieces write distinct (pixel, channel block) cells.
            let dst = unsafe { out.slice(base + o, lanes) };
            if lanes == LANES {
                lo.store(dst);
                hi.store(&mut dst[4..]);
            } else {
                let mut values = [0.0; LANES];
                lo.store(&mut values);
                hi.store(&mut values[4..]);
                dst.copy_from_slice(&values[..lanes]);
            }
        }
    }
}

/// The innermost loop: every input channel of one window tap, for the
/// tile's pixels × 8 channels.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline]
fn accumulate(acc: &mut [[F32x4; 2]; PIXELS], taps: &[&[f32]; PIXELS], weights: &[f32]) {
    for (ci, w) in weights.chunks_exact(LANES).enumerate() {
        let (w0, w1) = (F32x4::load(w), F32x4::load(&w[4..]));
        for p in 0..PIXELS {
            // SAFETY: `weights` holds `cin` chunks and every tap `cin` values.
            let a = F32x4::load_splat(unsafe { taps[p].get_unchecked(ci) });
            acc[p][0] = acc[p][0].mul_add(a, w0);
            acc[p][1] = acc[p][1].mul_add(a, w1);
        }
    }
}

/// A 3×3 convolution, stride 1, padding 1 (three quarters of the
/// generator's arithmetic), by Winograd's F(2×2, 3×3): each 2×2 block of
/// outputs costs 16 multiplies per input × output channel instead of 36.
/// The input's 4×4 tiles and the kernels are transformed once, the 16
/// products are 16 plain 1×1 convolutions (the same register tile), and
/// the transform back adds bias, residual and ReLU.
#[derive(Debug)]
struct Winograd {
    cin: usize,
    cout: usize,
    /// `G g Gᵀ` for each of the 16 tile positions, as 1×1 kernels (no bias).
    kernels: Vec<Kernel>,
    bias: Vec<f32>,
    residual: bool,
}

impl Winograd {
    /// From PyTorch's `[cout][cin][3][3]`.
    fn new(weight: &[f32], bias: &[f32], cout: usize, cin: usize, residual: bool) -> Self {
        // G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]].
        let g = |w: [f32; 3]| [w[0], 0.5 * (w[0] + w[1] + w[2]), 0.5 * (w[0] - w[1] + w[2]), w[2]];
        let mut u = vec![[0.0f32; 16]; cout * cin];
        for (i, k) in weight.chunks_exact(9).enumerate() {
            let rows = [g([k[0], k[1], k[2]]), g([k[3], k[4], k[5]]), g([k[6], k[7], k[8]])];
            for x in 0..4 {
                let column = g([rows[0][x], rows[1][x], rows[2][x]]);
                for y in 0..4 {
                    u[i][y * 4 + x] = column[y];
                }
            }
        }
        let zeros = vec![0.0; cout];
        let kernels = (0..16).map(|xi| Kernel::pack(1, 1, cin, cout, &zeros, |o, _, _, ci| u[o * cin + ci][xi])).collect();
        Self { cin, cout, kernels, bias: bias.to_vec(), residual }
    }

    fn forward(&self, x: &Image) -> Image {
        assert_eq!(x.c, self.cin, "a convolution's input has the wrong channel count");
        let (th, tw) = (x.h.div_ceil(2), x.w.div_ceil(2));
        let tiles = th * tw;
        // One border pixel (padding 1), plus one more where the size is odd.
        let padded = x.padded([(1, 1 + x.h % 2), (1, 1 + x.w % 2), (0, 0)], 0.0);
        let v = transform_input(&padded, th, tw);
        let mut m = vec![0.0; 16 * tiles * self.cout];
        let geometry = Geometry { rows: 1, cols: tiles, stride: (1, 1), origin: (0, 0), width: tiles, step: 1, offset: (0, 0) };
        let passes: Vec<Pass> = v.iter().zip(&self.kernels).enumerate().map(|(xi, (x, kernel))| Pass { x, kernel, geometry, base: xi * tiles * self.cout, residual: None, relu: false }).collect();
        convolve(&passes, &mut m);
        let mut out = vec![0.0; x.h * x.w * self.cout];
        transform_output(&m, (th, tw), &self.bias, self.residual.then_some(x), (x.h, x.w), &mut out);
        Image::new(x.h, x.w, self.cout, out)
    }
}

/// `Bᵀ d B` of every 4×4 input tile (stride 2), channel by channel: 16
/// values of `1 × tiles × c`, a row of tiles per task of the pool.
fn transform_input(x: &Image, th: usize, tw: usize) -> Vec<Image> {
    let tiles = th * tw;
    let mut v: Vec<Image> = (0..16).map(|_| Image::new(1, tiles, x.c, vec![0.0; tiles * x.c])).collect();
    let shared: Vec<_> = v.iter_mut().map(|v| crate::pool::Shared::new(&mut v.data)).collect();
    crate::pool::for_each(th, |ty| transform_input_row(x, ty, tw, &shared));
    drop(shared);
    v
}

/// [`transform_input`] of the tiles in row `ty`.
/// Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
fn transform_input_row(x: &Image, ty: usize, tw: usize, v: &[crate::pool::Shared<f32>]) {
    let c = x.c;
    let mut rows = vec![0.0; 16 * c];
    for tx in 0..tw {
        let t = ty * tw + tx;
        // Bᵀ d: combine the tile's four rows, per column and channel.
        for col in 0..4 {
            let d = |r: usize| &x.data[((2 * ty + r) * x.w + 2 * tx + col) * c..][..c];
            let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3));
            for ch in 0..c {
                rows[col * c + ch] = d0[ch] - d2[ch];
                rows[(4 + col) * c + ch] = d1[ch] + d2[ch];
                rows[(8 + col) * c + ch] = d2[ch] - d1[ch];
                rows[(12 + col) * c + ch] = d1[ch] - d3[ch];
            }
        }
        // (Bᵀ d) B: the same on each row's four columns.
        for r in 0..4 {
            let e = |col: usize| &rows[(r * 4 + col) * c..][..c];
            let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3));
            let put = |xi: usize, a: &[f32], b: &[f32], sign: f32| {
                // SAFETY: tile `t` is in this task's row alone.
                let dst = unsafe { v[r * 4 + xi].slice(t * c, c) };
                for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
                    *d = a + sign * b;
                }
            };
            put(0, e0, e2, -1.0);
            put(1, e1, e2, 1.0);
            put(2, e2, e1, -1.0);
            put(3, e1, e3, -1.0);
        }
    }
}

/// `Aᵀ m A` of every tile's 16 products, + bias (+ residual), ReLU, into the
/// output (tiles past an odd edge lose their second row or column), a row
/// of tiles per task of the pool.
fn transform_output(m: &[f32], tiles: (usize, usize), bias: &[f32], residual: Option<&Image>, size: (usize, usize), out: &mut [f32]) {
    let out = crate::pool::Shared::new(out);
    crate::pool::for_each(tiles.0, |ty| transform_output_row(m, ty, tiles, bias, residual, size, &out));
}

/// [`transform_output`] of the tiles in row `ty`. Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]].
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
fn transform_output_row(m: &[f32], ty: usize, (th, tw): (usize, usize), bias: &[f32], residual: Option<&Image>, (h, w): (usize, usize), out: &crate::pool::Shared<f32>) {
    let c = bias.len();
    let tiles = th * tw;
    let mut s = vec![0.0; 8 * c];
    for tx in 0..tw {
        let t = ty * tw + tx;
        let p = |xi: usize| &m[(xi * tiles + t) * c..][..c];
        // Aᵀ m: two rows of four.
        for col in 0..4 {
            let (m0, m1, m2, m3) = (p(col), p(4 + col), p(8 + col), p(12 + col));
            for ch in 0..c {
                s[col * c + ch] = m0[ch] + m1[ch] + m2[ch];
                s[(4 + col) * c + ch] = m1[ch] - m2[ch] - m3[ch];
            }
        }
        for r in 0..2 {
            let y = 2 * ty + r;
            if y >= h {
                continue;
            }
            let row = |col: usize| &s[(r * 4 + col) * c..][..c];
            let (s0, s1, s2, s3) = (row(0), row(1), row(2), row(3));
            for dx in 0..2 {
                let x_ = 2 * tx + dx;
                if x_ >= w {
                    continue;
                }
                let at = (y * w + x_) * c;
                // SAFETY: output rows 2ty and 2ty + 1 are this task's alone.
                let dst = unsafe { out.slice(at, c) };
                let res = residual.map(|r| &r.data[at..at + c]);
                for ch in 0..c {
                    let mut value = bias[ch] + if dx == 0 { s0[ch] + s1[ch] + s2[ch] } else { s1[ch] - s2[ch] - s3[ch] };
                    if let Some(res) = res {
                        value += res[ch];
                    }
                    dst[ch] = value.max(0.0);
                }
            }
        }
    }
}

/// A convolution, BatchNorm folded in, then (+ input) and ReLU.
#[derive(Debug)]
struct Conv {
    kernel: Kernel,
    /// The window as written; `kernel` is 1×1 over gathered windows when
    /// `gather` is set.
    k: usize,
    stride: (usize, usize),
    padding: usize,
    residual: bool,
    relu: bool,
    /// Few input channels (the mel's one, the face's six) make the inner
    /// loop too short to pay for itself: each output pixel's window is
    /// copied into one row first, and the convolution runs 1×1 over those.
    gather: bool,
}

impl Conv {
    /// From PyTorch's `[cout][cin][k][k]`.
    fn new(weight: &[f32], bias: &[f32], [cout, cin, k, _]: [usize; 4], stride: [usize; 2], padding: usize, residual: bool, relu: bool) -> Self {
        let at = |o: usize, ky: usize, kx: usize, ci: usize| weight[((o * cin + ci) * k + ky) * k + kx];
        let gather = cin < LANES && k > 1;
        let kernel = if gather {
            // Gathered rows are [ky][kx][ci], the order of a 1×1's input channels.
            Kernel::pack(1, 1, k * k * cin, cout, bias, |o, _, _, t| at(o, t / (k * cin), t / cin % k, t % cin))
        } else {
            Kernel::pack(k, k, cin, cout, bias, at)
        };
        Self { kernel, k, stride: (stride[0], stride[1]), padding, residual, relu, gather }
    }

    fn forward(&self, x: &Image) -> Image {
        let p = self.padding;
        let padded = x.padded([(p, p), (p, p), (0, 0)], 0.0);
        let (rows, cols) = (valid(padded.h, self.k, self.stride.0), valid(padded.w, self.k, self.stride.1));
        let (input, stride) = if self.gather { (windows(&padded, (self.k, self.k), self.stride), (1, 1)) } else { (padded, self.stride) };
        let geometry = Geometry { rows, cols, stride, origin: (0, 0), width: cols, step: 1, offset: (0, 0) };
        let mut out = vec![0.0; rows * cols * self.kernel.cout];
        let residual = self.residual.then_some(x.data.as_slice());
        convolve(&[Pass { x: &input, kernel: &self.kernel, geometry, base: 0, residual, relu: self.relu }], &mut out);
        Image::new(rows, cols, self.kernel.cout, out)
    }
}

/// One output phase of a transposed convolution along one axis: outputs
/// `stride * m + phase` take input pixels `m - first ..` through the
/// kernel taps listed.
#[derive(Clone, Debug)]
struct Phase {
    phase: usize,
    /// Kernel indices, in the order the input pixels are read.
    taps: Vec<usize>,
    /// How many input pixels before `m` the first tap reads (negative:
    /// after).
    before: isize,
}

/// Output `o = stride * i - padding + t` for input `i` and tap `t`: the
/// taps that reach `o ≡ phase (mod stride)`, and from where.
fn phases(k: usize, stride: usize, padding: usize) -> Vec<Phase> {
    (0..stride)
        .map(|phase| {
            // o = stride * m + phase  ⇒  t = stride * (m - i) + phase + padding.
            let t0 = phase + padding;
            // d = m - i runs over every d with 0 <= stride * d + t0 < k.
            let ds: Vec<isize> = (-(t0 as isize / stride as isize)..).take_while(|&d| stride as isize * d + (t0 as isize) < k as isize).collect();
            let high = *ds.last().expect("each phase has a tap (kernel >= stride)");
            Phase {
                phase,
                // Read in increasing input order: d from high to low.
                taps: ds.iter().rev().map(|&d| (stride as isize * d + t0 as isize) as usize).collect(),
                before: high,
            }
        })
        .collect()
}

/// A transposed convolution (BatchNorm folded in) + ReLU, as one small
/// convolution per output phase (row phase × column phase).
#[derive(Debug)]
struct Transposed {
    cout: usize,
    stride: usize,
    /// `k + output_padding - 2 * padding - stride`: the output is
    /// `stride * input + grow` pixels per side.
    grow: isize,
    phases: Vec<Phase>,
    /// Per (row phase, column phase), row-major.
    kernels: Vec<Kernel>,
}

impl Transposed {
    /// From PyTorch's `[cin][cout][k][k]`.
    fn new(weight: &[f32], bias: &[f32], [cin, cout, k, _]: [usize; 4], stride: usize, padding: usize, output_padding: usize) -> Self {
        let phases = phases(k, stride, padding);
        let mut kernels = Vec::new();
        for py in &phases {
            for px in &phases {
                kernels.push(Kernel::pack(py.taps.len(), px.taps.len(), cin, cout, bias, |o, jy, jx, ci| {
                    weight[((ci * cout + o) * k + py.taps[jy]) * k + px.taps[jx]]
                }));
            }
        }
        let grow = (k + output_padding) as isize - 2 * padding as isize - stride as isize;
        Self { cout, stride, grow, phases, kernels }
    }

    fn forward(&self, x: &Image) -> Image {
        let s = self.stride;
        let size = |n: usize| (s as isize * n as isize + self.grow) as usize;
        let (oh, ow) = (size(x.h), size(x.w));
        // Outputs per phase, and the border that keeps every read inside.
        let count = |n: usize, phase: usize| (n - phase).div_ceil(s);
        let top = self.phases.iter().map(|p| p.before).max().unwrap_or(0).max(0);
        let origin = |p: &Phase| (top - p.before) as usize;
        let top = top as usize;
        let need = |n: usize, out: usize| {
            let reach = self.phases.iter().map(|p| count(out, p.phase) + p.taps.len() - 1 + origin(p)).max().unwrap_or(0);
            reach.saturating_sub(n + top)
        };
        let padded = x.padded([(top, need(x.h, oh)), (top, need(x.w, ow)), (0, 0)], 0.0);
        let mut out = vec![0.0; oh * ow * self.cout];
        // The phases write interleaved pixels, never the same one.
        let mut passes = Vec::new();
        for (i, py) in self.phases.iter().enumerate() {
            for (j, px) in self.phases.iter().enumerate() {
                let geometry = Geometry {
                    rows: count(oh, py.phase),
                    cols: count(ow, px.phase),
                    stride: (1, 1),
                    origin: (origin(py), origin(px)),
                    width: ow,
                    step: s,
                    offset: (py.phase, px.phase),
                };
                passes.push(Pass { x: &padded, kernel: &self.kernels[i * self.phases.len() + j], geometry, base: 0, residual: None, relu: true });
            }
        }
        convolve(&passes, &mut out);
        Image::new(oh, ow, self.cout, out)
    }
}

#[derive(Debug)]
enum Block {
    Conv(Conv),
    Winograd(Winograd),
    Transposed(Transposed),
}

impl Block {
    fn new(b: &layers::Block) -> Self {
        match b.kind {
            Kind::Conv { stride: [1, 1], padding: 1 } if b.k == 3 && b.cin >= LANES => Self::Winograd(Winograd::new(&b.weight, &b.bias, b.cout, b.cin, b.residual)),
            Kind::Conv { stride, padding } => Self::Conv(Conv::new(&b.weight, &b.bias, b.shape(), stride, padding, b.residual, true)),
            Kind::Transposed { stride, padding, output_padding } => {
                assert!(!b.residual, "no transposed block adds its input");
                Self::Transposed(Transposed::new(&b.weight, &b.bias, b.shape(), stride, padding, output_padding))
            }
        }
    }

    fn forward(&self, x: &Image) -> Image {
        match self {
            Self::Conv(c) => c.forward(x),
            Self::Winograd(c) => c.forward(x),
            Self::Transposed(t) => t.forward(x),
        }
    }
}

#[derive(Debug)]
pub struct Net {
    stages: Stages<Block>,
    output_conv: Conv,
}

impl Net {
    pub fn new(layers: Layers) -> Self {
        let (weight, bias) = &layers.output_conv;
        let output_conv = Conv::new(weight, bias, [3, 32, 1, 1], [1, 1], 0, false, false);
        Self { stages: layers.stages.into_map(|b| Block::new(&b)), output_conv }
    }

    /// `batch` frames of mel `[1,80,16]` and face `[6,96,96]` → `[batch,3,96,96]`.
    /// Frames are independent: with a frame for every thread, each is a
    /// task for the thread pool, all reading the one copy of the weights;
    /// with fewer (live, one frame at a time), each layer is shared out.
    pub fn run(&self, mel: &[f32], face: &[f32], batch: usize) -> Vec<f32> {
        let mel_len = mel.len() / batch;
        let face_len = face.len() / batch;
        let frame = |b: usize| self.frame(&mel[b * mel_len..][..mel_len], &face[b * face_len..][..face_len]);
        if batch >= crate::pool::threads() {
            crate::pool::map(batch, |b| crate::pool::alone(|| frame(b))).concat()
        } else {
            (0..batch).flat_map(frame).collect()
        }
    }

    /// One frame, planar (CHW) in and out as the model's tensors are.
    fn frame(&self, mel: &[f32], face: &[f32]) -> Vec<f32> {
        let mel = Image::new(80, 16, 1, mel.to_vec());
        let x = self.stages.forward(mel, Image::from_planes(face, 6, 96, 96), |b, x| b.forward(&x), |x, skip| concat(&x, &skip));
        let x = self.output_conv.forward(&x);
        x.planes(x.c).into_iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect()
    }
}

/// A fixed piece of the generator's work (a 3×3 convolution, 64 channels
/// in and out, on 24×24: its Winograd products are the loops that take
/// most of a frame), for the worker to time the builds of the core against
/// each other: fused multiply-adds (relaxed SIMD) are faster where the
/// machine's adds are no faster than its multiply-adds, slower elsewhere
/// (their longer latency, on the tile's 8 accumulators).
pub fn probe() -> f32 {
    let (c, size) = (64, 24);
    let weights: Vec<f32> = (0..c * c * 9).map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5).collect();
    let conv = Winograd::new(&weights, &vec![0.0; c], c, c, false);
    let x = Image::new(size, size, c, (0..size * size * c).map(|i| (i % 13) as f32 / 13.0).collect());
    let y = conv.forward(std::hint::black_box(&x));
    y.data.iter().sum()
}

/// `a`'s channels, then `b`'s, per pixel.
fn concat(a: &Image, b: &Image) -> Image {
    assert_eq!((a.h, a.w), (b.h, b.w), "a skip connection's size differs from the decoder's");
    let c = a.c + b.c;
    let mut data = Vec::with_capacity(a.h * a.w * c);
    for (pa, pb) in a.data.chunks_exact(a.c).zip(b.data.chunks_exact(b.c)) {
        data.extend_from_slice(pa);
        data.extend_from_slice(pb);
    }
    Image::new(a.h, a.w, c, data)
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::pseudo;

    /// PyTorch's ConvTranspose2d by its definition: every input pixel adds
    /// its kernel-weighted copy at `stride * i - padding + t`.
    fn transposed_reference(x: &Image, w: &[f32], bias: &[f32], cout: usize, k: usize, s: usize, p: usize, op: usize) -> Image {
        let size = |n: usize| (n - 1) * s + k + op - 2 * p;
        let (oh, ow) = (size(x.h), size(x.w));
        let mut out: Vec<f32> = (0..oh * ow).flat_map(|_| bias.iter().copied()).collect();
        for iy in 0..x.h {
            for ix in 0..x.w {
                for ky in 0..k {
                    for kx in 0..k {
                        let (oy, ox) = ((iy * s + ky) as isize - p as isize, (ix * s + kx) as isize - p as isize);
                        if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                            continue;
                        }
                        for ci in 0..x.c {
                            for o in 0..cout {
                                out[(oy as usize * ow + ox as usize) * cout + o] += x.data[(iy * x.w + ix) * x.c + ci] * w[((ci * cout + o) * k + ky) * k + kx];
                            }
                        }
                    }
                }
            }
        }
        Image::new(oh, ow, cout, out.into_iter().map(|v| v.max(0.0)).collect())
    }

    fn worst(a: &Image, b: &Image) -> f32 {
        assert_eq!((a.h, a.w, a.c), (b.h, b.w, b.c));
        a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn transposed_convolutions_match_their_definition() {
        // The generator's two kinds (stride 2 with output padding; stride 1
        // from one pixel), and odd ones: stride 3, a 5×5 kernel.
        for (h, w, cin, cout, k, s, p, op) in [(3, 4, 9, 10, 3, 2, 1, 1), (1, 1, 5, 16, 3, 1, 0, 0), (4, 3, 3, 5, 3, 3, 1, 2), (5, 2, 8, 3, 5, 2, 2, 0)] {
            let x = Image::new(h, w, cin, pseudo(h * w * cin, 1));
            let weight = pseudo(cin * cout * k * k, 2);
            let bias = pseudo(cout, 3);
            let layer = Transposed::new(&weight, &bias, [cin, cout, k, k], s, p, op);
            let expected = transposed_reference(&x, &weight, &bias, cout, k, s, p, op);
            let error = worst(&layer.forward(&x), &expected);
            assert!(error < 1e-5, "k{k} s{s} p{p} op{op}: {error}");
        }
    }

    #[test]
    fn winograd_matches_the_direct_convolution() {
        // Even and odd sizes (tiles cut at the edge), residual or not, one
        // pixel.
        for (h, w, cin, cout, residual) in [(6, 8, 16, 16, true), (7, 5, 8, 24, false), (1, 1, 8, 8, true), (3, 3, 32, 8, false)] {
            let x = Image::new(h, w, cin, pseudo(h * w * cin, 7));
            let weight = pseudo(cout * cin * 9, 8);
            let bias = pseudo(cout, 9);
            let direct = Conv::new(&weight, &bias, [cout, cin, 3, 3], [1, 1], 1, residual, true).forward(&x);
            let error = worst(&Winograd::new(&weight, &bias, cout, cin, residual).forward(&x), &direct);
            assert!(error < 1e-5, "{h}×{w}×{cin} → {cout}: {error}");
        }
    }

    #[test]
    fn convolutions_match_their_definition() {
        // Residual + ReLU, strides, a gathered few-channel input, pixel and
        // channel tails.
        for (h, w, cin, cout, k, stride, pad, residual) in [(7, 9, 16, 16, 3, [1, 1], 1, true), (9, 7, 10, 13, 3, [3, 2], 1, false), (11, 10, 6, 16, 7, [1, 1], 3, false), (3, 3, 24, 8, 3, [1, 1], 0, false)] {
            let x = Image::new(h, w, cin, pseudo(h * w * cin, 4));
            let weight = pseudo(cout * cin * k * k, 5);
            let bias = pseudo(cout, 6);
            let layer = Conv::new(&weight, &bias, [cout, cin, k, k], stride, pad, residual, true);
            let padded = x.padded([(pad, pad), (pad, pad), (0, 0)], 0.0);
            let (oh, ow) = (valid(padded.h, k, stride[0]), valid(padded.w, k, stride[1]));
            let mut expected = Vec::new();
            for y in 0..oh {
                for x_ in 0..ow {
                    for o in 0..cout {
                        let mut v = bias[o];
                        for ky in 0..k {
                            for kx in 0..k {
                                for ci in 0..cin {
                                    v += padded.data[((y * stride[0] + ky) * padded.w + x_ * stride[1] + kx) * cin + ci] * weight[((o * cin + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                        if residual {
                            v += x.data[(y * ow + x_) * cin + o];
                        }
                        expected.push(v.max(0.0));
                    }
                }
            }
            let error = worst(&layer.forward(&x), &Image::new(oh, ow, cout, expected));
            assert!(error < 1e-5, "{h}×{w}×{cin} → {cout}, k{k} s{stride:?}: {error}");
        }
    }
}
