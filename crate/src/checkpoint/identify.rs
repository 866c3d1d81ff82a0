//! What a checkpoint is: the Wav2Lip generator, or something a user might
//! mistake for it. The authors' release has four files; only two are generators.

use super::TensorRef;

/// Every state_dict entry of the released generator: `name [shape] dtype`.
const GENERATOR_KEYS: &str = include_str!("../../../models/wav2lip.keys.txt");

#[derive(Clone, Debug, PartialEq)]
pub enum Identity {
    /// All 352 entries with the released shapes (`wav2lip.pth` and
    /// `wav2lip_gan.pth` share them).
    Generator,
    /// Not usable; the message says what it looks like and what to use instead.
    Other(String),
}

const USE_INSTEAD: &str = "give the app wav2lip.pth or wav2lip_gan.pth from the authors' release";

/// The released generator's entries: names and shapes, in file order.
pub fn generator_entries() -> impl Iterator<Item = (&'static str, Vec<usize>)> {
    GENERATOR_KEYS.lines().filter(|l| !l.trim().is_empty()).map(|line| {
        let (name, rest) = line.split_once(' ').expect("keys file: name");
        let shape = rest.trim_start_matches('[').split(']').next().expect("keys file: shape");
        let shape = shape.split(',').filter_map(|d| d.trim().parse().ok()).collect();
        (name, shape)
    })
}

pub fn identify(tensors: &[(String, std::rc::Rc<TensorRef>)]) -> Identity {
    let has = |prefix: &str| tensors.iter().any(|(n, _)| n.starts_with(prefix));
    if tensors.is_empty() {
        return Identity::Other(format!("this checkpoint holds no tensors; {USE_INSTEAD}"));
    }
    if has("face_encoder.") && has("audio_encoder.") && !has("face_decoder_blocks.") {
        return Identity::Other(format!(
            "this is the SyncNet lip-sync expert (lipsync_expert.pth), used only to train Wav2Lip; {USE_INSTEAD}"
        ));
    }
    if has("binary_pred.") && !has("audio_encoder.") {
        return Identity::Other(format!(
            "this is the visual-quality discriminator (visual_quality_disc.pth), used only to train Wav2Lip + GAN; {USE_INSTEAD}"
        ));
    }

    let mut missing = Vec::new();
    let mut wrong_shape = Vec::new();
    for (name, shape) in generator_entries() {
        match tensors.iter().find(|(n, _)| n == name) {
            None => missing.push(name),
            Some((_, t)) if t.shape != shape => {
                wrong_shape.push(format!("{name} is {:?}, expected {shape:?}", t.shape))
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() && wrong_shape.is_empty() {
        return Identity::Generator;
    }
    let total = generator_entries().count();
    if missing.len() == total {
        let sample: Vec<&str> = tensors.iter().take(3).map(|(n, _)| n.as_str()).collect();
        return Identity::Other(format!(
            "this is not a Wav2Lip model: none of its {} tensors ({}, …) belongs to the generator; {USE_INSTEAD}",
            tensors.len(),
            sample.join(", ")
        ));
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("{} of {total} generator entries are missing (e.g. {})", missing.len(), missing[0]));
    }
    if !wrong_shape.is_empty() {
        problems.push(format!("{} have other shapes (e.g. {})", wrong_shape.len(), wrong_shape[0]));
    }
    Identity::Other(format!(
        "this looks like a modified or partial Wav2Lip generator: {}; {USE_INSTEAD}",
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::checkpoint::{DType, StorageRef, contiguous_strides};
    use std::rc::Rc;

    fn tensor(shape: &[usize]) -> Rc<TensorRef> {
        let numel = shape.iter().product::<usize>().max(1);
        let storage = StorageRef { key: "0".into(), dtype: DType::F32, numel: numel as u64 };
        Rc::new(TensorRef::new(storage, 0, shape.to_vec(), contiguous_strides(shape)).unwrap())
    }

    fn generator() -> Vec<(String, Rc<TensorRef>)> {
        generator_entries().map(|(n, s)| (n.to_string(), tensor(&s))).collect()
    }

    fn named(names: &[&str]) -> Vec<(String, Rc<TensorRef>)> {
        names.iter().map(|n| (n.to_string(), tensor(&[4]))).collect()
    }

    #[test]
    fn the_released_layout_has_352_entries_and_36_298_035_parameters() {
        let entries: Vec<_> = generator_entries().collect();
        assert_eq!(entries.len(), 352);
        let parameters: usize = entries
            .iter()
            .filter(|(n, _)| !n.contains("running_") && !n.ends_with("num_batches_tracked"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(parameters, 36_298_035);
    }

    #[test]
    fn the_generator_is_recognised() {
        assert_eq!(identify(&generator()), Identity::Generator);
    }

    #[test]
    fn the_other_release_files_are_named_with_what_to_use_instead() {
        let syncnet = named(&["face_encoder.0.conv_block.0.weight", "audio_encoder.0.conv_block.0.weight"]);
        let disc = named(&["face_encoder_blocks.0.0.conv_block.0.weight", "binary_pred.0.weight"]);
        for (tensors, file) in [(syncnet, "lipsync_expert.pth"), (disc, "visual_quality_disc.pth")] {
            let Identity::Other(message) = identify(&tensors) else { panic!("accepted {file}") };
            assert!(message.contains(file) && message.contains("wav2lip_gan.pth"), "{message}");
        }
    }

    #[test]
    fn unrelated_partial_and_reshaped_models_are_told_apart() {
        let message = |t: &[(String, Rc<TensorRef>)]| match identify(t) {
            Identity::Other(m) => m,
            Identity::Generator => panic!("accepted"),
        };
        assert!(message(&named(&["fc.weight", "fc.bias"])).contains("not a Wav2Lip model"));
        let partial: Vec<_> = generator().into_iter().take(100).collect();
        assert!(message(&partial).contains("252 of 352 generator entries are missing"));
        let mut reshaped = generator();
        reshaped[0].1 = tensor(&[16, 3, 7, 7]);
        assert!(message(&reshaped).contains("1 have other shapes (e.g. face_encoder_blocks.0.0.conv_block.0.weight is [16, 3, 7, 7], expected [16, 6, 7, 7])"));
        assert!(message(&[]).contains("no tensors"));
    }
}
