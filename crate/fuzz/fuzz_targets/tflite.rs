//! Any bytes as a TFLite model: the FlatBuffers reader and the graph built
//! from it end in a detector or an error, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The same bytes as either model: each is read and built on its own.
    let _ = wav2lip::detect::Detector::new(data, data);
});
