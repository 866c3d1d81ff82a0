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

/// The original's `get_smoothened_boxes`: each box becomes the mean of the
/// `window` boxes starting at it, or of the last `window` near the end.
/// Like the original, it works in place, so those last windows take in
/// boxes already smoothed.
pub fn smooth(boxes: &[[f32; 4]], window: usize) -> Vec<[f32; 4]> {
    let mut boxes = boxes.to_vec();
    let n = boxes.len();
    if window <= 1 || n == 0 {
        return boxes;
    }
    let window = window.min(n);
    for i in 0..n {
        let start = i.min(n - window);
        let mut mean = [0.0; 4];
        for b in &boxes[start..start + window] {
            for (m, v) in mean.iter_mut().zip(b) {
                *m += v;
            }
        }
        boxes[i] = mean.map(|m| m / window as f32);
    }
    boxes
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
        let boxes: Vec<[f32; 4]> = (0..7).map(|i| [i as f32; 4]).collect();
        let s: Vec<f32> = smooth(&boxes, 5).iter().map(|b| b[0]).collect();
        // numpy, running the original on 0..7: frame 3 on takes the last five,
        // which by then begin with smoothed values.
        let original = [2.0, 3.0, 4.0, 4.4, 4.68, 4.816, 4.7792];
        assert!(s.iter().zip(original).all(|(a, b)| (a - b).abs() < 1e-5), "{s:?}");
        assert_eq!(smooth(&boxes[..3], 5)[0][0], 1.0);
        assert_eq!(smooth(&boxes, 1), boxes);
    }
}
