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

use crate::crop::Turned;
use crate::enhance::{Upscale, matching_amount, resize, unsharp};
use crate::nhwc::bilinear;

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
    let [x1, y1, x2, y2] = crop.map(|v| v as usize);
    let patch = resize(bgr, x2 - x1, y2 - y1, Upscale::Bilinear);
    for y in y1..y2 {
        for x in x1..x2 {
            let p = &patch[((y - y1) * (x2 - x1) + (x - x1)) * 3..][..3];
            for c in 0..3 {
                rgba[(y * width + x) * 4 + c] = to_u8(p[c]);
            }
        }
    }
}

/// Ours: colour-matched, feathered, lower face only, optionally sharpened
/// ([`enhance`]). `turn` (radians, clockwise on screen) is the angle the
/// crop box was turned by for the generator
/// ([`crate::crop::generator_input_turned`]): the face goes back turned the
/// same way.
pub fn blend(rgba: &mut [u8], width: usize, crop: [i32; 4], turn: f32, bgr: &[f32], mask: Mask<'_>, sharpen: bool) {
    let height = rgba.len() / 4 / width.max(1);
    let turned = Turned::new(crop, turn);
    let [x1, y1, x2, y2] = crop;
    let (bw, bh) = ((x2 - x1) as usize, (y2 - y1) as usize);
    let (w, h) = (bw as f32, bh as f32);
    // The generated face and the real one, both in the box's own upright
    // frame at its size (the real one exactly the frame's pixels when the
    // box is not turned).
    let real = box_pixels(rgba, width, height, &turned, bw, bh);
    let mut face = resize(bgr, bw, bh, Upscale::Bicubic);
    match_colour(&mut face, &real, bw, bh);
    if sharpen {
        let amount = matching_amount(&face, &real, bw, bh);
        face = unsharp(&face, bw, bh, amount);
    }
    let feather = match mask {
        Mask::Ellipse(shape) => shape.feather,
        Mask::Outline(_) => OUTLINE_FEATHER,
    } * w;
    let feather = feather.max(1.0);
    let [rx1, ry1, rx2, ry2] = turned.bounds(width, height);
    for y in ry1..ry2 {
        for x in rx1..rx2 {
            let [u, v] = turned.to_box([x as f32 + 0.5, y as f32 + 0.5]);
            if !((0.0..w).contains(&u) && (0.0..h).contains(&v)) {
                continue;
            }
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
            let edge = u.min(v).min(w - u).min(h - v);
            let m = inner * smoothstep(edge / feather);
            if m <= 0.0 {
                continue;
            }
            // Whole pixels of the box when it is not turned.
            let new: [f32; 3] = bilinear(bw, bh, u - 0.5, v - 0.5, |cx, cy| std::array::from_fn(|c| face[(cy * bw + cx) * 3 + c]));
            for (old, &new) in rgba[(y * width + x) * 4..][..3].iter_mut().zip(&new) {
                let was = *old as f32 / 255.0;
                *old = to_u8(was + (new - was) * m);
            }
        }
    }
}

/// The frame's pixels in the box's upright frame, `w`×`h`, RGB 0..1.
fn box_pixels(rgba: &[u8], width: usize, height: usize, turned: &Turned, w: usize, h: usize) -> Vec<f32> {
    let image = crate::detect::Rgba { pixels: rgba, width, height };
    let mut out = Vec::with_capacity(w * h * 3);
    for v in 0..h {
        for u in 0..w {
            let [x, y] = turned.to_frame([u as f32 + 0.5, v as f32 + 0.5]);
            out.extend(image.sample(x, y)[..3].iter().map(|p| p / 255.0));
        }
    }
    out
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

/// Shift and scale each channel of the generated face (`w`×`h` RGB) so
/// that over the upper half of the box, which the generator saw unmasked,
/// it has the real face's mean and spread there.
fn match_colour(face: &mut [f32], real: &[f32], w: usize, h: usize) {
    let n = (w * (h / 2)).max(1) as f64;
    for c in 0..3 {
        let (mut gs, mut gq, mut fs, mut fq) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in 0..w * (h / 2) {
            let (g, f) = (face[i * 3 + c] as f64, real[i * 3 + c] as f64);
            gs += g;
            gq += g * g;
            fs += f;
            fq += f * f;
        }
        let (gm, fm) = (gs / n, fs / n);
        let (gsd, fsd) = ((gq / n - gm * gm).max(0.0).sqrt(), (fq / n - fm * fm).max(0.0).sqrt());
        // A flat patch has no spread to match; keep its contrast then.
        let gain = if gsd > 1e-3 { (fsd / gsd).clamp(0.5, 2.0) } else { 1.0 };
        for v in face.iter_mut().skip(c).step_by(3) {
            *v = ((*v as f64 - gm) * gain + fm) as f32;
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
    use crate::crop::{FACE, generator_input};

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
        blend(&mut ours, width, crop, 0.0, &output, Mask::Ellipse(MaskShape::around(Some([(220.4 - 179.0) / 93.0, (144.6 - 81.0) / 104.0]))), false);
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
                blend(&mut out, width, crop, back, &output, Mask::Ellipse(MaskShape::around(None)), false);
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
    /// detection, mesh, framing and smoothing, with the stand-in output,
    /// sharpened as the app does by default):
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
                blend(&mut out, width, placement.crop, 0.0, &output, mask, true);
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
            blend(&mut ours, width, placement.crop, 0.0, &output, Mask::Ellipse(MaskShape::around(placement.mouth)), false);
            natural += border_step(frame, width, height, placement.crop) / frames.len() as f32;
            hard_step += border_step(&hard, width, height, placement.crop) / frames.len() as f32;
            our_step += border_step(&ours, width, height, placement.crop) / frames.len() as f32;
        }
        println!("clip of {} frames, mean border step (grey levels): untouched {natural:.2}, hard paste {hard_step:.2}, blended {our_step:.2}", frames.len());
        assert!(hard_step > natural + 2.0, "the hard paste should show: {hard_step} vs {natural}");
        assert!(our_step <= natural + 0.1, "the blend should not: {our_step} vs {natural}");
    }
}
