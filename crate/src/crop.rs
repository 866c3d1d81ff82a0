//! The face crop Wav2Lip was trained on, from a BlazeFace detection.
//!
//! The authors cropped S3FD boxes padded by (top 0, bottom 10, left 0,
//! right 0) pixels (`--pads`), then smoothed the boxes over 5 frames.
//! S3FD's face box runs from the brow to the chin; BlazeFace's is about as
//! wide but ends higher, near the middle of the chin. So the framing here
//! takes BlazeFace's box and lowers its bottom edge, when needed, to the
//! chin as the keypoints place it: on an adult face the chin lies about
//! 0.75 times the eyes-to-mouth distance below the mouth (0.71 on the test
//! photo, `astronaut.png`). The original's pixel pads
//! then apply unchanged, so `--pads`-style advice for the original ("add
//! 10–20 px at the bottom to include the chin") means the same here.

use crate::detect::Face;

/// Extra pixels around the face box, as the original's `--pads top bottom
/// left right`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Pads {
    pub top: i32,
    pub bottom: i32,
    pub left: i32,
    pub right: i32,
}

impl Default for Pads {
    /// The original's default, `--pads 0 10 0 0`.
    fn default() -> Self {
        Self { top: 0, bottom: 10, left: 0, right: 0 }
    }
}

/// A detected face and the crop Wav2Lip gets from it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Framed {
    #[serde(flatten)]
    pub face: Face,
    pub crop: [i32; 4],
}

pub fn frame(face: Face, pads: Pads, width: usize, height: usize) -> Framed {
    Framed { crop: crop_box(face_box(&face), pads, width, height), face }
}

/// Below the mouth, in eyes-to-mouth distances: where the chin ends.
const CHIN_BELOW_MOUTH: f32 = 0.75;

/// The S3FD-like face box: BlazeFace's, down to the chin.
pub fn face_box(face: &Face) -> [f32; 4] {
    let [x1, y1, x2, y2] = face.bbox;
    let [right_eye, left_eye, _, mouth, ..] = face.keypoints;
    let eyes = (right_eye[1] + left_eye[1]) / 2.0;
    let chin = mouth[1] + CHIN_BELOW_MOUTH * (mouth[1] - eyes).max(0.0);
    [x1, y1, x2, y2.max(chin)]
}

/// The crop in whole pixels, padded and clipped to the image as the
/// original does: `[x1, y1, x2, y2]`, x2 and y2 exclusive.
pub fn crop_box(face_box: [f32; 4], pads: Pads, width: usize, height: usize) -> [i32; 4] {
    let [x1, y1, x2, y2] = face_box.map(|v| v.round() as i32);
    [
        (x1 - pads.left).max(0),
        (y1 - pads.top).max(0),
        (x2 + pads.right).min(width as i32),
        (y2 + pads.bottom).min(height as i32),
    ]
}

/// The original's `get_smoothened_boxes`, one frame at a time: each crop
/// box becomes the mean of the `window` boxes starting at it, or of the
/// last `window` near the end of a run of frames with a face. Like the
/// original it works in place on integer boxes, so means are truncated and
/// the last windows take in boxes already smoothed. One difference: a run
/// shorter than the window is averaged whole (the original's negative
/// slice averaged a tail of varying length there).
///
/// Boxes come out in order, `window - 1` frames after they went in.
pub struct Smoother {
    window: usize,
    /// The run so far: smoothed boxes (the last `window` emitted), then raw.
    run: std::collections::VecDeque<[i32; 4]>,
    /// How many boxes at the front of `run` are already smoothed.
    done: usize,
}

impl Smoother {
    /// `window` 1 (or 0) turns smoothing off.
    pub fn new(window: usize) -> Self {
        Self { window: window.max(1), run: Default::default(), done: 0 }
    }

    /// The next frame's box; returns the boxes now final.
    pub fn push(&mut self, crop: [i32; 4]) -> Vec<[i32; 4]> {
        self.run.push_back(crop);
        let mut out = Vec::new();
        while self.run.len() >= self.done + self.window {
            out.push(self.settle(self.done, self.done));
        }
        // Only the last `window` smoothed boxes can enter a later window.
        while self.done > self.window {
            self.run.pop_front();
            self.done -= 1;
        }
        out
    }

    /// The run ended (a frame without a face, or the video's end): the
    /// boxes still waiting.
    pub fn finish(&mut self) -> Vec<[i32; 4]> {
        let n = self.run.len();
        let window = self.window.min(n);
        let out = (self.done..n).map(|i| self.settle(i, i.min(n - window))).collect();
        self.run.clear();
        self.done = 0;
        out
    }

    /// Box `i` becomes the mean of the window starting at `start`.
    fn settle(&mut self, i: usize, start: usize) -> [i32; 4] {
        let window = self.window.min(self.run.len() - start);
        let mut sum = [0i64; 4];
        for b in self.run.range(start..start + window) {
            for (s, &v) in sum.iter_mut().zip(b) {
                *s += v as i64;
            }
        }
        let mean = sum.map(|s| (s as f64 / window as f64) as i32);
        self.run[i] = mean;
        self.done = i + 1;
        mean
    }
}

/// The generator's face side, in pixels.
pub const FACE: usize = 96;

/// OpenCV's `INTER_LINEAR` source position for destination index `d` when
/// `src` pixels map to `dst`: pixel centres aligned, clamped at the edges.
/// Returns the left neighbour and the weight of the right one.
pub(crate) fn linear_tap(d: usize, src: usize, dst: usize) -> (usize, f32) {
    let f = (d as f32 + 0.5) * (src as f32 / dst as f32) - 0.5;
    let i = f.floor();
    if i < 0.0 {
        (0, 0.0)
    } else if i as usize >= src - 1 {
        (src - 1, 0.0)
    } else {
        (i as usize, f - i)
    }
}

/// Bilinear resize of a `width`-wide interleaved image region `[x1, y1,
/// x2, y2)` with `channels` channels (`pick` chooses which, in order) into
/// planar `out` of `size × size` per channel, values / 255. This is
/// `cv2.resize(crop, (size, size))` (INTER_LINEAR): the same sampling
/// positions and edge clamping, rounded to whole grey levels; OpenCV's
/// 8-bit path computes in 11-bit fixed point, so about one value in eight
/// differs by one grey level (measured on the test photo).
fn resize_planar(pixels: &[u8], width: usize, channels: usize, region: [usize; 4], pick: [usize; 3], size: usize, out: &mut [f32]) {
    let [x1, y1, x2, y2] = region;
    let (w, h) = (x2 - x1, y2 - y1);
    let xs: Vec<(usize, f32)> = (0..size).map(|u| linear_tap(u, w, size)).collect();
    for v in 0..size {
        let (ty, fy) = linear_tap(v, h, size);
        let rows = [y1 + ty, y1 + (ty + 1).min(h - 1)];
        for (u, &(tx, fx)) in xs.iter().enumerate() {
            let cols = [x1 + tx, x1 + (tx + 1).min(w - 1)];
            for (plane, &c) in pick.iter().enumerate() {
                let at = |r: usize, k: usize| pixels[(rows[r] * width + cols[k]) * channels + c] as f32;
                let top = at(0, 0) + (at(0, 1) - at(0, 0)) * fx;
                let bottom = at(1, 0) + (at(1, 1) - at(1, 0)) * fx;
                // Rounded to whole grey levels, as OpenCV's 8-bit result is.
                out[(plane * size + v) * size + u] = (top + (bottom - top) * fy).round() / 255.0;
            }
        }
    }
}

/// One generator input from an RGBA frame and a crop box: `[6, 96, 96]`,
/// BGR 0..1; channels 0–2 the crop with its lower half (rows 48–95) black,
/// channels 3–5 the same crop whole, as the reference.
pub fn generator_input(rgba: &[u8], width: usize, crop: [i32; 4], out: &mut [f32]) -> Result<(), String> {
    let [x1, y1, x2, y2] = crop;
    let height = rgba.len() / 4 / width.max(1);
    if x1 < 0 || y1 < 0 || x2 <= x1 || y2 <= y1 || x2 as usize > width || y2 as usize > height {
        return Err(format!("the crop {crop:?} is not inside the {width}×{height} frame"));
    }
    let plane = FACE * FACE;
    let region = [x1, y1, x2, y2].map(|v| v as usize);
    // RGBA → BGR: channels 2, 1, 0.
    resize_planar(rgba, width, 4, region, [2, 1, 0], FACE, &mut out[3 * plane..6 * plane]);
    hide_lower_half(out);
    Ok(())
}

/// Channels 0–2 become the reference (3–5) with its lower half black.
fn hide_lower_half(out: &mut [f32]) {
    let plane = FACE * FACE;
    let (masked, reference) = out.split_at_mut(3 * plane);
    masked.copy_from_slice(&reference[..3 * plane]);
    for c in 0..3 {
        masked[c * plane + plane / 2..(c + 1) * plane].fill(0.0);
    }
}

/// Where a point of a crop box turned by `turn` radians (clockwise on
/// screen, about the box's centre) lies: box coordinates (0..w across,
/// 0..h down, in the box's own upright frame) ↔ frame pixels.
#[derive(Clone, Copy, Debug)]
pub struct Turned {
    centre: [f32; 2],
    half: [f32; 2],
    sin: f32,
    cos: f32,
}

impl Turned {
    pub fn new(crop: [i32; 4], turn: f32) -> Self {
        let [x1, y1, x2, y2] = crop.map(|v| v as f32);
        let (sin, cos) = turn.sin_cos();
        Self { centre: [(x1 + x2) / 2.0, (y1 + y2) / 2.0], half: [(x2 - x1) / 2.0, (y2 - y1) / 2.0], sin, cos }
    }

    pub fn to_frame(&self, [u, v]: [f32; 2]) -> [f32; 2] {
        let (a, b) = (u - self.half[0], v - self.half[1]);
        [self.centre[0] + self.cos * a - self.sin * b, self.centre[1] + self.sin * a + self.cos * b]
    }

    pub fn to_box(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let (a, b) = (x - self.centre[0], y - self.centre[1]);
        [self.half[0] + self.cos * a + self.sin * b, self.half[1] - self.sin * a + self.cos * b]
    }

    /// The frame pixels the turned box covers: `[x1, y1, x2, y2)` within
    /// `width`×`height`.
    pub fn bounds(&self, width: usize, height: usize) -> [usize; 4] {
        let corners = [[0.0, 0.0], [2.0 * self.half[0], 0.0], [0.0, 2.0 * self.half[1]], [2.0 * self.half[0], 2.0 * self.half[1]]].map(|c| self.to_frame(c));
        let lo = |a: usize| corners.iter().map(|c| c[a]).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
        let hi = |a: usize, n: usize| (corners.iter().map(|c| c[a]).fold(f32::MIN, f32::max).ceil().max(0.0) as usize).min(n);
        [lo(0).min(width), lo(1).min(height), hi(0, width), hi(1, height)]
    }
}

/// The generator input for a face that leans: as [`generator_input`], from
/// the crop box turned by `turn` (radians, clockwise on screen) about its
/// centre, so the face arrives upright, as Wav2Lip was trained on. Sampled
/// bilinearly at the same positions as the original's resize (the frame's
/// edge repeated where the turned box leaves it). `turn` 0 is exactly
/// [`generator_input`].
pub fn generator_input_turned(rgba: &[u8], width: usize, crop: [i32; 4], turn: f32, out: &mut [f32]) -> Result<(), String> {
    if turn == 0.0 {
        return generator_input(rgba, width, crop, out);
    }
    let [x1, y1, x2, y2] = crop;
    let height = rgba.len() / 4 / width.max(1);
    if x2 <= x1 || y2 <= y1 || width == 0 || height == 0 {
        return Err(format!("the crop {crop:?} is empty"));
    }
    let turned = Turned::new(crop, turn);
    let (w, h) = ((x2 - x1) as f32, (y2 - y1) as f32);
    let plane = FACE * FACE;
    let image = crate::detect::Rgba { pixels: rgba, width, height };
    for v in 0..FACE {
        for u in 0..FACE {
            let [x, y] = turned.to_frame([(u as f32 + 0.5) * w / FACE as f32, (v as f32 + 0.5) * h / FACE as f32]);
            let p = image.sample(x, y);
            // BGR planes, whole grey levels as the original's resize gives.
            for (plane_index, c) in [2, 1, 0].into_iter().enumerate() {
                out[3 * plane + plane_index * plane + v * FACE + u] = p[c].round() / 255.0;
            }
        }
    }
    hide_lower_half(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4], eyes_y: f32, mouth_y: f32) -> Face {
        let mut keypoints = [[0.0; 2]; 6];
        keypoints[0][1] = eyes_y;
        keypoints[1][1] = eyes_y;
        keypoints[3][1] = mouth_y;
        Face { score: 0.9, bbox, keypoints }
    }

    #[test]
    fn the_box_reaches_the_chin_and_the_pads_apply_in_pixels() {
        // Eyes at 100, mouth at 140: chin at 170, below BlazeFace's 165.
        let b = face_box(&face([180.0, 80.0, 270.0, 165.0], 100.0, 140.0));
        assert_eq!(b, [180.0, 80.0, 270.0, 170.0]);
        // A box already below the chin stays.
        assert_eq!(face_box(&face([180.0, 80.0, 270.0, 190.0], 100.0, 140.0))[3], 190.0);
        assert_eq!(crop_box(b, Pads::default(), 512, 512), [180, 80, 270, 180]);
        assert_eq!(crop_box([-5.0, -3.0, 600.0, 500.0], Pads { top: 4, bottom: 20, left: 1, right: 1 }, 512, 510), [0, 0, 512, 510]);
    }

    #[test]
    fn smoothing_is_the_originals_forward_window() {
        let boxes: Vec<[i32; 4]> = (0..8).map(|i| [i * 3 + 1, 2 * i, 100 + i * i, 7]).collect();
        // numpy, running the original's get_smoothened_boxes on these
        // (integer array, in place).
        let original = [[7, 4, 106, 7], [10, 6, 111, 7], [13, 8, 118, 7], [16, 10, 127, 7], [17, 10, 130, 7], [18, 11, 133, 7], [18, 11, 135, 7], [18, 11, 134, 7]];
        let mut smoother = Smoother::new(5);
        let mut out = Vec::new();
        for (i, &b) in boxes.iter().enumerate() {
            let settled = smoother.push(b);
            // Four frames behind.
            assert_eq!(settled.len(), usize::from(i >= 4), "frame {i}");
            out.extend(settled);
        }
        out.extend(smoother.finish());
        assert_eq!(out, original);
        // A run shorter than the window: its mean. Off: unchanged, at once.
        let mut short = Smoother::new(5);
        assert!(short.push([0; 4]).is_empty() && short.push([3; 4]).is_empty());
        assert_eq!(short.finish(), [[1; 4], [2; 4]]);
        let mut off = Smoother::new(1);
        assert_eq!(off.push([3, 4, 5, 6]), [[3, 4, 5, 6]]);
        assert!(off.finish().is_empty());
    }

    /// `crop96_cv2.npy`: `cv2.resize(bgr[y1:y2, x1:x2], (96, 96)) / 255`
    /// (OpenCV 4.10) for two crops of the photo, one shrunk, one enlarged.
    #[test]
    fn the_crop_is_resized_as_opencv_does_within_a_grey_level() {
        let (pixels, width, _) = crate::testdata::astronaut();
        let (shape, expected) = crate::testdata::npy("crop96_cv2.npy");
        assert_eq!(shape, [2, 3, FACE, FACE]);
        let plane = FACE * FACE;
        for (k, crop) in [[179, 81, 272, 185], [200, 120, 230, 160]].into_iter().enumerate() {
            let mut input = vec![0.0; 6 * plane];
            generator_input(&pixels, width, crop, &mut input).unwrap();
            let reference = &input[3 * plane..];
            let want = &expected[k * 3 * plane..(k + 1) * 3 * plane];
            let diffs: Vec<f32> = reference.iter().zip(want).map(|(a, b)| (a - b).abs() * 255.0).collect();
            let max = diffs.iter().fold(0.0f32, |a, &b| a.max(b));
            let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
            println!("crop {crop:?} vs OpenCV INTER_LINEAR: max {max:.2}, mean {mean:.3} grey levels");
            assert!(max <= 1.001 && mean < 0.2, "max {max}, mean {mean}");
            // The masked copy: top half equal, lower half black.
            for c in 0..3 {
                assert_eq!(input[c * plane..c * plane + plane / 2], reference[c * plane..c * plane + plane / 2]);
                assert!(input[c * plane + plane / 2..(c + 1) * plane].iter().all(|&v| v == 0.0));
            }
        }
        let mut input = vec![0.0; 6 * plane];
        assert!(generator_input(&pixels, width, [500, 0, 520, 10], &mut input).is_err());
        assert!(generator_input(&pixels, width, [10, 10, 10, 20], &mut input).is_err());
    }
}
