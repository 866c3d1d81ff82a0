//! A decoded voice recording, in pieces → its mel spectrogram and what the
//! page should tell the user about it.

use super::mel::{Mel, MelStream, SAMPLE_RATE};
use super::resample::{self, Resample};

/// What was heard, for the page: length, level, and damage.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hearing {
    pub seconds: f64,
    pub sample_rate: u32,
    pub channels: usize,
    /// Largest absolute sample (1.0 is full scale).
    pub peak: f32,
    /// Share of samples at or beyond full scale: a clipped recording still
    /// works, but its loud parts have lost their detail.
    pub clipped: f64,
    /// NaN or infinite samples, replaced by silence.
    pub invalid: u64,
}

impl Hearing {
    /// A sentence for the user when something about the recording hurts
    /// the result, or None.
    pub fn warning(&self) -> Option<String> {
        if self.invalid > 0 {
            Some(format!("{} samples of the voice were not numbers and were replaced by silence", self.invalid))
        } else if self.clipped > 0.001 {
            Some(format!(
                "the voice is clipped ({:.1} % of samples at full scale); lips follow it, but a cleaner recording gives better results",
                self.clipped * 100.0
            ))
        } else if self.peak < 0.01 {
            Some("the voice is almost silent; the lips will barely move".into())
        } else {
            None
        }
    }
}

pub struct Voice {
    pub mel: Mel,
    pub hearing: Hearing,
}

/// Takes interleaved PCM in any number of pieces: mixes to mono, resamples
/// to 16 kHz, and computes the spectrogram as it goes.
pub struct VoiceBuilder {
    channels: usize,
    resampler: Resample,
    mel: MelStream,
    mono: Vec<f32>,
    frames: u64,
    hearing: Hearing,
    at_full_scale: u64,
}

impl VoiceBuilder {
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, String> {
        Self::with(resample::to_16k(sample_rate), sample_rate, channels)
    }

    /// For a voice heard live: the spectrogram follows the sound closely
    /// (a shorter resampling block, [`resample::to_16k_live`]).
    pub fn live(sample_rate: u32, channels: usize) -> Result<Self, String> {
        Self::with(resample::to_16k_live(sample_rate), sample_rate, channels)
    }

    fn with(resampler: Result<Resample, String>, sample_rate: u32, channels: usize) -> Result<Self, String> {
        if !(1..=32).contains(&channels) {
            return Err(format!("the recording has {channels} audio channels; 1 to 32 can be used"));
        }
        Ok(Self {
            channels,
            resampler: resampler?,
            mel: MelStream::new(),
            mono: Vec::new(),
            frames: 0,
            hearing: Hearing { sample_rate, channels, ..Hearing::default() },
            at_full_scale: 0,
        })
    }

    /// The container says the recording lasts about `seconds`: room for its
    /// spectrogram is made now (up to four hours' worth, so that a header
    /// that lies costs at most that; a longer voice still grows as needed).
    /// A little more than said: a container's length is approximate (codec
    /// delay, rounding), and running out by one column would double the
    /// spectrogram's room while copying it — the very peak this avoids.
    pub fn expect(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            let seconds = seconds.min(MAX_EXPECTED_SECONDS) * 1.002 + 1.0;
            self.mel.expect((seconds * SAMPLE_RATE as f64).ceil() as usize);
        }
    }

    /// `interleaved.len()` must be a multiple of the channel count.
    pub fn push(&mut self, interleaved: &[f32]) -> Result<(), String> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(format!("{} samples do not split into {} channels", interleaved.len(), self.channels));
        }
        self.mono.clear();
        for frame in interleaved.chunks_exact(self.channels) {
            let mut sum = 0.0;
            for &s in frame {
                let s = if s.is_finite() {
                    s
                } else {
                    self.hearing.invalid += 1;
                    0.0
                };
                self.hearing.peak = self.hearing.peak.max(s.abs());
                self.at_full_scale += (s.abs() >= FULL_SCALE) as u64;
                sum += s;
            }
            // The mean over channels, as librosa's `to_mono` (the original's
            // loader) does; within what the FFTs can take.
            self.mono.push(resample::tame(sum / self.channels as f32));
        }
        self.frames += self.mono.len() as u64;
        let mel = &mut self.mel;
        self.resampler.push(&self.mono, &mut |s| mel.push(s));
        Ok(())
    }

    /// The spectrogram so far, for a voice heard live ([`crate::live`]):
    /// its final columns, and older ones forgotten.
    pub fn mel(&mut self) -> &mut MelStream {
        &mut self.mel
    }

    pub fn finish(self) -> Voice {
        let Self { resampler, mut mel, frames, mut hearing, at_full_scale, channels, .. } = self;
        resampler.finish(&mut |s| mel.push(s));
        hearing.seconds = frames as f64 / hearing.sample_rate as f64;
        hearing.clipped = if frames == 0 { 0.0 } else { at_full_scale as f64 / (frames * channels as u64) as f64 };
        debug_assert!(mel.samples() as u64 == (frames * SAMPLE_RATE as u64).div_ceil(hearing.sample_rate as u64));
        Voice { mel: mel.finish(), hearing }
    }
}

/// The most of a spectrogram [`VoiceBuilder::expect`] makes room for at
/// once: four hours (369 MB).
const MAX_EXPECTED_SECONDS: f64 = 4.0 * 3600.0;

/// 16-bit recordings clip at 32767/32768.
const FULL_SCALE: f32 = 32767.0 / 32768.0;

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::audio::mel::N_MELS;

    /// Live, the spectrogram trails the sound by under 70 ms, the STFT's
    /// half window included (a file's resampling block would make it 215
    /// ms from 48 kHz), and is the file's spectrogram to 0.01 % of its
    /// range.
    #[test]
    fn a_live_voice_follows_the_sound_closely_and_hears_what_a_file_does() {
        let rate = 48_000;
        let mut speech = Vec::new();
        let mut up = Resample::new(SAMPLE_RATE, rate, 1).unwrap();
        up.push(&crate::testdata::speech16k(), &mut |s| speech.extend_from_slice(s));
        up.finish(&mut |s| speech.extend_from_slice(s));
        let (mut live, mut file) = (VoiceBuilder::live(rate, 1).unwrap(), VoiceBuilder::new(rate, 1).unwrap());
        let (mut heard, mut live_lag, mut file_lag) = (0, 0.0f64, 0.0f64);
        // In an audio worklet's 20 ms pieces, once the first second is in.
        for piece in speech.chunks(rate as usize / 50) {
            live.push(piece).unwrap();
            file.push(piece).unwrap();
            heard += piece.len();
            if heard >= rate as usize {
                let seconds = heard as f64 / rate as f64;
                live_lag = live_lag.max(seconds - live.mel().columns() as f64 / 80.0);
                file_lag = file_lag.max(seconds - file.mel().columns() as f64 / 80.0);
            }
        }
        let (live, file) = (live.finish().mel.values, file.finish().mel.values);
        assert_eq!(live.len(), file.len());
        let (mut sum, mut most) = (0.0f64, 0.0f32);
        for (a, b) in live.iter().zip(&file) {
            sum += (a - b).abs() as f64;
            most = most.max((a - b).abs());
        }
        // The spectrogram's values span -4..4.
        let mean = sum / live.len() as f64;
        println!("the spectrogram trails the sound by at most {:.0} ms live, {:.0} ms for a file; live against file: mean difference {mean:.5}, largest {most:.4} (of a range of 8)", live_lag * 1e3, file_lag * 1e3);
        assert!(live_lag < 0.070 && file_lag > 0.15, "{live_lag} s, {file_lag} s");
        assert!(mean < 1e-4 && most < 1e-3, "mean {mean}, largest {most}");
    }

    #[test]
    fn room_made_for_the_expected_length_changes_nothing_but_the_allocations() {
        let tone: Vec<f32> = (0..44_100 * 2).map(|n| (n as f32 * 0.05).sin() * 0.3).collect();
        let hear = |expect: Option<f64>| {
            let mut b = VoiceBuilder::new(44_100, 1).unwrap();
            if let Some(seconds) = expect {
                b.expect(seconds);
            }
            let capacity = b.mel.out_capacity();
            b.push(&tone).unwrap();
            (capacity, b.finish().mel.values)
        };
        let (none, plain) = hear(None);
        let (room, expected) = hear(Some(2.0));
        assert_eq!(none, 0);
        assert_eq!(room, crate::audio::mel::columns_for(48_064) * N_MELS, "the whole spectrogram at once, and a second more");
        assert_eq!(plain, expected);
        // A header claiming days gets four hours' room (and the margin), no more.
        let mut b = VoiceBuilder::new(16_000, 1).unwrap();
        b.expect(1e9);
        let four_hours = ((4.0 * 3600.0 * 1.002 + 1.0) * 16_000.0) as usize;
        assert_eq!(b.mel.out_capacity(), crate::audio::mel::columns_for(four_hours) * N_MELS);
    }

    #[test]
    fn channels_are_averaged_and_counted() {
        let mut b = VoiceBuilder::new(16_000, 6).unwrap();
        // A voice in the centre channel only, 0.5 s.
        let frames: Vec<f32> = (0..8000).flat_map(|n| {
            let v = (n as f32 * 0.05).sin() * 0.6;
            [0.0, 0.0, v, 0.0, 0.0, 0.0]
        }).collect();
        b.push(&frames).unwrap();
        let voice = b.finish();
        assert_eq!(voice.mel.columns(), 41);
        assert_eq!((voice.hearing.channels, voice.hearing.seconds), (6, 0.5));
        assert!((voice.hearing.peak - 0.6).abs() < 1e-3);
        assert!(voice.hearing.warning().is_none());
        assert!(VoiceBuilder::new(16_000, 2).unwrap().push(&[0.0; 3]).is_err());
        assert!(VoiceBuilder::new(16_000, 0).is_err());
    }

    #[test]
    fn clipped_and_broken_samples_are_reported_and_stay_finite() {
        let mut b = VoiceBuilder::new(44_100, 1).unwrap();
        let clipped: Vec<f32> = (0..44_100).map(|n| ((n as f32 * 0.03).sin() * 3.0).clamp(-1.0, 1.0)).collect();
        b.push(&clipped).unwrap();
        b.push(&[f32::NAN, f32::INFINITY, 0.5]).unwrap();
        let voice = b.finish();
        assert!(voice.mel.values.iter().all(|v| v.is_finite() && (-4.0..=4.0).contains(v)));
        assert_eq!(voice.mel.columns(), 81);
        assert_eq!(voice.hearing.invalid, 2);
        assert!(voice.hearing.warning().unwrap().contains("not numbers"));
        let mut b = VoiceBuilder::new(44_100, 1).unwrap();
        b.push(&clipped).unwrap();
        let hearing = b.finish().hearing;
        assert!(hearing.clipped > 0.5, "{}", hearing.clipped);
        assert!(hearing.warning().unwrap().contains("clipped"));
    }

    #[test]
    fn silence_says_so() {
        let mut b = VoiceBuilder::new(8_000, 2).unwrap();
        b.push(&vec![0.0; 16_000]).unwrap();
        let voice = b.finish();
        assert_eq!(voice.mel.columns(), 81);
        assert!(voice.mel.values.iter().all(|&v| v == -4.0));
        assert_eq!(voice.mel.values.len(), 81 * N_MELS);
        assert!(voice.hearing.warning().unwrap().contains("silent"));
    }
}
