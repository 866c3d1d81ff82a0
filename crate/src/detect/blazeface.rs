//! What turns BlazeFace's raw outputs into faces, as MediaPipe's face
//! detection graph does it: SSD anchors, box and keypoint decoding, score
//! sigmoid and threshold, weighted non-maximum suppression.

/// A model's settings (MediaPipe's `face_detection_short_range.pbtxt` and
/// `face_detection_full_range.pbtxt`).
pub struct Config {
    pub input: usize,
    /// Anchor layers: (stride, anchors per cell).
    pub layers: &'static [(usize, usize)],
    pub min_score: f32,
    pub min_suppression_iou: f32,
}

pub const SHORT_RANGE: Config = Config { input: 128, layers: &[(8, 2), (16, 6)], min_score: 0.5, min_suppression_iou: 0.3 };

/// The full-range model: one anchor per cell of a 48×48 grid (stride 4 on
/// its 192×192 input; MediaPipe's `interpolated_scale_aspect_ratio: 0`
/// leaves one anchor a cell). The score threshold is the JS solution's
/// default `minDetectionConfidence`, as for the short-range model.
pub const FULL_RANGE: Config = Config { input: 192, layers: &[(4, 1)], min_score: 0.5, min_suppression_iou: 0.3 };

/// Keypoints, in the model's order: right eye, left eye, nose tip, mouth
/// centre, right ear tragion, left ear tragion (the subject's right/left).
pub const KEYPOINTS: usize = 6;
const VALUES: usize = 4 + 2 * KEYPOINTS;

/// A face in coordinates relative to the model's input square (0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// xmin, ymin, xmax, ymax.
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; KEYPOINTS],
}

/// Anchor centres, one per output row. With `fixed_anchor_size` every
/// anchor is 1×1, so only centres matter; all anchors of a cell share one.
pub fn anchors(config: &Config) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    for &(stride, per_cell) in config.layers {
        let cells = config.input.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let centre = [(x as f32 + 0.5) / cells as f32, (y as f32 + 0.5) / cells as f32];
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

/// Decode one image's rows: `boxes` `[rows × 16]`, `scores` `[rows]` (logits).
pub fn decode(config: &Config, anchors: &[[f32; 2]], boxes: &[f32], scores: &[f32]) -> Vec<Detection> {
    let scale = config.input as f32;
    let mut found = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        // MediaPipe clips logits to ±100 before the sigmoid.
        let score = 1.0 / (1.0 + (-scores[i].clamp(-100.0, 100.0)).exp());
        if score < config.min_score {
            continue;
        }
        let r = &boxes[i * VALUES..(i + 1) * VALUES];
        let (cx, cy) = (r[0] / scale + anchor[0], r[1] / scale + anchor[1]);
        let (w, h) = (r[2] / scale, r[3] / scale);
        let mut keypoints = [[0.0; 2]; KEYPOINTS];
        for (k, point) in keypoints.iter_mut().enumerate() {
            *point = [r[4 + 2 * k] / scale + anchor[0], r[5 + 2 * k] / scale + anchor[1]];
        }
        found.push(Detection { score, bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], keypoints });
    }
    weighted_nms(found, config.min_suppression_iou)
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// MediaPipe's WEIGHTED suppression: the best remaining detection absorbs
/// every detection overlapping it by more than `threshold` IoU (itself
/// included); the result keeps its score and takes their score-weighted
/// mean box and keypoints.
fn weighted_nms(mut detections: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !detections.is_empty() {
        let best = detections.remove(0);
        let (mut group, rest): (Vec<_>, Vec<_>) = detections.into_iter().partition(|d| iou(&d.bbox, &best.bbox) > threshold);
        detections = rest;
        group.push(best.clone());
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = Detection { score: best.score, bbox: [0.0; 4], keypoints: [[0.0; 2]; KEYPOINTS] };
        for d in &group {
            let w = d.score / total;
            for (m, v) in merged.bbox.iter_mut().zip(d.bbox) {
                *m += v * w;
            }
            for (m, v) in merged.keypoints.iter_mut().zip(d.keypoints) {
                m[0] += v[0] * w;
                m[1] += v[1] * w;
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;

    #[test]
    fn the_full_range_grid_has_one_anchor_a_cell() {
        let a = anchors(&FULL_RANGE);
        assert_eq!(a.len(), 2304);
        assert_eq!(a[0], [0.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(a[1], [1.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(a[48], [0.5 / 48.0, 1.5 / 48.0]);
        assert_eq!(a[2303], [47.5 / 48.0, 47.5 / 48.0]);
    }

    #[test]
    fn anchors_cover_both_grids_cell_by_cell() {
        let a = anchors(&SHORT_RANGE);
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    fn face(score: f32, x: f32) -> Detection {
        Detection { score, bbox: [x, 0.0, x + 0.2, 0.2], keypoints: [[x, 0.1]; KEYPOINTS] }
    }

    #[test]
    fn overlapping_detections_merge_by_score_and_separate_faces_stay() {
        let out = weighted_nms(vec![face(0.6, 0.02), face(0.9, 0.0), face(0.8, 0.5)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let x = (0.9 * 0.0 + 0.6 * 0.02) / 1.5;
        assert!((out[0].bbox[0] - x).abs() < 1e-6, "{:?}", out[0].bbox);
        assert!((out[0].keypoints[3][0] - x).abs() < 1e-6);
        assert_eq!(out[1], face(0.8, 0.5));
    }
}
