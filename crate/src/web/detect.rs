//! Faces in the browser: the detector's weights arrive as the bytes of the
//! `.tflite` file the app serves; frames arrive as RGBA pixels.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::to_js;
use crate::crop::{self, Pads};
use crate::detect::{Detector, Face, Rgba};

thread_local! {
    static DETECTOR: RefCell<Option<Rc<Detector>>> = const { RefCell::new(None) };
}

/// Build the detector from `face_detection_full_range.tflite` and
/// `face_detection_short_range.tflite` (it runs on the CPU whatever the
/// generator's device: see `detect::graph`).
#[wasm_bindgen(js_name = loadDetector)]
pub fn load_detector(full_range: &[u8], short_range: &[u8]) -> Result<(), JsError> {
    let detector = Detector::new(full_range, short_range).map_err(|e| JsError::new(&e))?;
    DETECTOR.with(|slot| *slot.borrow_mut() = Some(Rc::new(detector)));
    Ok(())
}

/// The loaded detector, if any.
pub(super) fn current() -> Option<Rc<Detector>> {
    DETECTOR.with(|slot| slot.borrow().clone())
}

/// Faces in one RGBA frame, best first: the frame searched whole and in
/// tiles ([`Detector::detect`]).
#[wasm_bindgen(js_name = detectFaces)]
pub fn detect_faces(pixels: Vec<u8>, width: usize, height: usize) -> Result<JsValue, JsError> {
    framed_faces(&pixels, width, height, Detector::detect)
}

/// The faces one look of the full-range model at the whole frame finds,
/// MediaPipe's own way (the browser test compares it with MediaPipe's
/// solution).
#[wasm_bindgen(js_name = detectFacesWhole)]
pub fn detect_faces_whole(pixels: Vec<u8>, width: usize, height: usize) -> Result<JsValue, JsError> {
    framed_faces(&pixels, width, height, Detector::detect_whole)
}

/// The faces `find` finds, each with its crop.
fn framed_faces(pixels: &[u8], width: usize, height: usize, find: fn(&Detector, &Rgba<'_>) -> Result<Vec<Face>, String>) -> Result<JsValue, JsError> {
    let detector = current().ok_or_else(|| JsError::new("the face detector is not loaded: call loadDetector first"))?;
    let faces = find(&detector, &Rgba { pixels, width, height }).map_err(|e| JsError::new(&e))?;
    // The original's default pads until the page offers its own.
    let framed: Vec<_> = faces.into_iter().map(|face| crop::frame(face, Pads::default(), width, height)).collect();
    to_js(&framed)
}
