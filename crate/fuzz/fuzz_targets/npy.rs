//! Any bytes as a `.npy` array (the CLI's input format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wav2lip::npy::read_f32(data);
});
