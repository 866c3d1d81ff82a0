//! A lip-sync job in the browser: the worker decodes the face video, hands
//! its frames in one by one, and encodes the finished frames that come back
//! (see `job` for the pipeline in between). One job at a time.

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::helpers::Shared;
use super::{detect, landmarks, model, to_js, voice};
use crate::audio::chunks::FrameClock;
use crate::framing::Options;
#[cfg(feature = "webgpu")]
use crate::generate::Generator;
use crate::job::Job;
use crate::label::Label;

thread_local! {
    static JOB: RefCell<Option<Job>> = const { RefCell::new(None) };
    /// The job's batch size as of its last batch (the job itself is out of
    /// its slot while a batch runs).
    static BATCH: Cell<usize> = const { Cell::new(0) };
    /// The last job's time by stage (ms), kept after it ends.
    static TIMINGS: Cell<crate::job::Timings> = Cell::new(crate::job::Timings::default());
    /// Set when the job stopped at a batch the GPU failed on, kept for
    /// `jobResume`: whether that was at its end (`jobFinish`).
    static STALLED: Cell<Option<bool>> = const { Cell::new(None) };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    options: Options,
    width: usize,
    height: usize,
    fps: f64,
    /// Frames in the face video (1 for a photo).
    source_frames: usize,
    batch: usize,
    /// Find the batch size from `batch` up ([`Job::tune`]).
    #[serde(default)]
    tune: bool,
}

/// The most frames a tuned job puts in one batch: each holds ~16 MB of
/// activations on the GPU (256 MB at 16), and 16 frames of the widest
/// layer are already ~300 000 invocations, enough to fill a large GPU.
const MAX_BATCH: usize = 16;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    /// Output frames: one per chunk of the voice.
    frames: usize,
    width: usize,
    height: usize,
    /// The source frame each output frame shows, in order.
    sources: Vec<usize>,
}

/// Start a job for the current voice and model (a job in progress is
/// dropped). `label` is the RGBA picture stamped on every frame, or empty
/// for none.
#[wasm_bindgen(js_name = jobStart)]
pub fn job_start(spec: JsValue, label: Vec<u8>, label_width: usize, label_height: usize) -> Result<JsValue, JsError> {
    JOB.with(|slot| slot.borrow_mut().take());
    let spec: Spec = serde_wasm_bindgen::from_value(spec).map_err(|e| JsError::new(&format!("the job's settings are malformed: {e}")))?;
    model::current()?;
    let mel = voice::current().ok_or_else(|| JsError::new("no voice yet: choose the recording the lips should follow"))?;
    let label = if label.is_empty() { None } else { Some(Label::new(label, label_width, label_height).map_err(|e| JsError::new(&e))?) };
    let clock = FrameClock::Constant { fps: spec.fps };
    let mut job = Job::new(spec.options, (spec.width, spec.height), &clock, mel, spec.batch, label).map_err(|e| JsError::new(&e))?;
    if spec.tune {
        job.tune(MAX_BATCH, now);
    }
    job.time_with(now);
    BATCH.with(|b| b.set(job.batch()));
    let (width, height) = job.size();
    let plan = Plan { frames: job.frames(), width, height, sources: job.sources(spec.source_frames.max(1)) };
    JOB.with(|slot| *slot.borrow_mut() = Some(job));
    to_js(&plan)
}

/// The next source frame (RGBA); resolves to the frames finished so far
/// (RGBA at the output size, in order), often none.
#[wasm_bindgen(js_name = jobPush)]
pub async fn job_push(pixels: Vec<u8>) -> Result<js_sys::Array, JsError> {
    let (detector, mesh) = (detect::current(), landmarks::current());
    with_job(false, |job| job.push(pixels, detector.as_deref(), mesh.as_deref())).await
}

/// Every frame is in: resolves to the last finished frames. The job ends.
#[wasm_bindgen(js_name = jobFinish)]
pub async fn job_finish() -> Result<js_sys::Array, JsError> {
    with_job(true, Job::finish).await
}

/// `performance.now()` in the worker, for timing batches.
pub(super) fn now() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|performance| {
            let now: js_sys::Function = js_sys::Reflect::get(&performance, &"now".into()).ok()?.dyn_into().ok()?;
            now.call0(&performance).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// The smallest resize factor a job on `width`×`height` frames needs (see
/// `job::MAX_FRAME_PIXELS`): 1 up to 4K.
#[wasm_bindgen(js_name = shrinkNeeded)]
pub fn shrink_needed(width: usize, height: usize) -> usize {
    crate::job::shrink_needed(width, height)
}

/// Where the current (or last) job's time went, in ms by stage, summed
/// over its frames: `{detect, mesh, inputs, generate, blend}`.
#[wasm_bindgen(js_name = jobTimings)]
pub fn job_timings() -> Result<JsValue, JsError> {
    to_js(&TIMINGS.with(Cell::get))
}

/// Frames a batch in the current job (it changes while a tuned job searches).
#[wasm_bindgen(js_name = jobBatch)]
pub fn job_batch() -> usize {
    BATCH.with(Cell::get)
}

/// Drop the job in progress, if any.
#[wasm_bindgen(js_name = jobCancel)]
pub fn job_cancel() {
    STALLED.with(|s| s.set(None));
    JOB.with(|slot| slot.borrow_mut().take());
}

/// Whether the job stopped because the GPU failed (its device lost): it
/// holds the failed batch, and `jobResume` continues from there.
#[wasm_bindgen(js_name = jobStalled)]
pub fn job_stalled() -> bool {
    STALLED.with(|s| s.get()).is_some()
}

/// Continue a stalled job on the model loaded now (the CPU's), `batch`
/// frames at a time: resolves to the frames it finishes, as `jobPush` or
/// `jobFinish` would have.
#[wasm_bindgen(js_name = jobResume)]
pub async fn job_resume(batch: usize) -> Result<js_sys::Array, JsError> {
    let last = STALLED.with(|s| s.take()).ok_or_else(|| JsError::new("no stalled job to resume"))?;
    with_job(last, |job| job.set_batch(batch)).await
}

/// Apply `step` to the job, then run what is due through the generator.
/// The job is out of its slot meanwhile (no borrow across the await); it
/// goes back unless this was the end or something failed — except a
/// failure of the GPU, after which it waits for `jobResume`.
async fn with_job(last: bool, step: impl FnOnce(&mut Job) -> Result<(), String>) -> Result<js_sys::Array, JsError> {
    let mut job = JOB
        .with(|slot| slot.borrow_mut().take())
        .ok_or_else(|| JsError::new("no lip-sync job in progress: call jobStart first"))?;
    let generator = model::current()?;
    step(&mut job).map_err(|e| JsError::new(&e))?;
    #[cfg(feature = "webgpu")]
    let on_gpu = matches!(*generator, Generator::Gpu(_));
    #[cfg(not(feature = "webgpu"))]
    let on_gpu = false;
    let frames = match job.drain(&Shared(generator)).await {
        Ok(frames) => frames,
        Err(error) if on_gpu => {
            STALLED.with(|s| s.set(Some(last)));
            JOB.with(|slot| *slot.borrow_mut() = Some(job));
            return Err(JsError::new(&format!("the GPU failed ({error})")));
        }
        Err(error) => return Err(JsError::new(&error)),
    };
    BATCH.with(|b| b.set(job.batch()));
    TIMINGS.with(|t| t.set(job.timings()));
    if !last {
        JOB.with(|slot| *slot.borrow_mut() = Some(job));
    }
    Ok(frames.iter().map(|frame| js_sys::Uint8Array::from(&frame[..])).collect())
}
