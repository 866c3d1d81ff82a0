//! The CPU path on every core where the page has no shared memory (not
//! cross-origin isolated; elsewhere the threads build shares one model,
//! `crate::pool`): helper workers (`www/helpers.js`), each with
//! its own core and its own copy of the model, take a share of each batch
//! while this worker computes the first share itself. Frames are
//! independent, so nothing but inputs and outputs crosses between workers,
//! and no shared memory (or wasm threads build) is needed.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::generate::{FACE_VALUES, Generator, MEL_VALUES, Runner};

thread_local! {
    /// `run(index, mel, face, batch) => Promise<Float32Array>` and how many
    /// helpers it reaches.
    static HELPERS: RefCell<Option<(js_sys::Function, usize)>> = const { RefCell::new(None) };
}

/// Share CPU batches with `count` helpers through `run`, or stop sharing
/// (`run` null or `count` 0).
#[wasm_bindgen(js_name = setHelpers)]
pub fn set_helpers(run: Option<js_sys::Function>, count: usize) {
    HELPERS.with(|slot| *slot.borrow_mut() = run.filter(|_| count > 0).map(|run| (run, count)));
}

/// The loaded generator with the helpers, if any: what batches run through.
pub struct Shared(pub Rc<Generator>);

impl Runner for Shared {
    async fn run(&self, mel: Vec<f32>, face: Vec<f32>, batch: usize) -> Result<Vec<f32>, String> {
        let helpers = HELPERS.with(|slot| slot.borrow().clone()).filter(|_| matches!(*self.0, Generator::Cpu(_)));
        let Some((run, count)) = helpers.filter(|_| batch > 1) else {
            return self.0.run(mel, face, batch).await;
        };
        // Frames in near-equal shares, this worker's first.
        let workers = (count + 1).min(batch);
        let shares: Vec<(usize, usize)> = (0..workers).map(|i| (i * batch / workers, (i + 1) * batch / workers)).collect();
        let part = |values: &[f32], per: usize, (from, to): (usize, usize)| js_sys::Float32Array::from(&values[from * per..to * per]);
        // Posted before this worker starts computing, so all run at once.
        let pending: Vec<_> = shares[1..]
            .iter()
            .enumerate()
            .map(|(i, &share)| {
                let promise = run
                    .apply(&JsValue::NULL, &js_sys::Array::of4(&i.into(), &part(&mel, MEL_VALUES, share), &part(&face, FACE_VALUES, share), &(share.1 - share.0).into()))
                    .and_then(|p| p.dyn_into::<js_sys::Promise>().map_err(JsValue::from));
                (share, promise)
            })
            .collect();
        let (first, last) = shares[0];
        let mut out = self.0.run(mel[first * MEL_VALUES..last * MEL_VALUES].to_vec(), face[first * FACE_VALUES..last * FACE_VALUES].to_vec(), last - first).await?;
        for ((from, to), promise) in pending {
            let answer = match promise {
                Ok(promise) => JsFuture::from(promise).await,
                Err(error) => Err(error),
            };
            match answer.and_then(|a| a.dyn_into::<js_sys::Float32Array>().map_err(JsValue::from)) {
                Ok(values) if values.length() as usize == (to - from) * 3 * 96 * 96 => out.extend(values.to_vec()),
                // A helper that failed (out of memory, closed) loses no
                // frames: its share is computed here, and sharing stops.
                failed => {
                    web_sys::console::warn_1(&format!("a helper worker failed ({failed:?}); the CPU path continues on this worker alone").into());
                    set_helpers(None, 0);
                    out.extend(self.0.run(mel[from * MEL_VALUES..to * MEL_VALUES].to_vec(), face[from * FACE_VALUES..to * FACE_VALUES].to_vec(), to - from).await?);
                }
            }
        }
        Ok(out)
    }
}
