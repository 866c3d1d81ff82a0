//! Any bytes, as any of the three containers: opening, identifying and
//! reading every tensor must end in a value or an error, never a panic, an
//! abort, a hang or an allocation out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wav2lip::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(checkpoint) = Checkpoint::open(data) {
        let _ = checkpoint.summary();
        for (_, tensor) in &checkpoint.tensors {
            let _ = checkpoint.read(tensor);
        }
        let _ = checkpoint.generator_weights();
    }
});
