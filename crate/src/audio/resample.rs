//! Any sample rate → any other, in pieces, with a band-limited resampler:
//! the voice to 16 kHz for the spectrogram, and the output's sound to a
//! rate its encoder takes.
//!
//! The original let librosa resample whole files in memory; an hour of
//! 48 kHz audio would then need gigabytes. rubato's FFT resampler works on
//! fixed blocks with a windowed-sinc anti-aliasing filter, so memory stays
//! at one block however long the recording is.

use rubato::{FftFixedInOut, Resampler};

use super::mel::SAMPLE_RATE;

/// Rates the app accepts: telephone (8 kHz) up to studio (384 kHz).
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 384_000;

/// About this many input samples per FFT block; rubato rounds it to a
/// multiple of the rates' ratio. Longer blocks mean a sharper filter.
const BLOCK: usize = 4096;

/// Live, the block is also a delay: sound reaches the spectrogram a block
/// late plus half an output block (the filter's delay), 128 + 64 ms from
/// 48 kHz with [`BLOCK`]. This block, 32 + 16 ms from 48 kHz, is the
/// shortest that keeps the passband flat to the mel bank's top (7.6 kHz;
/// half as long, 7.5 kHz loses 2 dB).
const LIVE_BLOCK: usize = 1024;

/// Interleaved PCM of `channels` channels from one rate to another.
pub struct Resample {
    inner: Option<Block>,
    channels: usize,
    /// Frames in and out so far, to cut the output to its exact length.
    consumed: u64,
    produced: u64,
    from: u32,
    to: u32,
}

/// The resampler proper and its staging buffers, planar (absent where the
/// rates are equal: samples pass through untouched, as in the original).
struct Block {
    resampler: FftFixedInOut<f32>,
    pending: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
    interleaved: Vec<f32>,
    /// Output frames still to drop: the filter's delay.
    delay: usize,
}

/// The voice's resampler: mono, to the spectrogram's 16 kHz.
pub fn to_16k(rate: u32) -> Result<Resample, String> {
    Resample::new(rate, SAMPLE_RATE, 1)
}

/// The same for a voice heard live: short blocks, a short delay.
pub fn to_16k_live(rate: u32) -> Result<Resample, String> {
    Resample::with_block(rate, SAMPLE_RATE, 1, LIVE_BLOCK)
}

fn check_rate(rate: u32) -> Result<(), String> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        return Ok(());
    }
    Err(format!(
        "the recording's sample rate is {rate} Hz; voices from {} to {} kHz can be used",
        MIN_RATE / 1000,
        MAX_RATE / 1000
    ))
}

impl Resample {
    pub fn new(from: u32, to: u32, channels: usize) -> Result<Self, String> {
        Self::with_block(from, to, channels, BLOCK)
    }

    /// Blocks of about `block` input frames.
    fn with_block(from: u32, to: u32, channels: usize, block: usize) -> Result<Self, String> {
        check_rate(from)?;
        check_rate(to)?;
        if channels == 0 {
            return Err("no channels to resample".into());
        }
        let inner = (from != to).then(|| {
            let resampler = FftFixedInOut::new(from as usize, to as usize, block_for(from, to, block), channels).expect("rates checked above");
            let output = resampler.output_buffer_allocate(true);
            let pending = vec![Vec::with_capacity(resampler.input_frames_max()); channels];
            Block { delay: resampler.output_delay(), pending, interleaved: Vec::new(), resampler, output }
        });
        Ok(Self { inner, channels, consumed: 0, produced: 0, from, to })
    }

    /// Resample `input` (interleaved frames at the input rate), handing
    /// interleaved frames at the output rate to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut impl FnMut(&[f32])) {
        let channels = self.channels;
        debug_assert!(input.len().is_multiple_of(channels));
        self.consumed += (input.len() / channels) as u64;
        let Some(block) = &mut self.inner else {
            self.produced += (input.len() / channels) as u64;
            return out(input);
        };
        let mut rest = input;
        while !rest.is_empty() {
            let want = block.resampler.input_frames_next() - block.pending[0].len();
            let (now, later) = rest.split_at((want * channels).min(rest.len()));
            for frame in now.chunks_exact(channels) {
                for (plane, &s) in block.pending.iter_mut().zip(frame) {
                    plane.push(tame(s));
                }
            }
            rest = later;
            if block.pending[0].len() == block.resampler.input_frames_next() {
                let (_, written) = block
                    .resampler
                    .process_into_buffer(&block.pending, &mut block.output, None)
                    .expect("buffers sized by the resampler");
                block.pending.iter_mut().for_each(Vec::clear);
                self.produced += block.emit(written, u64::MAX, out);
            }
        }
    }

    /// Flush the filter: the output ends at `ceil(n · to / from)` frames,
    /// the length librosa's resampling gives.
    pub fn finish(mut self, out: &mut impl FnMut(&[f32])) {
        let Some(block) = &mut self.inner else { return };
        let expected = (self.consumed * self.to as u64).div_ceil(self.from as u64);
        let mut remaining = expected.saturating_sub(self.produced);
        while remaining > 0 {
            // rubato pads a short block with zeros; `None` (not empty
            // slices) is how it is asked for a block of zeros alone.
            let input = (!block.pending[0].is_empty()).then_some(&block.pending[..]);
            let (_, written) = block
                .resampler
                .process_partial_into_buffer(input, &mut block.output, None)
                .expect("buffers sized by the resampler");
            block.pending.iter_mut().for_each(Vec::clear);
            remaining -= block.emit(written, remaining, out);
        }
    }
}

/// The loudest sample the filter is given: 60 dB over full scale. Float
/// recordings may hold anything; a value near `f32::MAX` overflows the
/// FFT to infinities, on which rubato panics (found by `make fuzz`), and
/// no real sound comes near this.
const LOUDEST: f32 = 1024.0;

/// A sample the FFT can take: silence for NaN, the loudest for beyond.
pub(crate) fn tame(s: f32) -> f32 {
    if s.is_nan() { 0.0 } else { s.clamp(-LOUDEST, LOUDEST) }
}

/// Input frames per block near `block`: a power-of-two number (at least
/// 2) of the rates' ratio unit, e.g. 16 × 441 in for 16 × 160 out from
/// 44.1 to 16 kHz. Even, because rubato reports its delay as half the
/// output block, exact only when both blocks are even (otherwise the sound
/// shifts by half a sample); a power of two, because it keeps the FFT sizes
/// free of large prime factors (48 kHz with 1366 units would need a
/// 2·4098-point FFT, 683 being prime: twice as slow).
fn block_for(from: u32, to: u32, block: usize) -> usize {
    let unit_in = (from / gcd(from, to)) as usize;
    block.div_ceil(unit_in).next_power_of_two().max(2) * unit_in
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Block {
    /// Send the first `written` frames of the output on, interleaved, after
    /// dropping what is left of the delay, at most `limit` of them; returns
    /// how many were sent.
    fn emit(&mut self, written: usize, limit: u64, out: &mut impl FnMut(&[f32])) -> u64 {
        let skip = self.delay.min(written);
        self.delay -= skip;
        let kept = (written - skip).min(limit.min(usize::MAX as u64) as usize);
        if kept == 0 {
            return 0;
        }
        if let [mono] = &self.output[..] {
            out(&mono[skip..skip + kept]);
        } else {
            self.interleaved.clear();
            for i in skip..skip + kept {
                self.interleaved.extend(self.output.iter().map(|plane| plane[i]));
            }
            out(&self.interleaved);
        }
        kept as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(input: &[f32], rate: u32, piece: usize) -> Vec<f32> {
        let mut out = Vec::new();
        let mut r = to_16k(rate).unwrap();
        for p in input.chunks(piece) {
            r.push(p, &mut |s| out.extend_from_slice(s));
        }
        r.finish(&mut |s| out.extend_from_slice(s));
        out
    }

    fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(rate as f64 * seconds) as usize).map(|n| (0.5 * (2.0 * std::f64::consts::PI * hz * n as f64 / rate as f64).sin()) as f32).collect()
    }

    #[test]
    fn a_tone_keeps_its_frequency_phase_and_level_at_every_rate() {
        for rate in [8_000, 11_025, 22_050, 32_000, 44_100, 47_999, 48_000, 88_200, 96_000, 192_000] {
            let out = resample(&tone(440.0, rate, 3.0), rate, 1000);
            assert_eq!(out.len(), 48_000, "{rate} Hz");
            let expected = tone(440.0, 16_000, 3.0);
            // Away from the ends (where the filter sees the cut), sample by sample.
            let err = out[16_000..32_000].iter().zip(&expected[16_000..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            println!("{rate} Hz: max error {err:.2e}");
            assert!(err < 1e-4, "{rate} Hz: max error {err}");
        }
    }

    #[test]
    fn frequencies_above_8_khz_are_removed_not_folded() {
        // 12 kHz at 48 kHz would alias to 4 kHz without the filter.
        let out = resample(&tone(12_000.0, 48_000, 1.0), 48_000, 4096);
        let rms = (out[800..15_200].iter().map(|v| v * v).sum::<f32>() / 14_400.0).sqrt();
        assert!(rms < 1e-3, "rms {rms}");
    }

    #[test]
    fn live_blocks_keep_the_mel_banks_top_and_remove_what_would_fold() {
        for (hz, kept) in [(7_500.0, true), (7_600.0, true), (12_000.0, false)] {
            let mut out = Vec::new();
            let mut r = to_16k_live(48_000).unwrap();
            r.push(&tone(hz, 48_000, 1.0), &mut |s| out.extend_from_slice(s));
            let rms = (out[800..14_000].iter().map(|v| v * v).sum::<f32>() / 13_200.0).sqrt();
            // The tone's own level is 0.5 / √2.
            let level = rms / (0.5 / 2f32.sqrt());
            println!("{hz} Hz through live blocks: level {level:.4}");
            assert!(if kept { (level - 1.0).abs() < 0.02 } else { level < 0.01 }, "{hz} Hz: level {level}");
        }
    }

    #[test]
    fn the_pieces_do_not_matter_and_16k_passes_through() {
        let input = tone(300.0, 44_100, 0.7);
        assert_eq!(resample(&input, 44_100, 1), resample(&input, 44_100, 100_000));
        assert_eq!(resample(&input, 44_100, 1).len(), (input.len() * 16_000).div_ceil(44_100));
        let speech = tone(300.0, 16_000, 0.5);
        assert_eq!(resample(&speech, 16_000, 777), speech);
    }

    #[test]
    fn samples_too_loud_to_filter_are_limited_not_a_panic() {
        // The fuzzer's finding: a float WAV holding values near f32::MAX.
        let mut input = tone(300.0, 44_100, 0.3);
        input[1000] = f32::MAX;
        input[2000] = f32::NEG_INFINITY;
        input[3000] = f32::NAN;
        let out = resample(&input, 44_100, 4096);
        assert_eq!(out.len(), (input.len() * 16_000).div_ceil(44_100));
        assert!(out.iter().all(|v| v.is_finite()));
        // Ordinary samples are untouched by the limit.
        assert_eq!(resample(&tone(300.0, 44_100, 0.3), 44_100, 4096), resample(&tone(300.0, 44_100, 0.3).iter().map(|&s| tame(s)).collect::<Vec<_>>(), 44_100, 4096));
    }

    #[test]
    fn unusable_rates_are_refused_with_the_range() {
        for rate in [0, 4_000, 1_000_000] {
            let e = to_16k(rate).err().unwrap();
            assert!(e.contains("8 to 384 kHz"), "{e}");
        }
    }
}
