//! Face meshes in the browser: Face Mesh's weights and the canonical face
//! arrive as the bytes of the files the app serves (`make models` takes
//! them out of MediaPipe's npm package); frames arrive as RGBA pixels.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::to_js;
use crate::detect::Rgba;
use crate::landmarks::Mesh;

thread_local! {
    static MESH: RefCell<Option<Rc<Mesh>>> = const { RefCell::new(None) };
}

/// Build Face Mesh from `face_landmark.tflite` and
/// `geometry_pipeline_metadata_landmarks.binarypb` (it runs on the CPU,
/// beside the detector).
#[wasm_bindgen(js_name = loadMesh)]
pub fn load_mesh(tflite: &[u8], geometry: &[u8]) -> Result<(), JsError> {
    let mesh = Mesh::new(tflite, geometry).map_err(|e| JsError::new(&e))?;
    MESH.with(|slot| *slot.borrow_mut() = Some(Rc::new(mesh)));
    Ok(())
}

/// The loaded mesh, if any.
pub(super) fn current() -> Option<Rc<Mesh>> {
    MESH.with(|slot| slot.borrow().clone())
}

/// Every face in one RGBA frame with its mesh and pose:
/// `[{box, score, presence, landmarks: [[x, y, z] × 468], pose: {yaw, pitch, roll}}]`;
/// with `near` (`[x1, y1, x2, y2]`, a face's box in the last frame looked
/// at, as a scan through a video has), the faces around it — one look of
/// the detector instead of a search of the frame.
#[wasm_bindgen(js_name = faceMeshes)]
pub fn face_meshes(pixels: Vec<u8>, width: usize, height: usize, near: Option<Vec<f32>>) -> Result<JsValue, JsError> {
    let near: Option<[f32; 4]> = match near {
        Some(b) => Some(b.try_into().map_err(|b: Vec<f32>| JsError::new(&format!("a face's box is 4 numbers, got {}", b.len())))?),
        None => None,
    };
    let detector = super::detect::current().ok_or_else(|| JsError::new("the face detector is not loaded: call loadDetector first"))?;
    let mesh = current().ok_or_else(|| JsError::new("Face Mesh is not loaded: call loadMesh first"))?;
    to_js(&mesh.find(&detector, &Rgba { pixels: &pixels, width, height }, near.as_ref()).map_err(|e| JsError::new(&e))?)
}
