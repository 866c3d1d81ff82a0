//! The audio front end: a voice recording → Wav2Lip's mel chunks.
//!
//! PCM arrives decoded (by the browser, or by the CLI from WAV) in pieces;
//! [`voice`] mixes it to mono, [`resample`] brings it to 16 kHz, [`mel`]
//! turns it into the spectrogram the model was trained on, column by column;
//! [`chunks`] says which 0.2 s of it drive each video frame; natively,
//! [`wav`] reads WAV files into it. [`remix`] makes the output's sound
//! from the voice, in a form its encoder takes.

pub mod chunks;
pub mod mel;
pub mod remix;
pub mod resample;
pub mod voice;
#[cfg(not(target_family = "wasm"))]
pub mod wav;

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::chunks::{FrameClock, chunk_starts};
    use super::mel::{Mel, MelSpectrogram, N_MELS};
    use super::voice::VoiceBuilder;
    use crate::testdata::{fixture, npy, speech16k};

    #[test]
    fn mel_matches_the_original() {
        let (shape, expected) = npy("mel_full.npy");
        let mel = MelSpectrogram::compute(&speech16k());
        assert_eq!(mel.len(), shape.iter().product::<usize>(), "shape {shape:?}");
        let max_err = mel.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        println!("mel parity: max abs error {max_err:.3e} over {shape:?}");
        assert!(max_err <= 1e-3, "max abs error {max_err}");
    }

    #[test]
    fn the_generator_fixture_holds_chunks_0_40_80_120_at_25_fps() {
        let (_, full) = npy("mel_full.npy");
        let (_, chunks) = npy("gen_mel.npy");
        let columns = full.len() / N_MELS;
        let starts = chunk_starts(&FrameClock::Constant { fps: 25.0 }, columns).unwrap();
        for (k, frame) in [0, 40, 80, 120].into_iter().enumerate() {
            for row in 0..N_MELS {
                for c in 0..16 {
                    assert_eq!(chunks[k * N_MELS * 16 + row * 16 + c], full[row * columns + starts[frame] + c]);
                }
            }
        }
    }

    #[test]
    fn silence_is_finite_and_at_the_floor() {
        let mel = MelSpectrogram::compute(&vec![0.0; 16_000]);
        assert_eq!(mel.len(), N_MELS * 81);
        assert!(mel.iter().all(|&v| v == -4.0));
    }

    #[test]
    fn pieces_of_any_size_give_the_same_spectrogram() {
        let speech = speech16k();
        let whole = MelSpectrogram::compute(&speech);
        for piece in [1, 199, 401, 4096, 70_001] {
            let mut b = VoiceBuilder::new(16_000, 1).unwrap();
            for p in speech.chunks(piece) {
                b.push(p).unwrap();
            }
            assert_eq!(b.finish().mel.rows(), whole, "pieces of {piece}");
        }
        // Short signals reflect more than once, as numpy's pad does.
        for n in [2, 3, 150, 399, 400, 401, 601] {
            let mut b = VoiceBuilder::new(16_000, 1).unwrap();
            for p in speech[..n].chunks(7) {
                b.push(p).unwrap();
            }
            assert_eq!(b.finish().mel.rows(), MelSpectrogram::compute(&speech[..n]), "{n} samples");
        }
    }

    #[test]
    fn a_window_is_the_generator_input_layout() {
        let mel = Mel { values: (0..N_MELS * 20).map(|i| i as f32).collect() };
        let mut window = vec![0.0; N_MELS * 16];
        mel.window_into(3, 16, &mut window);
        assert_eq!(window[0], (3 * N_MELS) as f32);
        assert_eq!(window[1], (4 * N_MELS) as f32);
        assert_eq!(window[16], (3 * N_MELS + 1) as f32);
        assert_eq!(mel.rows()[20], 1.0);
    }

    /// `speech44k_stereo.wav` is `speech16k.wav` at 44.1 kHz in both
    /// channels: after mixing and resampling, the spectrogram should be
    /// close to the 16 kHz one (not equal: two different resamplers).
    #[test]
    fn resampled_stereo_is_close_to_the_16k_original() {
        let reader = hound::WavReader::new(std::io::Cursor::new(fixture("speech44k_stereo.wav"))).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.sample_rate, spec.channels), (44_100, 2));
        let samples: Vec<f32> = reader.into_samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect();
        let mut b = VoiceBuilder::new(44_100, 2).unwrap();
        for p in samples.chunks(8192) {
            b.push(p).unwrap();
        }
        let ours = b.finish().mel.rows();
        let (_, reference) = npy("mel_full.npy");
        let columns = reference.len() / N_MELS;
        assert!((ours.len() / N_MELS).abs_diff(columns) <= 1, "{} vs {columns} columns", ours.len() / N_MELS);
        let ours_columns = ours.len() / N_MELS;
        let diffs: Vec<f32> = (0..N_MELS)
            .flat_map(|r| (0..columns.min(ours_columns)).map(move |c| (r, c)))
            .map(|(r, c)| (ours[r * ours_columns + c] - reference[r * columns + c]).abs())
            .collect();
        let max = diffs.iter().fold(0.0f32, |a, &b| a.max(b));
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        println!("44.1 kHz stereo vs 16 kHz mel: max abs {max:.4}, mean abs {mean:.4} over {} values", diffs.len());
        assert!(mean <= 0.05, "mean abs difference {mean}");
    }
}
