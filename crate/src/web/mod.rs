//! The core as the browser sees it: a few flat async functions taking and
//! returning plain objects. The worker (`www/worker.js`) is the only caller.
//!
//! One worker hosts one core, so the compute devices live in thread-local
//! slots; the worker runs one call at a time.

use std::cell::RefCell;

use burn::tensor::Device;
#[cfg(feature = "webgpu")]
use burn::tensor::wgpu::WgpuSetup;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::{self, AdapterInfo, Backend, Choice, Preference};
use crate::selftest;

mod detect;
mod helpers;
mod job;
mod landmarks;
mod live;
mod model;
mod sound;
mod voice;

#[cfg(test)]
mod tests;

thread_local! {
    /// burn registers one WebGPU runtime per page; a second init fails, so the
    /// device is created once and cloned. The generator's own kernels run on
    /// the same wgpu device and queue (the setup).
    #[cfg(feature = "webgpu")]
    static WEBGPU: RefCell<Option<(Device, WgpuSetup)>> = const { RefCell::new(None) };
    /// What `initBackend` chose: the generator runs on our CPU kernels or on
    /// the WebGPU device; the device (burn's CPU one on the CPU path) also
    /// runs the convolution self-check.
    static ACTIVE: RefCell<Option<(Backend, Device)>> = const { RefCell::new(None) };
}

unsafe extern "C" {
    /// wasm-ld's function running the static constructors (burn's
    /// dependencies register types through `inventory`).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // Once per module, not per thread: pool threads share this memory
    // (and run this too, where wasm-bindgen starts each thread).
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(start_once);
}

fn start_once() {
    // Run them once, here. Without this explicit call wasm-ld treats the
    // module as a "command" and runs every constructor again at the start of
    // *every* export — each allocation and each value handed to JS — which
    // cost the face detector 15 ms per frame in serialising one face.
    // SAFETY: first code to run in the module; nothing has used the
    // registries yet.
    unsafe { __wasm_call_ctors() };
    // Panics abort in release wasm; say why in the console before they do.
    // A pool thread that panics also lets go of the pool first, so the job
    // waiting on it fails instead of waiting forever.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
        crate::pool::thread_panicked(&info.to_string());
    }));
}

/// A thread for the pool: `www/thread-worker.js` calls this in its worker once
/// it has instantiated the module on the core's shared memory. It never
/// returns (the worker ends with the core's worker).
#[wasm_bindgen(js_name = serveThreads)]
pub fn serve_threads() {
    crate::pool::serve();
}

/// A fixed piece of the CPU path's work, for the worker to time this build
/// against the other (`www/core.js`).
#[wasm_bindgen(js_name = loopProbe)]
pub fn loop_probe() -> f32 {
    crate::generate::cpu::probe()
}

/// How many threads compute a job: the pool's that have joined, and this one.
#[wasm_bindgen(js_name = threads)]
pub fn threads() -> usize {
    crate::pool::threads()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackendReport {
    backend: Backend,
    reason: String,
    adapter: Option<AdapterInfo>,
    software_adapter: bool,
}

/// Choose and start the compute backend. `adapter` is the `GPUAdapterInfo`
/// the worker obtained (as a plain object), or null without WebGPU.
#[wasm_bindgen(js_name = initBackend)]
pub async fn init_backend(adapter: JsValue, preference: String) -> Result<JsValue, JsError> {
    let (adapter, mut choice) = choose(adapter, &preference)?;
    let device = match choice.backend {
        Backend::Cpu => Device::flex(),
        Backend::Webgpu => match webgpu_device().await {
            Ok(device) => device,
            Err(error) => {
                choice = Choice {
                    backend: Backend::Cpu,
                    reason: format!("WebGPU failed to start ({error}), so the model runs on the CPU"),
                };
                Device::flex()
            }
        },
    };
    ACTIVE.with(|slot| *slot.borrow_mut() = Some((choice.backend, device)));
    to_js(&BackendReport {
        backend: choice.backend,
        reason: choice.reason,
        software_adapter: adapter.as_ref().is_some_and(AdapterInfo::is_software),
        adapter,
    })
}

/// Run the convolution self-check on `backend`: "webgpu", "cpu", or
/// "active" (whatever `initBackend` chose).
#[wasm_bindgen(js_name = checkConvolution)]
pub async fn check_convolution(backend: String) -> Result<JsValue, JsError> {
    let device = match backend.as_str() {
        "webgpu" => webgpu_device().await.map_err(|e| JsError::new(&e))?,
        "cpu" => Device::flex(),
        "active" => active()?.1,
        other => return Err(JsError::new(&format!("unknown backend \"{other}\""))),
    };
    let report = selftest::conv2d_check(&device, selftest::CONV_CHECK)
        .await
        .map_err(|e| JsError::new(&e))?;
    to_js(&report)
}

/// The backend `initBackend` chose, and its device.
fn active() -> Result<(Backend, Device), JsError> {
    ACTIVE.with(|slot| slot.borrow().clone()).ok_or_else(|| JsError::new("no backend yet: call initBackend first"))
}

#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<Device, String> {
    if let Some((device, _)) = WEBGPU.with(|slot| slot.borrow().clone()) {
        return Ok(device);
    }
    let (device, setup) = Device::wgpu_options().init_with_setup_async().await.map_err(|e| format!("{e}"))?;
    WEBGPU.with(|slot| *slot.borrow_mut() = Some((device.clone(), setup)));
    Ok(device)
}

/// The threads build of the CPU path has no WebGPU: the worker loads the
/// other build where WebGPU is chosen (`www/threads.js`).
#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, String> {
    Err("this build of the core has no WebGPU (it is the CPU path's threads build)".into())
}

/// A test hook: destroy the WebGPU device, as a driver reset or a crash of
/// the GPU process would lose it. True if there was one.
#[wasm_bindgen(js_name = testLoseGpu)]
pub fn test_lose_gpu() -> bool {
    #[cfg(feature = "webgpu")]
    return WEBGPU.with(|slot| slot.borrow().as_ref().map(|(_, setup)| setup.device.destroy())).is_some();
    #[cfg(not(feature = "webgpu"))]
    false
}

/// Which backend `initBackend` would choose, without starting it: the
/// worker asks first, to load the build that has it.
#[wasm_bindgen(js_name = chooseBackend)]
pub fn choose_backend(adapter: JsValue, preference: String) -> Result<String, JsError> {
    Ok(match choose(adapter, &preference)?.1.backend {
        Backend::Cpu => "cpu",
        Backend::Webgpu => "webgpu",
    }
    .into())
}

/// The adapter (a `GPUAdapterInfo` as a plain object, or null) and
/// preference as the worker sends them, and the backend they choose.
fn choose(adapter: JsValue, preference: &str) -> Result<(Option<AdapterInfo>, Choice), JsError> {
    let preference: Preference = preference.parse().map_err(|e: String| JsError::new(&e))?;
    let adapter: Option<AdapterInfo> = serde_wasm_bindgen::from_value(adapter).map_err(|e| JsError::new(&format!("adapter info is malformed: {e}")))?;
    let choice = backend::choose(preference, adapter.as_ref());
    Ok((adapter, choice))
}

/// The wgpu handles behind the WebGPU device, once it has started.
#[cfg(feature = "webgpu")]
fn webgpu_setup() -> Result<WgpuSetup, JsError> {
    WEBGPU.with(|slot| slot.borrow().as_ref().map(|(_, setup)| setup.clone())).ok_or_else(|| JsError::new("WebGPU has not started"))
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}
