//! The output's sound: the voice brought to a channel count and rate the
//! chosen audio encoder takes (the page asks the browser which, before the
//! job starts). Surround is folded to stereo with the ITU-R BS.775 weights
//! that ffmpeg's default downmix uses; the rate is changed with the same
//! band-limited resampler as the voice's.
//!
//! WebCodecs hands decoded audio over without a channel layout, only a
//! count; Chromium's decoders put the channels in the WAVE order (front
//! left, front right, centre, LFE, back left, back right, side left, side
//! right), so the layout is taken as that order's usual layout for the
//! count — the one ffmpeg assumes for a bare count too.

use super::resample::Resample;

/// Where a channel sits, as far as folding to stereo cares.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    Left,
    Right,
    Centre,
    Lfe,
    LeftSurround,
    RightSurround,
    BackCentre,
}

/// The usual layout for `channels` channels in WAVE order (1 and 2 are
/// mono and stereo and never folded by this table).
fn layout(channels: usize) -> Option<&'static [Place]> {
    use Place::*;
    Some(match channels {
        3 => &[Left, Right, Centre],
        4 => &[Left, Right, LeftSurround, RightSurround],
        5 => &[Left, Right, Centre, LeftSurround, RightSurround],
        6 => &[Left, Right, Centre, Lfe, LeftSurround, RightSurround],
        7 => &[Left, Right, Centre, Lfe, BackCentre, LeftSurround, RightSurround],
        8 => &[Left, Right, Centre, Lfe, LeftSurround, RightSurround, LeftSurround, RightSurround],
        _ => return None,
    })
}

/// −3 dB, BS.775's weight for the centre and the surrounds into a front
/// channel (ffmpeg's `center_mix_level` and `surround_mix_level`).
const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The weights of input channel `place` in (left, right). The LFE is left
/// out, as ffmpeg's default `lfe_mix_level` of 0 does.
fn stereo_weights(place: Place) -> [f32; 2] {
    match place {
        Place::Left => [1.0, 0.0],
        Place::Right => [0.0, 1.0],
        Place::Centre => [MINUS_3DB, MINUS_3DB],
        Place::Lfe => [0.0, 0.0],
        Place::LeftSurround => [MINUS_3DB, 0.0],
        Place::RightSurround => [0.0, MINUS_3DB],
        // A back centre splits between the two back channels first.
        Place::BackCentre => [MINUS_3DB * MINUS_3DB, MINUS_3DB * MINUS_3DB],
    }
}

/// `[outputs][inputs]` weights from `inputs` to `outputs` channels, for
/// `outputs` equal to `inputs`, or 2, or 1. Rows are scaled so that none
/// sums above 1: a full-scale surround mix folds to stereo without
/// clipping (ffmpeg's rematrix normalisation).
pub fn matrix(inputs: usize, outputs: usize) -> Result<Vec<Vec<f32>>, String> {
    let identity = |n: usize| (0..n).map(|o| (0..n).map(|i| f32::from(u8::from(i == o))).collect()).collect();
    let stereo: Vec<Vec<f32>> = match inputs {
        _ if outputs == inputs => return Ok(identity(inputs)),
        1 => vec![vec![1.0], vec![1.0]],
        2 => identity(2),
        n => {
            let places = layout(n).ok_or_else(|| format!("sound with {n} channels cannot be mixed down; 1 to 8 channels can"))?;
            (0..2).map(|o| places.iter().map(|&p| stereo_weights(p)[o]).collect()).collect()
        }
    };
    let mut rows = match outputs {
        2 => stereo,
        // Mono: the two folded channels together.
        1 => vec![stereo[0].iter().zip(&stereo[1]).map(|(l, r)| l + r).collect()],
        n => return Err(format!("sound with {inputs} channels can be kept, or mixed to stereo or mono, not to {n} channels")),
    };
    let loudest = rows.iter().map(|row| row.iter().map(|w| w.abs()).sum::<f32>()).fold(0.0, f32::max);
    if loudest > 1.0 {
        rows.iter_mut().flatten().for_each(|w| *w /= loudest);
    }
    Ok(rows)
}

/// Interleaved PCM in, interleaved PCM out: mixed, then resampled.
pub struct Remix {
    matrix: Vec<Vec<f32>>,
    inputs: usize,
    resample: Resample,
    mixed: Vec<f32>,
}

impl Remix {
    pub fn new(rate: u32, inputs: usize, out_rate: u32, outputs: usize) -> Result<Self, String> {
        if inputs == 0 {
            return Err("the sound has no channels".into());
        }
        Ok(Self { matrix: matrix(inputs, outputs)?, inputs, resample: Resample::new(rate, out_rate, outputs)?, mixed: Vec::new() })
    }

    /// `interleaved` (whole frames of the input's channels) → `out`.
    pub fn push(&mut self, interleaved: &[f32], out: &mut impl FnMut(&[f32])) -> Result<(), String> {
        if !interleaved.len().is_multiple_of(self.inputs) {
            return Err(format!("{} samples do not split into {} channels", interleaved.len(), self.inputs));
        }
        self.mixed.clear();
        for frame in interleaved.chunks_exact(self.inputs) {
            for row in &self.matrix {
                self.mixed.push(row.iter().zip(frame).map(|(w, s)| w * s).sum());
            }
        }
        self.resample.push(&self.mixed, out);
        Ok(())
    }

    /// The resampler's last frames.
    pub fn finish(self, out: &mut impl FnMut(&[f32])) {
        self.resample.finish(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remix(input: &[f32], rate: u32, inputs: usize, out_rate: u32, outputs: usize) -> Vec<f32> {
        let mut remix = Remix::new(rate, inputs, out_rate, outputs).unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(inputs * 1000) {
            remix.push(piece, &mut |s| out.extend_from_slice(s)).unwrap();
        }
        remix.finish(&mut |s| out.extend_from_slice(s));
        out
    }

    #[test]
    fn five_one_folds_to_stereo_with_bs775_weights_normalised() {
        let m = matrix(6, 2).unwrap();
        // FL + 0.707 FC + 0.707 BL, over 1 + 0.707 + 0.707 (ffmpeg's).
        let norm = 1.0 + 2.0 * MINUS_3DB;
        let expected = [[1.0, 0.0, MINUS_3DB, 0.0, MINUS_3DB, 0.0], [0.0, 1.0, MINUS_3DB, 0.0, 0.0, MINUS_3DB]];
        for (row, want) in m.iter().zip(expected) {
            for (w, e) in row.iter().zip(want) {
                assert!((w - e / norm).abs() < 1e-6, "{m:?}");
            }
        }
        // The LFE is left out; a full-scale signal on every channel does not clip.
        let frame = [1.0f32; 6];
        for row in &m {
            assert!(row.iter().zip(frame).map(|(w, s)| w * s).sum::<f32>() <= 1.0 + 1e-6);
        }
    }

    #[test]
    fn every_count_from_one_to_eight_mixes_to_stereo_and_mono() {
        for inputs in 1..=8 {
            for outputs in [1, 2, inputs] {
                let m = matrix(inputs, outputs).unwrap();
                assert_eq!(m.len(), outputs);
                assert!(m.iter().all(|row| row.len() == inputs));
                // Each front channel reaches the output.
                assert!(m.iter().map(|row| row[0]).sum::<f32>() > 0.0, "{inputs} → {outputs}");
            }
        }
        assert!(matrix(9, 2).unwrap_err().contains("1 to 8"));
        assert!(matrix(6, 4).is_err());
    }

    #[test]
    fn a_left_only_tone_stays_left_and_keeps_its_length_across_rates() {
        for (rate, out_rate) in [(96_000, 48_000), (22_050, 48_000), (8_000, 44_100), (48_000, 48_000)] {
            let n = rate as usize; // one second
            let mut input = vec![0.0f32; n * 6];
            for i in 0..n {
                input[i * 6] = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5;
            }
            let out = remix(&input, rate, 6, out_rate, 2);
            assert_eq!(out.len(), 2 * out_rate as usize, "{rate} → {out_rate}");
            let energy = |c: usize| out.iter().skip(c).step_by(2).map(|s| s * s).sum::<f32>();
            assert!(energy(1) < 1e-6 * energy(0), "{rate}: right {} left {}", energy(1), energy(0));
            let peak = out.iter().step_by(2).skip(out_rate as usize / 4).take(out_rate as usize / 2).fold(0.0f32, |m, s| m.max(s.abs()));
            let want = 0.5 / (1.0 + 2.0 * MINUS_3DB);
            assert!((peak - want).abs() < 0.01 * want, "{rate}: peak {peak}, want {want}");
        }
    }
}
