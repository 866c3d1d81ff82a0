//! The generated face brought back to the face's size: the 96×96 output
//! upscaled (bicubic; the original's bilinear for its hard paste), then,
//! optionally, sharpened by as much as the real face says it lacks.
//!
//! Why adaptive: the generator's mouth is soft by how much the face was
//! shrunk to 96 px and by how blurred the generator draws it, which differ
//! per video and per frame. A fixed unsharp mask that helps a soft mouth
//! ruins a clean one (`../shared/QUALITY.md`: up to −7 dB). But the
//! generator also redraws the upper half of the box, which the frame has
//! for real: the strength is the one that gives the generated upper half
//! the real upper half's detail (mean gradient magnitude), and it is then
//! applied to the whole face.

use crate::crop::FACE;

/// How the 96-px output is brought back to the face's size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Upscale {
    /// `cv2.resize`'s default, as the original pastes.
    Bilinear,
    /// `cv2.INTER_CUBIC` (Keys' kernel, a = −0.75): sharper, and 0.8 to
    /// 1.8 dB closer to the real lower face (`../shared/QUALITY.md`; the
    /// test below measures it on the fixture photo). The blend's choice.
    Bicubic,
}

/// The source taps and weights for output position `d` of `dst` from `src`
/// samples (half-pixel centres, as OpenCV; taps clamped at the edges).
fn taps(d: usize, src: usize, dst: usize, filter: Upscale) -> ([usize; 4], [f32; 4]) {
    weights((d as f32 + 0.5) * (src as f32 / dst as f32) - 0.5, src, filter)
}

/// The taps and weights at source position `f` (in source pixels, 0 the
/// first pixel's centre), as OpenCV clamps them at the edges.
fn weights(f: f32, src: usize, filter: Upscale) -> ([usize; 4], [f32; 4]) {
    let last = src as isize - 1;
    let clamp = |i: isize| i.clamp(0, last) as usize;
    match filter {
        Upscale::Bilinear => {
            let i = f.floor();
            let (i, f) = if i < 0.0 { (0, 0.0) } else if i as usize >= src - 1 { (src - 1, 0.0) } else { (i as usize, f - i) };
            ([i, clamp(i as isize + 1), i, i], [1.0 - f, f, 0.0, 0.0])
        }
        Upscale::Bicubic => {
            let i = f.floor();
            let t = f - i;
            const A: f32 = -0.75;
            let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
            let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
            let i = i as isize;
            ([clamp(i - 1), clamp(i), clamp(i + 1), clamp(i + 2)], [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)])
        }
    }
}

/// The 96×96 BGR planar output as RGB at one point (`sx`, `sy` in its
/// pixels, 0 the first pixel's centre).
pub fn sample(bgr: &[f32], sx: f32, sy: f32, filter: Upscale) -> [f32; 3] {
    let (rows, wy) = weights(sy, FACE, filter);
    let (cols, wx) = weights(sx, FACE, filter);
    std::array::from_fn(|c| {
        let p = &bgr[(2 - c) * FACE * FACE..];
        rows.iter().zip(wy).map(|(&r, wr)| wr * cols.iter().zip(wx).map(|(&k, w)| p[r * FACE + k] * w).sum::<f32>()).sum()
    })
}

/// The 96×96 BGR planar output as RGB interleaved at `w`×`h`.
pub fn resize(bgr: &[f32], w: usize, h: usize, filter: Upscale) -> Vec<f32> {
    let plane = FACE * FACE;
    let xs: Vec<_> = (0..w).map(|x| taps(x, FACE, w, filter)).collect();
    let mut out = vec![0.0; w * h * 3];
    for y in 0..h {
        let (rows, wy) = taps(y, FACE, h, filter);
        for (x, (cols, wx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let p = &bgr[(2 - c) * plane..];
                let mut v = 0.0;
                for (r, wr) in rows.iter().zip(wy) {
                    let row = &p[r * FACE..];
                    v += wr * cols.iter().zip(wx).map(|(&k, w)| row[k] * w).sum::<f32>();
                }
                out[(y * w + x) * 3 + c] = v;
            }
        }
    }
    out
}

/// Any RGB image (`sw`×`sh`, interleaved) at `dw`×`dh`: each axis
/// averaged over the source pixels each output pixel covers where it
/// shrinks (no aliasing), bicubic where it grows.
pub fn resample(rgb: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    // One axis: for each output index, (source index, weight) pairs.
    let axis = |src: usize, dst: usize| -> Vec<Vec<(usize, f32)>> {
        (0..dst)
            .map(|d| {
                if dst >= src {
                    let (taps, w) = taps(d, src, dst, Upscale::Bicubic);
                    taps.into_iter().zip(w).collect()
                } else {
                    let r = src as f32 / dst as f32;
                    let (a, b) = (d as f32 * r, (d + 1) as f32 * r);
                    (a.floor() as usize..(b.ceil() as usize).min(src)).map(|i| (i, ((i + 1) as f32).min(b) - (i as f32).max(a))).map(|(i, w)| (i, w / r)).collect()
                }
            })
            .collect()
    };
    let (xs, ys) = (axis(sw, dw), axis(sh, dh));
    let mut rows = vec![0.0; sh * dw * 3];
    for y in 0..sh {
        for (x, taps) in xs.iter().enumerate() {
            for c in 0..3 {
                rows[(y * dw + x) * 3 + c] = taps.iter().map(|&(i, w)| w * rgb[(y * sw + i) * 3 + c]).sum();
            }
        }
    }
    let mut out = vec![0.0; dh * dw * 3];
    for (y, taps) in ys.iter().enumerate() {
        for x in 0..dw {
            for c in 0..3 {
                out[(y * dw + x) * 3 + c] = taps.iter().map(|&(i, w)| w * rows[(i * dw + x) * 3 + c]).sum();
            }
        }
    }
    out
}

/// The upper half's rows, where the strength is measured.
fn upper(h: usize) -> std::ops::Range<usize> {
    0..h / 2
}

/// Mean gradient magnitude of the luma (RGB 0..1 interleaved, `w` wide)
/// over `rows`: central differences, inner pixels only.
pub fn detail(rgb: &[f32], w: usize, rows: std::ops::Range<usize>) -> f32 {
    let h = rgb.len() / 3 / w.max(1);
    let luma = |x: usize, y: usize| {
        let p = &rgb[(y * w + x) * 3..];
        0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
    };
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in rows.start.max(1)..rows.end.min(h.saturating_sub(1)) {
        for x in 1..w.saturating_sub(1) {
            let (gx, gy) = (luma(x + 1, y) - luma(x - 1, y), luma(x, y + 1) - luma(x, y - 1));
            sum += f64::from((gx * gx + gy * gy).sqrt() / 2.0);
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// Gaussian blur (σ = 1, 5 taps), separable, edges repeated.
pub fn blur(rgb: &[f32], w: usize, h: usize) -> Vec<f32> {
    const K: [f32; 5] = [0.0545, 0.2442, 0.4026, 0.2442, 0.0545];
    let pass = |src: &[f32], horizontal: bool| {
        let mut out = vec![0.0; src.len()];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    out[(y * w + x) * 3 + c] = (0..5)
                        .map(|k| {
                            let d = k as isize - 2;
                            let (sx, sy) = if horizontal { ((x as isize + d).clamp(0, w as isize - 1) as usize, y) } else { (x, (y as isize + d).clamp(0, h as isize - 1) as usize) };
                            K[k] * src[(sy * w + sx) * 3 + c]
                        })
                        .sum();
                }
            }
        }
        out
    };
    pass(&pass(rgb, true), false)
}

/// An unsharp mask: `rgb + amount · (rgb − blur(rgb))`.
pub fn unsharp(rgb: &[f32], w: usize, h: usize, amount: f32) -> Vec<f32> {
    if amount <= 0.0 {
        return rgb.to_vec();
    }
    let soft = blur(rgb, w, h);
    rgb.iter().zip(&soft).map(|(&v, &s)| v + amount * (v - s)).collect()
}

/// The strongest sharpening tried.
pub const MAX_AMOUNT: f32 = 2.0;

/// How much to sharpen `generated` (`w`×`h` RGB) so that its upper half
/// has the detail of `real`'s: the unsharp mask's detail grows linearly
/// with its amount, so two measures find it; 0 when the generated face is
/// already as sharp, at most [`MAX_AMOUNT`].
pub fn matching_amount(generated: &[f32], real: &[f32], w: usize, h: usize) -> f32 {
    let rows = upper(h);
    let (want, have) = (detail(real, w, rows.clone()), detail(generated, w, rows.clone()));
    if want <= have || w < 4 || h < 8 {
        return 0.0;
    }
    // The upper half alone, with a margin for the blur.
    let part = &generated[..(rows.end + 2).min(h) * w * 3];
    let ph = part.len() / 3 / w;
    let at_one = detail(&unsharp(part, w, ph, 1.0), w, rows);
    if at_one <= have {
        return 0.0;
    }
    ((want - have) / (at_one - have)).clamp(0.0, MAX_AMOUNT)
}

/// The generated face (96×96 BGR planar) brought to `w`×`h` as the app's
/// blend does: bicubic, then sharpened by the amount that matches `real`
/// (the real face at that size, RGB 0..1) when given. Returns RGB 0..1
/// and the amount used.
pub fn enhance(bgr: &[f32], w: usize, h: usize, real: Option<&[f32]>) -> (Vec<f32>, f32) {
    let up = resize(bgr, w, h, Upscale::Bicubic);
    match real {
        Some(real) => {
            let amount = matching_amount(&up, real, w, h);
            (unsharp(&up, w, h, amount), amount)
        }
        None => (up, 0.0),
    }
}

/// How close a face brought back to size is to the real one, over the
/// lower half (where the generated mouth goes): PSNR (dB), SSIM (luma, 8×8
/// windows every 4 pixels) and detail (mean gradient magnitude) relative
/// to the real face's. Both RGB 0..1, `w` wide.
pub fn closeness(made: &[f32], real: &[f32], w: usize) -> (f64, f64, f64) {
    let h = real.len() / 3 / w;
    let lower = h / 2 * w * 3;
    let byte = |v: f32| f64::from((v.clamp(0.0, 1.0) * 255.0).round());
    let squared: f64 = made[lower..].iter().zip(&real[lower..]).map(|(&m, &r)| (byte(m) - byte(r)).powi(2)).sum();
    let psnr = 10.0 * (255.0f64.powi(2) / (squared / (real.len() - lower) as f64).max(1e-12)).log10();
    let luma = |img: &[f32], x: usize, y: usize| {
        let p = &img[(y * w + x) * 3..];
        255.0 * (0.299 * f64::from(p[0].clamp(0.0, 1.0)) + 0.587 * f64::from(p[1].clamp(0.0, 1.0)) + 0.114 * f64::from(p[2].clamp(0.0, 1.0)))
    };
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut windows) = (0.0, 0);
    for y0 in (h / 2..h.saturating_sub(7)).step_by(4) {
        for x0 in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + 8 {
                for x in x0..x0 + 8 {
                    let (a, b) = (luma(made, x, y), luma(real, x, y));
                    sa += a;
                    sb += b;
                    saa += a * a;
                    sbb += b * b;
                    sab += a * b;
                }
            }
            let (ma, mb) = (sa / 64.0, sb / 64.0);
            let (va, vb, cov) = (saa / 64.0 - ma * ma, sbb / 64.0 - mb * mb, sab / 64.0 - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    let rows = h / 2..h;
    (psnr, total / windows.max(1) as f64, f64::from(detail(made, w, rows.clone())) / f64::from(detail(real, w, rows)).max(1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_brings_a_96_px_face_back_closer_to_the_real_one_than_bilinear() {
        // QUALITY.md's measure on the fixture photo: a real face region
        // shrunk to 96 px (area), brought back to its size, compared with
        // itself over its lower half (where the generated mouth goes).
        for (x0, size) in [(128, 192), (80, 288)] {
            let (small, real) = shrunk(x0, 0, size, false);
            let psnr = |filter| closeness(&resize(&small, size, size, filter), &real, size).0;
            let (bilinear, bicubic) = (psnr(Upscale::Bilinear), psnr(Upscale::Bicubic));
            println!("{size}×{size} face region: bilinear {bilinear:.2} dB, bicubic {bicubic:.2} dB over the lower half");
            assert!(bicubic > bilinear + 0.3, "bicubic {bicubic:.2} vs bilinear {bilinear:.2}");
        }
    }

    /// A real face region as the generator would give it back: shrunk to
    /// 96 px (area), optionally blurred (σ = 1: a generated mouth is
    /// softer still), in planar BGR; and the real region as RGB 0..1.
    fn shrunk(x0: usize, y0: usize, size: usize, blurred: bool) -> (Vec<f32>, Vec<f32>) {
        let (photo, width, _) = crate::testdata::astronaut();
        let real: Vec<f32> = (0..size * size * 3).map(|i| photo[((y0 + i / 3 / size) * width + x0 + i / 3 % size) * 4 + i % 3] as f32 / 255.0).collect();
        let k = size / FACE;
        let mut small = vec![0.0f32; FACE * FACE * 3];
        for y in 0..FACE {
            for x in 0..FACE {
                for c in 0..3 {
                    let mut sum = 0.0;
                    for dy in 0..k {
                        for dx in 0..k {
                            sum += real[((y * k + dy) * size + x * k + dx) * 3 + c];
                        }
                    }
                    small[(y * FACE + x) * 3 + c] = sum / (k * k) as f32;
                }
            }
        }
        if blurred {
            small = blur(&small, FACE, FACE);
        }
        let mut bgr = vec![0.0f32; 3 * FACE * FACE];
        for i in 0..FACE * FACE {
            for c in 0..3 {
                bgr[(2 - c) * FACE * FACE + i] = small[i * 3 + c];
            }
        }
        (bgr, real)
    }

    #[test]
    fn adaptive_sharpening_leaves_a_sharp_face_alone_and_sharpens_a_soft_one() {
        for (x0, y0, size) in [(128, 40, 192), (80, 0, 288)] {
            for blurred in [false, true] {
                let (bgr, real) = shrunk(x0, y0, size, blurred);
                let bicubic = resize(&bgr, size, size, Upscale::Bicubic);
                let (sharpened, amount) = enhance(&bgr, size, size, Some(&real));
                let (before, after) = (closeness(&bicubic, &real, size).0, closeness(&sharpened, &real, size).0);
                println!("{size} px, {}: amount {amount:.2}, lower half {before:.2} → {after:.2} dB", if blurred { "blurred" } else { "clean" });
                // Never worse than bicubic by more than a little; on the soft face, better.
                assert!(after > before - 0.3, "{after} vs {before}");
                if blurred {
                    assert!(after > before + 0.2 && amount > 0.3, "{after} vs {before}, amount {amount}");
                }
            }
        }
    }
}
