//! Any bytes as the pickle inside a checkpoint: the restricted unpickler
//! ends in a value or an error, never a panic, a hang, a stack overflow or
//! an allocation out of proportion to the input; and it never builds an
//! object outside a state_dict's vocabulary.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wav2lip::checkpoint::pickle::read(data);
});
