//! Faces in a frame: MediaPipe's BlazeFace, full range (192×192, faces
//! down to a few percent of what it looks at), its weights read from the
//! `.tflite` file of the npm package `@mediapipe/face_detection`
//! ([`tflite`]), run on the CPU with loops of its own ([`graph`],
//! [`kernels`]) and decoded as MediaPipe does ([`blazeface`]).
//!
//! A model this small sees a 1080p frame at a tenth of its size, where a
//! face 50 px tall is 5 px: too few to find. So a frame is looked at whole
//! (as MediaPipe does) and, where faces of [`SMALLEST_FACE`] px would be
//! too small in that view, again in overlapping tiles ([`Detector::detect`]);
//! once a face is followed, a square around it is enough
//! ([`Detector::detect_near`]). Faces are then taken from the frame at its
//! full resolution, as before.

pub mod blazeface;
pub mod graph;
pub mod kernels;
pub mod tflite;

use serde::Serialize;

use blazeface::{Config, FULL_RANGE, KEYPOINTS, SHORT_RANGE};
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

impl Face {
    /// The box's centre.
    pub fn centre(&self) -> [f32; 2] {
        let [x1, y1, x2, y2] = self.bbox;
        [(x1 + x2) / 2.0, (y1 + y2) / 2.0]
    }
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
/// app serves copies from `www/lib/`): the full-range model searches
/// frames, the short-range one looks again around a followed face.
pub const PACKAGE_MODEL: &str = "node_modules/@mediapipe/face_detection/face_detection_full_range.tflite";
pub const SHORT_RANGE_MODEL: &str = "node_modules/@mediapipe/face_detection/face_detection_short_range.tflite";

/// The smallest face (its box's height, px) a search of a whole frame
/// finds, in frames up to 4K.
pub const SMALLEST_FACE: f32 = 48.0;

/// The smallest face the full-range model finds reliably, as a fraction of
/// the side of the square it looks at. Measured on the test photo shrunk
/// step by step in squares of 192 to 1920 px: found from 7–8 %, at some
/// places not below 8 % (`tests::one_look_finds_faces_down_to_the_found_fraction`).
const FOUND_FRACTION: f32 = 0.085;

/// Around a followed face the detector looks at a square this many times
/// the face's height: the face fills a third of it, as in the close-ups
/// the short-range model was made for, with room for a frame's motion.
const NEAR: f32 = 3.0;

/// How sure the short-range model must be of a face that only a tile
/// found (a 4K search is 70 looks; the test photo's suit badge scored
/// 0.50–0.53 in them, its faces 0.9 and more).
const CONFIRM: f32 = 0.7;

/// One BlazeFace model with its anchors and settings.
struct Blaze {
    network: Network,
    config: &'static Config,
    anchors: Vec<[f32; 2]>,
}

impl Blaze {
    fn new(tflite: &[u8], config: &'static Config, name: &str) -> Result<Self, String> {
        let model = Model::parse(tflite).map_err(|e| format!("{name}: {e}"))?;
        let network = Network::new(&model).map_err(|e| format!("{name}: {e}"))?;
        if network.input_shape != [config.input, config.input, 3] {
            return Err(format!("expected BlazeFace {name} ({side}×{side}×3 input), got {:?}", network.input_shape, side = config.input));
        }
        Ok(Self { network, config, anchors: blazeface::anchors(config) })
    }

    /// One run of the model on one square of the image.
    fn look(&self, image: &Rgba<'_>, window: Window) -> Result<Vec<Face>, String> {
        let input = sample(image, window, self.config.input)?;
        let outputs = self.network.forward(input).map_err(|e| e.to_string())?;
        // Which output is which: 16 values per row (boxes) or 1 (scores).
        let rows = self.anchors.len();
        let (Some(regressors), Some(scores)) = (outputs.iter().find(|o| o.c == 16 && o.w == rows), outputs.iter().find(|o| o.c == 1 && o.w == rows)) else {
            return Err("the detector's outputs are not BlazeFace's (boxes of 16 values and scores)".into());
        };
        let found = blazeface::decode(self.config, &self.anchors, &regressors.data, &scores.data);
        Ok(found.into_iter().map(|d| window.place(d)).collect())
    }
}

/// The two models: full range to search a frame, short range (a quarter
/// of the cost a look: 7 against 27 ms natively) to find a followed face
/// again in each frame, where its square is close-up-sized.
pub struct Detector {
    full: Blaze,
    short: Blaze,
}

impl Detector {
    /// From the bytes of `face_detection_full_range.tflite` and
    /// `face_detection_short_range.tflite`.
    pub fn new(full_range: &[u8], short_range: &[u8]) -> Result<Self, String> {
        Ok(Self { full: Blaze::new(full_range, &FULL_RANGE, "full range")?, short: Blaze::new(short_range, &SHORT_RANGE, "short range")? })
    }

    /// Every face in a frame, best first: the frame whole, then tiles where
    /// a face of [`SMALLEST_FACE`] px would be too small in the whole view;
    /// then each face as the short-range model sees it around itself, as
    /// every later frame of a video sees it ([`Detector::detect_near`]):
    /// the two models draw boxes of different sizes (the short range's
    /// about a quarter larger), and the crop is made from the short
    /// range's.
    pub fn detect(&self, image: &Rgba<'_>) -> Result<Vec<Face>, String> {
        // (face, seen whole): MediaPipe's own answer, or found in a tile.
        let mut faces: Vec<(Face, bool)> = self.detect_whole(image)?.into_iter().map(|f| (f, true)).collect();
        for tile in tiles(image.width, image.height) {
            // A face cut by the tile's edge is whole in a neighbouring tile
            // (they overlap by more than the largest face tiles are for).
            faces.extend(self.full.look(image, tile)?.into_iter().filter(|f| tile.holds(&f.bbox, image.width, image.height)).map(|f| (f, false)));
        }
        let faces = merge(faces, FULL_RANGE.min_suppression_iou);
        let mut seen = Vec::with_capacity(faces.len());
        for (face, whole) in faces {
            // The face nearest the centre of its own square, else as found.
            let [cx, cy] = face.centre();
            let away = |f: &Face| {
                let [x, y] = f.centre();
                (x - cx).hypot(y - cy)
            };
            let near = self.detect_near(image, &face.bbox)?.into_iter().filter(|f| blazeface::iou(&f.bbox, &face.bbox) > 0.3);
            let nearest = near.min_by(|a, b| away(a).total_cmp(&away(b)));
            match nearest {
                Some(near) if whole || near.score >= CONFIRM => seen.push((near, whole)),
                // Tiles are many looks, each a chance of a false face (a
                // patch of a shirt, a poster): one found only there must be
                // seen by the other model too, and surely.
                None if whole => seen.push((face, whole)),
                _ => {}
            }
        }
        Ok(merge(seen, SHORT_RANGE.min_suppression_iou).into_iter().map(|(face, _)| face).collect())
    }

    /// The faces one look at the whole frame finds (down to
    /// [`FOUND_FRACTION`] of its long side): MediaPipe's own way.
    pub fn detect_whole(&self, image: &Rgba<'_>) -> Result<Vec<Face>, String> {
        self.full.look(image, Window::whole(image.width, image.height))
    }

    /// The faces in a square around a face's box (a face followed from the
    /// last frame): one look however large the frame, at the face's own
    /// scale.
    pub fn detect_near(&self, image: &Rgba<'_>, bbox: &[f32; 4]) -> Result<Vec<Face>, String> {
        let &[x1, y1, x2, y2] = bbox;
        let side = ((y2 - y1).max(x2 - x1) * NEAR).max(SHORT_RANGE.input as f32);
        // Snapped (the side to steps of 2^¼, the corner to an eighth of the
        // side), so that a face that trembles by a pixel is looked at
        // through the same square: the same pixels give the same box, and a
        // still face settles at once instead of drifting with its window.
        let side = ((side.log2() * 4.0).round() / 4.0).exp2();
        let grid = side / 8.0;
        let snap = |v: f32| (v / grid).round() * grid;
        let window = Window { x0: snap((x1 + x2 - side) / 2.0), y0: snap((y1 + y2 - side) / 2.0), side };
        self.short.look(image, window)
    }

    /// The short-range model's one look at the whole frame: the app's
    /// detector before full range, for `wav2lip bench detect` to compare.
    pub fn detect_whole_short_range(&self, image: &Rgba<'_>) -> Result<Vec<Face>, String> {
        self.short.look(image, Window::whole(image.width, image.height))
    }

    /// How many times [`Detector::detect`] runs the model on such a frame.
    pub fn looks(&self, width: usize, height: usize) -> usize {
        1 + tiles(width, height).len()
    }
}

/// The tiles a whole-frame search adds for small faces: levels of squares
/// (the last just small enough for a [`SMALLEST_FACE`] face), each level's
/// squares overlapping by the largest face the level above may miss,
/// spread evenly over the frame.
fn tiles(width: usize, height: usize) -> Vec<Window> {
    let smallest = (SMALLEST_FACE / FOUND_FRACTION).max(FULL_RANGE.input as f32);
    let mut above = width.max(height) as f32;
    let mut out = Vec::new();
    while FOUND_FRACTION * above > SMALLEST_FACE {
        // A face the level above misses, with its box's margin.
        let missed = 1.3 * FOUND_FRACTION * above;
        // Straight to the smallest squares where they can overlap by that
        // much (up to 1080p: fewest looks), else halve the side.
        let side = if missed <= smallest / 2.0 || above / 2.0 < 1.5 * smallest { smallest } else { above / 2.0 };
        let overlap = missed.min(side / 2.0);
        let starts = |length: f32| -> Vec<f32> {
            if length <= side {
                return vec![(length - side) / 2.0];
            }
            let n = ((length - overlap) / (side - overlap)).ceil() as usize;
            (0..n).map(|i| i as f32 * (length - side) / (n - 1) as f32).collect()
        };
        let (xs, ys) = (starts(width as f32), starts(height as f32));
        out.extend(ys.iter().flat_map(|&y0| xs.iter().map(move |&x0| Window { x0, y0, side })));
        above = side;
    }
    out
}

/// Faces found in several looks (each with a mark of where), as one list:
/// where two overlap by more than `threshold` IoU, the better-scored
/// stands (best first).
fn merge<T>(mut faces: Vec<(Face, T)>, threshold: f32) -> Vec<(Face, T)> {
    faces.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
    let mut kept: Vec<(Face, T)> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| blazeface::iou(&k.0.bbox, &face.0.bbox) <= threshold) {
            kept.push(face);
        }
    }
    kept
}

/// A square of the image the model looks at (in image pixels; it may
/// reach past the image, which is black there, as MediaPipe's letterbox).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    x0: f32,
    y0: f32,
    side: f32,
}

impl Window {
    /// The whole image, its aspect ratio kept: MediaPipe's letterbox.
    fn whole(w: usize, h: usize) -> Self {
        let side = w.max(h) as f32;
        Self { x0: (w as f32 - side) / 2.0, y0: (h as f32 - side) / 2.0, side }
    }

    /// A detection in the window's unit square, placed in the image.
    fn place(&self, d: blazeface::Detection) -> Face {
        let x = |v: f32| self.x0 + v * self.side;
        let y = |v: f32| self.y0 + v * self.side;
        Face {
            score: d.score,
            bbox: [x(d.bbox[0]), y(d.bbox[1]), x(d.bbox[2]), y(d.bbox[3])],
            keypoints: d.keypoints.map(|[px, py]| [x(px), y(py)]),
        }
    }

    /// Whether a box lies inside this window, up to the image's own edges
    /// (a face at the frame's edge is cut there whichever window sees it:
    /// a window side on or past the image's edge bounds nothing).
    fn holds(&self, &[x1, y1, x2, y2]: &[f32; 4], w: usize, h: usize) -> bool {
        let low = |start: f32| if start <= 0.0 { f32::NEG_INFINITY } else { start };
        let high = |end: f32, size: usize| if end >= size as f32 { f32::INFINITY } else { end };
        x1 >= low(self.x0) && y1 >= low(self.y0) && x2 <= high(self.x0 + self.side, w) && y2 <= high(self.y0 + self.side, h)
    }
}

/// The model input: RGB in [-1, 1], `size`×`size`, sampled bilinearly
/// (pixel centres aligned) from the window, black outside the image.
fn sample(image: &Rgba, window: Window, size: usize) -> Result<Image, String> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.pixels.len() != w * h * 4 {
        return Err(format!("an image of {w}×{h} pixels needs {} RGBA bytes, got {}", w * h * 4, image.pixels.len()));
    }
    let Window { x0, y0, side } = window;
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
    Ok(Image::new(size, size, 3, rgb))
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
    use crate::testdata::{astronaut, detector, detector_model, short_range_model, wide_shot};

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
        let (bytes, short) = (detector_model(), short_range_model());
        for cut in [0, 7, 100, 5000, bytes.len() / 2, bytes.len() - 1] {
            assert!(Detector::new(&bytes[..cut], &short).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        for i in (8..flipped.len()).step_by(997) {
            flipped[i] ^= 0xff;
            let _ = Detector::new(&flipped, &short);
        }
        // The two models swapped: each is refused for its input's size.
        let error = Detector::new(&short, &bytes).err().unwrap();
        assert!(error.contains("full range (192×192×3 input)"), "{error}");
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

    fn rgba(pixels: &[u8], width: usize, height: usize) -> Rgba<'_> {
        Rgba { pixels, width, height }
    }

    /// The face nearest `centre`, and how tall its box is.
    fn found_near(faces: &[Face], centre: [f32; 2], height: f32) -> Option<f32> {
        faces
            .iter()
            .find(|f| {
                let [x, y] = f.centre();
                (x - centre[0]).abs() < height && (y - centre[1]).abs() < height
            })
            .map(|f| f.bbox[3] - f.bbox[1])
    }

    /// [`FOUND_FRACTION`] holds: one look at a whole frame finds a face
    /// that tall relative to the frame's long side, wherever it stands.
    #[test]
    fn one_look_finds_faces_down_to_the_found_fraction() {
        let detector = detector();
        for (w, h) in [(1280usize, 720usize), (1920, 1080)] {
            let face = (FOUND_FRACTION * w as f32).ceil();
            for centre in [[0.3, 0.4], [0.7, 0.6], [0.5, 0.2]].map(|[x, y]| [x * w as f32, y * h as f32]) {
                let frame = wide_shot(face, centre, w, h);
                let faces = detector.detect_whole(&rgba(&frame, w, h)).unwrap();
                assert!(found_near(&faces, centre, face).is_some(), "{w}×{h}: a {face}-px face at {centre:?}: {faces:?}");
            }
        }
    }

    /// Wide shots: every face from [`SMALLEST_FACE`] px up is found by a
    /// search of the whole frame, in 720p, 1080p and 4K, wherever it stands
    /// (tile borders included), and nothing else is (measured: each found
    /// with a score of 0.94–0.99).
    #[test]
    fn small_faces_in_wide_shots_are_found() {
        let detector = detector();
        for (w, h) in [(1280usize, 720usize), (1920, 1080), (3840, 2160)] {
            for face in [SMALLEST_FACE, 64.0, 100.0, 200.0, 300.0] {
                for centre in [[0.22, 0.31], [0.5, 0.5], [0.81, 0.7]].map(|[x, y]| [x * w as f32, y * h as f32]) {
                    let frame = wide_shot(face, centre, w, h);
                    let faces = detector.detect(&rgba(&frame, w, h)).unwrap();
                    let Some(tall) = found_near(&faces, centre, face) else { panic!("{w}×{h}: a {face}-px face at {centre:?} not found: {faces:?}") };
                    assert!((0.6 * face..1.6 * face).contains(&tall), "{w}×{h}: a {face}-px face found {tall} px tall");
                    assert_eq!(faces.len(), 1, "{w}×{h}: one face, {face} px at {centre:?}: {faces:?}");
                }
            }
        }
    }

    /// Near a followed face one look finds it again, however small it is
    /// in a large frame.
    #[test]
    fn a_followed_small_face_is_found_in_one_look_around_it() {
        let detector = detector();
        let (w, h) = (3840, 2160);
        let centre = [1000.0, 1500.0];
        let frame = wide_shot(SMALLEST_FACE, centre, w, h);
        let image = rgba(&frame, w, h);
        let first = detector.detect(&image).unwrap();
        assert_eq!(first.len(), 1, "{first:?}");
        // Around it, and around it in the next frame, where it moved by 6 px.
        let here = detector.detect_near(&image, &first[0].bbox).unwrap();
        let moved = wide_shot(SMALLEST_FACE, [centre[0] + 6.0, centre[1]], w, h);
        let there = detector.detect_near(&rgba(&moved, w, h), &first[0].bbox).unwrap();
        println!("searched {:?}, near {:?}, moved {:?}", first[0].bbox, here.iter().map(|f| f.bbox).collect::<Vec<_>>(), there.iter().map(|f| f.bbox).collect::<Vec<_>>());
        assert_eq!((here.len(), there.len()), (1, 1), "{here:?} {there:?}");
        let shift = there[0].centre()[0] - here[0].centre()[0];
        assert!((4.0..8.0).contains(&shift), "moved by {shift}");
        assert!(blazeface::iou(&here[0].bbox, &first[0].bbox) > 0.6, "the two models agree on the face");
    }

    #[test]
    fn tiles_cover_the_frame_only_where_needed() {
        assert!(tiles(512, 512).is_empty());
        for (w, h) in [(1280usize, 720usize), (1920, 1080), (3840, 2160)] {
            let tiles = tiles(w, h);
            assert!(!tiles.is_empty());
            // Every point of the frame is in a tile, and tiles overlap.
            for (x, y) in [(0.0, 0.0), (w as f32 - 1.0, h as f32 - 1.0), (w as f32 / 2.0, h as f32 / 3.0)] {
                assert!(tiles.iter().any(|t| (t.x0..t.x0 + t.side).contains(&x) && (t.y0..t.y0 + t.side).contains(&y)), "{x},{y}");
            }
            println!("{w}×{h}: {} tiles, the smallest {} px", tiles.len(), tiles.last().unwrap().side);
        }
    }
}
