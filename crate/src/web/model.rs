//! The generator in the browser: loaded from a file the worker reads by
//! range (a user's `File` through `Blob.slice`, or the OPFS cache), then run
//! batch by batch on the active device.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{active, to_js};
#[cfg(feature = "webgpu")]
use super::webgpu_setup;
use crate::checkpoint::safetensors::{Precision, write_generator};
use crate::checkpoint::{Checkpoint, CheckpointError, Source, check_range};
use crate::backend::Backend;
use super::helpers::Shared;
#[cfg(feature = "webgpu")]
use crate::generate::gpu::Storage;
use crate::generate::{Generator, Runner};

thread_local! {
    static MODEL: RefCell<Option<Rc<Generator>>> = const { RefCell::new(None) };
}

/// A file read through a synchronous JS function `(offset, length) =>
/// Uint8Array` (FileReaderSync on `Blob.slice`, or an OPFS access handle), so
/// only the byte ranges the reader asks for ever enter memory.
struct JsSource {
    len: u64,
    read: js_sys::Function,
}

impl Source for JsSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, CheckpointError> {
        check_range(offset, len, self.len)?;
        let bytes = self
            .read
            .call2(&JsValue::NULL, &(offset as f64).into(), &(len as f64).into())
            .map_err(|e| CheckpointError::Unreadable(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?;
        let bytes: js_sys::Uint8Array = bytes
            .dyn_into()
            .map_err(|_| CheckpointError::Unreadable("the reader returned no bytes".into()))?;
        if bytes.length() as usize != len {
            return Err(CheckpointError::Unreadable(format!("asked for {len} bytes, got {}", bytes.length())));
        }
        Ok(bytes.to_vec())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelReport {
    format: String,
    parameters: u64,
    /// Bytes written to `cache`, when a cache was asked for.
    cached_bytes: Option<u64>,
    /// Where the time went: reading the weights, writing the copy, and
    /// preparing them on the device.
    read_seconds: f64,
    cache_seconds: f64,
    device_seconds: f64,
}

/// Load the generator from a file of `len` bytes read through `read`, make it
/// the model `generate` runs, and when `cache` is given stream a compact copy
/// through it (safetensors, f32: the exact weights, a third of the released
/// file). `name` is recorded in the copy's metadata.
#[wasm_bindgen(js_name = loadModel)]
pub fn load_model(len: f64, read: js_sys::Function, name: String, cache: Option<js_sys::Function>) -> Result<JsValue, JsError> {
    let (backend, _) = active()?;
    let clock = js_sys::Date::now;
    let started = clock();
    let source = JsSource { len: len as u64, read };
    let checkpoint = Checkpoint::open(&source).map_err(|e| JsError::new(&e.to_string()))?;
    let summary = checkpoint.summary();
    let weights = checkpoint.generator_weights().map_err(|e| JsError::new(&e.to_string()))?;

    let read = clock();
    let mut cached_bytes = None;
    if let Some(cache) = cache {
        let metadata = [("format", "pt"), ("model", "wav2lip-generator"), ("source", name.as_str())];
        let mut written = 0u64;
        write_generator(&weights, Precision::F32, &metadata, |bytes| {
            written += bytes.len() as u64;
            cache.call1(&JsValue::NULL, &js_sys::Uint8Array::from(bytes)).map(drop)
        })
        .map_err(|e| JsError::new(&format!("keeping a copy for the next visit failed: {}", e.as_string().unwrap_or_default())))?;
        cached_bytes = Some(written);
    }

    let cached = clock();
    let generator = match backend {
        Backend::Cpu => Generator::on_cpu(weights),
        #[cfg(feature = "webgpu")]
        Backend::Webgpu => {
            let setup = webgpu_setup()?;
            Generator::on_gpu(weights, &setup, Storage::best(&setup.device))
        }
        // initBackend never chooses WebGPU in a build without it.
        #[cfg(not(feature = "webgpu"))]
        Backend::Webgpu => Err("this build of the core has no WebGPU".into()),
    }
    .map_err(|e| JsError::new(&e))?;
    MODEL.with(|slot| *slot.borrow_mut() = Some(Rc::new(generator)));
    let seconds = |from: f64, to: f64| (to - from) / 1e3;
    to_js(&ModelReport {
        format: format!("{:?}", summary.format),
        parameters: summary.parameters,
        cached_bytes,
        read_seconds: seconds(started, read),
        cache_seconds: seconds(read, cached),
        device_seconds: seconds(cached, clock()),
    })
}

/// Drop the loaded generator (the user removed it).
#[wasm_bindgen(js_name = unloadModel)]
pub fn unload_model() {
    MODEL.with(|slot| slot.borrow_mut().take());
}

/// The loaded generator, or what to do without one.
pub(super) fn current() -> Result<Rc<Generator>, JsError> {
    MODEL
        .with(|slot| slot.borrow().clone())
        .ok_or_else(|| JsError::new("no model loaded: choose wav2lip.pth or wav2lip_gan.pth first"))
}

/// One batch through the generator: mel `[B,1,80,16]` and face `[B,6,96,96]`
/// (WAV2LIP.md's conventions) in, `[B,3,96,96]` in [0, 1] out.
#[wasm_bindgen]
pub async fn generate(mel: Vec<f32>, face: Vec<f32>, batch: usize) -> Result<Vec<f32>, JsError> {
    Shared(current()?).run(mel, face, batch).await.map_err(|e| JsError::new(&e))
}
