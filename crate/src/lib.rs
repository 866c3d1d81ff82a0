//! The Wav2Lip core: everything between decoded media and encoded media.
//!
//! The pipeline, one module per stage, grows as the stages land:
//! audio → detect → crop → generate → blend, plus checkpoint loading.
//! Today the core knows how to pick a compute backend ([`backend`]) and how to
//! prove that backend computes correctly ([`selftest`]).
//!
//! [`web`] is the only module that knows about the browser; the `wav2lip`
//! binary (`src/bin/wav2lip.rs`) is the only native entry point.

pub mod backend;
pub mod checkpoint;
pub mod formula;
pub mod generate;
pub mod npy;
pub mod selftest;

#[cfg(not(target_family = "wasm"))]
pub mod blocking;

#[cfg(target_family = "wasm")]
pub mod web;
