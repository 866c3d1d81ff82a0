//! The generated face back into the frame, without the original's seam.
//!
//! The original resized the 96×96 output to the crop box and pasted it as a
//! hard rectangle: its blur and any colour drift end at a visible edge.
//! Here only the lower face changes (the generator only redraws the lower
//! half anyway): the output is first matched in colour to the frame over
//! the upper half of the box, where it should reproduce the input, then
//! mixed in through a soft mask that falls to zero inside the box, so the
//! box border never shows. The mask follows the lower face's outline from
//! the face's mesh (below the nose, round the jaw), so neck, collar and
//! background beside the jaw stay untouched; without a mesh, an ellipse
//! around the mouth and jaw.

use crate::crop::{FACE, Turned};

/// Where the mask sits in the box, as fractions of its width and height.
#[derive(Clone, Copy, Debug)]
pub struct MaskShape {
    pub centre: [f32; 2],
    pub radius: [f32; 2],
    /// Width of the soft edge, as a fraction of the box width.
    pub feather: f32,
}

impl MaskShape {
    /// Around the mouth: centred on the mouth keypoint when there is one
    /// (x, y relative to the box), covering cheeks to chin.
    pub fn around(mouth: Option<[f32; 2]>) -> Self {
        let centre = mouth.map_or([0.5, 0.7], |[x, y]| [x.clamp(0.3, 0.7), y.clamp(0.55, 0.8)]);
        Self { centre, radius: [0.34, 0.26], feather: 0.12 }
    }
}

/// Which part of the box the generated face replaces.
#[derive(Clone, Copy, Debug)]
pub enum Mask<'a> {
    Ellipse(MaskShape),
    /// A polygon in frame pixels (the lower face's outline), feathered
    /// across its edge: full a little inside, nothing a little outside.
    Outline(&'a [[f32; 2]]),
}

/// The outline mask's soft edge, as a fraction of the box width, and how
/// much of it lies outside the outline.
const OUTLINE_FEATHER: f32 = 0.08;
const OUTLINE_OUTSIDE: f32 = 0.25;

/// The original's paste: the output resized to the box replaces it.
pub fn paste_hard(rgba: &mut [u8], width: usize, crop: [i32; 4], bgr: &[f32]) {
    let patch = resize_to_box(bgr, crop, Upscale::Bilinear);
    let [x1, y1, x2, y2] = crop.map(|v| v as usize);
    for y in y1..y2 {
        for x in x1..x2 {
            let p = &patch[((y - y1) * (x2 - x1) + (x - x1)) * 3..][..3];
            for c in 0..3 {
                rgba[(y * width + x) * 4 + c] = to_u8(p[c]);
            }
        }
    }
}

/// Ours: colour-matched, feathered, lower face only. `turn` (radians,
/// clockwise on screen) is the angle the crop box was turned by for the
/// generator ([`crate::crop::generator_input_turned`]): the face goes back
/// turned the same way.
pub fn blend(rgba: &mut [u8], width: usize, crop: [i32; 4], turn: f32, bgr: &[f32], mask: Mask<'_>) {
    let height = rgba.len() / 4 / width.max(1);
    let turned = Turned::new(crop, turn);
    let [x1, y1, x2, y2] = crop;
    let (w, h) = ((x2 - x1) as f32, (y2 - y1) as f32);
    let [rx1, ry1, rx2, ry2] = turned.bounds(width, height);
    let rw = rx2 - rx1;
    // The generated face at each frame pixel the box covers (its upscale
    // sampled there directly: one resampling, whatever the turn), and
    // where in the box that pixel is.
    let mut patch = Vec::with_capacity(rw * (ry2 - ry1));
    for y in ry1..ry2 {
        for x in rx1..rx2 {
            let [u, v] = turned.to_box([x as f32 + 0.5, y as f32 + 0.5]);
            let inside = (0.0..w).contains(&u) && (0.0..h).contains(&v);
            patch.push(inside.then(|| ([u, v], sample(bgr, u * FACE as f32 / w - 0.5, v * FACE as f32 / h - 0.5, Upscale::Bicubic))));
        }
    }
    match_colour(&mut patch, rgba, width, [rx1, ry1, rx2, ry2], h / 2.0);
    let feather = match mask {
        Mask::Ellipse(shape) => shape.feather,
        Mask::Outline(_) => OUTLINE_FEATHER,
    } * w;
    let feather = feather.max(1.0);
    for (i, covered) in patch.iter().enumerate() {
        let Some(([u, v], new)) = covered else { continue };
        let (x, y) = (rx1 + i % rw, ry1 + i / rw);
        let inner = match mask {
            Mask::Ellipse(shape) => {
                // Distance outside the ellipse, in pixels (negative inside).
                let (dx, dy) = ((u / w - shape.centre[0]) / shape.radius[0], (v / h - shape.centre[1]) / shape.radius[1]);
                let r = (dx * dx + dy * dy).sqrt();
                let outside = (r - 1.0) * shape.radius[0].min(shape.radius[1]) * w.min(h);
                smoothstep(1.0 - outside / feather)
            }
            Mask::Outline(outline) => {
                let outside = signed_distance(outline, [x as f32 + 0.5, y as f32 + 0.5]);
                smoothstep(OUTLINE_OUTSIDE - outside / feather)
            }
        };
        // Never reach the box border.
        let edge = u.min(*v).min(w - u).min(h - v);
        let m = inner * smoothstep(edge / feather);
        if m <= 0.0 {
            continue;
        }
        for (old, &new) in rgba[(y * width + x) * 4..][..3].iter_mut().zip(new) {
            let was = *old as f32 / 255.0;
            *old = to_u8(was + (new - was) * m);
        }
    }
}

/// How far `p` lies outside the polygon (negative inside), in pixels:
/// the distance to its nearest edge, signed by the even-odd rule.
fn signed_distance(polygon: &[[f32; 2]], p: [f32; 2]) -> f32 {
    let mut nearest = f32::MAX;
    let mut inside = false;
    for (i, &a) in polygon.iter().enumerate() {
        let b = polygon[(i + 1) % polygon.len()];
        let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
        let (px, py) = (p[0] - a[0], p[1] - a[1]);
        let t = ((px * ex + py * ey) / (ex * ex + ey * ey).max(1e-12)).clamp(0.0, 1.0);
        nearest = nearest.min((px - t * ex).powi(2) + (py - t * ey).powi(2));
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < a[0] + (p[1] - a[1]) / ey * ex {
            inside = !inside;
        }
    }
    if inside { -nearest.sqrt() } else { nearest.sqrt() }
}

fn smoothstep(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

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
fn sample(bgr: &[f32], sx: f32, sy: f32, filter: Upscale) -> [f32; 3] {
    let (rows, wy) = weights(sy, FACE, filter);
    let (cols, wx) = weights(sx, FACE, filter);
    std::array::from_fn(|c| {
        let p = &bgr[(2 - c) * FACE * FACE..];
        rows.iter().zip(wy).map(|(&r, wr)| wr * cols.iter().zip(wx).map(|(&k, w)| p[r * FACE + k] * w).sum::<f32>()).sum()
    })
}

/// The 96×96 BGR planar output as RGB interleaved at the box's size.
fn resize_to_box(bgr: &[f32], crop: [i32; 4], filter: Upscale) -> Vec<f32> {
    let [x1, y1, x2, y2] = crop;
    let (w, h) = ((x2 - x1) as usize, (y2 - y1) as usize);
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

/// Shift and scale each channel of the generated face so that over the
/// upper half of the box (box coordinates `v` < `half`), which the
/// generator saw unmasked, it has the frame's mean and spread there.
/// `patch` covers `region` of the frame, row by row.
fn match_colour(patch: &mut [Option<([f32; 2], [f32; 3])>], rgba: &[u8], width: usize, region: [usize; 4], half: f32) {
    let [rx1, ry1, rx2, _] = region;
    let rw = rx2 - rx1;
    for c in 0..3 {
        let (mut n, mut gs, mut gq, mut fs, mut fq) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (i, covered) in patch.iter().enumerate() {
            let Some(([_, v], new)) = covered else { continue };
            if *v >= half {
                continue;
            }
            let (g, f) = (new[c] as f64, rgba[((ry1 + i / rw) * width + rx1 + i % rw) * 4 + c] as f64 / 255.0);
            n += 1.0;
            gs += g;
            gq += g * g;
            fs += f;
            fq += f * f;
        }
        let n = n.max(1.0);
        let (gm, fm) = (gs / n, fs / n);
        let (gsd, fsd) = ((gq / n - gm * gm).max(0.0).sqrt(), (fq / n - fm * fm).max(0.0).sqrt());
        // A flat patch has no spread to match; keep its contrast then.
        let gain = if gsd > 1e-3 { (fsd / gsd).clamp(0.5, 2.0) } else { 1.0 };
        for (_, new) in patch.iter_mut().flatten() {
            new[c] = ((new[c] as f64 - gm) * gain + fm) as f32;
        }
    }
}

/// How visible the box border is: along each side, in runs of 8 pixels,
/// the absolute difference between the mean luma just inside and just
/// outside the box, averaged over all runs (grey levels). Averaging a run
/// first lets texture cancel out and leaves the step a seam makes.
pub fn border_step(rgba: &[u8], width: usize, height: usize, crop: [i32; 4]) -> f32 {
    const RUN: usize = 8;
    let [x1, y1, x2, y2] = crop;
    let luma = |(x, y): (i32, i32)| {
        let p = &rgba[(y as usize * width + x as usize) * 4..];
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    let inside = |x: i32, y: i32| x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height;
    // Each side: the pixel pairs (inside, outside) along it.
    type Pair = ((i32, i32), (i32, i32));
    let sides: [Vec<Pair>; 4] = [
        (x1..x2).map(|x| ((x, y1), (x, y1 - 1))).collect(),
        (x1..x2).map(|x| ((x, y2 - 1), (x, y2))).collect(),
        (y1..y2).map(|y| ((x1, y), (x1 - 1, y))).collect(),
        (y1..y2).map(|y| ((x2 - 1, y), (x2, y))).collect(),
    ];
    let (mut sum, mut runs) = (0.0, 0);
    for side in &sides {
        if side.first().is_none_or(|&(_, (x, y))| !inside(x, y)) {
            continue; // the box touches the frame's edge here
        }
        for run in side.chunks_exact(RUN) {
            let step: f32 = run.iter().map(|&(a, b)| luma(a) - luma(b)).sum::<f32>() / RUN as f32;
            sum += step.abs();
            runs += 1;
        }
    }
    if runs == 0 { 0.0 } else { sum / runs as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crop::generator_input;

    /// What a generator typically returns: the face, softer (96 px) and a
    /// little off in colour; here the reference channels of its input,
    /// blurred and tinted.
    fn imperfect_output(input: &[f32]) -> Vec<f32> {
        let plane = FACE * FACE;
        let mut out = input[3 * plane..].to_vec();
        for c in 0..3 {
            let p = &mut out[c * plane..(c + 1) * plane];
            let copy = p.to_vec();
            for y in 1..FACE - 1 {
                for x in 1..FACE - 1 {
                    let mut s = 0.0;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            s += copy[(y + dy - 1) * FACE + x + dx - 1];
                        }
                    }
                    p[y * FACE + x] = s / 9.0;
                }
            }
            for v in p.iter_mut() {
                *v = *v * 0.92 + [0.03, 0.0, -0.02][c];
            }
        }
        out
    }

    #[test]
    fn bicubic_brings_a_96_px_face_back_closer_to_the_real_one_than_bilinear() {
        // QUALITY.md's measure on the fixture photo: a real face region
        // shrunk to 96 px (area), brought back to its size, compared with
        // itself over its lower half (where the generated mouth goes).
        let (photo, width, _) = crate::testdata::astronaut();
        for (x0, size) in [(128, 192), (80, 288)] {
            let k = size / FACE;
            let plane = FACE * FACE;
            let mut small = vec![0.0f32; 3 * plane];
            for y in 0..FACE {
                for x in 0..FACE {
                    for c in 0..3 {
                        let mut sum = 0.0;
                        for dy in 0..k {
                            for dx in 0..k {
                                sum += photo[((y * k + dy) * width + x0 + x * k + dx) * 4 + c] as f32;
                            }
                        }
                        // Planar BGR, as the generator returns.
                        small[(2 - c) * plane + y * FACE + x] = sum / (k * k) as f32 / 255.0;
                    }
                }
            }
            let psnr = |filter| {
                let back = resize_to_box(&small, [0, 0, size as i32, size as i32], filter);
                let mut squared = 0.0f64;
                for y in size / 2..size {
                    for x in 0..size {
                        for c in 0..3 {
                            let real = photo[(y * width + x0 + x) * 4 + c] as f64;
                            let made = f64::from(to_u8(back[(y * size + x) * 3 + c]));
                            squared += (real - made).powi(2);
                        }
                    }
                }
                10.0 * (255.0f64.powi(2) / (squared / (size * size / 2 * 3) as f64)).log10()
            };
            let (bilinear, bicubic) = (psnr(Upscale::Bilinear), psnr(Upscale::Bicubic));
            println!("{size}×{size} face region: bilinear {bilinear:.2} dB, bicubic {bicubic:.2} dB over the lower half");
            assert!(bicubic > bilinear + 0.3, "bicubic {bicubic:.2} vs bilinear {bilinear:.2}");
        }
    }

    #[test]
    fn the_blend_leaves_no_seam_where_the_hard_paste_does() {
        let (frame, width, height) = crate::testdata::astronaut();
        let crop = [179, 81, 272, 185];
        let mut input = vec![0.0; 6 * FACE * FACE];
        generator_input(&frame, width, crop, &mut input).unwrap();
        let output = imperfect_output(&input);

        let natural = border_step(&frame, width, height, crop);
        let mut hard = frame.clone();
        paste_hard(&mut hard, width, crop, &output);
        let mut ours = frame.clone();
        blend(&mut ours, width, crop, 0.0, &output, Mask::Ellipse(MaskShape::around(Some([(220.4 - 179.0) / 93.0, (144.6 - 81.0) / 104.0]))));
        let (hard_step, our_step) = (border_step(&hard, width, height, crop), border_step(&ours, width, height, crop));
        println!("border step (grey levels): untouched frame {natural:.2}, hard paste {hard_step:.2}, blended {our_step:.2}");
        assert!(hard_step > natural + 3.0, "the hard paste should show: {hard_step} vs {natural}");
        assert!(our_step <= natural + 0.1, "the blend should not: {our_step} vs {natural}");
        // Outside the box nothing changed; inside, the mouth did.
        for y in 0..height {
            for x in 0..width {
                let inside = (179..272).contains(&x) && (81..185).contains(&y);
                if !inside {
                    assert_eq!(ours[(y * width + x) * 4..][..4], frame[(y * width + x) * 4..][..4]);
                }
            }
        }
        let mouth = (145 * width + 220) * 4;
        assert_ne!(ours[mouth..mouth + 3], frame[mouth..mouth + 3]);
    }

    #[test]
    fn a_turned_face_goes_back_where_it_came_from() {
        // The generator's input taken from a turned box, returned as it is
        // (a perfect generator), blended back turned the same way: the
        // frame barely changes. Turned back the wrong way, it would.
        let (frame, width, _) = crate::testdata::astronaut();
        let crop = [179, 81, 272, 185];
        let mut input = vec![0.0; 6 * FACE * FACE];
        for turn in [0.0f32, 0.35, -0.35] {
            crate::crop::generator_input_turned(&frame, width, crop, turn, &mut input).unwrap();
            let output = input[3 * FACE * FACE..].to_vec();
            let change = |back: f32| {
                let mut out = frame.clone();
                blend(&mut out, width, crop, back, &output, Mask::Ellipse(MaskShape::around(None)));
                let changed: Vec<f32> = out.iter().zip(&frame).map(|(&a, &b)| (a as f32 - b as f32).abs()).filter(|&d| d > 0.0).collect();
                changed.iter().sum::<f32>() / changed.len().max(1) as f32
            };
            let (right, wrong) = (change(turn), change(-turn));
            println!("turned {:.0}°: mean change where anything changed {right:.2} grey levels (turned back the wrong way {wrong:.2})", turn.to_degrees());
            assert!(right < 4.0, "{right}");
            if turn != 0.0 {
                assert!(wrong > 2.0 * right, "{wrong} vs {right}");
            }
        }
    }

    /// The measure of the two masks on the test clip (through
    /// detection, mesh, framing and smoothing, with the stand-in output):
    /// the seam at the box border, and the leak — change outside the lower
    /// face's outline (this frame's own mesh, unsteadied), in the box.
    #[test]
    fn the_outline_mask_changes_the_lower_face_only_and_leaves_no_seam() {
        use crate::detect::Rgba;
        use crate::framing::{Framing, Options, Shape};
        use crate::landmarks::Roi;
        let (detector, mesh) = (crate::testdata::detector(), crate::testdata::mesh());
        let (width, height) = (640, 360);
        let frames = crate::testdata::pan_zoom_clip(12, width, height);
        let mut framing = Framing::new(Options::default(), width, height).unwrap();
        let (mut placements, mut outlines) = (Vec::new(), Vec::new());
        for frame in &frames {
            let image = Rgba { pixels: frame, width, height };
            let faces = detector.detect(&image).unwrap();
            let marks = mesh.landmarks(&image, &Roi::from_face(&faces[0])).unwrap().unwrap();
            outlines.push(marks.lower_face());
            placements.extend(framing.push_with(&faces, |_| Some(Shape { outline: marks.lower_face(), pose: marks.pose })));
        }
        placements.extend(framing.finish().unwrap());
        let luma = |p: &[u8]| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
        let mut input = vec![0.0; 6 * FACE * FACE];
        // Per mask: border step, leak (mean |Δ| outside), share of outside pixels changed by > 1, mean |Δ| inside.
        let mut totals = [[0.0f32; 4]; 2];
        let mut natural = 0.0;
        for ((frame, placement), outline) in frames.iter().zip(&placements).zip(&outlines) {
            let placement = placement.as_ref().unwrap();
            let shape = placement.shape.as_ref().expect("a mesh in every frame");
            generator_input(frame, width, placement.crop, &mut input).unwrap();
            let output = imperfect_output(&input);
            natural += border_step(frame, width, height, placement.crop) / frames.len() as f32;
            let masks = [Mask::Ellipse(MaskShape::around(placement.mouth)), Mask::Outline(&shape.outline)];
            for (mask, total) in masks.into_iter().zip(&mut totals) {
                let mut out = frame.clone();
                blend(&mut out, width, placement.crop, 0.0, &output, mask);
                let [x1, y1, x2, y2] = placement.crop;
                let (mut outside, mut changed, mut leak, mut inside, mut within) = (0, 0, 0.0, 0, 0.0);
                for y in y1..y2 {
                    for x in x1..x2 {
                        let at = (y as usize * width + x as usize) * 4;
                        let change = (luma(&out[at..]) - luma(&frame[at..])).abs();
                        if signed_distance(outline, [x as f32 + 0.5, y as f32 + 0.5]) > 0.0 {
                            outside += 1;
                            leak += change;
                            changed += usize::from(change > 1.0);
                        } else {
                            inside += 1;
                            within += change;
                        }
                    }
                }
                let n = frames.len() as f32;
                total[0] += border_step(&out, width, height, placement.crop) / n;
                total[1] += leak / outside as f32 / n;
                total[2] += changed as f32 / outside as f32 / n;
                total[3] += within / inside as f32 / n;
            }
        }
        for (name, [seam, leak, share, inside]) in ["ellipse", "outline"].iter().zip(totals) {
            println!("{name}: border step {seam:.2} (untouched {natural:.2}), leak {leak:.2} grey levels ({:.1} % of pixels outside the lower face changed), change inside {inside:.2}", 100.0 * share);
        }
        let [ellipse, outline] = totals;
        assert!(outline[0] <= natural + 0.1, "the outline mask shows a seam: {} vs {natural}", outline[0]);
        assert!(outline[1] < ellipse[1] / 2.0, "the outline mask leaks {} vs the ellipse's {}", outline[1], ellipse[1]);
        assert!(outline[3] > 0.5 * ellipse[3], "the outline mask lets the mouth through: {} vs {}", outline[3], ellipse[3]);
    }

    /// A test clip: 12 frames of 640×360 panning and zooming over the photo
    /// (the face drifts right and grows by 2.5 % a frame), through the whole
    /// way in: detection, framing with smoothing, the crop; then the
    /// imperfect output pasted back both ways.
    #[test]
    fn no_seam_on_a_clip_through_the_pipeline() {
        use crate::detect::Rgba;
        use crate::framing::{Framing, Options};
        let detector = crate::testdata::detector();
        let (width, height) = (640, 360);
        let frames = crate::testdata::pan_zoom_clip(12, width, height);
        let mut framing = Framing::new(Options::default(), width, height).unwrap();
        let mut placements = Vec::new();
        for frame in &frames {
            let faces = detector.detect(&Rgba { pixels: frame, width, height }).unwrap();
            placements.extend(framing.push(&faces));
        }
        placements.extend(framing.finish().unwrap());
        assert_eq!(placements.len(), frames.len());
        let (mut natural, mut hard_step, mut our_step) = (0.0, 0.0, 0.0);
        let mut input = vec![0.0; 6 * FACE * FACE];
        for (frame, placement) in frames.iter().zip(&placements) {
            let placement = placement.as_ref().expect("a face in every frame");
            generator_input(frame, width, placement.crop, &mut input).unwrap();
            let output = imperfect_output(&input);
            let mut hard = frame.clone();
            paste_hard(&mut hard, width, placement.crop, &output);
            let mut ours = frame.clone();
            blend(&mut ours, width, placement.crop, 0.0, &output, Mask::Ellipse(MaskShape::around(placement.mouth)));
            natural += border_step(frame, width, height, placement.crop) / frames.len() as f32;
            hard_step += border_step(&hard, width, height, placement.crop) / frames.len() as f32;
            our_step += border_step(&ours, width, height, placement.crop) / frames.len() as f32;
        }
        println!("clip of {} frames, mean border step (grey levels): untouched {natural:.2}, hard paste {hard_step:.2}, blended {our_step:.2}", frames.len());
        assert!(hard_step > natural + 2.0, "the hard paste should show: {hard_step} vs {natural}");
        assert!(our_step <= natural + 0.1, "the blend should not: {our_step} vs {natural}");
    }
}
