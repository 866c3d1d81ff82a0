//! Faces in a frame: MediaPipe's BlazeFace (short range, 128×128), its
//! weights read from the `.tflite` file of the npm package
//! `@mediapipe/face_detection` ([`tflite`]), run on the CPU with loops of
//! its own ([`graph`], [`kernels`]) and decoded as MediaPipe does
//! ([`blazeface`]).

pub mod blazeface;
pub mod graph;
pub mod kernels;
pub mod tflite;

use serde::Serialize;

use blazeface::{Config, KEYPOINTS, SHORT_RANGE};
use graph::Network;
use crate::nhwc::Image;
use tflite::Model;

/// A face in image pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Face {
    pub score: f32,
    /// x1, y1, x2, y2.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose tip, mouth centre, right ear, left ear.
    pub keypoints: [[f32; 2]; KEYPOINTS],
}

/// An RGBA image (as the browser's canvases and `VideoFrame`s give them).
pub struct Rgba<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
}

impl Rgba<'_> {
    /// The RGBA value at a point (pixel units: pixel `i` spans `i..i+1`),
    /// bilinear between pixel centres, the image's edge repeated beyond it.
    pub fn sample(&self, x: f32, y: f32) -> [f32; 4] {
        crate::nhwc::bilinear(self.width, self.height, x - 0.5, y - 0.5, |cx, cy| std::array::from_fn(|c| self.pixels[(cy * self.width + cx) * 4 + c] as f32))
    }
}

/// Where `make setup` puts the weights, relative to the repository (the
/// app serves a copy from `www/lib/`).
pub const PACKAGE_MODEL: &str = "node_modules/@mediapipe/face_detection/face_detection_short_range.tflite";

pub struct Detector {
    network: Network,
    config: &'static Config,
    anchors: Vec<[f32; 2]>,
}

impl Detector {
    /// From the bytes of `face_detection_short_range.tflite`.
    pub fn new(tflite: &[u8]) -> Result<Self, String> {
        let model = Model::parse(tflite).map_err(|e| e.to_string())?;
        let network = Network::new(&model).map_err(|e| e.to_string())?;
        let config = &SHORT_RANGE;
        if network.input_shape != [config.input, config.input, 3] {
            return Err(format!("expected BlazeFace short range (128×128×3 input), got {:?}", network.input_shape));
        }
        Ok(Self { network, config, anchors: blazeface::anchors(config) })
    }

    /// Faces in an image, best first.
    pub fn detect(&self, image: &Rgba<'_>) -> Result<Vec<Face>, String> {
        let (input, letterbox) = letterbox(image, self.config.input)?;
        let outputs = self.network.forward(input).map_err(|e| e.to_string())?;
        // Which output is which: 16 values per row (boxes) or 1 (scores).
        let rows = self.anchors.len();
        let (Some(regressors), Some(scores)) = (outputs.iter().find(|o| o.c == 16 && o.w == rows), outputs.iter().find(|o| o.c == 1 && o.w == rows)) else {
            return Err("the detector's outputs are not BlazeFace's (boxes of 16 values and scores)".into());
        };
        let found = blazeface::decode(self.config, &self.anchors, &regressors.data, &scores.data);
        Ok(found.into_iter().map(|d| letterbox.to_image(d)).collect())
    }
}

/// Where the image sits in the model's square input: MediaPipe fits the
/// whole frame, keeping its aspect ratio, and fills the rest with black.
struct Letterbox {
    /// The square's side and top-left corner, in image pixels.
    side: f32,
    x0: f32,
    y0: f32,
}

impl Letterbox {
    fn to_image(&self, d: blazeface::Detection) -> Face {
        let x = |v: f32| self.x0 + v * self.side;
        let y = |v: f32| self.y0 + v * self.side;
        Face {
            score: d.score,
            bbox: [x(d.bbox[0]), y(d.bbox[1]), x(d.bbox[2]), y(d.bbox[3])],
            keypoints: d.keypoints.map(|[px, py]| [x(px), y(py)]),
        }
    }
}

/// The model input: RGB in [-1, 1], `size`×`size`, sampled bilinearly
/// (pixel centres aligned) from the letterboxed square.
fn letterbox(image: &Rgba, size: usize) -> Result<(Image, Letterbox), String> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.pixels.len() != w * h * 4 {
        return Err(format!("an image of {w}×{h} pixels needs {} RGBA bytes, got {}", w * h * 4, image.pixels.len()));
    }
    let side = w.max(h) as f32;
    let (x0, y0) = ((w as f32 - side) / 2.0, (h as f32 - side) / 2.0);
    let step = side / size as f32;
    let mut rgb = vec![-1.0f32; size * size * 3];
    let pixel = |x: isize, y: isize, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            0.0
        } else {
            image.pixels[(y as usize * w + x as usize) * 4 + c] as f32
        }
    };
    for v in 0..size {
        let sy = y0 + (v as f32 + 0.5) * step - 0.5;
        let (yi, fy) = (sy.floor() as isize, sy - sy.floor());
        for u in 0..size {
            let sx = x0 + (u as f32 + 0.5) * step - 0.5;
            let (xi, fx) = (sx.floor() as isize, sx - sx.floor());
            for c in 0..3 {
                let top = pixel(xi, yi, c) * (1.0 - fx) + pixel(xi + 1, yi, c) * fx;
                let bottom = pixel(xi, yi + 1, c) * (1.0 - fx) + pixel(xi + 1, yi + 1, c) * fx;
                let value = top * (1.0 - fy) + bottom * fy;
                rgb[(v * size + u) * 3 + c] = value / 127.5 - 1.0;
            }
        }
    }
    Ok((Image::new(size, size, 3, rgb), Letterbox { side, x0, y0 }))
}

/// A PNG file as RGBA (the CLI's and the tests' way in; the browser decodes
/// images itself, but the tests run there read their photo with this too).
#[cfg(any(not(target_family = "wasm"), test))]
pub fn read_png(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG image ({e})"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("the PNG image is too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("the PNG image is damaged ({e})"))?;
    let (w, h) = (info.width as usize, info.height as usize);
    buf.truncate(info.buffer_size());
    let pixels = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        other => return Err(format!("unexpected PNG colour type {other:?}")),
    };
    Ok((pixels, w, h))
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::{astronaut, detector, detector_model};

    #[test]
    fn finds_the_astronauts_face() {
        let (pixels, width, height) = astronaut();
        let faces = detector().detect(&Rgba { pixels: &pixels, width, height }).unwrap();
        println!("{faces:?}");
        assert_eq!(faces.len(), 1);
        let [x1, y1, x2, y2] = faces[0].bbox;
        // Her face spans roughly x 170–270, y 70–200 in the 512×512 photo.
        assert!(faces[0].score > 0.8);
        assert!((150.0..200.0).contains(&x1) && (250.0..300.0).contains(&x2), "{x1} {x2}");
        assert!((50.0..120.0).contains(&y1) && (170.0..230.0).contains(&y2), "{y1} {y2}");
        // Eyes above the nose, nose above the mouth.
        let k = faces[0].keypoints;
        assert!(k[0][1] < k[2][1] && k[1][1] < k[2][1] && k[2][1] < k[3][1], "{k:?}");
    }

    #[test]
    fn a_frame_without_a_face_has_none() {
        let grey = vec![128u8; 64 * 48 * 4];
        let faces = detector().detect(&Rgba { pixels: &grey, width: 64, height: 48 }).unwrap();
        assert_eq!(faces, vec![]);
    }

    #[test]
    fn damaged_models_are_refused_not_crashed_on() {
        let bytes = detector_model();
        for cut in [0, 7, 100, 5000, bytes.len() / 2, bytes.len() - 1] {
            assert!(Detector::new(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        for i in (8..flipped.len()).step_by(997) {
            flipped[i] ^= 0xff;
            let _ = Detector::new(&flipped);
        }
    }

    /// Two people side by side: the photo's face region, enlarged 3× (nearest
    /// neighbour), in each half of a 1280×720 frame.
    #[test]
    fn two_faces_are_both_found_and_a_click_follows_one() {
        let (pixels, width, _) = astronaut();
        let (fw, fh) = (1280, 720);
        let mut frame = vec![90u8; fw * fh * 4];
        for y in 0..fh {
            for x in 0..fw {
                let (sx, sy) = (120 + (x % 640) / 3, 30 + y / 3);
                let from = (sy * width + sx) * 4;
                frame[(y * fw + x) * 4..(y * fw + x) * 4 + 4].copy_from_slice(&pixels[from..from + 4]);
            }
        }
        let faces = detector().detect(&Rgba { pixels: &frame, width: fw, height: fh }).unwrap();
        assert_eq!(faces.len(), 2, "{faces:?}");
        let mut centres: Vec<f32> = faces.iter().map(|f| (f.bbox[0] + f.bbox[2]) / 2.0).collect();
        centres.sort_by(f32::total_cmp);
        assert!(centres[0] < 640.0 && centres[1] > 640.0, "{centres:?}");
        // Clicking the right-hand person follows that one.
        let mut tracker = crate::track::Tracker::new(&faces, Some([960.0, 360.0]), 3);
        match tracker.follow(&faces) {
            crate::track::Sighting::Seen(face) => assert!(face.bbox[0] > 640.0, "{face:?}"),
            other => panic!("{other:?}"),
        }
    }
}
