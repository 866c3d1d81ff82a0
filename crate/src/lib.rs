//! The Wav2Lip core: everything between decoded media and encoded media.
//!
//! The pipeline, one module per stage:
//! audio → detect → crop → generate → blend, plus checkpoint loading.
//! Today: the audio front end ([`audio`]), face detection ([`detect`]), the
//! face's mesh and pose ([`landmarks`]), following one face ([`track`]), the Wav2Lip crop ([`crop`]) and where it
//! lies in each frame of a video with the original's options ([`framing`]), checkpoint
//! loading ([`checkpoint`]), the generator ([`generate`]), the blend back
//! into the frame ([`blend`]), the disclosure [`label`], all of it on a
//! stream of frames in a [`job`] (or as it happens, from a microphone:
//! [`live`], its face held still by [`steady`]), and the compute backend's choice
//! ([`backend`]) and proof ([`selftest`]). The detector's and the
//! generator's CPU loops share [`nhwc`] activations and [`simd`] lanes.
//!
//! [`web`] is the only module that knows about the browser; the `wav2lip`
//! binary (`src/bin/wav2lip.rs`) is the only native entry point.

pub mod audio;
pub mod backend;
pub mod blend;
pub mod checkpoint;
pub mod crop;
pub mod detect;
pub mod enhance;
pub mod formula;
pub mod framing;
pub mod generate;
pub mod job;
pub mod label;
pub mod landmarks;
pub mod live;
pub mod npy;
pub mod pool;
pub mod nhwc;
pub mod selftest;
pub mod simd;
pub mod steady;
pub mod superres;
pub mod testmedia;
pub mod track;

#[cfg(test)]
mod testdata;

// The tests marked for the browser run where the core runs: in a
// dedicated worker (`wasm-pack test --headless --chrome`).
#[cfg(all(test, target_family = "wasm"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[cfg(not(target_family = "wasm"))]
pub mod blocking;

#[cfg(target_family = "wasm")]
pub mod web;
