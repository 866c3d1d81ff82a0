//! The voice in the browser: the worker decodes the recording and pushes
//! PCM here piece by piece; the spectrogram stays in the core for the
//! generator, and the page gets a summary.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::to_js;
use crate::audio::chunks::long_enough;
use crate::audio::mel::Mel;
use crate::audio::voice::{Hearing, VoiceBuilder};

thread_local! {
    static BUILDER: RefCell<Option<VoiceBuilder>> = const { RefCell::new(None) };
    /// Shared with the job that uses it: a three-hour voice's spectrogram
    /// is 276 MB, never copied.
    static MEL: RefCell<Option<Rc<Mel>>> = const { RefCell::new(None) };
}

/// Begin a recording of `channels` interleaved channels at `sampleRate`,
/// about `seconds` long if its container says (room for its spectrogram is
/// made at once); one in progress is dropped.
#[wasm_bindgen(js_name = voiceStart)]
pub fn voice_start(sample_rate: u32, channels: usize, seconds: Option<f64>) -> Result<(), JsError> {
    // The previous voice goes first: its memory is reused for this one.
    MEL.with(|slot| slot.borrow_mut().take());
    let mut builder = VoiceBuilder::new(sample_rate, channels).map_err(|e| JsError::new(&e))?;
    if let Some(seconds) = seconds {
        builder.expect(seconds);
    }
    BUILDER.with(|slot| *slot.borrow_mut() = Some(builder));
    Ok(())
}

/// Interleaved f32 samples, any number of frames.
#[wasm_bindgen(js_name = voicePush)]
pub fn voice_push(interleaved: &[f32]) -> Result<(), JsError> {
    BUILDER.with(|slot| match slot.borrow_mut().as_mut() {
        Some(builder) => builder.push(interleaved).map_err(|e| JsError::new(&e)),
        None => Err(JsError::new("no recording in progress: call voiceStart first")),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VoiceReport {
    #[serde(flatten)]
    hearing: Hearing,
    columns: usize,
    warning: Option<String>,
}

/// End the recording: its spectrogram replaces the previous voice's.
#[wasm_bindgen(js_name = voiceFinish)]
pub fn voice_finish() -> Result<JsValue, JsError> {
    let builder = BUILDER
        .with(|slot| slot.borrow_mut().take())
        .ok_or_else(|| JsError::new("no recording in progress: call voiceStart first"))?;
    let voice = builder.finish();
    long_enough(voice.mel.columns()).map_err(|e| JsError::new(&e))?;
    let report = VoiceReport { columns: voice.mel.columns(), warning: voice.hearing.warning(), hearing: voice.hearing };
    MEL.with(|slot| *slot.borrow_mut() = Some(Rc::new(voice.mel)));
    to_js(&report)
}

/// The current voice's spectrogram, if any.
pub(super) fn current() -> Option<Rc<Mel>> {
    MEL.with(|slot| slot.borrow().clone())
}

/// The current voice's spectrogram, `[80, T]` row-major.
#[wasm_bindgen(js_name = voiceMel)]
pub fn voice_mel() -> Result<Vec<f32>, JsError> {
    MEL.with(|slot| slot.borrow().as_ref().map(|mel| mel.rows())).ok_or_else(|| JsError::new("no voice yet"))
}
