//! The files the unit tests read: the repository's fixtures, and the face
//! detector's weights from the npm package `make setup` installs.

use crate::detect;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `.npy` fixture: shape and values.
pub fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    crate::npy::read_f32(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `astronaut.png` as RGBA, with its width and height.
pub fn astronaut() -> (Vec<u8>, usize, usize) {
    detect::read_png(&fixture("astronaut.png")).unwrap()
}

/// `face_detection_short_range.tflite`.
pub fn detector_model() -> Vec<u8> {
    let path = format!("{}/../{}", env!("CARGO_MANIFEST_DIR"), detect::PACKAGE_MODEL);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run `make setup`: it installs the npm package)"))
}
