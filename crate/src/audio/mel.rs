//! Wav2Lip's mel spectrogram (WAV2LIP.md, "Audio front end"): 16 kHz mono →
//! pre-emphasis → centred STFT (reflect padding, periodic Hann, n_fft 800,
//! hop 200) → magnitude → Slaney mel (80 bands, 55–7600 Hz) → dB → [-4, 4].
//!
//! Every column depends only on the 800 samples around it, so columns are
//! computed as the samples stream in ([`MelStream`]): long recordings are
//! never held whole.

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

/// The reusable parts: FFT plan, window, filterbank and scratch space.
pub struct MelSpectrogram {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bands: Vec<Band>,
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    magnitude: Vec<f32>,
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
        let fft = RealFftPlanner::new().plan_fft_forward(N_FFT);
        Self {
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            magnitude: vec![0.0; BINS],
            fft,
            window,
            bands: filterbank(),
        }
    }

    /// The whole spectrogram of `samples` (16 kHz mono, ±1 floats, as the
    /// original loads them), `[80, T]` row-major with T =
    /// [`columns_for`]`(samples.len())`; empty for fewer than 2 samples.
    pub fn compute(samples: &[f32]) -> Vec<f32> {
        let mut stream = MelStream::new();
        stream.push(samples);
        stream.finish().rows()
    }

    /// One column from the 800 pre-emphasised samples its frame spans.
    fn column(&mut self, frame: impl Iterator<Item = f32>, out: &mut [f32]) {
        for ((value, sample), w) in self.frame.iter_mut().zip(frame).zip(&self.window) {
            *value = sample * w;
        }
        self.fft.process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch).expect("sizes from the plan");
        // |X| as sqrt(re² + im²): `Complex::norm` calls hypot, which is a
        // slow software routine in wasm.
        for (m, c) in self.magnitude.iter_mut().zip(&self.spectrum) {
            *m = (c.re * c.re + c.im * c.im).sqrt();
        }
        for (band, value) in self.bands.iter().zip(out) {
            let energy: f32 = band.weights.iter().zip(&self.magnitude[band.first..]).map(|(w, m)| w * m).sum();
            *value = normalise(energy);
        }
    }
}

/// A spectrogram, column by column: `values[t * 80 + band]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mel {
    pub values: Vec<f32>,
}

impl Mel {
    pub fn columns(&self) -> usize {
        self.values.len() / N_MELS
    }

    /// `[80, T]` row-major, the layout of the original's `melspectrogram`.
    pub fn rows(&self) -> Vec<f32> {
        let columns = self.columns();
        let mut rows = vec![0.0; self.values.len()];
        for (t, column) in self.values.chunks_exact(N_MELS).enumerate() {
            for (band, &v) in column.iter().enumerate() {
                rows[band * columns + t] = v;
            }
        }
        rows
    }

    /// Columns `start..start + width` as `[80, width]` row-major: one
    /// generator input when `width` is 16.
    pub fn window_into(&self, start: usize, width: usize, out: &mut [f32]) {
        for (j, column) in self.values[start * N_MELS..(start + width) * N_MELS].chunks_exact(N_MELS).enumerate() {
            for (band, &v) in column.iter().enumerate() {
                out[band * width + j] = v;
            }
        }
    }
}

/// The spectrogram of a signal that arrives in pieces. A column needs the
/// 800 samples around its centre, so each is computed as soon as they have
/// arrived and older samples are dropped: memory is the spectrogram itself
/// (92 MB per hour) plus a few thousand samples, whatever the length.
pub struct MelStream {
    mel: MelSpectrogram,
    /// Pre-emphasised samples from absolute index `base` on.
    y: Vec<f32>,
    base: usize,
    total: usize,
    previous: Option<f32>,
    /// Columns from `dropped` on (live, older columns are forgotten:
    /// [`MelStream::forget_before`]).
    out: Mel,
    dropped: usize,
}

impl Default for MelStream {
    fn default() -> Self {
        Self::new()
    }
}

impl MelStream {
    pub fn new() -> Self {
        Self { mel: MelSpectrogram::new(), y: Vec::new(), base: 0, total: 0, previous: None, out: Mel::default(), dropped: 0 }
    }

    pub fn samples(&self) -> usize {
        self.total
    }

    /// Make room for the spectrogram of `samples` samples (16 kHz) at once,
    /// rather than growing it by doubling: for a long voice, the copy while
    /// it doubles would need three times the spectrogram.
    pub fn expect(&mut self, samples: usize) {
        let values = columns_for(samples) * N_MELS;
        self.out.values.reserve(values.saturating_sub(self.out.values.len()));
    }

    pub fn push(&mut self, samples: &[f32]) {
        // `lfilter([1, -0.97], [1], x)`, carried across pieces.
        for &x in samples {
            self.y.push(match self.previous {
                Some(p) => x - PREEMPHASIS * p,
                None => x,
            });
            self.previous = Some(x);
        }
        self.total += samples.len();
        // Column c spans samples c·200 - 400 ..= c·200 + 399 (reflected at
        // the start); it is final once sample c·200 + 400 exists, which also
        // guarantees the reflection never reaches past the end.
        while self.next_column() * HOP + N_FFT / 2 < self.total {
            self.add_column();
        }
        let keep_from = (self.next_column() * HOP).saturating_sub(N_FFT / 2);
        if keep_from - self.base > 1 << 16 {
            self.y.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }

    /// Columns final so far (forgotten ones included).
    pub fn columns(&self) -> usize {
        self.next_column()
    }

    /// Columns `start..start + width` as `[80, width]` row-major (as
    /// [`Mel::window_into`]), if they are final and not forgotten.
    pub fn window_into(&self, start: usize, width: usize, out: &mut [f32]) -> bool {
        if start < self.dropped || start + width > self.columns() {
            return false;
        }
        self.out.window_into(start - self.dropped, width, out);
        true
    }

    /// Drop the columns before `column`: a live voice keeps only what its
    /// next frames can still use, so memory stays flat however long it runs.
    pub fn forget_before(&mut self, column: usize) {
        let column = column.min(self.columns());
        if column > self.dropped {
            self.out.values.drain(..(column - self.dropped) * N_MELS);
            self.dropped = column;
        }
    }

    /// The remaining columns, reflecting about the last sample as the
    /// original does.
    pub fn finish(mut self) -> Mel {
        debug_assert_eq!(self.dropped, 0, "a whole spectrogram keeps every column");
        if self.total >= 2 {
            while self.next_column() < columns_for(self.total) {
                self.add_column();
            }
        }
        self.out
    }

    /// Room made for the spectrogram, in values.
    #[cfg(test)]
    pub(crate) fn out_capacity(&self) -> usize {
        self.out.values.capacity()
    }

    fn next_column(&self) -> usize {
        self.dropped + self.out.columns()
    }

    fn add_column(&mut self) {
        let start = (self.next_column() * HOP) as isize - (N_FFT / 2) as isize;
        let (y, base, total) = (&self.y, self.base, self.total);
        let at = self.out.values.len();
        self.out.values.resize(at + N_MELS, 0.0);
        let out = &mut self.out.values[at..];
        if start >= 0 && start as usize + N_FFT <= total {
            let from = start as usize - base;
            self.mel.column(y[from..from + N_FFT].iter().copied(), out);
        } else {
            // Near either end: the reflect padding.
            self.mel.column((0..N_FFT).map(|n| y[reflect(start + n as isize, total) - base]), out);
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

/// dB relative to the reference level, then `[-100, 0] dB` mapped to `[-4, 4]`.
/// The floor of 1e-5 keeps silence finite (the original's NaN came later).
fn normalise(mel: f32) -> f32 {
    let db = 20.0 * mel.max(1e-5).log10() - REF_LEVEL_DB;
    (2.0 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS).clamp(-MAX_ABS, MAX_ABS)
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;

    #[test]
    fn a_long_stream_holds_a_bounded_window_of_samples() {
        let mut stream = MelStream::new();
        let second: Vec<f32> = (0..16_000).map(|n| (n as f32 * 0.07).sin() * 0.3).collect();
        for _ in 0..120 {
            stream.push(&second);
            assert!(stream.y.len() <= (1 << 16) + second.len() + N_FFT, "{} samples held", stream.y.len());
        }
        assert_eq!(stream.finish().columns(), columns_for(120 * 16_000));
    }
}
