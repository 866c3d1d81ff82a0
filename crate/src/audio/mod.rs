//! The audio front end: a voice recording → Wav2Lip's mel chunks.
//!
//! PCM arrives decoded (by the browser, or by the CLI from WAV), is mixed to
//! mono, brought to 16 kHz, and turned into the mel spectrogram the model
//! was trained on ([`mel`]); [`chunks`] says which 0.2 s of it drive each
//! video frame.

pub mod chunks;
pub mod mel;

/// Interleaved samples of `channels` channels averaged to one, as the
/// original's loader does for stereo.
pub fn to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    match channels {
        0 | 1 => interleaved.to_vec(),
        n => interleaved.chunks_exact(n).map(|frame| frame.iter().sum::<f32>() / n as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::chunks::{FrameClock, chunk_starts};
    use super::mel::{MelSpectrogram, N_MELS};
    use super::*;
    use crate::npy;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// 16-bit PCM as librosa loads it: divided by 32768.
    fn speech16k() -> Vec<f32> {
        let reader = hound::WavReader::new(std::io::Cursor::new(fixture("speech16k.wav"))).unwrap();
        assert_eq!((reader.spec().sample_rate, reader.spec().channels), (16_000, 1));
        reader.into_samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect()
    }

    #[test]
    fn mel_matches_the_original() {
        let (shape, expected) = npy::read_f32(&fixture("mel_full.npy")).unwrap();
        let mel = MelSpectrogram::new().compute(&speech16k());
        assert_eq!(mel.len(), shape.iter().product::<usize>(), "shape {shape:?}");
        let max_err = mel.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        println!("mel parity: max abs error {max_err:.3e} over {shape:?}");
        assert!(max_err <= 1e-3, "max abs error {max_err}");
    }

    #[test]
    fn the_generator_fixture_holds_chunks_0_40_80_120_at_25_fps() {
        let (_, full) = npy::read_f32(&fixture("mel_full.npy")).unwrap();
        let (_, chunks) = npy::read_f32(&fixture("gen_mel.npy")).unwrap();
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
        let mel = MelSpectrogram::new().compute(&vec![0.0; 16_000]);
        assert_eq!(mel.len(), N_MELS * 81);
        assert!(mel.iter().all(|&v| v == -4.0));
    }

    #[test]
    fn a_window_of_columns_equals_the_same_columns_of_the_whole() {
        let speech = speech16k();
        let mel = MelSpectrogram::new();
        let whole = mel.compute(&speech);
        let columns = whole.len() / N_MELS;
        let mut part = vec![0.0; N_MELS * 16];
        mel.columns_into(&speech, 300..316, 16, &mut part);
        for row in 0..N_MELS {
            assert_eq!(part[row * 16..row * 16 + 16], whole[row * columns + 300..row * columns + 316]);
        }
    }

    #[test]
    fn stereo_is_averaged() {
        assert_eq!(to_mono(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2), [0.5, 0.5, 0.0]);
        let six = to_mono(&[0.5, -0.5, 1.0, -1.0, 0.25, -0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 6);
        assert_eq!(six, [0.0, 0.5]);
    }
}
