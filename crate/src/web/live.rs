//! Live mode in the browser (`www/live-session.js` is the caller): the
//! microphone's sound in small pieces, and frames one at a time, each made
//! as soon as its 0.2 s of sound is in (see `live`).
//!
//! The voice and the job sit in separate slots: sound keeps arriving while
//! a frame is on the GPU (the job is out of its slot across that await).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::helpers::Shared;
use super::{detect, landmarks, model, to_js};
use crate::framing::Options;
use crate::job::Job;
use crate::label::Label;
use crate::live::LiveVoice;

thread_local! {
    static VOICE: RefCell<Option<LiveVoice>> = const { RefCell::new(None) };
    static JOB: RefCell<Option<Job>> = const { RefCell::new(None) };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    options: Options,
    width: usize,
    height: usize,
    sample_rate: u32,
    channels: usize,
}

/// The live default: the detector on every third frame, the face's mesh
/// following it between (a camera's 30 frames a second leave ~33 ms each).
const DETECT_EVERY: usize = 3;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    width: usize,
    height: usize,
}

/// Start live mode (a session in progress is dropped): frames of
/// `width`×`height` (`options.resizeFactor` shrinks them), sound at
/// `sampleRate` with `channels` interleaved channels; `label` as a job's.
/// Resolves to the output frames' size.
#[wasm_bindgen(js_name = liveStart)]
pub fn live_start(spec: JsValue, label: Vec<u8>, label_width: usize, label_height: usize) -> Result<JsValue, JsError> {
    live_stop();
    let mut spec: Spec = serde_wasm_bindgen::from_value(spec).map_err(|e| JsError::new(&format!("live mode's settings are malformed: {e}")))?;
    model::current()?;
    if spec.options.detect_every <= 1 {
        spec.options.detect_every = DETECT_EVERY;
    }
    let label = if label.is_empty() { None } else { Some(Label::new(label, label_width, label_height).map_err(|e| JsError::new(&e))?) };
    let voice = LiveVoice::new(spec.sample_rate, spec.channels).map_err(|e| JsError::new(&e))?;
    let mut job = Job::live(spec.options, (spec.width, spec.height), label).map_err(|e| JsError::new(&e))?;
    job.time_with(super::job::now);
    let (width, height) = job.size();
    VOICE.with(|slot| *slot.borrow_mut() = Some(voice));
    JOB.with(|slot| *slot.borrow_mut() = Some(job));
    to_js(&Started { width, height })
}

/// The next piece of sound (interleaved f32, any length); returns the
/// latest moment (seconds from the first sample) whose frame can be made
/// now, or -1 before the first 0.2 s are in.
#[wasm_bindgen(js_name = liveHear)]
pub fn live_hear(interleaved: &[f32]) -> Result<f64, JsError> {
    VOICE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let voice = slot.as_mut().ok_or_else(|| JsError::new("live mode is not on: call liveStart first"))?;
        voice.hear(interleaved).map_err(|e| JsError::new(&e))?;
        Ok(voice.ready_until().unwrap_or(-1.0))
    })
}

/// The frame at `t` seconds (RGBA at the source size); resolves to the
/// finished frame (RGBA at the output size). Frames come in time order,
/// any of them skipped.
#[wasm_bindgen(js_name = liveFrame)]
pub async fn live_frame(pixels: Vec<u8>, t: f64) -> Result<js_sys::Uint8Array, JsError> {
    let window = VOICE.with(|slot| match slot.borrow_mut().as_mut() {
        Some(voice) => voice.window(t).map_err(|e| JsError::new(&e)),
        None => Err(JsError::new("live mode is not on: call liveStart first")),
    })?;
    let mut job = JOB.with(|slot| slot.borrow_mut().take()).ok_or_else(|| JsError::new("live mode is not on: call liveStart first"))?;
    let generator = model::current()?;
    let (detector, mesh) = (detect::current(), landmarks::current());
    job.push_live(pixels, t, window, detector.as_deref(), mesh.as_deref()).map_err(|e| JsError::new(&e))?;
    let frames = job.drain(&Shared(generator)).await.map_err(|e| JsError::new(&e))?;
    // Put back unless live mode was stopped (or restarted) meanwhile.
    if VOICE.with(|slot| slot.borrow().is_some()) {
        JOB.with(|slot| {
            slot.borrow_mut().get_or_insert(job);
        });
    }
    let [frame] = <[Vec<u8>; 1]>::try_from(frames).map_err(|frames| JsError::new(&format!("a live frame came out as {} frames; please report this", frames.len())))?;
    Ok(js_sys::Uint8Array::from(&frame[..]))
}

/// Where live mode's time went so far: ms by stage, and the frames the
/// detector ran on (`jobTimings`' fields).
#[wasm_bindgen(js_name = liveTimings)]
pub fn live_timings() -> Result<JsValue, JsError> {
    let timings = JOB.with(|slot| slot.borrow().as_ref().map(Job::timings)).unwrap_or_default();
    to_js(&timings)
}

/// End live mode; its sound and frames are let go.
#[wasm_bindgen(js_name = liveStop)]
pub fn live_stop() {
    VOICE.with(|slot| slot.borrow_mut().take());
    JOB.with(|slot| slot.borrow_mut().take());
}
