//! The files the unit tests read: the repository's fixtures, and the face
//! detector's weights from the npm package `make setup` installs.
//!
//! Natively they are read from disk. In the browser (`wasm-pack test`)
//! there is no file system: the same files are compiled into the test
//! module, so the same tests read the same bytes there.

use crate::detect;

/// The core's futures to completion (natively: poll, park, repeat).
#[cfg(not(target_family = "wasm"))]
pub use crate::blocking::block_on;

/// The core's futures to completion, in the browser: one poll. The CPU
/// path's futures are ready at once; one that waits on the browser (a
/// GPU read-back) cannot be waited for here: such a test is an async test.
#[cfg(target_family = "wasm")]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("this future waits on the browser: await it in an async test"),
    }
}

#[cfg(not(target_family = "wasm"))]
fn read(path: &str) -> Option<Vec<u8>> {
    std::fs::read(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).ok()
}

#[cfg(target_family = "wasm")]
fn read(path: &str) -> Option<Vec<u8>> {
    macro_rules! compiled_in {
        ($($file:literal),* $(,)?) => {
            match path {
                $($file => Some(include_bytes!(concat!("../../", $file)).to_vec()),)*
                _ => None,
            }
        };
    }
    compiled_in![
        "tests/fixtures/astronaut.png",
        "tests/fixtures/crop96_cv2.npy",
        "tests/fixtures/gen_face.npy",
        "tests/fixtures/gen_mel.npy",
        "tests/fixtures/gen_out.npy",
        "tests/fixtures/layout_expected.json",
        "tests/fixtures/layout_fp16.pth",
        "tests/fixtures/layout_legacy.pth",
        "tests/fixtures/layout_zip.pth",
        "tests/fixtures/mel_full.npy",
        "tests/fixtures/spec.safetensors",
        "tests/fixtures/speech16k.wav",
        "tests/fixtures/speech44k_stereo.wav",
        "node_modules/@mediapipe/face_detection/face_detection_full_range.tflite",
        "node_modules/@mediapipe/face_detection/face_detection_short_range.tflite",
        "www/lib/face_landmark.tflite",
        "www/lib/geometry_pipeline_metadata_landmarks.binarypb",
    ]
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("tests/fixtures/{name}");
    read(&path).unwrap_or_else(|| panic!("{path}: missing"))
}

/// `speech16k.wav`, 16-bit PCM as librosa loads it: divided by 32768.
pub fn speech16k() -> Vec<f32> {
    let reader = hound::WavReader::new(std::io::Cursor::new(fixture("speech16k.wav"))).unwrap();
    assert_eq!((reader.spec().sample_rate, reader.spec().channels), (16_000, 1));
    reader.into_samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect()
}

/// A `.npy` fixture: shape and values.
pub fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    crate::npy::read_f32(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `astronaut.png` as RGBA, with its width and height.
pub fn astronaut() -> (Vec<u8>, usize, usize) {
    detect::read_png(&fixture("astronaut.png")).unwrap()
}

/// `face_detection_full_range.tflite`.
pub fn detector_model() -> Vec<u8> {
    package(detect::PACKAGE_MODEL)
}

/// `face_detection_short_range.tflite`.
pub fn short_range_model() -> Vec<u8> {
    package(detect::SHORT_RANGE_MODEL)
}

fn package(path: &str) -> Vec<u8> {
    read(path).unwrap_or_else(|| panic!("{path}: missing (run `make setup`: it installs the npm package)"))
}

pub fn detector() -> detect::Detector {
    detect::Detector::new(&detector_model(), &short_range_model()).unwrap()
}

/// A test clip: `frames` frames panning and zooming over the photo on grey
/// (the face drifts right and grows by 2.5 % a frame).
pub fn pan_zoom_clip(frames: usize, width: usize, height: usize) -> Vec<Vec<u8>> {
    let (photo, pw, _) = astronaut();
    crate::testmedia::pan_zoom(&photo, pw, frames, width, height)
}

/// An RGBA frame turned by `degrees` (clockwise on screen) about its centre,
/// bilinearly, grey where it comes from outside.
pub fn turned(frame: &[u8], width: usize, height: usize, degrees: f32) -> Vec<u8> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let mut out = vec![120u8; frame.len()];
    for y in 0..height {
        for x in 0..width {
            // The source of (x, y): turned back by the angle.
            let (a, b) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let (sx, sy) = (cx + cos * a + sin * b, cy - sin * a + cos * b);
            if sx < 0.0 || sy < 0.0 || sx >= width as f32 || sy >= height as f32 {
                continue;
            }
            let p = crate::detect::Rgba { pixels: frame, width, height }.sample(sx, sy);
            for c in 0..4 {
                out[(y * width + x) * 4 + c] = p[c].round() as u8;
            }
        }
    }
    out
}

pub use crate::testmedia::pseudo;

/// A file `make js` extracts into `www/lib/` (from the npm packages).
fn extracted(path: &str) -> Vec<u8> {
    read(path).unwrap_or_else(|| panic!("{path}: missing (run `make models`: it takes the face mesh's files out of the npm package)"))
}

/// Face Mesh, from `face_landmark.tflite` and the canonical face.
pub fn mesh() -> crate::landmarks::Mesh {
    crate::landmarks::Mesh::new(&extracted(crate::landmarks::MODEL_FILE), &extracted(crate::landmarks::pose::GEOMETRY_FILE)).unwrap()
}

/// MediaPipe's canonical face.
pub fn canonical_face() -> crate::landmarks::pose::CanonicalFace {
    crate::landmarks::pose::CanonicalFace::new(&extracted(crate::landmarks::pose::GEOMETRY_FILE)).unwrap()
}

/// A `width`×`height` wide shot with the photo's face `face` px tall,
/// centred near `centre` ([`crate::testmedia::wide_shot`]).
pub fn wide_shot(face: f32, centre: [f32; 2], width: usize, height: usize) -> Vec<u8> {
    let (photo, pw, _) = astronaut();
    crate::testmedia::wide_shot(&photo, pw, face, centre, width, height)
}
