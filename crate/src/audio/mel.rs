//! Wav2Lip's mel spectrogram (WAV2LIP.md, "Audio front end"): 16 kHz mono →
//! pre-emphasis → centred STFT (reflect padding, periodic Hann, n_fft 800,
//! hop 200) → magnitude → Slaney mel (80 bands, 55–7600 Hz) → dB → [-4, 4].
//!
//! Every column depends only on the 800 samples around it, so a column range
//! can be computed from any window of the signal: long recordings never need
//! their whole spectrogram at once.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: u32 = 16_000;
pub const N_FFT: usize = 800;
pub const HOP: usize = 200;
pub const N_MELS: usize = 80;
const BINS: usize = N_FFT / 2 + 1;
const FMIN: f64 = 55.0;
const FMAX: f64 = 7600.0;
const PREEMPHASIS: f32 = 0.97;
const REF_LEVEL_DB: f32 = 20.0;
const MIN_LEVEL_DB: f32 = -100.0;
const MAX_ABS: f32 = 4.0;

/// Number of columns the original produces for `samples` samples.
pub fn columns_for(samples: usize) -> usize {
    1 + samples / HOP
}

/// Slaney's mel scale as librosa implements it (`htk=False`): linear below
/// 1 kHz (200/3 Hz per mel), logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ { MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step() } else { hz / F_SP }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL { MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp() } else { F_SP * mel }
}

/// One mel band: its first FFT bin and its nonzero weights from there.
struct Band {
    first: usize,
    weights: Vec<f32>,
}

/// `librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)`
/// (Slaney area normalisation), kept sparse: each triangle spans a few bins.
fn filterbank() -> Vec<Band> {
    let (lo, hi) = (hz_to_mel(FMIN), hz_to_mel(FMAX));
    let points: Vec<f64> = (0..N_MELS + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64)).collect();
    let bin_hz = |k: usize| k as f64 * SAMPLE_RATE as f64 / N_FFT as f64;
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
            let norm = 2.0 / (right - left);
            let weight = |k| {
                let f = bin_hz(k);
                let rising = (f - left) / (centre - left);
                let falling = (right - f) / (right - centre);
                (rising.min(falling).max(0.0) * norm) as f32
            };
            let nonzero: Vec<usize> = (0..BINS).filter(|&k| weight(k) > 0.0).collect();
            let first = nonzero.first().copied().unwrap_or(0);
            let last = nonzero.last().copied().unwrap_or(0);
            Band { first, weights: (first..=last).map(weight).collect() }
        })
        .collect()
}

/// The reusable parts: FFT plan, window and filterbank.
pub struct MelSpectrogram {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bands: Vec<Band>,
}

impl Default for MelSpectrogram {
    fn default() -> Self {
        Self::new()
    }
}

impl MelSpectrogram {
    pub fn new() -> Self {
        let window = (0..N_FFT)
            .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32)
            .collect();
        Self { fft: RealFftPlanner::new().plan_fft_forward(N_FFT), window, bands: filterbank() }
    }

    /// The whole spectrogram of `samples` (16 kHz mono, any scale the
    /// original would load: ±1 floats): `[80, T]` row-major, T =
    /// [`columns_for`]`(samples.len())`. Empty for fewer than 2 samples.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let columns = if samples.len() < 2 { 0 } else { columns_for(samples.len()) };
        let mut out = vec![0.0; N_MELS * columns];
        self.columns_into(samples, 0..columns, columns, &mut out);
        out
    }

    /// Columns `range` of the spectrogram of `samples`, written into `out`
    /// (row-major with row length `stride`, column `range.start` at 0).
    pub fn columns_into(&self, samples: &[f32], range: std::ops::Range<usize>, stride: usize, out: &mut [f32]) {
        if samples.len() < 2 {
            return; // nothing to reflect about
        }
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut magnitude = vec![0f32; BINS];
        for (j, column) in range.clone().enumerate() {
            // Frame `column` is centred on sample column*HOP; the signal is
            // reflect-padded by N_FFT/2 at both ends and pre-emphasised.
            let centre = (column * HOP) as isize;
            for (n, value) in frame.iter_mut().enumerate() {
                let i = centre + n as isize - (N_FFT / 2) as isize;
                *value = preemphasised(samples, reflect(i, samples.len())) * self.window[n];
            }
            self.fft.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).expect("sizes from the plan");
            for (m, c) in magnitude.iter_mut().zip(&spectrum) {
                *m = c.norm();
            }
            for (band, row) in self.bands.iter().zip(0..) {
                let energy: f32 = band.weights.iter().zip(&magnitude[band.first..]).map(|(w, m)| w * m).sum();
                out[row * stride + j] = normalise(energy);
            }
        }
    }
}

/// numpy's `pad(mode='reflect')`: mirror about the end samples, repeatedly
/// for pads longer than the signal.
fn reflect(i: isize, len: usize) -> usize {
    let period = 2 * (len as isize - 1);
    let mut i = i.rem_euclid(period);
    if i >= len as isize {
        i = period - i;
    }
    i as usize
}

/// `lfilter([1, -0.97], [1], x)` at `i`.
fn preemphasised(x: &[f32], i: usize) -> f32 {
    if i == 0 { x[0] } else { x[i] - PREEMPHASIS * x[i - 1] }
}

/// dB relative to the reference level, then `[-100, 0] dB` mapped to `[-4, 4]`.
/// The floor of 1e-5 keeps silence finite (the original's NaN came later).
fn normalise(mel: f32) -> f32 {
    let db = 20.0 * mel.max(1e-5).log10() - REF_LEVEL_DB;
    (2.0 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS).clamp(-MAX_ABS, MAX_ABS)
}
