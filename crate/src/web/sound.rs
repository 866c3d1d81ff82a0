//! The output's sound when it is re-encoded: the worker decodes the voice
//! again and passes its PCM through here on its way to the encoder, which
//! takes only some channel counts and rates (`audio::remix`).

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::audio::remix::Remix;

thread_local! {
    static REMIX: RefCell<Option<Remix>> = const { RefCell::new(None) };
}

/// Begin: `channels` at `sampleRate` in, `outChannels` at `outRate` out.
#[wasm_bindgen(js_name = soundStart)]
pub fn sound_start(sample_rate: u32, channels: usize, out_rate: u32, out_channels: usize) -> Result<(), JsError> {
    let remix = Remix::new(sample_rate, channels, out_rate, out_channels).map_err(|e| JsError::new(&e))?;
    REMIX.with(|slot| *slot.borrow_mut() = Some(remix));
    Ok(())
}

/// Interleaved samples in; the interleaved samples ready so far out.
#[wasm_bindgen(js_name = soundPush)]
pub fn sound_push(interleaved: &[f32]) -> Result<Vec<f32>, JsError> {
    REMIX.with(|slot| {
        let mut slot = slot.borrow_mut();
        let remix = slot.as_mut().ok_or_else(|| JsError::new("no sound in progress: call soundStart first"))?;
        let mut out = Vec::new();
        remix.push(interleaved, &mut |s| out.extend_from_slice(s)).map_err(|e| JsError::new(&e))?;
        Ok(out)
    })
}

/// The last samples; the remix ends.
#[wasm_bindgen(js_name = soundFinish)]
pub fn sound_finish() -> Result<Vec<f32>, JsError> {
    let remix = REMIX
        .with(|slot| slot.borrow_mut().take())
        .ok_or_else(|| JsError::new("no sound in progress: call soundStart first"))?;
    let mut out = Vec::new();
    remix.finish(&mut |s| out.extend_from_slice(s));
    Ok(out)
}
