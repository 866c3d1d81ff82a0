//! The loops BlazeFace spends its time in, on the CPU, NHWC, f32.
//!
//! Why not burn: the detector is ~31 M multiply-adds spread over ~40 small
//! operators, so a general tensor library spends more time per operator
//! than computing (40 ms per frame in wasm). Here every convolution works
//! on a zero-bordered copy of its input (no bounds tests inside the loops)
//! and accumulates 4 pixels × 8 output channels at a time in SIMD
//! registers ([`F32x4`]; in wasm, `simd128` is enabled on these functions
//! only).
//!
//! Weights are laid out `[kh][kw][cin][cout rounded up to 8]` (zeros past
//! `cout`), so the innermost loop always reads 8 contiguous values.

use crate::nhwc::{Image, valid, windows};
use crate::simd::F32x4;

/// Output channels accumulated together.
pub const LANES: usize = 8;
/// Output pixels accumulated together along a row.
const PIXELS: usize = 4;

/// A full convolution (CONV_2D) with its bias and optional ReLU.
#[derive(Debug)]
pub struct Conv {
    pub kh: usize,
    pub kw: usize,
    pub cin: usize,
    pub cout: usize,
    pub stride: (usize, usize),
    /// `[kh][kw][cin][cout.next_multiple_of(LANES)]`.
    pub weights: Vec<f32>,
    /// `cout.next_multiple_of(LANES)` values.
    pub bias: Vec<f32>,
    pub relu: bool,
    /// Set when the input's windows are gathered into rows first: the
    /// window's (kh, kw, stride); the convolution itself is then 1×1.
    pub gather: Option<(usize, usize, (usize, usize))>,
}

impl Conv {
    /// From TFLite's `[cout][kh][kw][cin]` weights.
    pub fn from_ohwi(values: &[f32], [cout, kh, kw, cin]: [usize; 4], stride: (usize, usize), mut bias: Vec<f32>, relu: bool) -> Self {
        assert_eq!(values.len(), cout * kh * kw * cin);
        let wide = cout.next_multiple_of(LANES);
        let mut weights = vec![0.0; kh * kw * cin * wide];
        for o in 0..cout {
            for t in 0..kh * kw * cin {
                weights[t * wide + o] = values[o * kh * kw * cin + t];
            }
        }
        bias.resize(wide, 0.0);
        // Few input channels (the first layer's RGB) make the innermost
        // loop too short to pay for itself: gather each output pixel's
        // window into one row of kh·kw·cin values and run a 1×1 convolution
        // on those (the weights' layout is already that of a 1×1).
        if cin < LANES && kh * kw > 1 {
            return Self { kh: 1, kw: 1, cin: kh * kw * cin, cout, stride: (1, 1), weights, bias, relu, gather: Some((kh, kw, stride)) };
        }
        Self { kh, kw, cin, cout, stride, weights, bias, relu, gather: None }
    }

    /// The channel count of the image the convolution is given.
    pub fn input_channels(&self) -> usize {
        match self.gather {
            Some((kh, kw, _)) => self.cin / (kh * kw),
            None => self.cin,
        }
    }
}

/// A depthwise convolution (DEPTHWISE_CONV_2D, multiplier 1).
#[derive(Debug)]
pub struct Depthwise {
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    /// `[kh][kw][c]`.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
}

/// `x` is already padded; the output is what a VALID convolution gives.
pub fn conv(x: &Image, k: &Conv) -> Image {
    let gathered = k.gather.map(|(kh, kw, stride)| windows(x, (kh, kw), stride));
    let x = gathered.as_ref().unwrap_or(x);
    assert_eq!(x.c, k.cin, "a convolution's input has the wrong channel count");
    let (oh, ow) = (valid(x.h, k.kh, k.stride.0), valid(x.w, k.kw, k.stride.1));
    let mut out = vec![0.0; oh * ow * k.cout];
    conv_tiles(x, k, oh, ow, &mut out);
    Image::new(oh, ow, k.cout, out)
}

/// Tiles of 4 output pixels × 8 output channels, accumulated in SIMD
/// registers over the window and the input channels. Tail pixels of a row
/// repeat the row's last pixel and are not stored.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
fn conv_tiles(x: &Image, k: &Conv, oh: usize, ow: usize, out: &mut [f32]) {
    let wide = k.bias.len();
    let (sy, sx) = k.stride;
    for oy in 0..oh {
        for ox in (0..ow).step_by(PIXELS) {
            let pixels = PIXELS.min(ow - ox);
            for n0 in (0..wide).step_by(LANES) {
                let bias = [F32x4::load(&k.bias[n0..]), F32x4::load(&k.bias[n0 + 4..])];
                let mut acc = [bias; PIXELS];
                for ky in 0..k.kh {
                    let row = &x.data[(oy * sy + ky) * x.w * x.c..][..x.w * x.c];
                    for kx in 0..k.kw {
                        let taps: [&[f32]; PIXELS] = std::array::from_fn(|p| &row[((ox + p.min(pixels - 1)) * sx + kx) * x.c..][..k.cin]);
                        let weights = &k.weights[(ky * k.kw + kx) * k.cin * wide..][..k.cin * wide];
                        for ci in 0..k.cin {
                            let w = &weights[ci * wide + n0..][..LANES];
                            let (w0, w1) = (F32x4::load(w), F32x4::load(&w[4..]));
                            for p in 0..PIXELS {
                                let a = F32x4::splat(taps[p][ci]);
                                acc[p][0] = acc[p][0].mul_add(a, w0);
                                acc[p][1] = acc[p][1].mul_add(a, w1);
                            }
                        }
                    }
                }
                let n = LANES.min(k.cout - n0.min(k.cout));
                for (p, [lo, hi]) in acc.into_iter().enumerate().take(pixels) {
                    let (lo, hi) = if k.relu { (lo.relu(), hi.relu()) } else { (lo, hi) };
                    let mut values = [0.0; LANES];
                    lo.store(&mut values);
                    hi.store(&mut values[4..]);
                    let at = (oy * ow + ox + p) * k.cout + n0;
                    out[at..at + n].copy_from_slice(&values[..n]);
                }
            }
        }
    }
}

/// `x` is already padded; VALID depthwise convolution.
pub fn depthwise(x: &Image, k: &Depthwise) -> Image {
    let (oh, ow) = (valid(x.h, k.kh, k.stride.0), valid(x.w, k.kw, k.stride.1));
    let mut out = vec![0.0; oh * ow * x.c];
    depthwise_pixels(x, k, oh, ow, &mut out);
    Image::new(oh, ow, x.c, out)
}

/// Channels innermost: LLVM vectorizes this loop by itself (and does it
/// better than hand-written lanes here, measured).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
fn depthwise_pixels(x: &Image, k: &Depthwise, oh: usize, ow: usize, out: &mut [f32]) {
    let c = x.c;
    let (sy, sx) = k.stride;
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut out[(oy * ow + ox) * c..][..c];
            o.copy_from_slice(&k.bias[..c]);
            for ky in 0..k.kh {
                for kx in 0..k.kw {
                    let i = &x.data[((oy * sy + ky) * x.w + ox * sx + kx) * c..][..c];
                    let w = &k.weights[(ky * k.kw + kx) * c..][..c];
                    for ((o, &i), &w) in o.iter_mut().zip(i).zip(w) {
                        *o += i * w;
                    }
                }
            }
            if k.relu {
                o.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
    }
}

/// `x` is already padded with -inf; VALID max pooling.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
pub fn max_pool(x: &Image, kernel: (usize, usize), stride: (usize, usize)) -> Image {
    let (oh, ow) = (valid(x.h, kernel.0, stride.0), valid(x.w, kernel.1, stride.1));
    let c = x.c;
    let quads = c / 4 * 4;
    let mut out = vec![f32::NEG_INFINITY; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut out[(oy * ow + ox) * c..][..c];
            for ky in 0..kernel.0 {
                for kx in 0..kernel.1 {
                    let i = &x.data[((oy * stride.0 + ky) * x.w + ox * stride.1 + kx) * c..][..c];
                    for q in (0..quads).step_by(4) {
                        F32x4::load(&o[q..]).max(F32x4::load(&i[q..])).store(&mut o[q..]);
                    }
                    for j in quads..c {
                        o[j] = o[j].max(i[j]);
                    }
                }
            }
        }
    }
    Image::new(oh, ow, c, out)
}

/// `a + b`, optionally through ReLU, into `a`'s storage.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
pub fn add(mut a: Image, b: &Image, relu: bool) -> Image {
    let quads = a.data.len() / 4 * 4;
    for q in (0..quads).step_by(4) {
        let sum = F32x4::load(&a.data[q..]).add(F32x4::load(&b.data[q..]));
        (if relu { sum.relu() } else { sum }).store(&mut a.data[q..]);
    }
    for j in quads..a.data.len() {
        a.data[j] += b.data[j];
        if relu {
            a.data[j] = a.data[j].max(0.0);
        }
    }
    a
}

/// PReLU: `x` where `x ≥ 0`, else `α·x`, α per channel, in place.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
#[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
#[inline(never)]
pub fn prelu(mut x: Image, alpha: &[f32]) -> Image {
    for pixel in x.data.chunks_exact_mut(alpha.len()) {
        for (v, &a) in pixel.iter_mut().zip(alpha) {
            if *v < 0.0 {
                *v *= a;
            }
        }
    }
    x
}

/// TFLite's RESIZE_BILINEAR: each output pixel mixes the four input
/// pixels around where it samples (see [`super::tflite::Options::Resize`]),
/// the edge repeated beyond the input. Three times a frame in the
/// full-range detector, on maps of at most 48×48×48: plain loops suffice.
pub fn resize_bilinear(x: &Image, (oh, ow): (usize, usize), align_corners: bool, half_pixel_centers: bool) -> Image {
    let source = |o: usize, out: usize, input: usize| -> f32 {
        if align_corners && out > 1 {
            o as f32 * (input - 1) as f32 / (out - 1) as f32
        } else if half_pixel_centers {
            (o as f32 + 0.5) * input as f32 / out as f32 - 0.5
        } else {
            o as f32 * input as f32 / out as f32
        }
    };
    let c = x.c;
    let mut out = vec![0.0; oh * ow * c];
    for oy in 0..oh {
        let sy = source(oy, oh, x.h);
        for ox in 0..ow {
            let sx = source(ox, ow, x.w);
            let at = (oy * ow + ox) * c;
            for ch in 0..c {
                // One channel at a time through the shared sampler.
                out[at + ch] = crate::nhwc::bilinear(x.w, x.h, sx, sy, |px, py| [x.data[(py * x.w + px) * c + ch]])[0];
            }
        }
    }
    Image::new(oh, ow, c, out)
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::pseudo;

    /// The definition, written out plainly, on an unpadded input.
    fn reference(x: &Image, weight: impl Fn(usize, usize, usize, usize) -> f32, bias: &[f32], k: (usize, usize), s: (usize, usize), cout: usize) -> Image {
        let (oh, ow) = (valid(x.h, k.0, s.0), valid(x.w, k.1, s.1));
        let mut out = vec![0.0; oh * ow * cout];
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..cout {
                    let mut v = bias[o];
                    for ky in 0..k.0 {
                        for kx in 0..k.1 {
                            for i in 0..x.c {
                                v += x.data[((oy * s.0 + ky) * x.w + ox * s.1 + kx) * x.c + i] * weight(ky, kx, i, o);
                            }
                        }
                    }
                    out[(oy * ow + ox) * cout + o] = v;
                }
            }
        }
        Image::new(oh, ow, cout, out)
    }

    fn close(a: &Image, b: &Image) {
        assert_eq!((a.h, a.w, a.c), (b.h, b.w, b.c));
        let worst = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{worst}");
    }

    #[test]
    fn convolution_matches_its_definition() {
        // Odd sizes on purpose: pixel tails, channel tails, strides; RGB
        // input (gathered windows) and wider inputs (windows read in place).
        for (h, w, cin, cout, k, s) in [(9, 11, 3, 24, (5, 5), (2, 2)), (7, 6, 5, 13, (1, 1), (1, 1)), (6, 9, 4, 2, (3, 2), (1, 2)), (7, 8, 9, 10, (3, 3), (2, 1))] {
            let x = Image::new(h, w, cin, pseudo(h * w * cin, 1));
            let raw = pseudo(k.0 * k.1 * cin * cout, 2);
            let bias = pseudo(cout, 3);
            // TFLite's layout: [cout][kh][kw][cin].
            let layer = Conv::from_ohwi(&raw, [cout, k.0, k.1, cin], s, bias.clone(), false);
            let expected = reference(&x, |ky, kx, i, o| raw[((o * k.0 + ky) * k.1 + kx) * cin + i], &bias, k, s, cout);
            close(&conv(&x, &layer), &expected);
        }
    }

    #[test]
    fn depthwise_matches_its_definition() {
        let (h, w, c) = (8, 7, 13);
        let x = Image::new(h, w, c, pseudo(h * w * c, 4));
        let weights = pseudo(9 * c, 5);
        let bias = pseudo(c, 6);
        for s in [(1, 1), (2, 2)] {
            let layer = Depthwise { kh: 3, kw: 3, stride: s, weights: weights.clone(), bias: bias.clone(), relu: true };
            let got = depthwise(&x, &layer);
            // Per channel, a convolution with one input channel.
            for ch in 0..c {
                let plane = Image::new(h, w, 1, x.data.iter().skip(ch).step_by(c).copied().collect());
                let expected = reference(&plane, |ky, kx, _, _| weights[(ky * 3 + kx) * c + ch], &bias[ch..ch + 1], (3, 3), s, 1);
                let mine: Vec<f32> = got.data.iter().skip(ch).step_by(c).copied().collect();
                let relu: Vec<f32> = expected.data.iter().map(|v| v.max(0.0)).collect();
                close(&Image::new(got.h, got.w, 1, mine), &Image::new(expected.h, expected.w, 1, relu));
            }
        }
    }

    #[test]
    fn resizing_doubles_with_half_pixel_centres_as_tflite_does() {
        // One channel 0, 1, 2 across, two channels apart by 10.
        let x = Image::new(1, 3, 2, vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
        let half = resize_bilinear(&x, (2, 6), false, true);
        // Output pixel o samples (o + ½)/2 − ½: −¼, ¼, ¾, 1¼, 1¾, 2¼ (clamped at the edges).
        let first: Vec<f32> = half.data.iter().step_by(2).copied().collect();
        assert_eq!(first, [0.0, 0.25, 0.75, 1.25, 1.75, 2.0, 0.0, 0.25, 0.75, 1.25, 1.75, 2.0]);
        assert_eq!(half.data[1], 10.0);
        let corners = resize_bilinear(&x, (1, 5), true, false);
        assert_eq!(corners.data.iter().step_by(2).copied().collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5, 2.0]);
        let plain = resize_bilinear(&x, (1, 6), false, false);
        assert_eq!(plain.data.iter().step_by(2).copied().collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]);
    }

    #[test]
    fn padding_and_pooling() {
        let x = Image::new(2, 2, 1, vec![1.0, 2.0, 3.0, 4.0]);
        let p = x.padded([(0, 1), (1, 0), (0, 1)], 0.0);
        assert_eq!((p.h, p.w, p.c), (3, 3, 2));
        assert_eq!(p.data, [0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let pooled = max_pool(&x.padded([(0, 1), (0, 1), (0, 0)], f32::NEG_INFINITY), (2, 2), (2, 2));
        assert_eq!(pooled.data, [4.0]);
    }
}
