//! Any bytes as a WAV file through the audio front end (mix, resample, mel):
//! a voice or an error, never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wav2lip::audio::wav::hear(std::io::Cursor::new(data), |_| {});
});
