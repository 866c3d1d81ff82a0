//! The wasm-bindgen surface as the worker calls it, in Chromium (`wasm-pack
//! test`, scripts/test-wasm.sh): JS values in and out, the model read by
//! byte range through a JS function, the browser's WebGPU.

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{detect, model, voice};
use crate::formula;
#[cfg(feature = "webgpu")]
use crate::generate::gpu::Storage;
use crate::testdata::{astronaut, detector_model, npy, short_range_model, speech16k};

fn plain(value: JsValue) -> Value {
    serde_wasm_bindgen::from_value(value).expect("a plain JS object")
}

/// The speech fixture, pushed the way the worker pushes a decoded file (in
/// pieces of uneven size), gives the original's spectrogram.
#[wasm_bindgen_test]
fn the_voice_pushed_in_pieces_gives_the_originals_mel() {
    let samples = speech16k();
    assert!(voice::voice_push(&samples[..10]).is_err(), "a push before voiceStart is refused");
    voice::voice_start(16_000, 1, Some(samples.len() as f64 / 16_000.0)).unwrap();
    let mut rest = samples.as_slice();
    for size in [1, 1023, 4096, 333].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        voice::voice_push(piece).unwrap();
        rest = after;
    }
    let report = plain(voice::voice_finish().unwrap());
    let (shape, expected) = npy("mel_full.npy");
    assert_eq!(report["columns"].as_u64(), Some(shape[1] as u64), "{report}");
    assert_eq!(report["sampleRate"].as_u64(), Some(16_000), "{report}");
    let mel = voice::voice_mel().unwrap();
    assert_eq!(mel.len(), expected.len());
    let max_err = mel.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    wasm_bindgen_test::console_log!("voice → mel parity in the browser: max abs error {max_err:.3e}");
    assert!(max_err <= 1e-3, "max abs error {max_err}");
}

/// The detector loaded from the `.tflite` bytes the app serves finds the
/// astronaut's face in an RGBA frame, with the Wav2Lip crop around it.
#[wasm_bindgen_test]
fn faces_in_an_rgba_frame() {
    let (pixels, width, height) = astronaut();
    assert!(detect::detect_faces(pixels.clone(), width, height).is_err(), "detection before loadDetector is refused");
    assert!(detect::load_detector(b"not a model", &short_range_model()).is_err());
    detect::load_detector(&detector_model(), &short_range_model()).unwrap();
    let faces = plain(detect::detect_faces(pixels, width, height).unwrap());
    let faces = faces.as_array().expect("an array of faces");
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(faces[0]["score"].as_f64().unwrap() > 0.8);
    let crop: Vec<f64> = faces[0]["crop"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    // Her face spans roughly x 170–270, y 70–200 of the 512 × 512 photo;
    // the crop adds the original's 10 px below the chin.
    assert!(crop[0] > 120.0 && crop[2] < 330.0 && crop[1] > 30.0 && crop[3] < 280.0, "{crop:?}");
}

/// `read(offset, length)` over `file`, as the worker's `Blob.slice`
/// reader; counts the bytes it hands out.
fn reader(file: Vec<u8>, handed: std::rc::Rc<std::cell::Cell<u64>>) -> Function {
    Closure::<dyn Fn(f64, f64) -> Uint8Array>::new(move |offset: f64, length: f64| {
        let (offset, length) = (offset as usize, length as usize);
        handed.set(handed.get() + length as u64);
        Uint8Array::from(&file[offset..offset + length])
    })
    .into_js_value()
    .unchecked_into()
}

/// The formula weights in the released layout (a legacy checkpoint with
/// 16 MB of optimizer state to skip), loaded with `loadModel` through a JS
/// byte-range reader on the backend `initBackend` chose; only the
/// generator's bytes are read. Then `generate` on `frames` frames of the
/// authors' fixture: the largest difference from their output.
async fn load_and_generate(frames: usize) -> f32 {
    let optimizer = 4_000_000;
    let file = formula::legacy_checkpoint(7, optimizer);
    let size = file.len() as f64;
    let handed = std::rc::Rc::default();
    let read = reader(file, std::rc::Rc::clone(&handed));
    let report = plain(model::load_model(size, read, "formula7.pth".into(), None).unwrap());
    assert_eq!(report["parameters"].as_u64(), Some(36_298_035), "{report}");
    assert!((handed.get() as f64) < size - (optimizer * 4) as f64 * 0.9, "read {} of {size} bytes: the optimizer's were not skipped", handed.get());

    let (mel_shape, mel) = npy("gen_mel.npy");
    let (_, face) = npy("gen_face.npy");
    let (_, expected) = npy("gen_out.npy");
    let first = |values: Vec<f32>| values[..values.len() / mel_shape[0] * frames].to_vec();
    let got = model::generate(first(mel), first(face), frames).await.unwrap();
    got.iter().zip(&first(expected)).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// On the CPU path: the authors' output, and bad calls refused plainly.
#[wasm_bindgen_test]
async fn on_the_cpu_a_checkpoint_read_by_byte_range_generates_the_originals_output() {
    let backend = plain(super::init_backend(JsValue::NULL, "auto".into()).await.unwrap());
    assert_eq!(backend["backend"], "cpu", "no adapter, the CPU path: {backend}");
    let max_err = load_and_generate(4).await;
    wasm_bindgen_test::console_log!("generator parity through loadModel/generate (CPU path, batch 4): max abs error {max_err:.3e}");
    assert!(max_err <= 1e-4, "max abs error {max_err}");
    assert!(model::generate(vec![0.0; 3], vec![0.0; 3], 1).await.is_err(), "a malformed batch is refused");
    model::unload_model();
    assert!(model::generate(vec![0.0; 1280], vec![0.0; 55296], 1).await.is_err(), "no model, no output");
}

#[cfg(feature = "webgpu")]
/// `GPUAdapter.info` as the worker hands it to `initBackend`: a plain
/// object; None in a browser without WebGPU here (Firefox on Linux). In
/// Chromium a missing WebGPU is a broken test set-up, not a pass.
async fn adapter_info() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap();
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap();
    let agent = Reflect::get(&navigator, &"userAgent".into()).unwrap().as_string().unwrap_or_default();
    if gpu.is_undefined() && agent.contains("Firefox") {
        return None;
    }
    assert!(!gpu.is_undefined(), "no navigator.gpu: Chromium needs --enable-unsafe-webgpu (scripts/test-wasm.sh)");
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into()).unwrap().unchecked_into();
    let adapter = JsFuture::from(request.call0(&gpu).unwrap().unchecked_into::<Promise>()).await.unwrap();
    assert!(!adapter.is_null(), "no WebGPU adapter");
    let info = Reflect::get(&adapter, &"info".into()).unwrap();
    let plain = Object::new();
    for key in ["vendor", "architecture", "device", "description"] {
        Reflect::set(&plain, &key.into(), &Reflect::get(&info, &key.into()).unwrap()).unwrap();
    }
    let fallback = Reflect::get(&info, &"isFallbackAdapter".into()).unwrap().is_truthy();
    Reflect::set(&plain, &"isFallbackAdapter".into(), &fallback.into()).unwrap();
    Some(plain.into())
}

/// On the browser's WebGPU, through our WGSL kernels (Chromium's software
/// adapter here, which the app would pass over unless asked: two frames,
/// since it is slow), with the storage the app chooses on that adapter.
#[cfg(feature = "webgpu")]
#[wasm_bindgen_test]
async fn on_webgpu_a_checkpoint_read_by_byte_range_generates_the_originals_output() {
    let Some(adapter) = adapter_info().await else {
        wasm_bindgen_test::console_log!("this browser has no WebGPU here: the GPU path is tested in Chromium");
        return;
    };
    let auto = plain(super::init_backend(adapter.clone(), "auto".into()).await.unwrap());
    let backend = plain(super::init_backend(adapter, "webgpu".into()).await.unwrap());
    assert_eq!(backend["backend"], "webgpu", "{backend}");
    if backend["softwareAdapter"] == true {
        assert_eq!(auto["backend"], "cpu", "a software adapter is passed over unless asked for: {auto}");
    }
    let max_err = load_and_generate(2).await;
    wasm_bindgen_test::console_log!("generator parity through loadModel/generate (our WGSL kernels on WebGPU, {}, batch 2): max abs error {max_err:.3e}", backend["adapter"]);
    // f16 storage, where the adapter has shader-f16, moves the output more.
    assert!(max_err <= 1e-2, "max abs error {max_err}");
    let f32_storage = Storage::best(&super::webgpu_setup().unwrap().device) == Storage::F32;
    assert!(!f32_storage || max_err <= 1e-3, "max abs error {max_err} with f32 storage");
    model::unload_model();
}

/// The backend's proof (a convolution against an f64 reference) on burn's
/// CPU backend; unknown names refused. (On WebGPU, burn's own convolution
/// is checked by tests/e2e/convolution.test.mjs on the release build: in
/// this unoptimised test build its shader compiler, cubecl, fails to find
/// a type's interface and panics.)
#[wasm_bindgen_test]
async fn the_convolution_check_passes_on_the_cpu() {
    let report = plain(super::check_convolution("cpu".into()).await.unwrap());
    wasm_bindgen_test::console_log!("convolution check on the CPU: {report}");
    assert_eq!(report["passed"], true, "{report}");
    assert!(super::check_convolution("tpu".into()).await.is_err());
}
